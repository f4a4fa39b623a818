"""simulate(): run the generators in order, write the history and stream files, and the manifest."""

from __future__ import annotations

from pathlib import Path

from signal_monitor.offline.simulate.exposures import Exposures
from signal_monitor.offline.simulate.flows import Flows
from signal_monitor.offline.simulate.manifest import Manifest, _read_vix, _write_csv, _write_jsonl
from signal_monitor.offline.simulate.observations import Observations
from signal_monitor.offline.simulate.prices import Prices
from signal_monitor.offline.simulate.targets import _targets
from signal_monitor.offline.simulate.universe import ACTIONS, BASKETS, CFTC_SERIES, HISTORY_END, NOTE_WEEK, STREAM_WEEKS


class _Sim(Prices, Exposures, Flows, Observations):
    """Builds the data set in memory; :func:`simulate` puts it on disk."""


def simulate(out_dir: Path, *, seed: int = 7, vix_csv: Path) -> Manifest:
    """Generate the data set into ``out_dir`` (created if needed) and return its manifest."""
    out_dir = Path(out_dir)
    vix_rows = _read_vix(Path(vix_csv))
    sim = _Sim(seed, vix_rows)
    sim.build_prices()
    sim.build_exposures()
    sim.build_flows()
    sim.build_cftc()

    history = out_dir / "history"
    history.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    closes = []
    vix_hist = [r for r in vix_rows if r[0] <= HISTORY_END.isoformat()]
    counts["history/closes_VIX.csv"] = _write_csv(history / "closes_VIX.csv", ["DATE", "OPEN", "HIGH", "LOW", "CLOSE"], vix_hist)
    closes.append({"path": "history/closes_VIX.csv", "symbol": "VIX"})
    for symbol, values, digits in (("NDX", sim.ndx, 2), *((b, sim.baskets[b], 4) for b in BASKETS)):
        name = f"history/closes_{symbol}.csv"
        counts[name] = _write_csv(out_dir / name, ["DATE", "OPEN", "HIGH", "LOW", "CLOSE"],
                                  sim.close_rows(values, sim.rng(f"ohlc:{symbol}"), digits))
        closes.append({"path": name, "symbol": symbol})
    counts["history/flows_weekly.csv"] = _write_csv(
        history / "flows_weekly.csv",
        ["week_end", "fund_type", "instrument_type", "sector", "sub_industry", "strategy", *ACTIONS, "n"],
        sim.flow_rows(),
    )
    counts["history/exposures_daily.csv"] = _write_csv(
        history / "exposures_daily.csv",
        ["date", "fund_type", "strategy", "sector", "sub_industry", "instrument_type", "long_mv", "short_mv", "nav"],
        sim.exposure_rows(),
    )
    counts["history/observations.csv"] = _write_csv(
        history / "observations.csv", ["date", "series", "value", "unit"],
        ([seen.isoformat(), CFTC_SERIES, str(value), "usd"] for _, seen, value in sim.cftc if seen <= HISTORY_END),
    )
    streams = {"trades": "trades.jsonl", "exposures": "exposures.jsonl", "quotes": "quotes.jsonl",
               "observations": "observations.jsonl"}
    trades = sim.trade_events()
    exposures = sim.exposure_events()
    counts["trades.jsonl"] = _write_jsonl(out_dir / "trades.jsonl", trades)
    counts["exposures.jsonl"] = _write_jsonl(out_dir / "exposures.jsonl", exposures)
    counts["quotes.jsonl"] = _write_jsonl(out_dir / "quotes.jsonl", sim.quote_events())
    counts["observations.jsonl"] = _write_jsonl(out_dir / "observations.jsonl", sim.observation_events())

    manifest = Manifest(
        root=str(out_dir),
        seed=seed,
        note_week=NOTE_WEEK.isoformat(),
        history_end=HISTORY_END.isoformat(),
        stream_weeks=[w.isoformat() for w in STREAM_WEEKS],
        streams=streams,
        history={
            "closes": closes,
            "flows": ["history/flows_weekly.csv"],
            "exposures": ["history/exposures_daily.csv"],
            "observations": ["history/observations.csv"],
        },
        counts=counts,
        targets=_targets(sim, trades, exposures),
    )
    (out_dir / "manifest.json").write_text(manifest.to_json(), encoding="utf-8")
    return manifest
