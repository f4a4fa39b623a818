"""Status flags over hand-made records at a fake 'now', the reader's last-per-key, the table and the command."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest
from rich.console import Console

from signal_monitor.config.settings import Settings
from signal_monitor.periods import EASTERN
from signal_monitor.status.cli import run_status
from signal_monitor.status.reader import StatusSnapshot, latest_by_key
from signal_monitor.status.record import CloserCounts, Delivery, RedisHealth
from signal_monitor.status.view import Flag, as_json, assess, feed_flags, in_market_hours, render, worker_flags
from tests.unit.status.records import INPUTS, T0, make_record


def et(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    """Return an aware US/Eastern time."""
    return datetime(year, month, day, hour, minute, tzinfo=EASTERN)


def codes(flags: Sequence[Flag]) -> set[str]:
    """Return the codes of the flags."""
    return {f.code for f in flags}


@pytest.mark.parametrize(("age_intervals", "stale"), [(0.5, False), (2.9, False), (3.1, True), (40, True)])
def test_a_worker_is_stale_after_three_intervals_without_a_record(age_intervals: float, stale: bool) -> None:
    record = make_record(published=T0, interval_s=10.0)
    now = T0 + timedelta(seconds=10.0 * age_intervals)
    assert ("stale" in codes(worker_flags(record, None, now))) is stale


def test_staleness_follows_each_workers_own_interval() -> None:
    now = T0 + timedelta(seconds=20)
    assert "stale" in codes(worker_flags(make_record(interval_s=5.0), None, now))
    assert "stale" not in codes(worker_flags(make_record(interval_s=10.0), None, now))


def test_growing_lag_is_flagged_against_the_previous_record() -> None:
    before = make_record(published=T0 - timedelta(seconds=10), lag={0: 10, 1: 0})
    grew = make_record(published=T0, lag={0: 20, 1: 5})
    shrank = make_record(published=T0, lag={0: 3, 1: 0})
    flags = worker_flags(grew, before, T0)
    assert codes(flags) == {"lag_growing"} and "from 10 to 25" in flags[0].text
    assert not worker_flags(shrank, before, T0)
    assert not worker_flags(grew, None, T0)
    assert not worker_flags(grew, grew, T0)  # the same record twice is no trend


def test_redis_down_and_parked_alerts_are_flagged() -> None:
    record = make_record(redis=RedisHealth(ok=False, rtt_ms=None, error="TimeoutError"), delivery=Delivery(parked=2))
    flags = worker_flags(record, None, T0)
    assert codes(flags) == {"redis_down", "parked"}
    assert next(f for f in flags if f.code == "redis_down").level == "critical"


def test_closes_failing_since_the_previous_record_are_flagged() -> None:
    before = make_record(published=T0 - timedelta(seconds=10), closer=CloserCounts(closed_days=3, failures=1))
    failing = make_record(published=T0, closer=CloserCounts(closed_days=3, failures=4))
    recovered = make_record(published=T0, closer=CloserCounts(closed_days=4, failures=1))
    flags = worker_flags(failing, before, T0)
    assert codes(flags) == {"close_failing"} and "failed 3 times" in flags[0].text and flags[0].level == "critical"
    assert not worker_flags(recovered, before, T0)  # failures earlier, none since
    assert not worker_flags(failing, None, T0)


def test_a_feed_no_worker_has_seen_is_the_no_data_state() -> None:
    quiet = {t: None for t in INPUTS}
    a = make_record("a", newest=quiet)
    flags = feed_flags([a], T0)
    assert {(f.code, f.subject) for f in flags} == {("no_data", t) for t in INPUTS}
    b = make_record("b", newest={**quiet, "signals.trades": T0 - timedelta(minutes=1)})
    assert "signals.trades" not in {f.subject for f in feed_flags([a, b], T0)}


def _quotes(newest: datetime, now: datetime) -> set[str]:
    fresh = {t: now - timedelta(seconds=5) for t in INPUTS if t != "signals.exposures"}
    fresh["signals.exposures"] = now.astimezone(EASTERN).replace(hour=15, minute=45)
    record = make_record(published=now, newest={**fresh, "signals.quotes": newest})
    return {f.code for f in feed_flags([record], now) if f.subject == "signals.quotes"}


@pytest.mark.parametrize(
    ("now", "newest", "silent"),
    [
        (et(2025, 6, 4, 14, 0), et(2025, 6, 4, 13, 50), True),  # Wednesday, 10 min silent in market hours
        (et(2025, 6, 4, 14, 0), et(2025, 6, 4, 13, 56), False),  # 4 min: within the cadence
        (et(2025, 6, 4, 9, 36), et(2025, 6, 3, 16, 0), True),  # the open passed 6 min ago without a quote
        (et(2025, 6, 4, 9, 20), et(2025, 6, 3, 16, 0), False),  # before the open
        (et(2025, 6, 4, 17, 0), et(2025, 6, 4, 13, 0), False),  # after the close
        (et(2025, 6, 7, 12, 0), et(2025, 6, 6, 16, 0), False),  # Saturday
        (et(2025, 7, 4, 12, 0), et(2025, 7, 3, 13, 0), False),  # Independence Day
        (et(2025, 11, 28, 12, 30), et(2025, 11, 28, 12, 20), True),  # the early close's session
        (et(2025, 11, 28, 14, 0), et(2025, 11, 28, 13, 0), False),  # after its 13:00 close
        (et(2025, 4, 18, 12, 0), et(2025, 4, 17, 16, 0), False),  # Good Friday
    ],
)
def test_quotes_silent_during_market_hours_for_more_than_five_minutes(now: datetime, newest: datetime, silent: bool) -> None:
    assert ("silent" in _quotes(newest, now)) is silent


def test_market_hours_follow_daylight_saving() -> None:
    assert in_market_hours(et(2025, 1, 15, 9, 30)) and in_market_hours(et(2025, 7, 15, 15, 59))
    assert not in_market_hours(et(2025, 1, 15, 16, 0))


@pytest.mark.parametrize(
    ("now", "newest", "flagged"),
    [
        (et(2025, 6, 4, 18, 30), et(2025, 6, 3, 15, 45), True),  # no snapshot today after 18:00
        (et(2025, 6, 4, 18, 30), et(2025, 6, 4, 15, 45), False),
        (et(2025, 6, 4, 17, 0), et(2025, 6, 3, 15, 45), False),  # not yet 18:00
        (et(2025, 6, 7, 19, 0), et(2025, 6, 6, 15, 45), False),  # Saturday: no snapshot expected
        (et(2025, 11, 28, 15, 30), et(2025, 11, 26, 15, 45), True),  # two hours after a 13:00 close
        (et(2025, 11, 28, 14, 30), et(2025, 11, 26, 15, 45), False),
        (et(2025, 11, 27, 19, 0), et(2025, 11, 26, 15, 45), False),  # Thanksgiving: no session
    ],
)
def test_no_exposures_two_hours_after_the_close(now: datetime, newest: datetime, flagged: bool) -> None:
    record = make_record(published=now, newest={t: now for t in INPUTS} | {"signals.exposures": newest})
    found = {f.code for f in feed_flags([record], now) if f.subject == "signals.exposures"}
    assert ("silent" in found) is flagged


def test_observations_older_than_eight_days_are_flagged() -> None:
    now = et(2025, 6, 14, 12, 0)
    old = make_record(published=now, newest={t: now for t in INPUTS} | {"signals.observations": now - timedelta(days=9)})
    new = make_record(published=now, newest={t: now for t in INPUTS} | {"signals.observations": now - timedelta(days=6)})
    assert [f.subject for f in feed_flags([old], now)] == ["signals.observations"]
    assert not feed_flags([new], now)


def test_feed_age_is_the_newest_over_all_workers() -> None:
    now = et(2025, 6, 4, 14, 0)
    behind = make_record("a", published=now, newest={t: now for t in INPUTS} | {"signals.quotes": now - timedelta(hours=2)})
    ahead = make_record("b", published=now, newest={t: now for t in INPUTS})
    assert not feed_flags([behind, ahead], now)


def test_reader_keeps_the_last_record_per_key_the_one_before_and_drops_tombstones() -> None:
    a1, a2 = make_record("a", published=T0, lag={0: 1}), make_record("a", published=T0 + timedelta(seconds=10), lag={0: 9})
    b1 = make_record("b")
    snap = latest_by_key([
        (b"a", a1.model_dump_json().encode()), (b"b", b1.model_dump_json().encode()), (b"x", b"{not json"),
        (b"a", a2.model_dump_json().encode()), (b"b", None),
    ])
    assert list(snap.latest) == ["a"] and snap.latest["a"] == a2 and snap.previous["a"] == a1
    assert snap.invalid == 1
    assessment = assess(snap, T0 + timedelta(seconds=12))
    assert codes(assessment.worker_flags["a"]) == {"lag_growing"}


def test_json_output_says_stale_and_lists_the_flags() -> None:
    snap = StatusSnapshot(latest={"a": make_record("a"), "b": make_record("b", published=T0 - timedelta(minutes=5))})
    out = as_json(assess(snap, T0 + timedelta(seconds=5)))
    assert [(w["record"]["worker_id"], w["stale"]) for w in out["workers"]] == [("a", False), ("b", True)]
    assert json.loads(json.dumps(out)) == out
    assert {f["topic"] for f in out["feeds"]} == set(INPUTS)


def test_the_table_names_each_worker_and_its_flags() -> None:
    snap = StatusSnapshot(latest={"alpha": make_record("alpha"), "beta": make_record("beta", published=T0 - timedelta(hours=1))})
    console = Console(record=True, width=260, file=io.StringIO())
    console.print(render(assess(snap, T0)))
    text = console.export_text()
    assert "alpha" in text and "beta" in text and "stale: no record for 60 min" in text
    empty = Console(record=True, width=200, file=io.StringIO())
    empty.print(render(assess(StatusSnapshot(), T0)))
    assert "no worker has published" in empty.export_text()


def test_watch_compares_with_the_record_shown_before() -> None:
    rounds = iter([
        StatusSnapshot(latest={"a": make_record("a", published=T0, lag={0: 2})}),
        StatusSnapshot(latest={"a": make_record("a", published=T0 + timedelta(seconds=10), lag={0: 40})}),
    ])
    lines: list[str] = []
    last = run_status(Settings(), as_json_output=True, watch=True, interval=0.0, console=Console(file=io.StringIO()),
                      reader=lambda s: next(rounds), echo=lines.append, rounds=2,
                      now=lambda: T0 + timedelta(seconds=11))
    assert len(lines) == 2
    assert [f["code"] for f in json.loads(lines[1])["workers"][0]["flags"]] == ["lag_growing"]
    assert codes(last.worker_flags["a"]) == {"lag_growing"}
