"""msgspec mirrors of the event contract, for decoding input JSON in one compiled pass.

Each struct has the field names, order, defaults and value types of its model in
:mod:`signal_monitor.streams.events` and the constraints msgspec expresses itself:
lengths, bounds, enums, aware timestamps (an RFC 3339 text, never a number), JSON
numbers only for amounts (never ``"10"`` or ``true``), unknown fields ignored.
:func:`conforms` checks the rest of the contract after decoding:

* text is stripped by the models: a text with leading or trailing whitespace does
  not conform (its model value would differ);
* a scope name (``ScopeName``) holds no ``|`` and no control character;
* a trade's notional is quantity x price within 0.5 %;
* an event time is in [1900, 2200).

Whatever does not conform is for the models to judge (:mod:`signal_monitor.streams.codec`
falls back to them), so a struct is only ever an event the models accept, with the
same values: timestamps are equal instants with the same UTC offset (the tzinfo is
a ``datetime.timezone`` instead of pydantic's ``TzInfo``), amounts are floats.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, Union

import msgspec

from signal_monitor.streams.events import (
    EARLIEST_EVENT,
    LATEST_EVENT,
    MAX_AMOUNT,
    NOTIONAL_TOLERANCE,
    Action,
    Event,
    Exposure,
    FundType,
    InstrumentType,
    LongShort,
    Observation,
    Quote,
    Sector,
    Trade,
)

Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
#: A Name that :func:`conforms` also checks for ``|`` and control characters.
ScopeName = Name
Positive = Annotated[float, msgspec.Meta(gt=0, le=MAX_AMOUNT)]
NonNegative = Annotated[float, msgspec.Meta(ge=0, le=MAX_AMOUNT)]
Value = Annotated[float, msgspec.Meta(ge=-MAX_AMOUNT, le=MAX_AMOUNT)]


class TradeStruct(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """:class:`~signal_monitor.streams.events.Trade`."""

    ts: Timestamp
    trade_id: Name
    fund_id: Name
    fund_type: FundType
    strategy: ScopeName
    symbol: ScopeName
    instrument_type: InstrumentType
    sector: Sector
    sub_industry: ScopeName | None = None
    action: Action
    quantity: Positive
    price: Positive
    notional: Positive


class QuoteStruct(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """:class:`~signal_monitor.streams.events.Quote`."""

    ts: Timestamp
    symbol: ScopeName
    price: Positive
    kind: Literal["trade", "close"] = "trade"


class LongShortStruct(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """:class:`~signal_monitor.streams.events.LongShort`."""

    long_mv: NonNegative = 0.0
    short_mv: NonNegative = 0.0


class ExposureStruct(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """:class:`~signal_monitor.streams.events.Exposure`."""

    ts: Timestamp
    fund_id: Name
    fund_type: FundType
    strategy: ScopeName
    nav: Positive
    long_mv: NonNegative
    short_mv: NonNegative
    sectors: dict[ScopeName, LongShortStruct] = msgspec.field(default_factory=dict)
    sub_industries: dict[ScopeName, LongShortStruct] = msgspec.field(default_factory=dict)
    instrument_types: dict[ScopeName, LongShortStruct] = msgspec.field(default_factory=dict)


class ObservationStruct(msgspec.Struct, frozen=True, gc=False, kw_only=True):
    """:class:`~signal_monitor.streams.events.Observation`."""

    ts: Timestamp
    series: ScopeName
    value: Value
    unit: str = ""
    tags: dict[str, str] = msgspec.field(default_factory=dict)


# The same structs refusing unknown fields: an input they decode has nothing that
# was skipped unread (skipped JSON is not checked the way ``json.loads`` checks it).
class _ExactTrade(TradeStruct, forbid_unknown_fields=True, frozen=True, gc=False, kw_only=True):
    pass


class _ExactQuote(QuoteStruct, forbid_unknown_fields=True, frozen=True, gc=False, kw_only=True):
    pass


class _ExactLongShort(LongShortStruct, forbid_unknown_fields=True, frozen=True, gc=False, kw_only=True):
    pass


class _ExactExposure(ExposureStruct, forbid_unknown_fields=True, frozen=True, gc=False, kw_only=True):
    sectors: dict[ScopeName, _ExactLongShort] = msgspec.field(default_factory=dict)
    sub_industries: dict[ScopeName, _ExactLongShort] = msgspec.field(default_factory=dict)
    instrument_types: dict[ScopeName, _ExactLongShort] = msgspec.field(default_factory=dict)


class _ExactObservation(ObservationStruct, forbid_unknown_fields=True, frozen=True, gc=False, kw_only=True):
    pass


EventStruct = Union[TradeStruct, QuoteStruct, ExposureStruct, ObservationStruct]
#: What :func:`signal_monitor.streams.codec.decode` returns: a model or its struct.
AnyEvent = Union[Event, EventStruct]

TRADES: tuple[type, ...] = (Trade, TradeStruct)
QUOTES: tuple[type, ...] = (Quote, QuoteStruct)
EXPOSURES: tuple[type, ...] = (Exposure, ExposureStruct)
OBSERVATIONS: tuple[type, ...] = (Observation, ObservationStruct)

#: Per input topic: (struct, struct refusing unknown fields, model).
STRUCTS: dict[str, tuple[type[msgspec.Struct], type[msgspec.Struct], type[Event]]] = {
    "trades": (TradeStruct, _ExactTrade, Trade),
    "quotes": (QuoteStruct, _ExactQuote, Quote),
    "exposures": (ExposureStruct, _ExactExposure, Exposure),
    "observations": (ObservationStruct, _ExactObservation, Observation),
}
_MODELS: dict[type, type[Event]] = {}
for _struct, _exact, _model in STRUCTS.values():
    _MODELS[_struct] = _MODELS[_exact] = _model


def to_model(event: AnyEvent) -> Event:
    """Return the model of an event (the event itself when it is a model)."""
    model = _MODELS.get(type(event))
    if model is None:
        if isinstance(event, msgspec.Struct):
            model = next(m for s, m in _MODELS.items() if isinstance(event, s))
        else:
            return event  # type: ignore[return-value]
    fields = msgspec.to_builtins(event, builtin_types=(datetime,))
    return model.model_validate(fields)  # type: ignore[no-any-return]


# --- what msgspec cannot express -------------------------------------------------------------

_SCOPE_FORBIDDEN = re.compile(r"[|\x00-\x1f\x7f]")
_CACHE_MAX = 100_000
#: Texts seen to be valid scope names (strategies, symbols, sub-industries repeat).
_scope_names: set[str] = set()


def _scope_name(text: str) -> bool:
    """Return whether ``text`` (of a valid length) is a scope name the models keep as is."""
    if text.strip() != text or _SCOPE_FORBIDDEN.search(text) is not None:
        return False
    if len(_scope_names) >= _CACHE_MAX:
        _scope_names.clear()
    _scope_names.add(text)
    return True


def _in_calendar(ts: datetime) -> bool:
    # a local year within (1900, 2199) is an instant within the range whatever the offset
    return 1900 < ts.year < 2199 or EARLIEST_EVENT <= ts < LATEST_EVENT


def _trades(items: Sequence[Any]) -> bool:
    scope_names = _scope_names
    tolerance = NOTIONAL_TOLERANCE
    for t in items:
        # quantity and price are at most MAX_AMOUNT: their product is finite, as the model requires
        expected = t.quantity * t.price
        if not abs(t.notional - expected) <= tolerance * expected:
            return False
        if not 1900 < t.ts.year < 2199 and not EARLIEST_EVENT <= t.ts < LATEST_EVENT:
            return False
        text = t.trade_id
        if text.strip() != text:
            return False
        text = t.fund_id
        if text.strip() != text:
            return False
        text = t.strategy
        if text not in scope_names and not _scope_name(text):
            return False
        text = t.symbol
        if text not in scope_names and not _scope_name(text):
            return False
        text = t.sub_industry
        if text is not None and text not in scope_names and not _scope_name(text):
            return False
    return True


def _quotes(items: Sequence[Any]) -> bool:
    for q in items:
        if not _in_calendar(q.ts) or (q.symbol not in _scope_names and not _scope_name(q.symbol)):
            return False
    return True


def _exposures(items: Sequence[Any]) -> bool:
    for e in items:
        if not _in_calendar(e.ts) or e.fund_id.strip() != e.fund_id:
            return False
        if e.strategy not in _scope_names and not _scope_name(e.strategy):
            return False
        for slices in (e.sectors, e.sub_industries, e.instrument_types):
            for key in slices:
                if key not in _scope_names and not _scope_name(key):
                    return False
    return True


def _observations(items: Sequence[Any]) -> bool:
    for o in items:
        if not _in_calendar(o.ts) or o.unit.strip() != o.unit:
            return False
        if o.series not in _scope_names and not _scope_name(o.series):
            return False
        for key, text in o.tags.items():
            if key.strip() != key or text.strip() != text:
                return False
    return True


#: Per input topic, whether decoded structs meet the part of the contract msgspec does not check.
CONFORMS: dict[str, Callable[[Sequence[Any]], bool]] = {
    "trades": _trades,
    "quotes": _quotes,
    "exposures": _exposures,
    "observations": _observations,
}


def conforms(kind: str, items: Sequence[Any]) -> bool:
    """Return whether decoded structs of topic ``kind`` meet the part of the contract msgspec does not check."""
    return CONFORMS[kind](items)
