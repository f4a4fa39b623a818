"""The status record model and its committed JSON Schema."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from pydantic import ValidationError

from signal_monitor.status.record import SCHEMA_PATH, StatusRecord, json_schema, render_schema
from tests.unit.status.records import make_record


def test_committed_schema_equals_the_models_schema() -> None:
    committed = SCHEMA_PATH.read_text(encoding="utf-8")
    assert json.loads(committed) == json_schema(), (
        "signal_monitor/status/schema.json is out of date: run python -m signal_monitor.status.record"
    )
    assert committed == render_schema()


def test_a_record_round_trips_through_json() -> None:
    record = make_record(lag={0: 3, 1: 4})
    again = StatusRecord.model_validate_json(record.model_dump_json())
    assert again == record
    assert again.total_lag() == 7


def test_total_lag_ignores_unknown_partitions_and_is_none_when_all_are_unknown() -> None:
    assert make_record(lag={0: 2, 1: None}).total_lag() == 2
    assert make_record(lag={0: None}).total_lag() is None


def test_times_must_carry_a_zone() -> None:
    record = json.loads(make_record().model_dump_json())
    record["published"] = "2025-06-04T18:00:00"
    with pytest.raises(ValidationError):
        StatusRecord.model_validate(record)


def test_unknown_fields_of_a_newer_worker_are_ignored() -> None:
    record = json.loads(make_record().model_dump_json())
    record["from_the_future"] = {"x": 1}
    assert StatusRecord.model_validate(record).worker_id == "w1"


def test_the_schema_accepts_a_record_and_rejects_a_broken_one() -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))
    good = json.loads(make_record(lag={0: 1}).model_dump_json())
    assert not list(validator.iter_errors(good))
    for broken in ({k: v for k, v in good.items() if k != "worker_id"}, {**good, "reason": "bored"},
                   {**good, "interval_s": 0}, {**good, "redis": {"ok": "maybe", "rtt_ms": None}}):
        assert list(validator.iter_errors(broken)), broken


def test_published_is_kept_as_an_aware_datetime() -> None:
    assert isinstance(make_record().published, datetime) and make_record().published.tzinfo is not None
