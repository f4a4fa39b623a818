"""Decoding of input messages: one event or a JSON array of events, each validated or rejected with a reason.

:func:`decode` has two paths with one result. The fast one decodes the bytes with
msgspec into the structs of :mod:`signal_monitor.streams.fast_schema` and checks what
msgspec cannot (:func:`~signal_monitor.streams.fast_schema.conforms`). Any message it
does not accept as a whole goes to :func:`decode_models` (``json.loads``, then the
pydantic models item by item), which names every bad item with its reason and
index: events and dead letters are the same whichever path a message takes.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

import msgspec
from pydantic import ValidationError

from signal_monitor.errors import InvalidEvent
from signal_monitor.streams.events import EVENT_TYPES, Event
from signal_monitor.streams.fast_schema import CONFORMS, STRUCTS, AnyEvent, to_model

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


def decode(value: bytes | None, kind: str, *, max_bytes: int) -> tuple[list[tuple[int | None, AnyEvent]], list[Rejected]]:
    """Split a message into its valid events (with their envelope index) and its rejected parts.

    An event is a model of :mod:`signal_monitor.streams.events` or its struct
    (same attributes, same values); :func:`event_json` serialises either.
    """
    raw = value or b""
    if 0 < len(raw) <= max_bytes:
        events = _decode_fast(raw, kind)
        if events is not None:
            return events, []
    return decode_models(value, kind, max_bytes=max_bytes)  # type: ignore[return-value]


def decode_models(value: bytes | None, kind: str, *, max_bytes: int) -> tuple[list[tuple[int | None, Event]], list[Rejected]]:
    """:func:`decode` with ``json.loads`` and the pydantic models, naming every bad item and why."""
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


def event_json(event: AnyEvent) -> bytes:
    """Return an event as its model serialises it (``model_dump_json``), for a dead letter."""
    return to_model(event).model_dump_json().encode()


# --- the fast path ------------------------------------------------------------------------------

#: A fraction of a second with more than 6 digits: msgspec rounds it to the microsecond, pydantic truncates.
_LONG_FRACTION = re.compile(rb"\.(?<=\d:\d\d\.)\d{7}")
#: An escaped character from " " to "?" (digits, ".", ":" among them), which _LONG_FRACTION would not see.
_ESCAPED_ASCII = re.compile(rb"\\u00[23]")
_UNKNOWN_FIELD = "Object contains unknown field"
_JSON_SPACE = b" \t\r\n"
_OBJECT, _ARRAY = ord("{"), ord("[")


class _Decoders:
    __slots__ = ("one", "many", "one_exact", "many_exact", "conforms")

    def __init__(self, kind: str, struct: type, exact: type) -> None:
        self.one = msgspec.json.Decoder(struct)
        self.many = msgspec.json.Decoder(list[struct])  # type: ignore[valid-type]
        self.one_exact = msgspec.json.Decoder(exact)
        self.many_exact = msgspec.json.Decoder(list[exact])  # type: ignore[valid-type]
        self.conforms = CONFORMS[kind]


_DECODERS = {kind: _Decoders(kind, struct, exact) for kind, (struct, exact, _) in STRUCTS.items()}


def _decode_fast(raw: bytes, kind: str) -> list[tuple[int | None, AnyEvent]] | None:
    """Return the events of a message that is valid as a whole, or None to leave it to :func:`decode_models`."""
    decoders = _DECODERS.get(kind)
    if decoders is None:
        return None
    if 92 in raw and _ESCAPED_ASCII.search(raw) is not None:  # 92: a backslash
        return None
    if _LONG_FRACTION.search(raw) is not None:
        return None
    head = raw[0]
    if head != _OBJECT and head != _ARRAY:
        stripped = raw.lstrip(_JSON_SPACE)
        head = stripped[0] if stripped else 0
    if head == _OBJECT:
        one, exact = decoders.one, decoders.one_exact
    elif head == _ARRAY:
        one, exact = decoders.many, decoders.many_exact
    else:
        return None
    try:
        decoded = exact.decode(raw)
    except msgspec.ValidationError as exc:
        if not str(exc).startswith(_UNKNOWN_FIELD):
            return None
        # Unknown fields are skipped unread: json.loads must accept the message too
        # (UTF-8, integers of at most 4300 digits, nesting within the recursion limit).
        try:
            decoded = one.decode(raw)
            json.loads(raw)
        except (msgspec.MsgspecError, ValueError, RecursionError):
            return None
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return None
    if head == _OBJECT:
        if not decoders.conforms((decoded,)):
            return None
        return [(None, decoded)]
    if not decoders.conforms(decoded):
        return None
    return list(enumerate(decoded))
