"""The fast decode (msgspec structs) against the models (json.loads + pydantic): the same events, the same dead letters.

Every input, valid or not, must give what :func:`codec.decode_models` gives: the
same accepted (index, event) pairs with equal values (floats to the bit,
timestamps with the same offset, the same JSON for a dead letter) and the same
rejected (index, reason, detail, raw).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ConfigDict, TypeAdapter

from signal_monitor.streams import codec
from signal_monitor.streams.events import ACTIONS, GICS_SECTORS, LongShort, ScopeName
from signal_monitor.streams.fast_schema import LongShortStruct, to_model

MAX = 1 << 20
KINDS = ("trades", "quotes", "exposures", "observations")


# --- building JSON by hand: duplicate keys, raw fragments, both escapings ---------------------------


@dataclass(frozen=True)
class Raw:
    """A JSON fragment written as is (NaN, a 5000-digit integer, invalid UTF-8, deep nesting...)."""

    text: bytes


@dataclass(frozen=True)
class Obj:
    """A JSON object as (key, value) pairs, so a key may repeat."""

    pairs: tuple[tuple[str, Any], ...]

    def get(self, key: str) -> Any:
        return dict(self.pairs).get(key)


def dump(value: Any, *, ascii_only: bool, compact: bool) -> bytes:
    comma, colon = (b",", b":") if compact else (b", ", b": ")
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj):
        return b"{" + comma.join(
            dump(k, ascii_only=ascii_only, compact=compact) + colon + dump(v, ascii_only=ascii_only, compact=compact)
            for k, v in value.pairs
        ) + b"}"
    if isinstance(value, list):
        return b"[" + comma.join(dump(v, ascii_only=ascii_only, compact=compact) for v in value) + b"]"
    return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


# --- values ----------------------------------------------------------------------------------------

EDGES = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u1680", "\u2003", "\u2028",
         "\u202f", "\u3000", "\u200b", "\ufeff", "\u180e"]
plain_names = st.sampled_from(["F1", "equity_ls", "macro", "XLE", "Oil & Gas", "S&P 500", "naïve", "日本株", "a b", "x" * 200,
                               "Energy", "t-1", "é", "🙂", "\u00a0x", "a\u2003b"])
odd_names = st.one_of(
    st.sampled_from(["", " ", "x" * 201, " " + "x" * 200, "a|b", "|", "a\nb", "abc\n", "a\x7fb", "a\x00b", "\ud800",
                     "\udc00x", "a\\b", 'a"b', "\x1f", "x\u0085"]),
    st.text(max_size=8),
    st.builds(lambda e, s, e2: e + s + e2, st.sampled_from(EDGES + [""]), plain_names, st.sampled_from(EDGES + [""])),
)
names = st.one_of(plain_names, plain_names, odd_names)

DIGITS = "0123456789"


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([
            "1716472800", "2025-05-23T14:00Z", "2025-05-23", "yesterday", "", "2025-05-23T14:00:00",
            "2025-05-23 14:00:00+00:00", "2025-05-23T14:00:00.123456789Z", "2025-05-23T23:59:60Z",
            "2025-05-23T14:00:00,5Z", "2025-05-23_14:00:00Z", "1900-01-01T00:00:00Z", "1899-12-31T23:59:59.999999Z",
            "2199-12-31T23:59:59.999999Z", "2200-01-01T00:00:00Z", "1900-01-01T00:30:00+01:00",
            "2199-12-31T23:30:00-01:00", "2025-05-23T14:00:00.9999995Z", "2025-05-23T14:00:00.0000004Z",
            "2025-05-23T14:00:00+0530", "2025-05-23T14:00:00+05", "2025-05-23T14:00:00Z ", " 2025-05-23T14:00:00Z",
            "2025-05-23T14:00:00.Z", "9999-12-31T23:59:59.9999999Z", "0001-01-01T00:00:00Z", "2025-02-29T00:00:00Z",
            "2024-02-29T00:00:00Z", "2025-05-23T24:00:00Z", "2025-05-23T14:00:00+24:00",
        ]))
    year = draw(st.sampled_from([1899, 1900, 1901, 1969, 1970, 2024, 2025, 2026, 2198, 2199, 2200]) | st.integers(1, 9999))
    month = draw(st.integers(1, 12) | st.sampled_from([0, 13]))
    day = draw(st.integers(1, 28) | st.sampled_from([0, 29, 30, 31, 32]))
    hour = draw(st.integers(0, 23) | st.just(24))
    minute = draw(st.integers(0, 59) | st.just(60))
    second = draw(st.integers(0, 59) | st.just(60))
    sep = draw(st.sampled_from(["T", "T", "T", "t", " ", "_"]))
    frac = draw(st.one_of(st.just(""), st.text(DIGITS, min_size=1, max_size=9).map(lambda d: "." + d), st.just(",5")))
    tz = draw(st.sampled_from(["Z", "Z", "+00:00", "z", "-00:00", "+05:30", "-04:00", "-05:00", "+0530", "+05",
                               "+23:59", "-23:59", "+24:00", "", "+00:00:00", "+14:00"]))
    return f"{year:04d}-{month:02d}-{day:02d}{sep}{hour:02d}:{minute:02d}:{second:02d}{frac}{tz}"


good_amounts = st.one_of(
    st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.integers(1, 10**6),
    st.sampled_from([1e15, 10**15, 0.01, 123.456789012, 5e-324]),
)
RAW_NUMBERS = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1" * 4301, b"1" * 400, b"-0", b"1E2", b"1e-999",
               b"1000000000000000.1", b"1000000000000001", b"12345678901234567890123", b"0.0000001e22"]
odd_amounts = st.one_of(
    st.floats(),
    st.integers(-10**20, 10**20),
    st.sampled_from([0, -1, 0.0, -0.0, 1e15 + 0.5, 1e16, -1e15, -1e16, True, False, None, "10", "1e3", [], {}]),
    st.sampled_from(RAW_NUMBERS).map(Raw),
)
amounts = st.one_of(good_amounts, good_amounts, odd_amounts)

RAW_EXTRAS = [
    b'"\xff"', b'"\xed\xa0\x80"', b'"\\ud800"', b'"\\udc00\\ud800"', b"[" * 1100 + b"]" * 1100, b"[" * 50 + b"]" * 50,
    b'{"a":' * 995 + b"1" + b"}" * 995, b'{"a":' * 20 + b"1" + b"}" * 20, b"1" * 4301, b"1" * 4300, b"NaN",
    b'"2025-05-23T14:00:00.1234567Z"', b'"x\x01y"', b'"\\u0041"', b"[1,]", b"nul",
]
json_leaves = st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=6)
extra_values = st.one_of(
    st.recursive(json_leaves, lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=4), c, max_size=3),
                 max_leaves=6),
    st.sampled_from(RAW_EXTRAS).map(Raw),
)


@st.composite
def clean_timestamps(draw: st.DrawFn) -> str:
    """A time the models take as is, written in one of the ways RFC 3339 allows."""
    at = draw(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2199, 12, 30)))
    text = at.strftime("%Y-%m-%d") + draw(st.sampled_from(["T", "t", " "])) + at.strftime("%H:%M:%S")
    digits = draw(st.integers(0, 6))
    if digits:
        text += "." + f"{at.microsecond:06d}"[:digits]
    return text + draw(st.sampled_from(["Z", "z", "+00:00", "-00:00", "+05:30", "-04:00", "+0100", "-23:59"]))


@st.composite
def near_timestamps(draw: st.DrawFn) -> str:
    """A time near the ends of the calendar, or with more than 6 digits of a second."""
    at = draw(st.sampled_from([datetime(1900, 1, 1), datetime(2200, 1, 1), datetime(2025, 6, 6, 20)]))
    at += timedelta(seconds=draw(st.integers(-90000, 90000) | st.sampled_from([0, -1, 3600, -3600])),
                    microseconds=draw(st.integers(-10**6, 10**6) | st.sampled_from([0, -1])))
    fraction = f"{at.microsecond:06d}" + draw(st.text(DIGITS, max_size=3))
    digits = draw(st.integers(0, len(fraction)))
    offset = draw(st.sampled_from(["Z", "+00:00", "+01:00", "-01:00", "+23:59", "-23:59", "-05:00"]))
    return at.strftime("%Y-%m-%dT%H:%M:%S") + ("." + fraction[:digits] if digits else "") + offset


clean_names = (plain_names | st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"),
                                                   blacklist_characters="|\x85"), min_size=1, max_size=12)
               ).filter(lambda s: s.strip() == s)


@st.composite
def trades(draw: st.DrawFn, names: st.SearchStrategy[str] = names, timestamps: Any = timestamps, exact: bool = False) -> Obj:
    quantity = draw(good_amounts)
    price = draw(good_amounts)
    factor = 1.0 if exact else draw(st.sampled_from([1.0, 1.0, 1.0, 1.004999, 0.995001, 1.005, 0.995, 1.0051, 0.99]))
    pairs: list[tuple[str, Any]] = [
        ("ts", draw(timestamps())),
        ("trade_id", draw(names)),
        ("fund_id", draw(names)),
        ("fund_type", draw(st.sampled_from(["hedge_fund", "long_only"]))),
        ("strategy", draw(names)),
        ("symbol", draw(names)),
        ("instrument_type", draw(st.sampled_from(["single_stock", "etf", "index"]))),
        ("sector", draw(st.sampled_from([*GICS_SECTORS, "broad"]))),
        ("action", draw(st.sampled_from(ACTIONS))),
        ("quantity", quantity),
        ("price", price),
        ("notional", float(quantity) * float(price) * factor),
    ]
    sub = draw(st.integers(0, 2))
    if sub:
        pairs.append(("sub_industry", draw(names) if sub == 1 else None))
    return Obj(tuple(pairs))


@st.composite
def quotes(draw: st.DrawFn, names: st.SearchStrategy[str] = names, timestamps: Any = timestamps, exact: bool = False) -> Obj:
    pairs: list[tuple[str, Any]] = [("ts", draw(timestamps())), ("symbol", draw(names)), ("price", draw(good_amounts))]
    if draw(st.booleans()):
        pairs.append(("kind", draw(st.sampled_from(["trade", "close"]))))
    return Obj(tuple(pairs))


@st.composite
def long_short(draw: st.DrawFn) -> Obj:
    pairs = []
    for name in ("long_mv", "short_mv"):
        if draw(st.integers(0, 3)):
            pairs.append((name, draw(st.one_of(good_amounts, st.just(0), st.just(0.0), st.just(-0.0)))))
    return Obj(tuple(pairs))


@st.composite
def exposures(draw: st.DrawFn, names: st.SearchStrategy[str] = names, timestamps: Any = timestamps, exact: bool = False) -> Obj:
    pairs: list[tuple[str, Any]] = [
        ("ts", draw(timestamps())),
        ("fund_id", draw(names)),
        ("fund_type", draw(st.sampled_from(["hedge_fund", "long_only"]))),
        ("strategy", draw(names)),
        ("nav", draw(good_amounts)),
        ("long_mv", draw(st.one_of(good_amounts, st.just(0)))),
        ("short_mv", draw(st.one_of(good_amounts, st.just(0), st.just(-0.0)))),
    ]
    for name in ("sectors", "sub_industries", "instrument_types"):
        if draw(st.booleans()):
            slices = draw(st.lists(st.tuples(names, long_short()), max_size=3))
            pairs.append((name, Obj(tuple(slices))))
    return Obj(tuple(pairs))


@st.composite
def observations(draw: st.DrawFn, names: st.SearchStrategy[str] = names, timestamps: Any = timestamps,
                 exact: bool = False) -> Obj:
    pairs: list[tuple[str, Any]] = [
        ("ts", draw(timestamps())),
        ("series", draw(names)),
        ("value", draw(st.one_of(good_amounts, good_amounts.map(lambda v: -v), st.just(0), st.just(-0.0)))),
    ]
    if draw(st.booleans()):
        pairs.append(("unit", draw(names | st.just(""))))
    if draw(st.booleans()):
        pairs.append(("tags", Obj(tuple(draw(st.lists(st.tuples(names | st.just(""), names | st.just("")), max_size=3))))))
    return Obj(tuple(pairs))


EVENTS = {"trades": trades, "quotes": quotes, "exposures": exposures, "observations": observations}


edges = st.sampled_from(EDGES)


def pad(draw: st.DrawFn, text: str) -> str:
    where = draw(st.sampled_from(["left", "right", "both"]))
    return (draw(edges) if where != "right" else "") + text + (draw(edges) if where != "left" else "")


@st.composite
def mutated(draw: st.DrawFn, kind: str) -> Any:
    """An event of ``kind`` (mostly valid) with up to three changes: a field's value, a missing field, a repeated key,
    an unknown field, whitespace around a text."""
    if draw(st.integers(0, 3)):
        event = draw(EVENTS[kind](names=clean_names, timestamps=clean_timestamps, exact=draw(st.booleans())))
    else:
        event = draw(EVENTS[kind]())
    pairs = list(event.pairs)
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 2, 3]))):
        change = draw(st.sampled_from(["value", "amount", "time", "near", "near", "drop", "repeat", "extra", "nested",
                                       "pad", "pad", "pad", "text", "text", "escape"]))
        i = draw(st.integers(0, len(pairs) - 1)) if pairs else -1
        texts = [j for j, (_, v) in enumerate(pairs) if isinstance(v, str)]
        if change == "near":
            pairs = [(k, draw(near_timestamps()) if k == "ts" else v) for k, v in pairs]
        elif change == "text" and texts:  # a text with a character a name or a scope name may not have
            j = draw(st.sampled_from(texts))
            key, text = pairs[j]
            at = draw(st.integers(0, len(text)))
            pairs[j] = (key, text[:at] + draw(st.sampled_from(["|", "\x00", "\x1f", "\x7f", "\n", "\x85", "\u2028"])) + text[at:])
        elif change == "escape" and texts:  # a text with some of its characters escaped
            j = draw(st.sampled_from(texts))
            key, text = pairs[j]
            escaped = [f"\\u{ord(c):04x}" if c.isascii() and draw(st.integers(0, 3)) == 0 else json.dumps(c)[1:-1]
                       for c in text]
            pairs[j] = (key, Raw(('"' + "".join(escaped) + '"').encode("utf-8", "surrogatepass")))
        elif change == "value" and pairs:
            pairs[i] = (pairs[i][0], draw(st.one_of(names, amounts, timestamps(), extra_values)))
        elif change == "amount" and pairs:
            pairs[i] = (pairs[i][0], draw(odd_amounts))
        elif change == "time":
            pairs = [(k, draw(timestamps()) if k == "ts" else v) for k, v in pairs]
        elif change == "drop" and pairs:
            del pairs[i]
        elif change == "repeat" and pairs:
            key = draw(st.sampled_from([k for k, _ in pairs]))
            pairs.insert(draw(st.integers(0, len(pairs))), (key, draw(st.one_of(names, amounts, timestamps()))))
        elif change == "extra":
            key = draw(st.sampled_from(["venue", "comment", "ts2", "x"]) | st.text(max_size=5))
            pairs.insert(draw(st.integers(0, len(pairs))), (key, draw(extra_values)))
        elif change == "pad" and pairs:
            padded = texts + [j for j, (_, v) in enumerate(pairs) if isinstance(v, Obj) and v.pairs]
            if padded and draw(st.integers(0, 3)):
                i = draw(st.sampled_from(padded))
            key, value = pairs[i]
            if isinstance(value, str):
                pairs[i] = (key, pad(draw, value))
            elif isinstance(value, Obj) and value.pairs:  # a slice name, a tag's name or value
                inner = list(value.pairs)
                j = draw(st.integers(0, len(inner) - 1))
                name, item = inner[j]
                if isinstance(item, str) and draw(st.booleans()):
                    inner[j] = (name, pad(draw, item))
                else:
                    inner[j] = (pad(draw, name), item)
                pairs[i] = (key, Obj(tuple(inner)))
        elif change == "nested":  # an unknown field inside a long/short slice
            for i, (key, value) in enumerate(pairs):
                if isinstance(value, Obj) and value.pairs and isinstance(value.pairs[0][1], Obj):
                    (name, inner), *rest = value.pairs
                    inner = Obj(inner.pairs + (("extra", draw(extra_values)),))
                    pairs[i] = (key, Obj(((name, inner), *rest)))
                    break
    return Obj(tuple(pairs))


def messages(kind: str) -> st.SearchStrategy[bytes]:
    item = st.one_of(*[mutated(kind)] * 6, json_leaves, st.sampled_from(RAW_EXTRAS).map(Raw))
    body = st.one_of(mutated(kind), mutated(kind), st.lists(item, max_size=4))
    return st.builds(
        lambda b, ascii_only, compact, pad: pad + dump(b, ascii_only=ascii_only, compact=compact) + pad,
        body, st.booleans(), st.booleans(), st.sampled_from([b"", b"", b" ", b"\n", b"\t \r\n"]),
    )


# --- comparing --------------------------------------------------------------------------------------


def same_value(fast: Any, model: Any, where: str) -> None:
    if isinstance(model, float):
        assert type(fast) is float and repr(fast) == repr(model), where
    elif isinstance(model, datetime):
        assert isinstance(fast, datetime) and fast == model, where
        assert fast.utcoffset() == model.utcoffset() and fast.isoformat() == model.isoformat(), where
        assert fast.timestamp() == model.timestamp(), where
    elif isinstance(model, dict):
        assert isinstance(fast, dict) and list(fast) == list(model), where
        for key in model:
            same_value(fast[key], model[key], f"{where}[{key!r}]")
    elif isinstance(model, LongShort):
        assert isinstance(fast, (LongShort, LongShortStruct)), where
        same_value(fast.long_mv, model.long_mv, f"{where}.long_mv")
        same_value(fast.short_mv, model.short_mv, f"{where}.short_mv")
    else:
        assert type(fast) is type(model) and fast == model, where


def same_event(fast: Any, model: BaseModel) -> None:
    for name in type(model).model_fields:
        same_value(getattr(fast, name), getattr(model, name), name)
    assert codec.event_json(fast) == model.model_dump_json().encode()


def rejections(bad: list[codec.Rejected]) -> list[tuple[Any, ...]]:
    return [(r.index, r.error.reason, r.error.detail, r.raw) for r in bad]


def check_same(raw: bytes, kind: str) -> bool:
    """Assert that decode and decode_models agree on ``raw``; return whether the fast path took it."""
    good, bad = codec.decode(raw, kind, max_bytes=MAX)
    ref_good, ref_bad = codec.decode_models(raw, kind, max_bytes=MAX)
    assert [i for i, _ in good] == [i for i, _ in ref_good]
    for (_, fast), (_, model) in zip(good, ref_good):
        same_event(fast, model)  # type: ignore[arg-type]
    assert rejections(bad) == rejections(ref_bad)
    return bool(good) and not isinstance(good[0][1], BaseModel)


# --- properties ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_fast_decode_gives_what_the_models_give(kind: str) -> None:
    @settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
    @given(raw=messages(kind))
    def check(raw: bytes) -> None:
        check_same(raw, kind)

    check()


@pytest.mark.parametrize("kind", KINDS)
def test_valid_events_take_the_fast_path(kind: str) -> None:
    tried = 0
    clean = EVENTS[kind](names=clean_names, timestamps=clean_timestamps, exact=True)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(events=st.lists(clean, min_size=1, max_size=4), envelope=st.booleans(), compact=st.booleans())
    def check(events: list[Obj], envelope: bool, compact: bool) -> None:
        nonlocal tried
        body: Any = events if envelope else events[0]
        raw = dump(body, ascii_only=False, compact=compact)
        _, ref_bad = codec.decode_models(raw, kind, max_bytes=MAX)
        fast = check_same(raw, kind)
        if not ref_bad:
            tried += 1
            assert fast, raw

    check()
    assert tried > 100  # every valid message decoded without the models


# --- cases found to differ between msgspec and pydantic -------------------------------------------------


def trade_json(**over: Any) -> bytes:
    body = {"ts": "2025-06-04T14:30:00Z", "trade_id": "t1", "fund_id": "F1", "fund_type": "hedge_fund",
            "strategy": "equity_ls", "symbol": "XLE", "instrument_type": "etf", "sector": "Energy",
            "action": "buy_long", "quantity": 10, "price": 100.0, "notional": 1000.0}
    body.update(over)
    return json.dumps(body).encode()


def fast_taken(raw: bytes, kind: str = "trades") -> bool:
    return check_same(raw, kind)


@pytest.mark.parametrize(
    "raw",
    [
        # msgspec rounds a fraction of more than 6 digits, pydantic truncates it
        trade_json(ts="2025-06-04T14:30:00.9999995Z"),
        trade_json(ts="2025-06-04T14:30:00.1234567Z"),
        trade_json(ts="2025-06-04T14:30:00.12345\\u0036\\u0037Z").replace(b"\\\\", b"\\"),
        # pydantic strips text before checking it; msgspec keeps it as is
        trade_json(symbol=" XLE"),
        trade_json(trade_id="t1\u3000"),
        trade_json(strategy="macro\n"),
        trade_json(sub_industry="\xa0Oil"),
        # json.loads refuses what msgspec skips unread in an unknown field
        trade_json()[:-1] + b', "x": "\xff"}',
        trade_json()[:-1] + b', "x": ' + b"1" * 4301 + b"}",
        trade_json()[:-1] + b', "x": ' + b'{"a":' * 995 + b"1" + b"}" * 995 + b"}",
        # json.loads takes what msgspec refuses: the models decide
        trade_json()[:-1] + b', "x": NaN}',
        b"\xef\xbb\xbf" + trade_json(),
        trade_json(symbol="\ud800"),
        # the models' checks msgspec does not have
        trade_json(symbol="a|b"),
        trade_json(notional=1006.0),
        trade_json(ts="1899-12-31T23:59:59Z"),
        trade_json(ts="2199-12-31T23:30:00-01:00"),
        trade_json(ts="1900-01-01T00:30:00+01:00"),
        trade_json(ts="2199-12-31T23:59:59.999999Z"),
        trade_json(ts="1716472800"),
        trade_json(ts="2025-06-04T14:30Z"),
        # repeated keys: the last one counts, in both
        trade_json()[:-1] + b', "symbol": "XOM"}',
        b'{"symbol": " bad ", ' + trade_json()[1:],
    ],
)
def test_known_differences_are_left_to_the_models(raw: bytes) -> None:
    check_same(raw, "trades")


QUOTE = {"ts": "2025-06-04T20:00:00Z", "symbol": "VIX", "price": 18.5, "kind": "close"}
EXPOSURE = {"ts": "2025-06-04T22:00:00-04:00", "fund_id": "F1", "fund_type": "long_only", "strategy": "value",
            "nav": 100.0, "long_mv": 90.0, "short_mv": 0, "sectors": {"Energy": {"long_mv": 10.0}},
            "sub_industries": {"Oil": {"short_mv": 1}}, "instrument_types": {"etf": {}}}
OBSERVATION = {"ts": "2025-06-04T12:00:00Z", "series": "cftc_es_net", "value": -1.5, "unit": "%", "tags": {"src": "cftc"}}


def with_(base: dict[str, Any], **over: Any) -> bytes:
    return json.dumps({**base, **over}).encode()


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("quotes", with_(QUOTE)),
        ("quotes", with_(QUOTE, symbol="VIX ")),
        ("quotes", with_(QUOTE, symbol="V|X")),
        ("quotes", with_(QUOTE, ts="1899-12-31T23:59:59.999999Z")),
        ("quotes", with_(QUOTE, ts="2200-01-01T00:00:00Z")),
        ("quotes", with_(QUOTE, ts="1900-01-01T00:00:00Z")),
        ("exposures", with_(EXPOSURE)),
        ("exposures", with_(EXPOSURE, fund_id=" F1")),
        ("exposures", with_(EXPOSURE, strategy="value\u3000")),
        ("exposures", with_(EXPOSURE, strategy="va\x7flue")),
        ("exposures", with_(EXPOSURE, sectors={" Energy": {}})),
        ("exposures", with_(EXPOSURE, sub_industries={"Oil\n": {}})),
        ("exposures", with_(EXPOSURE, instrument_types={"e|tf": {}})),
        ("exposures", with_(EXPOSURE, sectors={"Energy": {"long_mv": 1, "extra": [1]}})),
        ("exposures", with_(EXPOSURE, sectors={"Energy ": {"long_mv": 1}, "Energy": {"long_mv": 2}})),
        ("exposures", with_(EXPOSURE, ts="2199-12-31T23:30:00-01:00")),
        ("observations", with_(OBSERVATION)),
        ("observations", with_(OBSERVATION, unit=" %")),
        ("observations", with_(OBSERVATION, unit="")),
        ("observations", with_(OBSERVATION, tags={" src": "cftc"})),
        ("observations", with_(OBSERVATION, tags={"src": "cftc\t"})),
        ("observations", with_(OBSERVATION, tags={"src ": "a", "src": "b"})),
        ("observations", with_(OBSERVATION, tags={"": ""})),
        ("observations", with_(OBSERVATION, series="s|t")),
        ("observations", with_(OBSERVATION, series="\u2028s")),
        ("observations", with_(OBSERVATION, ts="1900-01-01T00:30:00+01:00")),
        ("observations", with_(OBSERVATION, value=-1e15)),
        ("observations", with_(OBSERVATION, value=-1e15 - 1)),
    ],
)
def test_each_check_the_structs_need_gives_what_the_models_give(kind: str, raw: bytes) -> None:
    check_same(raw, kind)


def test_a_plain_trade_takes_the_fast_path_and_an_unknown_field_keeps_it_there() -> None:
    assert fast_taken(trade_json())
    assert fast_taken(trade_json(venue="XNYS", nested={"a": [1, 2]}, comment=None))
    assert fast_taken(b"[" + trade_json() + b", " + trade_json(trade_id="t2", extra=1) + b"]")
    assert not fast_taken(trade_json(ts="2025-06-04T14:30:00.1234567Z"))


def test_a_bad_item_sends_the_whole_envelope_to_the_models() -> None:
    raw = b"[" + trade_json() + b", " + trade_json(symbol=" XLE", trade_id="t2") + b", 42]"
    good, bad = codec.decode(raw, "trades", max_bytes=MAX)
    assert [i for i, _ in good] == [0, 1] and all(isinstance(e, BaseModel) for _, e in good)
    assert good[1][1].symbol == "XLE"  # type: ignore[union-attr]
    assert [(r.index, r.error.reason) for r in bad] == [(2, "not_an_object")]


# --- the two rules the structs rely on, over every code point ---------------------------------------------


class _Stripped(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    texts: list[str]


def test_what_pydantic_strips_python_strips_too() -> None:
    # a text with no edge that str.strip() removes is one pydantic keeps as is
    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    stripped = _Stripped(texts=[c + "x" + c for c in chars]).texts
    assert [c for c, text in zip(chars, stripped) if text != c + "x" + c and not c.isspace()] == []


def test_the_scope_name_pattern_is_the_forbidden_characters_check() -> None:
    from signal_monitor.streams import fast_schema

    chars = [chr(c) for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]
    adapter = TypeAdapter(ScopeName)
    pydantic_ok = []
    for c in chars:
        try:
            adapter.validate_python("a" + c + "a")
            pydantic_ok.append(True)
        except ValueError:
            pydantic_ok.append(False)
    ours = [fast_schema._SCOPE_FORBIDDEN.search("a" + c + "a") is None for c in chars]
    assert [c for c, a, b in zip(chars, pydantic_ok, ours) if a != b] == []


def test_to_model_round_trips_each_kind() -> None:
    raws = {
        "trades": trade_json(ts="2025-06-04T14:30:00.5+05:30", sub_industry="Oil"),
        "quotes": b'{"ts": "2025-06-04T20:00:00-04:00", "symbol": "VIX", "price": 18, "kind": "close"}',
        "exposures": b'{"ts": "2025-06-04T22:00:00Z", "fund_id": "F1", "fund_type": "long_only", "strategy": "v", '
                     b'"nav": 100, "long_mv": 90.5, "short_mv": -0.0, "sectors": {"Energy": {"long_mv": 10}}}',
        "observations": b'{"ts": "2025-06-04T12:00:00Z", "series": "s", "value": -1.5, "unit": "%", "tags": {"a": "b"}}',
    }
    for kind, raw in raws.items():
        assert fast_taken(raw, kind)
        (_, event), = codec.decode(raw, kind, max_bytes=MAX)[0]
        (_, model), = codec.decode_models(raw, kind, max_bytes=MAX)[0]
        assert to_model(event) == model and to_model(model) is model
        assert codec.event_json(event) == model.model_dump_json().encode() == codec.event_json(model)


def test_structs_are_frozen() -> None:
    (_, event), = codec.decode(trade_json(), "trades", max_bytes=MAX)[0]
    with pytest.raises(AttributeError):
        event.price = 1.0  # type: ignore[misc]
    assert isinstance(event, msgspec.Struct)
