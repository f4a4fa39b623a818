"""Metrics and series: how period aggregates become the points the rules read.

A *series* is a named sequence of ``(period, value)`` points, one per closed
period, stored in the state backend. Its id is ``<metric>:<granularity>`` then
``|key=value`` for each scope dimension in sorted order, for example
``net_buying:week|fund_type=hedge_fund|sector=Industrials`` or
``close:day|symbol=VIX``. The period of a weekly point is its Friday
(see :mod:`signal_monitor.periods`).

Metrics (definitions from the desk's signal catalogue):

* weekly flows, per flow scope (see ``FLOW_SCOPES``): ``long_buy``, ``long_sell``,
  ``short_sale``, ``short_cover`` (summed notional, USD), ``net_buying``
  ((long buys + short covers) - (long sells + short sales)), ``ls_flow_ratio``
  (long buys / short sales; no point when short sales are 0), ``trades`` (count);
* exposures, daily and weekly (the last day of the week), per exposure scope:
  ``gross_leverage`` and ``net_leverage`` ((long MV +/- short MV) / NAV, as a
  fraction: 2.106 means 210.6 %), ``ls_ratio`` (long MV / short MV), ``long_mv``,
  ``short_mv``, ``nav``; sector, sub-industry and instrument-type slices of the
  books have ``ls_ratio``, ``long_mv`` and ``short_mv`` only;
* prices: ``close`` (daily official close, and weekly: the week's last close) and
  ``return`` (weekly: close / previous week's close - 1, a fraction) per ``symbol``;
* observations: ``obs`` per ``series`` (daily, and weekly: the week's last value).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from signal_monitor.periods import Granularity

ACTION_METRIC = {
    "buy_long": "long_buy",
    "sell_long": "long_sell",
    "sell_short": "short_sale",
    "buy_to_cover": "short_cover",
}

#: Scope dimensions of flow aggregates. ``()`` is everything.
FLOW_SCOPES: tuple[tuple[str, ...], ...] = (
    (),
    ("fund_type",),
    ("fund_type", "instrument_type"),
    ("fund_type", "sector"),
    ("fund_type", "sub_industry"),
    ("fund_type", "strategy"),
    ("instrument_type",),
    ("sector",),
    ("sub_industry",),
    ("strategy",),
)

#: Scope dimensions of exposure aggregates over whole funds.
EXPOSURE_FUND_SCOPES: tuple[tuple[str, ...], ...] = (
    (),
    ("fund_type",),
    ("strategy",),
    ("fund_type", "strategy"),
)

#: Scope dimensions of exposure slices (a sector or sub-industry of funds' books).
EXPOSURE_SLICE_SCOPES: tuple[tuple[str, ...], ...] = (
    ("sector",),
    ("strategy", "sector"),
    ("sub_industry",),
    ("strategy", "sub_industry"),
    ("instrument_type",),
    ("strategy", "instrument_type"),
)


def scope_key(scope: Mapping[str, str]) -> str:
    """Return the canonical text of a scope: ``k=v`` pairs sorted by key, joined by ``|``."""
    return "|".join(f"{k}={scope[k]}" for k in sorted(scope))


def parse_scope_key(text: str) -> dict[str, str]:
    """Return the scope mapping of a canonical scope text."""
    if not text:
        return {}
    return dict(part.split("=", 1) for part in text.split("|"))


def series_id(metric: str, granularity: Granularity, scope: Mapping[str, str] | None = None) -> str:
    """Return the id of the series of ``metric`` at ``granularity`` over ``scope``."""
    head = f"{metric}:{granularity}"
    key = scope_key(scope or {})
    return f"{head}|{key}" if key else head


def parse_series_id(sid: str) -> tuple[str, Granularity, dict[str, str]]:
    """Split a series id into metric, granularity and scope."""
    head, _, rest = sid.partition("|")
    metric, _, granularity = head.partition(":")
    if granularity not in ("day", "week"):
        raise ValueError(f"series id {sid!r} has no granularity day or week")
    return metric, granularity, parse_scope_key(rest)  # type: ignore[return-value]


def trade_scopes(fields: Mapping[str, str | None]) -> list[str]:
    """Return the scope keys one trade counts in (dimensions whose value is missing are skipped)."""
    out = []
    for dims in FLOW_SCOPES:
        if all(fields.get(d) for d in dims):
            out.append(scope_key({d: fields[d] for d in dims}))  # type: ignore[misc]
    return out


def flow_metrics(sums: Mapping[str, float]) -> dict[str, float]:
    """Return the weekly flow metrics of one scope from its summed notional per action (and ``n``, the count)."""
    long_buy = float(sums.get("buy_long", 0.0))
    long_sell = float(sums.get("sell_long", 0.0))
    short_sale = float(sums.get("sell_short", 0.0))
    short_cover = float(sums.get("buy_to_cover", 0.0))
    out = {
        "long_buy": long_buy,
        "long_sell": long_sell,
        "short_sale": short_sale,
        "short_cover": short_cover,
        "net_buying": (long_buy + short_cover) - (long_sell + short_sale),
        "trades": float(sums.get("n", 0.0)),
    }
    if short_sale > 0:
        out["ls_flow_ratio"] = long_buy / short_sale
    return out


@dataclass
class ExposureSums:
    """Summed long MV, short MV and NAV of the funds in one scope."""

    long_mv: float = 0.0
    short_mv: float = 0.0
    nav: float = 0.0
    funds: int = 0

    def add(self, long_mv: float, short_mv: float, nav: float) -> None:
        """Add one fund (or slice) to the sums."""
        self.long_mv += long_mv
        self.short_mv += short_mv
        self.nav += nav
        self.funds += 1


def exposure_metrics(sums: ExposureSums, *, with_leverage: bool) -> dict[str, float]:
    """Return the exposure metrics of one scope; leverage only for whole-fund scopes."""
    out = {"long_mv": sums.long_mv, "short_mv": sums.short_mv}
    if sums.short_mv > 0:
        out["ls_ratio"] = sums.long_mv / sums.short_mv
    if with_leverage and sums.nav > 0:
        out["nav"] = sums.nav
        out["gross_leverage"] = (sums.long_mv + sums.short_mv) / sums.nav
        out["net_leverage"] = (sums.long_mv - sums.short_mv) / sums.nav
    return out


@dataclass
class FundSnapshot:
    """The fields of one fund's exposure snapshot that aggregation needs."""

    fund_type: str
    strategy: str
    nav: float
    long_mv: float
    short_mv: float
    sectors: dict[str, tuple[float, float]] = field(default_factory=dict)
    sub_industries: dict[str, tuple[float, float]] = field(default_factory=dict)
    instrument_types: dict[str, tuple[float, float]] = field(default_factory=dict)


def aggregate_exposures(snapshots: Iterable[FundSnapshot]) -> dict[str, dict[str, float]]:
    """Return exposure metrics per scope key from the day's latest snapshot of each fund."""
    fund: dict[str, ExposureSums] = {}
    slices: dict[str, ExposureSums] = {}
    for snap in snapshots:
        base = {"fund_type": snap.fund_type, "strategy": snap.strategy}
        for dims in EXPOSURE_FUND_SCOPES:
            key = scope_key({d: base[d] for d in dims})
            fund.setdefault(key, ExposureSums()).add(snap.long_mv, snap.short_mv, snap.nav)
        for dim, parts in (
            ("sector", snap.sectors),
            ("sub_industry", snap.sub_industries),
            ("instrument_type", snap.instrument_types),
        ):
            for name, (long_mv, short_mv) in parts.items():
                for dims in EXPOSURE_SLICE_SCOPES:
                    if dim not in dims:
                        continue
                    scope = {d: (name if d == dim else base[d]) for d in dims}
                    slices.setdefault(scope_key(scope), ExposureSums()).add(long_mv, short_mv, 0.0)
    out = {k: exposure_metrics(v, with_leverage=True) for k, v in fund.items()}
    out.update({k: exposure_metrics(v, with_leverage=False) for k, v in slices.items()})
    return out


def points_of(
    metrics_by_scope: Mapping[str, Mapping[str, float]], granularity: Granularity
) -> dict[str, float]:
    """Flatten ``{scope_key: {metric: value}}`` into ``{series_id: value}``."""
    out: dict[str, float] = {}
    for key, metrics in metrics_by_scope.items():
        scope = parse_scope_key(key)
        for metric, value in metrics.items():
            out[series_id(metric, granularity, scope)] = value
    return out
