"""The status view: flags over the workers' latest records and a rich table of them.

Flags a person should act on:

* ``stale``: a worker published nothing for 3 of its intervals (dead, hung, or cut off);
* ``lag_growing``: a worker's total consumer lag is larger than in its previous record;
* ``redis_down``: its last PING to Redis failed; ``parked``: alerts parked after delivery failed;
* ``close_failing``: its closer failed to close periods since its previous record (the rules did not run);
* ``no_data``: no worker has applied a single event of an input feed;
* ``silent``: a feed is older than its expected cadence (``CADENCES``): quotes
  silent for more than 5 minutes or trades for more than 15 during an NYSE session
  (09:30-16:00 US/Eastern, to 13:00 on an early close; none on holidays), no exposure
  snapshot two hours after a session's close (18:00, 15:00 after an early close), no
  observation for more than 8 days.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from signal_monitor.exchange_calendar import hours, in_market_hours
from signal_monitor.periods import EASTERN
from signal_monitor.status.reader import StatusSnapshot
from signal_monitor.status.record import LastAlert, StatusRecord

STALE_INTERVALS = 3

Level = Literal["warning", "critical"]


@dataclass(frozen=True)
class Flag:
    """Something wrong with a worker or a feed."""

    code: str
    subject: str
    level: Level
    text: str


def _last_alert_text(alert: LastAlert | None, now: datetime) -> str:
    """Return the last-alert cell: the rule, "(provisional)" for a finding of the running week, and its age."""
    if alert is None:
        return "-"
    rule = f"{alert.rule} (provisional)" if alert.provisional else alert.rule
    return f"{rule} {_age(now, alert.fired_at)} ago" if alert.fired_at else rule


def _age(now: datetime, then: datetime) -> str:
    seconds = max(0.0, (now - then).total_seconds())
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.0f} d"


def _silent_in_market_hours(limit: timedelta) -> Callable[[datetime, datetime], str | None]:
    def check(now: datetime, newest: datetime) -> str | None:
        if in_market_hours(now) and now - newest > limit:
            return f"silent for {_age(now, newest)} during market hours (expected within {limit.total_seconds() / 60:.0f} min)"
        return None

    return check


def _daily_after_close(wait: timedelta) -> Callable[[datetime, datetime], str | None]:
    def check(now: datetime, newest: datetime) -> str | None:
        local = now.astimezone(EASTERN)
        session = hours(local.date())
        if session is None:
            return None
        cutoff = datetime.combine(local.date(), session[1], tzinfo=EASTERN) + wait
        if local >= cutoff and newest.astimezone(EASTERN).date() < local.date():
            return f"nothing today after {cutoff:%H:%M} US/Eastern (newest {newest.astimezone(EASTERN):%Y-%m-%d %H:%M})"
        return None

    return check


def _within(limit: timedelta) -> Callable[[datetime, datetime], str | None]:
    def check(now: datetime, newest: datetime) -> str | None:
        if now - newest > limit:
            return f"nothing for {_age(now, newest)} (expected within {limit.days} days)"
        return None

    return check


#: Expected cadence of each input feed: a check of (now, newest event time) returning what is wrong.
CADENCES: dict[str, Callable[[datetime, datetime], str | None]] = {
    "quotes": _silent_in_market_hours(timedelta(minutes=5)),
    "trades": _silent_in_market_hours(timedelta(minutes=15)),
    "exposures": _daily_after_close(timedelta(hours=2)),
    "observations": _within(timedelta(days=8)),
}


def kind_of(topic: str) -> str:
    """Return the input kind of a full topic name (``signals.quotes`` -> ``quotes``)."""
    return topic.rsplit(".", 1)[-1]


def worker_flags(record: StatusRecord, previous: StatusRecord | None, now: datetime) -> list[Flag]:
    """Return the flags of one worker's latest record."""
    flags = []
    wid = record.worker_id
    silent = now - record.published
    if silent > timedelta(seconds=STALE_INTERVALS * record.interval_s):
        flags.append(Flag("stale", wid, "critical", f"no record for {_age(now, record.published)} "
                          f"({STALE_INTERVALS} intervals of {record.interval_s:g} s)"))
    # the record before this one, when it is older: what "grew" and "since" compare with
    earlier = previous if previous is not None and previous.published < record.published else None
    if earlier is not None:
        lag, before = record.total_lag(), earlier.total_lag()
        if lag is not None and before is not None and lag > before:
            flags.append(Flag("lag_growing", wid, "warning", f"lag grew from {before} to {lag}"))
    if not record.redis.ok:
        flags.append(Flag("redis_down", wid, "critical", f"Redis: {record.redis.error or 'no answer'}"))
    if record.delivery.parked:
        flags.append(Flag("parked", wid, "warning", f"{record.delivery.parked} alerts parked"))
    failed = record.closer.failures - earlier.closer.failures if earlier is not None else 0
    if failed > 0:
        flags.append(Flag("close_failing", wid, "critical",
                          f"closing periods failed {failed} time{'s' if failed != 1 else ''} since its previous record "
                          "(see the worker's log)"))
    return flags


def newest_events(records: Sequence[StatusRecord]) -> dict[str, datetime | None]:
    """Return the newest event time of each input topic over the workers' records."""
    out: dict[str, datetime | None] = {}
    for record in records:
        for topic, figures in record.topics.items():
            old = out.get(topic)
            new = figures.newest_event
            out[topic] = max(old, new) if old and new else (old or new)
    return out


def feed_flags(records: Sequence[StatusRecord], now: datetime) -> list[Flag]:
    """Return the flags of the input feeds: no data at all, or older than their cadence."""
    flags = []
    for topic, newest in sorted(newest_events(records).items()):
        if newest is None:
            flags.append(Flag("no_data", topic, "warning", "no data: no event applied by any worker"))
            continue
        check = CADENCES.get(kind_of(topic))
        problem = check(now, newest) if check is not None else None
        if problem:
            flags.append(Flag("silent", topic, "warning", problem))
    return flags


@dataclass
class Assessment:
    """The workers' records with their flags, as the table and ``--json`` show them."""

    now: datetime
    workers: list[StatusRecord]
    previous: dict[str, StatusRecord]
    worker_flags: dict[str, list[Flag]]
    feed_flags: list[Flag]
    newest: dict[str, datetime | None]
    invalid: int = 0

    @property
    def flags(self) -> list[Flag]:
        """Return every flag, workers' first."""
        return [f for w in self.workers for f in self.worker_flags[w.worker_id]] + self.feed_flags


def assess(snapshot: StatusSnapshot, now: datetime | None = None,
           previous: Mapping[str, StatusRecord] | None = None) -> Assessment:
    """Flag the snapshot's workers and feeds at ``now`` (``previous`` replaces the topic's earlier records)."""
    now = now or datetime.now(timezone.utc)
    workers = sorted(snapshot.latest.values(), key=lambda r: r.worker_id)
    before = {**snapshot.previous, **(previous or {})}
    return Assessment(
        now=now,
        workers=workers,
        previous=before,
        worker_flags={w.worker_id: worker_flags(w, before.get(w.worker_id), now) for w in workers},
        feed_flags=feed_flags(workers, now),
        newest=newest_events(workers),
        invalid=snapshot.invalid,
    )


def as_json(assessment: Assessment) -> dict[str, Any]:
    """Return the assessment as plain JSON data (for ``--json``)."""
    return {
        "now": assessment.now.isoformat(),
        "workers": [
            {
                "record": w.model_dump(mode="json"),
                "stale": any(f.code == "stale" for f in assessment.worker_flags[w.worker_id]),
                "flags": [asdict(f) for f in assessment.worker_flags[w.worker_id]],
            }
            for w in assessment.workers
        ],
        "feeds": [
            {"topic": t, "newest_event": n.isoformat() if n else None,
             "flags": [asdict(f) for f in assessment.feed_flags if f.subject == t]}
            for t, n in sorted(assessment.newest.items())
        ],
        "invalid_records": assessment.invalid,
    }


def _style(flags: Sequence[Flag]) -> str:
    if any(f.level == "critical" for f in flags):
        return "bold red"
    return "yellow" if flags else "green"


def _lag_text(record: StatusRecord, previous: StatusRecord | None) -> str:
    lag = record.total_lag()
    if lag is None:
        return "?"
    before = previous.total_lag() if previous is not None else None
    if before is None or before == lag:
        return str(lag)
    return f"{lag} ({lag - before:+d})"


def render(assessment: Assessment) -> RenderableType:
    """Return the rich renderable of the workers' table and the feeds' table."""
    now = assessment.now
    workers = Table(title="workers", title_justify="left", expand=False)
    for col in ("worker", "host", "version", "up", "seen", "partitions", "lag", "events/s", "events", "DLQ",
                "Redis", "outbox", "rules", "last alert", "flags"):
        workers.add_column(col, no_wrap=col not in ("flags", "last alert"))
    for w in assessment.workers:
        flags = assessment.worker_flags[w.worker_id]
        rate = sum(t.events_per_s for t in w.topics.values())
        events = sum(t.events for t in w.topics.values())
        rules = w.rules
        rule_text = "/".join("-" if v is None else str(v) for v in (rules.loaded, rules.armed, rules.firing, rules.silenced))
        outbox = sum(w.delivery.outbox.values())
        workers.add_row(
            Text(w.worker_id, style=_style(flags)),
            w.host,
            w.version,
            _age(now, w.started),
            _age(now, w.published) + " ago",
            str(len(w.partitions)),
            _lag_text(w, assessment.previous.get(w.worker_id)),
            f"{rate:.1f}",
            str(events),
            str(sum(w.dlq.values())),
            f"{w.redis.rtt_ms:.1f} ms" if w.redis.ok and w.redis.rtt_ms is not None else Text("down", style="red"),
            f"{outbox}" + (f" +{w.delivery.parked} parked" if w.delivery.parked else ""),
            rule_text,
            _last_alert_text(w.last_alert, now),
            Text("; ".join(f"{f.code}: {f.text}" for f in flags) or "ok", style=_style(flags)),
        )
    if not assessment.workers:
        workers.add_row(Text("no worker has published a status record", style="yellow"), *[""] * 14)
    feeds = Table(title="feeds (newest event time over all workers)", title_justify="left")
    for col in ("topic", "newest event", "age", "state"):
        feeds.add_column(col)
    for topic, newest in sorted(assessment.newest.items()):
        flags = [f for f in assessment.feed_flags if f.subject == topic]
        feeds.add_row(
            topic,
            newest.astimezone(EASTERN).strftime("%Y-%m-%d %H:%M:%S ET") if newest else "-",
            _age(now, newest) if newest else "-",
            Text("; ".join(f.text for f in flags) or "ok", style=_style(flags)),
        )
    parts: list[RenderableType] = [workers, feeds]
    if assessment.invalid:
        parts.append(Text(f"{assessment.invalid} records on the topic did not read as status records", style="yellow"))
    parts.append(Text("rules: loaded/armed/firing/silenced ('-': not reported)", style="dim"))
    return Group(*parts)
