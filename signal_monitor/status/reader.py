"""Reading: the latest status record of every worker, from the compacted status topic.

The reader assigns itself every partition of ``<prefix>.status`` (no consumer
group, nothing committed), reads from the beginning up to the end offsets it
saw when it started, and keeps the last record per key, and the one before it
when compaction has not removed it yet (to tell whether lag grows). A
tombstone (null value) removes a worker.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from signal_monitor.config.settings import Settings
from signal_monitor.status.record import StatusRecord

log = logging.getLogger(__name__)


@dataclass
class StatusSnapshot:
    """What the status topic said when it was read."""

    latest: dict[str, StatusRecord] = field(default_factory=dict)
    previous: dict[str, StatusRecord] = field(default_factory=dict)
    invalid: int = 0  #: records that did not read as a StatusRecord
    complete: bool = True  #: False when the end offsets were not reached in time
    read_at: float = 0.0  #: wall clock (epoch seconds) when the read finished


class StatusReadError(Exception):
    """The status topic could not be read."""


def latest_by_key(messages: Iterable[tuple[bytes | None, bytes | None]]) -> StatusSnapshot:
    """Return the last and previous record per key of ``(key, value)`` messages in topic order."""
    snap = StatusSnapshot()
    for key, value in messages:
        if value is None:
            if key is not None:
                name = key.decode("utf-8", "replace")
                snap.latest.pop(name, None)
                snap.previous.pop(name, None)
            continue
        try:
            record = StatusRecord.model_validate_json(value)
        except ValidationError:
            snap.invalid += 1
            continue
        name = key.decode("utf-8", "replace") if key is not None else record.worker_id
        if name in snap.latest:
            snap.previous[name] = snap.latest[name]
        snap.latest[name] = record
    snap.read_at = time.time()
    return snap


def _position(consumer: Any, tp: Any) -> int:
    from kafka.errors import KafkaTimeoutError

    try:
        return int(consumer.position(tp, timeout_ms=1000))
    except KafkaTimeoutError:  # not known yet: keep polling
        return -1


def read_messages(settings: Settings, *, timeout_s: float = 15.0) -> tuple[list[tuple[bytes | None, bytes | None]], bool]:
    """Return the raw ``(key, value)`` messages of the status topic up to its current end, and whether the end was reached."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    from signal_monitor.streams.topics import kafka_client_options

    topic = settings.topic("status")
    try:
        consumer = KafkaConsumer(
            **kafka_client_options(settings),
            group_id=None,
            enable_auto_commit=False,
            client_id=f"{settings.app_id}-status-reader",
            request_timeout_ms=max(5000, int(timeout_s * 1000)),
        )
    except KafkaError as exc:
        raise StatusReadError(f"cannot reach the broker at {settings.kafka_bootstrap}: {exc}") from exc
    messages: list[tuple[bytes | None, bytes | None]] = []
    try:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            return messages, True
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        done: set[Any] = {tp for tp in tps if ends[tp] == 0}
        while len(done) < len(tps):
            if time.monotonic() >= deadline:
                log.warning("status: stopped reading %s after %.0f s, before its end", topic, timeout_s)
                return messages, False
            batch: dict[Any, list[Any]] = consumer.poll(timeout_ms=500)
            for tp, records in sorted(batch.items(), key=lambda kv: kv[0].partition):
                for r in records:
                    if r.offset < ends[tp]:
                        messages.append((r.key, r.value))
                    if r.offset >= ends[tp] - 1:
                        done.add(tp)
            for tp in tps:
                if tp not in done and _position(consumer, tp) >= ends[tp]:
                    done.add(tp)
    except KafkaError as exc:
        raise StatusReadError(f"cannot read {topic}: {exc}") from exc
    finally:
        consumer.close()
    return messages, True


def read_status(settings: Settings, *, timeout_s: float = 15.0) -> StatusSnapshot:
    """Read the status topic of ``settings`` from the beginning to its current end."""
    messages, complete = read_messages(settings, timeout_s=timeout_s)
    snap = latest_by_key(messages)
    snap.complete = complete
    return snap
