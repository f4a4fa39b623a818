"""Decoding of input messages: one event or a JSON array of events, each validated or rejected with a reason."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from signal_monitor.errors import InvalidEvent
from signal_monitor.streams.events import EVENT_TYPES, Event

#: Reasons an event goes to the dead-letter topic.
REASONS = (
    "too_large",
    "empty_message",
    "malformed_json",
    "not_an_object",
    "missing_field",
    "invalid_field",
    "naive_timestamp",
    "notional_mismatch",
    "too_late",
    "in_future",
)


@dataclass(frozen=True, slots=True)
class Rejected:
    """An input that cannot be applied, with the bytes to keep in the dead-letter topic."""

    index: int | None
    error: InvalidEvent
    raw: bytes


def _reason_of(exc: ValidationError) -> InvalidEvent:
    errors = exc.errors(include_url=False)
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "event"
    kind = first.get("type", "")
    message = first.get("msg", "")
    if kind == "missing":
        return InvalidEvent("missing_field", f"{loc}: field required")
    if kind == "timezone_aware":
        return InvalidEvent("naive_timestamp", f"{loc}: timestamp has no UTC offset")
    if "notional_mismatch" in message:
        return InvalidEvent("notional_mismatch", message.split("notional_mismatch: ", 1)[-1])
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return InvalidEvent("invalid_field", f"{loc}: {message}{more}"[:500])


def validate(kind: str, obj: Any) -> Event:
    """Return the event of topic ``kind`` that ``obj`` describes, or raise InvalidEvent."""
    if not isinstance(obj, dict):
        raise InvalidEvent("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    try:
        return EVENT_TYPES[kind].model_validate(obj)  # type: ignore[return-value]
    except ValidationError as exc:
        raise _reason_of(exc) from None


def decode(value: bytes | None, kind: str, *, max_bytes: int) -> tuple[list[tuple[int | None, Event]], list[Rejected]]:
    """Split a message into its valid events (with their envelope index) and its rejected parts."""
    raw = value or b""
    if len(raw) > max_bytes:
        return [], [Rejected(None, InvalidEvent("too_large", f"{len(raw)} bytes > {max_bytes}"), raw)]
    if not raw.strip():
        return [], [Rejected(None, InvalidEvent("empty_message", "no bytes"), raw)]
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        return [], [Rejected(None, InvalidEvent("malformed_json", str(exc)[:200]), raw)]
    if isinstance(obj, list):
        good: list[tuple[int | None, Event]] = []
        bad: list[Rejected] = []
        for i, item in enumerate(obj):
            try:
                good.append((i, validate(kind, item)))
            except InvalidEvent as exc:
                bad.append(Rejected(i, exc, json.dumps(item, separators=(",", ":"), default=str).encode()))
        return good, bad
    try:
        return [(None, validate(kind, obj))], []
    except InvalidEvent as exc:
        return [], [Rejected(None, exc, raw)]


def original_text(raw: bytes) -> str:
    """Return bytes as text for a dead-letter record (base64 with a prefix when not UTF-8)."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "base64:" + base64.b64encode(raw).decode("ascii")
