"""Exposures: each group's NAV, gross and net leverage, and its book by instrument type, sector and sub-industry."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Mapping
from datetime import date, time, timedelta
from typing import Any

from signal_monitor.offline.simulate.days import Days, _close, _eastern, _iso
from signal_monitor.offline.simulate.errors import SimulateError
from signal_monitor.offline.simulate.numeric import _calm, _fmt, _interp, _ou, _percentile
from signal_monitor.offline.simulate.universe import (
    BIOTECH,
    FLS,
    GROUPS,
    HF,
    HISTORY_END,
    INSTRUMENT_WEIGHTS,
    LO,
    NOTE_WEEK,
    SECTOR_WEIGHTS,
    SUB_SECTOR,
    SUBS,
    UNIVERSE,
)
from signal_monitor.streams.events import GICS_SECTORS

# --- the design of the note's weeks: leverage, biotech, ETF shorts -------------------------

#: fundamental long/short gross and net leverage at week ends (weekly point = last trading day)
FLS_GROSS: dict[date, float] = {
    date(2020, 6, 5): 1.74, date(2021, 1, 1): 1.86, date(2021, 2, 19): 1.95, date(2021, 6, 25): 1.90,
    date(2021, 11, 19): 1.93, date(2022, 3, 11): 1.82, date(2022, 6, 17): 1.76, date(2022, 10, 14): 1.80,
    date(2023, 3, 17): 1.83, date(2023, 7, 28): 1.90, date(2023, 10, 27): 1.86, date(2024, 3, 29): 1.96,
    date(2024, 7, 12): 2.02, date(2024, 8, 9): 1.95, date(2024, 12, 13): 2.05, date(2025, 1, 31): 2.07,
    date(2025, 2, 7): 2.085, date(2025, 2, 14): 2.095, date(2025, 2, 21): 2.14, date(2025, 2, 28): 2.098,
    date(2025, 3, 7): 2.09, date(2025, 3, 14): 2.08, date(2025, 3, 21): 2.094, date(2025, 3, 28): 2.10,
    date(2025, 4, 4): 2.055, date(2025, 4, 11): 2.033, date(2025, 4, 18): 2.05, date(2025, 4, 25): 2.072,
    date(2025, 5, 2): 2.097, date(2025, 5, 9): 2.118, date(2025, 5, 16): 2.133, date(2025, 5, 23): 2.150,
    date(2025, 5, 30): 2.131, NOTE_WEEK: 2.106,
}
FLS_NET: dict[date, float] = {
    date(2020, 6, 5): 0.54, date(2021, 2, 19): 0.60, date(2021, 11, 19): 0.58, date(2022, 6, 17): 0.47,
    date(2022, 10, 14): 0.385, date(2023, 3, 17): 0.40, date(2023, 7, 28): 0.55, date(2024, 3, 29): 0.56,
    date(2024, 7, 12): 0.58, date(2024, 12, 13): 0.57, date(2025, 1, 31): 0.56, date(2025, 2, 21): 0.56,
    date(2025, 3, 28): 0.49, date(2025, 4, 4): 0.450, date(2025, 4, 11): 0.445, date(2025, 4, 18): 0.455,
    date(2025, 4, 25): 0.468, date(2025, 5, 2): 0.476, date(2025, 5, 9): 0.470, date(2025, 5, 16): 0.482,
    date(2025, 5, 23): 0.494, date(2025, 5, 30): 0.503, NOTE_WEEK: 0.512,
}
FLS_FIXED_FROM = date(2025, 2, 14)  #: from here on the FLS weekly points are exactly the anchors
FLS_PLANTED_LOWS = (date(2022, 10, 14), date(2023, 3, 17), date(2025, 3, 28))  #: long/short ratio below 1.642
FLS_NET_PERCENTILE = 38.0  #: 3-year percentile of the note's net leverage

#: aggregate biotechnology long/short ratio at week ends (all funds)
BIOTECH_RATIO: dict[date, float] = {
    date(2020, 6, 5): 3.70, date(2020, 9, 4): 4.00, date(2021, 2, 5): 4.40, date(2021, 6, 4): 4.10,
    date(2021, 11, 5): 3.98, date(2022, 2, 4): 3.90, date(2022, 3, 18): 3.80, date(2022, 5, 13): 3.30,
    date(2022, 9, 9): 3.25, date(2023, 1, 6): 3.15, date(2023, 6, 9): 3.00, date(2023, 10, 27): 2.80,
    date(2024, 3, 8): 3.35, date(2024, 7, 26): 3.10, date(2024, 11, 15): 3.40, date(2025, 1, 3): 2.90,
    date(2025, 2, 14): 3.50, date(2025, 2, 21): 3.62, date(2025, 2, 28): 3.75, date(2025, 3, 7): 3.78,
    date(2025, 3, 14): 3.76, date(2025, 3, 21): 3.72, date(2025, 3, 28): 3.58, date(2025, 4, 4): 3.38,
    date(2025, 4, 11): 3.25, date(2025, 4, 18): 3.30, date(2025, 4, 25): 3.38, date(2025, 5, 2): 3.45,
    date(2025, 5, 9): 3.52, date(2025, 5, 16): 3.60, date(2025, 5, 23): 3.66, date(2025, 5, 30): 3.71,
    NOTE_WEEK: 3.83,
}
BIOTECH_FIXED_FROM = date(2025, 2, 14)  #: every week from here on is an anchor
BIOTECH_BOOM_END = date(2022, 5, 13)  #: the level of the weeks before is tuned to the 5-year percentile
BIOTECH_PERCENTILE = 86.0

#: week-over-week change of the all-fund ETF short MV (week ends) from the natural level of 2025-04-25:
#: up into 2025-05-09, three weeks of covering, then +0.2 % (-15.7 % over the four weeks)
ETF_SHORT_STEPS: dict[date, float] = {
    date(2025, 5, 2): 1.02, date(2025, 5, 9): 1.01, date(2025, 5, 16): 0.95, date(2025, 5, 23): 0.94,
    date(2025, 5, 30): 0.9421, NOTE_WEEK: 1.002,
}
ETF_SHORT_FROM = date(2025, 4, 25)
LO_TAIL_LIFT = 0.05  #: long-only NAV above its trend from CALM_FROM on
CALM_FROM = date(2025, 3, 7)  #: other series are kept near their 3-year median from here on


class Exposures(Days):
    """Per group and day: NAV, long and short MV, and the book's split by instrument type, sector and sub-industry."""

    def build_exposures(self) -> None:
        n_weeks = len(self.weeks)
        weeks = self.weeks
        self.group_weekly: dict[str, dict[str, list[float]]] = {}

        # fundamental long/short: gross and net leverage designed
        rng = self.rng("fls")
        gross = self.weekly_path(rng, FLS_GROSS, sd=0.014, theta=0.25)
        net_raw = self.weekly_path(rng, FLS_NET, sd=0.022, theta=0.2)
        fixed = {w for w in weeks if w >= FLS_FIXED_FROM}
        for i, w in enumerate(weeks):
            if w in fixed:
                gross[i] = FLS_GROSS.get(w, gross[i])
            elif w not in FLS_PLANTED_LOWS:
                gross[i] = min(gross[i], 2.095 - 0.004 * rng.random())
        for w in fixed:
            if w not in FLS_GROSS:
                raise SimulateError(f"FLS gross anchor missing for {w}")
        net_fixed = {w for w in weeks if w >= FLS_PLANTED_LOWS[-1]}
        free = [i for i, w in enumerate(weeks) if w not in net_fixed and w not in FLS_PLANTED_LOWS]

        def shifted(delta: float) -> list[float]:
            out = list(net_raw)
            for i in free:
                floor = gross[i] * 0.65 / 2.65 + 0.004  # long/short ratio stays above 1.65
                out[i] = min(max(out[i] + delta, floor), 0.66)
            for w in FLS_PLANTED_LOWS:
                out[self.week_index[w]] = FLS_NET[w]
            for w in net_fixed:
                out[self.week_index[w]] = FLS_NET[w]
            return out

        note_net = FLS_NET[NOTE_WEEK]

        def net_pct(delta: float) -> float:
            return _percentile(self.window(shifted(delta), NOTE_WEEK, 3), note_net)

        lo_d, hi_d = -0.2, 0.2
        for _ in range(60):
            mid = (lo_d + hi_d) / 2
            if net_pct(mid) > FLS_NET_PERCENTILE:
                lo_d = mid
            else:
                hi_d = mid
        net = shifted(hi_d)
        self.group_weekly[FLS] = {"gross": gross, "net": net}

        # the other groups: mean-reverting around slow anchors, calm from CALM_FROM on
        specs = {
            "quant_equity": ({date(2020, 6, 5): 3.3, date(2022, 6, 17): 3.5, date(2025, 2, 21): 3.85, date(2025, 3, 28): 3.55},
                             {date(2020, 6, 5): 0.08, date(2023, 6, 9): 0.10}, 0.10, 0.03),
            "event_driven": ({date(2020, 6, 5): 1.5, date(2023, 6, 9): 1.6, date(2025, 2, 21): 1.72}, {date(2020, 6, 5): 0.55}, 0.05, 0.05),
            "global_macro": ({date(2020, 6, 5): 0.85, date(2025, 2, 21): 1.02}, {date(2020, 6, 5): 0.25}, 0.08, 0.07),
            "active_long_only": ({date(2020, 6, 5): 0.972}, None, 0.008, 0.0),
            "enhanced_index": ({date(2020, 6, 5): 0.99}, None, 0.003, 0.0),
        }
        calm_i = self.week_index[CALM_FROM]
        for strategy, (g_anchors, n_anchors, g_sd, n_sd) in specs.items():
            grng = self.rng(f"group:{strategy}")
            g = self.weekly_path(grng, g_anchors, sd=g_sd, theta=0.15)
            n = self.weekly_path(grng, n_anchors, sd=n_sd, theta=0.15) if n_anchors else list(g)
            series = {"gross": g, "net": n}
            for key in ("gross", "net") if n_anchors else ("gross",):
                values = series[key]
                window = sorted(values[max(0, calm_i - 156):calm_i])
                center = window[len(window) // 2]
                amp = 0.25 * (g_sd if key == "gross" else n_sd) / max(abs(center), 1e-9)
                # gross: first deviation up, so the calm weeks fall in 2025-04-11 and rise in 2025-05-30 like FLS
                values[calm_i:] = _calm(grng, center, n_weeks - calm_i, amp, 1.0 if key == "gross" else 0.0)
            if not n_anchors:
                series["net"] = list(series["gross"])
            self.group_weekly[strategy] = series

        # NAV per group
        self.group_daily: dict[str, dict[str, list[float]]] = {}
        first, last = self.days[0].toordinal(), self.days[-1].toordinal()
        for ft, strategy, _, nav0, nav1 in GROUPS:
            grng = self.rng(f"nav:{strategy}")
            wk = self.group_weekly[strategy]
            nav_noise = _ou(grng, n_weeks, 0.03, 0.1)
            calm_i = self.week_index[CALM_FROM]
            # long-only NAVs ride the spring rally (fully invested), which keeps the all-fund long/short mix steady
            lift = LO_TAIL_LIFT if ft == LO else 0.0
            nav_noise[calm_i:] = [x - 1.0 for x in _calm(grng, 1.0 + nav_noise[calm_i - 1] + lift, n_weeks - calm_i, 0.004)]
            nav_w = [nav0 * (nav1 / nav0) ** ((w.toordinal() - first) / (last - first)) * math.exp(nav_noise[i])
                     for i, w in enumerate(weeks)]
            gross_d = self.daily(wk["gross"], jitter=0.0015, rng=grng)
            net_d = self.daily(wk["net"], jitter=0.003, rng=grng) if ft == HF else list(gross_d)
            nav_d = self.daily(nav_w, log=True)
            long_d = [(gg + nn) / 2 * v for gg, nn, v in zip(gross_d, net_d, nav_d)]
            short_d = [max((gg - nn) / 2 * v, 0.0) for gg, nn, v in zip(gross_d, net_d, nav_d)]
            self.group_daily[strategy] = {"nav": nav_d, "long": long_d, "short": short_d}

        self._build_slices()

    def _calm_factor(self, rng: random.Random, sd: float) -> list[float]:
        """Return a weekly multiplicative factor around 1: mean-reverting, then calm from CALM_FROM on."""
        values = [math.exp(v) for v in _ou(rng, len(self.weeks), sd, 0.12)]
        calm_i = self.week_index[CALM_FROM]
        values[calm_i:] = _calm(rng, 1.0, len(self.weeks) - calm_i, 0.3 * sd)
        return values

    def _sector_books(self, sec_factor: Mapping[tuple[str, str], list[float]],
                      tilts: Mapping[str, Mapping[tuple[str, str], float]]) -> None:
        """Set each group's sector shares of its single-stock book and the all-fund sector totals per day."""
        n_days = len(self.days)
        self.sector_share: dict[str, dict[str, dict[str, list[float]]]] = {}
        for _, strategy, *_ in GROUPS:
            shares: dict[str, dict[str, list[float]]] = {"L": {}, "S": {}}
            for side, k in (("L", 0), ("S", 1)):
                raw = {s: [SECTOR_WEIGHTS[s][k] * tilts[strategy][(side, s)] * f for f in sec_factor[(side, s)]]
                       for s in GICS_SECTORS}
                totals = [sum(raw[s][i] for s in GICS_SECTORS) for i in range(n_days)]
                shares[side] = {s: [raw[s][i] / totals[i] for i in range(n_days)] for s in GICS_SECTORS}
            self.sector_share[strategy] = shares
        self.sector_long = {s: [0.0] * n_days for s in GICS_SECTORS}
        self.sector_short = {s: [0.0] * n_days for s in GICS_SECTORS}
        for _, strategy, *_ in GROUPS:
            gd, inst, sh = self.group_daily[strategy], self.inst[strategy], self.sector_share[strategy]
            for i in range(n_days):
                single_long = gd["long"][i] * (1.0 - inst["eL"][i] - inst["iL"][i])
                single_short = gd["short"][i] * (1.0 - inst["eS"][i] - inst["iS"][i])
                for s in GICS_SECTORS:
                    self.sector_long[s][i] += single_long * sh["L"][s][i]
                    self.sector_short[s][i] += single_short * sh["S"][s][i]

    def _build_slices(self) -> None:
        n_weeks, n_days = len(self.weeks), len(self.days)
        rng = self.rng("slices")
        # instrument shares: common weekly factors x group bases
        inst_factor = {k: self.daily(self._calm_factor(rng, 0.10), log=True) for k in ("eL", "iL", "eS", "iS")}
        self.inst: dict[str, dict[str, list[float]]] = {}
        for _, strategy, *_ in GROUPS:
            base = dict(zip(("eL", "iL", "eS", "iS"), INSTRUMENT_WEIGHTS[strategy]))
            self.inst[strategy] = {k: [base[k] * f for f in inst_factor[k]] for k in base}
        # the designed ETF short path
        hf_groups = [g[1] for g in GROUPS if g[0] == HF]

        def etf_short(i: int) -> float:
            return sum(self.group_daily[s]["short"][i] * self.inst[s]["eS"][i] for s in hf_groups)

        start_i = self.day_index[self.week_last[ETF_SHORT_FROM]]
        level = etf_short(start_i)
        anchors = {float(start_i): math.log(level)}
        running = 1.0
        for week, step in sorted(ETF_SHORT_STEPS.items()):
            running *= step
            anchors[float(self.day_index[self.week_last[week]])] = math.log(level * running)
        erng = self.rng("etf-short")
        for i in range(start_i + 1, n_days):
            target = math.exp(_interp([float(i)], anchors)[0])
            if float(i) not in anchors:
                target *= 1.0 + erng.gauss(0.0, 0.002)
            factor = target / etf_short(i)
            for s in hf_groups:
                self.inst[s]["eS"][i] *= factor

        # sector shares: common weekly factors x per-group tilts, normalized per group and day
        sec_factor = {
            (side, s): self.daily(self._calm_factor(rng, 0.06), log=True) for side in ("L", "S") for s in GICS_SECTORS
        }
        tilts = {
            strategy: {(side, s): math.exp(rng.gauss(0.0, 0.10)) for side in ("L", "S") for s in GICS_SECTORS}
            for _, strategy, *_ in GROUPS
        }
        self._sector_books(sec_factor, tilts)
        # a sector whose long/short ratio ends far from its 3-year median (the common factor moved it) is
        # brought back by its own short factor over the calm weeks, so no sector slice looks extreme by accident
        calm_day = self.day_index[self.week_last[CALM_FROM]]
        note_day = self.day_index[self.week_last[NOTE_WEEK]]
        for s in GICS_SECTORS:
            weekly = [self.sector_long[s][self.day_index[self.week_last[w]]] / self.sector_short[s][self.day_index[self.week_last[w]]]
                      for w in self.weeks]
            window = sorted(self.window(weekly, NOTE_WEEK, 3))
            correction = weekly[-1] / window[len(window) // 2]
            factor = sec_factor[("S", s)]
            for i in range(calm_day, n_days):
                ramp = min(1.0, (i - calm_day) / max(1, note_day - calm_day - 20))
                factor[i] *= correction**ramp
        self._sector_books(sec_factor, tilts)

        # sub-industry shares of their sector (common to all groups); the rest of a sector is not broken out
        self.sub_alpha: dict[str, list[float]] = {}
        self.sub_beta: dict[str, list[float]] = {}
        weights = (0.36, 0.26, 0.16, 0.10, 0.06)
        for sector, subs in UNIVERSE.items():
            names = list(subs)
            wl = [weights[j] for j in range(len(names))]
            ws = [weights[(j + 1) % len(names)] for j in range(len(names))]
            for j, sub in enumerate(names):
                a = 0.88 * wl[j] / sum(wl)
                b = 0.66 * ws[j] / sum(ws)
                fa = self.daily([math.exp(v) for v in _ou(rng, n_weeks, 0.08, 0.12)], log=True)
                fb = self.daily([math.exp(v) for v in _ou(rng, n_weeks, 0.08, 0.12)], log=True)
                self.sub_alpha[sub] = [a * f for f in fa]
                self.sub_beta[sub] = [b * f for f in fb]

        def ratio_daily(sub: str, i: int) -> float:
            sector = SUB_SECTOR[sub]
            return (self.sub_alpha[sub][i] * self.sector_long[sector][i]) / (self.sub_beta[sub][i] * self.sector_short[sector][i])

        def set_ratio(sub: str, i: int, ratio: float) -> None:
            sector = SUB_SECTOR[sub]
            self.sub_beta[sub][i] = self.sub_alpha[sub][i] * self.sector_long[sector][i] / (ratio * self.sector_short[sector][i])

        # biotechnology: a designed weekly path, its boom level tuned to the 5-year percentile
        brng = self.rng("biotech")
        base = self.weekly_path(brng, BIOTECH_RATIO, sd=0.05, theta=0.3)
        boom_end = self.week_index[BIOTECH_BOOM_END]
        two_years_ago = NOTE_WEEK - timedelta(weeks=104)
        fixed_from = self.week_index[BIOTECH_FIXED_FROM]
        cap = [3.66 - 0.05 * brng.random() for _ in self.weeks]  # the last two years stay below 3.70

        def biotech(delta: float) -> list[float]:
            out = list(base)
            for i, w in enumerate(self.weeks):
                if i < boom_end:
                    out[i] = base[i] + delta * min(1.0, (boom_end - i) / 8.0)
                elif w in BIOTECH_RATIO:
                    out[i] = BIOTECH_RATIO[w]
                elif w >= two_years_ago:
                    out[i] = min(base[i], cap[i])
            return out

        target = BIOTECH_RATIO[NOTE_WEEK]
        lo_d, hi_d = -0.6, 0.6
        for _ in range(50):
            mid = (lo_d + hi_d) / 2
            if _percentile(self.window(biotech(mid), NOTE_WEEK, 5), target) > BIOTECH_PERCENTILE:
                lo_d = mid
            else:
                hi_d = mid
        bio_weekly = self.biotech_weekly = biotech(hi_d)
        for i in range(fixed_from, len(self.weeks)):
            w = self.weeks[i]
            if w not in BIOTECH_RATIO:
                raise SimulateError(f"biotech anchor missing for {w}")
        bio_daily = self.daily(bio_weekly, jitter=0.006, rng=brng, log=True)
        for i in range(n_days):
            set_ratio(BIOTECH, i, bio_daily[i])

        # the other sub-industries: near their 3-year median from CALM_FROM on
        crng = self.rng("calm-subs")
        calm_i = self.week_index[CALM_FROM]
        for sub in SUBS:
            if sub == BIOTECH:
                continue
            weekly = [ratio_daily(sub, self.day_index[self.week_last[w]]) for w in self.weeks]
            window = sorted(weekly[calm_i - 156:calm_i])
            center = window[len(window) // 2]
            weekly[calm_i:] = _calm(crng, center, len(self.weeks) - calm_i, 0.03)
            daily = self.daily(weekly, log=True)
            first_day = self.day_index[self.week_last[self.weeks[calm_i - 1]]] + 1
            for i in range(first_day, n_days):
                set_ratio(sub, i, daily[i])
        for sector, subs in UNIVERSE.items():
            worst = max(range(n_days), key=lambda i: sum(self.sub_beta[s][i] for s in subs))
            total = sum(self.sub_beta[s][worst] for s in subs)
            if total > 0.97:
                raise SimulateError(
                    f"sub-industry short shares of {sector} add up to {total:.3f} of the sector on {self.days[worst]}: "
                    + ", ".join(f"{s} {self.sub_beta[s][worst]:.3f}" for s in subs)
                )

    # --- outputs -----------------------------------------------------------------------
    def exposure_rows(self) -> list[list[str]]:
        rows: list[list[str]] = []
        hist_days = [d for d in self.days if d <= HISTORY_END]
        for i, d in enumerate(hist_days):
            day = d.isoformat()
            fund: dict[tuple[str, ...], list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
            inst_tot: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
            for ft, strategy, *_ in GROUPS:
                gd = self.group_daily[strategy]
                lv, sv, nv = gd["long"][i], gd["short"][i], gd["nav"][i]
                for key in ((), (ft,), ("", strategy), (ft, strategy)):
                    acc = fund[key]
                    acc[0] += lv
                    acc[1] += sv
                    acc[2] += nv
                inst = self.inst[strategy]
                el, il, es, is_ = inst["eL"][i], inst["iL"][i], inst["eS"][i], inst["iS"][i]
                for name, lm, sm in (("single_stock", lv * (1 - el - il), sv * (1 - es - is_)),
                                     ("etf", lv * el, sv * es), ("index", lv * il, sv * is_)):
                    inst_tot[name][0] += lm
                    inst_tot[name][1] += sm
            for key in sorted(fund, key=lambda k: (len(k), k)):
                lv, sv, nv = fund[key]
                ft = key[0] if key else ""
                strategy = key[1] if len(key) > 1 else ""
                rows.append([day, ft, strategy, "", "", "", _fmt(lv), _fmt(sv), _fmt(nv)])
            for s in GICS_SECTORS:
                rows.append([day, "", "", s, "", "", _fmt(self.sector_long[s][i]), _fmt(self.sector_short[s][i]), ""])
            for sub in SUBS:
                sector = SUB_SECTOR[sub]
                rows.append([day, "", "", "", sub, "",
                             _fmt(self.sub_alpha[sub][i] * self.sector_long[sector][i]),
                             _fmt(self.sub_beta[sub][i] * self.sector_short[sector][i]), ""])
            for name in ("single_stock", "etf", "index"):
                lm, sm = inst_tot[name]
                rows.append([day, "", "", "", "", name, _fmt(lm), _fmt(sm), ""])
        return rows

    def exposure_events(self) -> list[dict[str, Any]]:
        rng = self.rng("fund-days")
        funds = self.funds()
        events = []
        for d in self.stream_days:
            i = self.day_index[d]
            for ft, strategy, *_ in GROUPS:
                members = [f for f in funds if f[2] == strategy]
                noise = [(math.exp(rng.gauss(0, 0.01)), math.exp(rng.gauss(0, 0.01)), math.exp(rng.gauss(0, 0.01))) for _ in members]
                wn = [f[3] * z[0] for f, z in zip(members, noise)]
                wl = [f[3] * f[4] * z[1] for f, z in zip(members, noise)]
                ws = [f[3] * f[5] * z[2] for f, z in zip(members, noise)]
                tn, tl, ts_ = sum(wn), sum(wl), sum(ws)
                gd, inst, sh = self.group_daily[strategy], self.inst[strategy], self.sector_share[strategy]
                el, il, es, is_ = inst["eL"][i], inst["iL"][i], inst["eS"][i], inst["iS"][i]
                for k, f in enumerate(members):
                    nav = gd["nav"][i] * wn[k] / tn
                    long_mv = gd["long"][i] * wl[k] / tl
                    short_mv = gd["short"][i] * ws[k] / ts_ if ft == HF else 0.0
                    sl, ssv = long_mv * (1 - el - il), short_mv * (1 - es - is_)

                    def ls(lv: float, sv: float) -> dict[str, float]:
                        out = {"long_mv": round(lv, 2)}
                        if ft == HF:
                            out["short_mv"] = round(sv, 2)
                        return out

                    sectors, subs = {}, {}
                    for s in GICS_SECTORS:
                        sec_l, sec_s = sl * sh["L"][s][i], ssv * sh["S"][s][i]
                        sectors[s] = ls(sec_l, sec_s)
                        for sub in UNIVERSE[s]:
                            subs[sub] = ls(sec_l * self.sub_alpha[sub][i], sec_s * self.sub_beta[sub][i])
                    instruments = {"single_stock": ls(sl, ssv), "etf": ls(long_mv * el, short_mv * es)}
                    if il > 0 or (ft == HF and is_ > 0):
                        instruments["index"] = ls(long_mv * il, short_mv * is_)
                    ts = _close(d) - timedelta(minutes=15) + timedelta(seconds=int(rng.random() * 240))
                    events.append({
                        "ts": _iso(ts), "fund_id": f[0], "fund_type": ft, "strategy": strategy,
                        "nav": round(nav, 2), "long_mv": round(long_mv, 2), "short_mv": round(short_mv, 2),
                        "sectors": sectors, "sub_industries": subs, "instrument_types": instruments,
                    })
        events.sort(key=lambda e: (e["ts"], e["fund_id"]))
        return events
