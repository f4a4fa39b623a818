"""The status record: what one worker says about itself on the status topic, and its JSON Schema.

The committed ``schema.json`` beside this module is generated from the model
(``python -m signal_monitor.status.record`` rewrites it); a unit test keeps the
two equal. Readers ignore fields they do not know, so a newer worker's record
still reads.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_PATH = Path(__file__).with_name("schema.json")

#: A count: never negative.
Count = Annotated[int, Field(ge=0)]
#: Why a record was published.
Reason = Literal["interval", "assigned", "revoked"]


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)


class AssignedPartition(_Part):
    """One topic partition assigned to the worker."""

    topic: str
    partition: int = Field(ge=0)


class PartitionLag(_Part):
    """Consumer lag of one assigned input partition: messages past the offset applied in the store."""

    topic: str
    partition: int = Field(ge=0)
    applied_offset: int | None = Field(description="Last offset applied in the store (-1: none yet; null: unknown).")
    end_offset: int | None = Field(description="The partition's end offset (next offset to be written), null when unknown.")
    lag: int | None = Field(description="end_offset - (applied_offset + 1), null when either is unknown.")


class TopicFigures(_Part):
    """Ingestion figures of one input topic on this worker since it started."""

    events: int = Field(ge=0, description="Events applied (duplicates excluded).")
    events_per_s: float = Field(ge=0, description="Events applied per second over the last minute.")
    messages: int = Field(0, ge=0, description="Messages applied.")
    duplicates: int = Field(0, ge=0, description="Resent trades skipped.")
    redelivered: int = Field(0, ge=0, description="Messages seen again after a restart or rebalance and skipped.")
    newest_event: AwareDatetime | None = Field(description="Newest event time applied by this worker, null before any.")


class RedisHealth(_Part):
    """Whether Redis answered a PING and how fast."""

    ok: bool
    rtt_ms: float | None = Field(description="PING round trip in milliseconds, null when it failed.")
    error: str | None = Field(None, description="The error's type and message when it failed.")


class Delivery(_Part):
    """Alert delivery: outbox depth per channel and alerts parked after failing."""

    outbox: dict[str, Count] = Field(default_factory=dict, description="Alerts waiting per channel.")
    parked: int = Field(0, ge=0, description="Alerts parked after delivery failed for good.")


class RuleCounts(_Part):
    """Rules of the worker's rule set; null where the worker does not report a figure."""

    loaded: int | None = Field(None, ge=0)
    armed: int | None = Field(None, ge=0)
    firing: int | None = Field(None, ge=0)
    silenced: int | None = Field(None, ge=0)


class CloserCounts(_Part):
    """The worker's period closer since it started: what it closed, and what stopped or held a close."""

    closed_days: int = Field(0, ge=0)
    closed_weeks: int = Field(0, ge=0)
    failures: int = Field(0, ge=0, description="Advances that failed on an unexpected error (logged; the next tick retries).")
    leases_lost: int = Field(
        0, ge=0, description="Closes and recomputes stopped because another worker took their lease over."
    )
    emits_skipped: int = Field(0, ge=0, description="Alerts of a close taken over that an earlier holder had handed on.")
    store_retries: int = Field(0, ge=0, description="Calls of the closer retried while Redis did not answer.")
    ingest_waits: int = Field(
        0, ge=0, description="Batches the ingest agents held back (at most 0.5 s each) while a close was under way."
    )


class LastAlert(_Part):
    """The newest alert produced to the alerts topic."""

    rule: str
    severity: str | None = None
    dedup_key: str | None = None
    fired_at: AwareDatetime | None = None
    text: str | None = Field(None, description="The alert's text, cut to 200 characters.")
    provisional: bool = Field(False, description="A provisional finding of the running week, not a final alert.")


class StatusRecord(BaseModel):
    """One worker's status, published to ``<prefix>.status`` keyed by worker id."""

    model_config = ConfigDict(frozen=True, title="StatusRecord")

    schema_version: Literal[1] = 1
    worker_id: str
    host: str
    version: str
    app_id: str
    started: AwareDatetime
    published: AwareDatetime
    reason: Reason = "interval"
    interval_s: float = Field(gt=0, description="Seconds between this worker's records; stale after 3 of them.")
    partitions: list[AssignedPartition] = Field(default_factory=list)
    lag: list[PartitionLag] = Field(default_factory=list)
    topics: dict[str, TopicFigures] = Field(default_factory=dict, description="Per input topic, by full topic name.")
    dlq: dict[str, Count] = Field(default_factory=dict, description="Dead letters sent, by reason.")
    batches: int = Field(0, ge=0)
    store_retries: int = Field(0, ge=0)
    redis: RedisHealth
    delivery: Delivery = Field(default_factory=Delivery)
    rules: RuleCounts = Field(default_factory=RuleCounts)
    closer: CloserCounts = Field(default_factory=CloserCounts)
    last_alert: LastAlert | None = None

    def total_lag(self) -> int | None:
        """Return the summed lag of the partitions whose lag is known (None when none is)."""
        known = [p.lag for p in self.lag if p.lag is not None]
        return sum(known) if known else None


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of ``StatusRecord`` (draft 2020-12)."""
    schema = StatusRecord.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def render_schema() -> str:
    """Return the text of ``schema.json`` as committed."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":  # pragma: no cover - regenerates the committed file
    SCHEMA_PATH.write_text(render_schema(), encoding="utf-8")
    sys.stdout.write(f"wrote {SCHEMA_PATH}\n")
