"""Replay: run the live pipeline (ingestion, period close, rules) in-process over event files, no broker.

Events of every file are merged in event-time order and fed through the same
``Ingestor`` and ``PeriodCloser`` the workers use, one chunk at a time; the
replay's own position in time is the watermark, so each period closes as soon as
the replay has passed it. Daily closes in CBOE format (``DATE,OPEN,HIGH,LOW,CLOSE``)
become ``close`` quotes at the close of their date's session (16:00 US/Eastern, 13:00 on an
early close, 16:00 on a day without a session).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from signal_monitor.agents.closer import PeriodCloser
from signal_monitor.agents.ingest import IngestStats, Ingestor, Record
from signal_monitor.agents.provisional import ProvisionalWatch
from signal_monitor.periods import close_at
from signal_monitor.state.base import State
from signal_monitor.streams.events import DeadLetter
from signal_monitor.streams.topics import INPUTS

CHUNK = 2000


@dataclass
class ReplaySummary:
    """What a replay did."""

    events: dict[str, int] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    alerts: list[Any] = field(default_factory=list)
    closed_days: int = 0
    closed_weeks: int = 0


def cboe_quotes(path: Path, symbol: str) -> Iterator[tuple[float, bytes]]:
    """Yield (event time, quote JSON) for each row of a CBOE daily file: a close at its session's close."""
    with path.open(newline="") as fh:
        for row in csv.DictReader(fh):
            norm = {k.strip().upper(): (v or "").strip() for k, v in row.items() if k}
            text = norm.get("DATE", "")
            if "/" in text:
                month, day, year = text.split("/")
                d = date(int(year), int(month), int(day))
            else:
                d = date.fromisoformat(text)
            ts = close_at(d, "day")
            close: object = norm.get("CLOSE", "")
            try:
                close = float(close)  # type: ignore[arg-type]
            except ValueError:
                pass  # left as text: the ingestor rejects the row as an invalid field
            body = {"ts": ts.isoformat(), "symbol": symbol, "price": close, "kind": "close"}
            yield ts.timestamp(), json.dumps(body).encode()


def jsonl_events(path: Path) -> Iterator[tuple[float, bytes]]:
    """Yield (event time or 0 when unreadable, raw line) for each non-blank line of a JSONL file."""
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                ts = datetime.fromisoformat(json.loads(line)["ts"]).timestamp()
            except Exception:  # the ingestor rejects it with the precise reason
                ts = 0.0
            yield ts, line.rstrip(b"\r\n")


async def replay(
    state: State,
    inputs: Sequence[tuple[str, Iterator[tuple[float, bytes]]]],
    *,
    evaluator: Any,
    lateness_s: float = 7 * 86400,
    grace_s: float = 300.0,
    max_message_bytes: int = 1024 * 1024,
    notebook: Any = None,
    provisional: ProvisionalWatch | None = None,
) -> ReplaySummary:
    """Feed ``(kind, events)`` inputs through ingestion, period close and the rules; return what happened.

    ``notebook`` (a :class:`signal_monitor.notes.notebook.Notebook` on the same state): given every
    alert as the worker gives it, so each week's note is composed and stored in ``state`` as it closes.
    ``provisional``: also evaluate its rules on each running week after each of its days closes
    (the watch's cadence is the live worker's; a replay has no wall-clock time).
    """
    summary = ReplaySummary()
    topic_prefix = state.topic_prefix
    merged: list[tuple[float, int, str, bytes]] = []
    for seq, (kind, events) in enumerate(inputs):
        if kind not in INPUTS:
            raise ValueError(f"unknown input kind {kind!r}; expected one of {', '.join(INPUTS)}")
        merged.extend((ts, seq, kind, raw) for ts, raw in events)
    merged.sort(key=lambda item: (item[0], item[1]))
    position = {"t": 0.0}

    async def collect_letters(letters: Sequence[DeadLetter]) -> None:
        summary.dead_letters.extend(letters)

    async def collect_alerts(alerts: Sequence[Any]) -> None:
        summary.alerts.extend(alerts)
        if notebook is not None:
            await notebook.take(alerts)

    closer = PeriodCloser(
        state,
        topics=[f"{topic_prefix}.{k}" for k in INPUTS],
        evaluator=evaluator,
        emit=collect_alerts,
        grace_s=grace_s,
        idle_s=float("inf"),
        clock=lambda: position["t"] or None,
        provisional=provisional,
    )

    async def on_applied(batch: Any) -> None:
        await closer.note(batch)

    stats = IngestStats()
    ingestors = {
        kind: Ingestor(
            state,
            topic=f"{topic_prefix}.{kind}",
            kind=kind,
            dead_letters=collect_letters,
            lateness_s=lateness_s,
            max_message_bytes=max_message_bytes,
            worker_id="replay",
            on_applied=on_applied,
            stats=stats,
        )
        for kind in INPUTS
    }
    offsets = {kind: (await ingestors[kind].stored_offset(0)) + 1 for kind in INPUTS}
    for start in range(0, len(merged), CHUNK):
        chunk = merged[start : start + CHUNK]
        by_kind: dict[str, list[Record]] = {}
        for _, _, kind, raw in chunk:
            by_kind.setdefault(kind, []).append(Record(0, offsets[kind], raw))
            offsets[kind] += 1
        for kind, records in by_kind.items():
            await ingestors[kind].handle(records)
        position["t"] = max(position["t"], chunk[-1][0])
        await closer.advance()
    if merged:
        position["t"] = max(position["t"], merged[-1][0]) + grace_s
        await closer.advance()
    summary.events = {k.split(".", 1)[1]: v for k, v in stats.events.items()}
    summary.closed_days = closer.closed_days
    summary.closed_weeks = closer.closed_weeks
    return summary
