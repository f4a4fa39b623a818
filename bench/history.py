"""History in Redis for the cost-versus-history runs: ~1,500 series of 1 or 5 years, written with ``put_series``.

The series are the ones the live stream and the default rules use: weekly flow
metrics for every flow scope the benchmark's trades produce, daily and weekly
exposure metrics of the whole-fund scopes, and daily and weekly closes of the
note's symbols plus enough others to reach ~1,500 series. Values are seeded
random walks; the history ends the week before the benchmark's trades begin, so
the weeks the run closes extend it.

:func:`time_rules` times the default rule set over a closed week and day in-process
(``RuleEngine.evaluate`` on a ``RedisState``): the part of the work that reads
history, done once per period close, never per event.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from datetime import date, timedelta

from bench.workload import STRATEGIES, SUB_INDUSTRIES
from signal_monitor.exchange_calendar import trading_days
from signal_monitor.periods import week_of
from signal_monitor.series import EXPOSURE_FUND_SCOPES, FLOW_SCOPES, series_id
from signal_monitor.state.redis import RedisState
from signal_monitor.streams.events import GICS_SECTORS

FLOW_METRICS = ("long_buy", "long_sell", "short_sale", "short_cover", "net_buying", "trades", "ls_flow_ratio")
EXPOSURE_METRICS = ("gross_leverage", "net_leverage", "ls_ratio", "long_mv", "short_mv", "nav")
NOTE_SYMBOLS = ("VIX", "NDX", "HF_VIP", "MOST_SHORT")


def _values() -> dict[str, tuple[str, ...]]:
    return {
        "fund_type": ("hedge_fund", "long_only"),
        "instrument_type": ("single_stock", "etf", "index"),
        "sector": (*GICS_SECTORS, "broad"),
        "sub_industry": tuple(s for subs in SUB_INDUSTRIES.values() for s in subs),
        "strategy": (*STRATEGIES, "long_only_core"),
    }


def series_plan(*, target: int = 1500) -> tuple[list[str], list[str]]:
    """Return the weekly-only and the daily (with a weekly twin) series ids, about ``target`` in all."""
    values = _values()
    weekly: list[str] = []
    for dims in FLOW_SCOPES:
        for combo in itertools.product(*(values[d] for d in dims)):
            scope = dict(zip(dims, combo))
            weekly.extend(series_id(m, "week", scope) for m in FLOW_METRICS)
    daily: list[str] = []
    fund_values = {"fund_type": values["fund_type"], "strategy": values["strategy"]}
    for dims in EXPOSURE_FUND_SCOPES:
        for combo in itertools.product(*(fund_values[d] for d in dims)):
            scope = dict(zip(dims, combo))
            daily.extend(series_id(m, "day", scope) for m in EXPOSURE_METRICS)
    symbols = list(NOTE_SYMBOLS)
    i = 0
    while len(weekly) + 2 * (len(daily) + len(symbols)) < target:
        symbols.append(f"S{i}")
        i += 1
    daily.extend(series_id("close", "day", {"symbol": s}) for s in symbols)
    return weekly, daily


def _walk(rng: random.Random, n: int, sid: str) -> list[float]:
    if sid.startswith(("net_buying", "short_cover", "long_buy", "long_sell", "short_sale")):
        scale = 1e9 if "net_buying" in sid else 5e9
        out = [rng.gauss(0, scale) if "net_buying" in sid else abs(rng.gauss(scale, scale / 4)) for _ in range(n)]
        return out
    level = {"close": 100.0, "gross_leverage": 2.0, "net_leverage": 0.5, "ls_ratio": 1.6, "ls_flow_ratio": 1.2}.get(
        sid.split(":", 1)[0], 1000.0
    )
    if sid.startswith("close") and "VIX" in sid:
        level = 20.0
    out = []
    x = level
    for _ in range(n):
        x = max(level * 0.2, x * (1 + rng.gauss(0, 0.02)))
        out.append(x)
    return out


def sessions_back(end: date, years: int) -> list[date]:
    """Return the NYSE session days of the ``years`` years up to ``end``, oldest first."""
    return trading_days(end - timedelta(days=365 * years), end)


async def load_history(redis_url: str, key_prefix: str, *, years: int, end: date, target: int = 1500, seed: int = 5) -> tuple[int, int, float]:
    """Write ``years`` of history up to ``end`` under ``key_prefix``; return (series, points, seconds)."""
    rng = random.Random(seed)
    state = RedisState.from_url(redis_url, prefix=key_prefix)
    weekly, daily = series_plan(target=target)
    days = sessions_back(end, years)
    fridays = sorted({week_of(d) for d in days})  # a week is named by its Friday, a holiday or not
    t0 = time.perf_counter()
    points = 0
    try:
        for sid in weekly:
            values = _walk(rng, len(fridays), sid)
            await state.put_series(sid, list(zip(fridays, values)))
            points += len(fridays)
        for sid in daily:
            values = _walk(rng, len(days), sid)
            await state.put_series(sid, list(zip(days, values)))
            by_week = {}
            for d, v in zip(days, values):
                by_week[week_of(d)] = v
            await state.put_series(sid.replace(":day", ":week", 1), sorted(by_week.items()))
            points += len(days) + len(by_week)
    finally:
        await state.close()
    return len(weekly) + 2 * len(daily), points, time.perf_counter() - t0


async def time_rules(redis_url: str, key_prefix: str, *, friday: date, repeat: int = 3) -> dict[str, float]:
    """Return the median milliseconds of evaluating the default rules (provisionally) for a week and a day."""
    from signal_monitor.config.settings import DEFAULT_RULES_PATH
    from signal_monitor.rules.engine import RuleEngine
    from signal_monitor.rules.model import load_rules

    state = RedisState.from_url(redis_url, prefix=key_prefix)
    engine = RuleEngine(load_rules(DEFAULT_RULES_PATH), state)
    out: dict[str, float] = {}
    try:
        for granularity in ("week", "day"):
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                await engine.evaluate(friday, granularity, provisional=True)  # type: ignore[arg-type]
                times.append((time.perf_counter() - t0) * 1000.0)
            out[granularity] = sorted(times)[len(times) // 2]
    finally:
        await state.close()
    return out


def load_history_sync(redis_url: str, key_prefix: str, *, years: int, end: date) -> tuple[int, int, float]:
    """Synchronous :func:`load_history`."""
    return asyncio.run(load_history(redis_url, key_prefix, years=years, end=end))


def time_rules_sync(redis_url: str, key_prefix: str, *, friday: date) -> dict[str, float]:
    """Synchronous :func:`time_rules`."""
    return asyncio.run(time_rules(redis_url, key_prefix, friday=friday))
