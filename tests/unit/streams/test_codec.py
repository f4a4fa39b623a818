"""Decoding of input messages: one event or an array envelope, each valid or rejected with a reason."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from signal_monitor.streams import codec
from signal_monitor.streams.codec import decode, original_text
from signal_monitor.streams.fast_schema import EXPOSURES, OBSERVATIONS, QUOTES, TRADES, to_model

MAX = 1024 * 1024


def trade(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "ts": "2025-06-04T14:30:00Z",
        "trade_id": "t1",
        "fund_id": "F1",
        "fund_type": "hedge_fund",
        "strategy": "equity_ls",
        "symbol": "XLE",
        "instrument_type": "etf",
        "sector": "Energy",
        "action": "buy_long",
        "quantity": 10,
        "price": 100.0,
        "notional": 1000.0,
    }
    base.update(over)
    return base


def enc(obj: Any) -> bytes:
    return json.dumps(obj).encode()


def only_reason(value: bytes | None, kind: str = "trades", *, max_bytes: int = MAX) -> str:
    good, bad = decode(value, kind, max_bytes=max_bytes)
    assert good == []
    assert len(bad) == 1, bad
    assert bad[0].index is None
    return bad[0].error.reason


# --- valid events --------------------------------------------------------------------------


def test_single_trade() -> None:
    good, bad = decode(enc(trade()), "trades", max_bytes=MAX)
    assert bad == []
    assert len(good) == 1
    index, event = good[0]
    assert index is None
    assert isinstance(event, TRADES)  # a model or its struct
    assert event.trade_id == "t1"
    assert event.notional == 1000.0
    assert event.ts == datetime(2025, 6, 4, 14, 30, tzinfo=timezone.utc)
    assert event.sub_industry is None


def test_each_kind_decodes_to_its_model() -> None:
    quote = {"ts": "2025-06-04T20:00:00Z", "symbol": "VIX", "price": 18.5, "kind": "close"}
    exposure = {
        "ts": "2025-06-04T22:00:00-04:00",
        "fund_id": "F1",
        "fund_type": "long_only",
        "strategy": "value",
        "nav": 100.0,
        "long_mv": 90.0,
        "short_mv": 0,
        "sectors": {"Energy": {"long_mv": 10.0}},
    }
    obs = {"ts": "2025-06-04T12:00:00Z", "series": "cftc_es_net", "value": -1.5, "tags": {"src": "cftc"}}
    (_, q), = decode(enc(quote), "quotes", max_bytes=MAX)[0]
    (_, e), = decode(enc(exposure), "exposures", max_bytes=MAX)[0]
    (_, o), = decode(enc(obs), "observations", max_bytes=MAX)[0]
    assert isinstance(q, QUOTES) and q.kind == "close" and q.price == 18.5
    assert isinstance(e, EXPOSURES) and e.sectors["Energy"].long_mv == 10.0 and e.sectors["Energy"].short_mv == 0.0
    assert e.ts == datetime(2025, 6, 5, 2, 0, tzinfo=timezone.utc)
    assert isinstance(o, OBSERVATIONS) and o.value == -1.5 and o.tags == {"src": "cftc"}


def test_unknown_extra_fields_are_ignored() -> None:
    good, bad = decode(enc(trade(venue="XNYS", nested={"a": [1, 2]}, comment=None)), "trades", max_bytes=MAX)
    assert bad == []
    (_, event), = good
    assert not hasattr(event, "venue")
    assert "venue" not in to_model(event).model_dump()


def test_notional_within_half_a_percent_is_accepted() -> None:
    # quantity x price = 1000; 1004.9 is 0.49 % off
    good, bad = decode(enc(trade(notional=1004.9)), "trades", max_bytes=MAX)
    assert bad == [] and len(good) == 1


# --- array envelope --------------------------------------------------------------------------


def test_array_envelope_with_mixed_items_keeps_indices() -> None:
    items = [
        trade(trade_id="a"),
        trade(trade_id="b", fund_type="pension"),  # invalid_field
        42,  # not_an_object
        trade(trade_id="c", action="sell_short", quantity=2, price=50, notional=100),
        {k: v for k, v in trade(trade_id="d").items() if k != "symbol"},  # missing_field
        trade(trade_id="e", ts="2025-06-04T14:30:00"),  # naive_timestamp
    ]
    good, bad = decode(enc(items), "trades", max_bytes=MAX)
    assert [(i, e.trade_id) for i, e in good] == [(0, "a"), (3, "c")]  # type: ignore[union-attr]
    assert [(r.index, r.error.reason) for r in bad] == [
        (1, "invalid_field"),
        (2, "not_an_object"),
        (4, "missing_field"),
        (5, "naive_timestamp"),
    ]
    # a rejected item keeps its own bytes, not the whole envelope
    assert json.loads(bad[0].raw) == items[1]
    assert bad[1].raw == b"42"


def test_empty_array_envelope_yields_nothing() -> None:
    assert decode(b"[]", "trades", max_bytes=MAX) == ([], [])


# --- every reason decode produces ------------------------------------------------------------


def test_too_large() -> None:
    raw = enc(trade())
    assert only_reason(raw, max_bytes=len(raw) - 1) == "too_large"
    # exactly at the limit is fine
    good, bad = decode(raw, "trades", max_bytes=len(raw))
    assert bad == [] and len(good) == 1


@pytest.mark.parametrize("value", [None, b"", b"   ", b"\n\t \r\n"])
def test_empty_message(value: bytes | None) -> None:
    assert only_reason(value) == "empty_message"


@pytest.mark.parametrize("value", [b"{", b'{"ts": }', b"nope", b'{"a": 1} trailing', b"[1, 2,]", b"\xff\xfe\xfa"])
def test_malformed_json(value: bytes) -> None:
    assert only_reason(value) == "malformed_json"


@pytest.mark.parametrize("value", [b"42", b'"a string"', b"null", b"true", b"3.5"])
def test_not_an_object(value: bytes) -> None:
    assert only_reason(value) == "not_an_object"


@pytest.mark.parametrize("field", ["ts", "trade_id", "fund_id", "action", "notional"])
def test_missing_field(field: str) -> None:
    body = trade()
    del body[field]
    good, bad = decode(enc(body), "trades", max_bytes=MAX)
    assert good == []
    assert bad[0].error.reason == "missing_field"
    assert field in bad[0].error.detail


@pytest.mark.parametrize(
    "over",
    [
        {"fund_type": "pension"},
        {"action": "buy"},
        {"sector": "Crypto"},
        {"quantity": 0},
        {"price": -1.0},
        {"quantity": "ten"},
        {"trade_id": ""},
        {"ts": "yesterday"},
        {"symbol": "x" * 201},
    ],
)
def test_invalid_field(over: dict[str, Any]) -> None:
    assert only_reason(enc(trade(**over))) == "invalid_field"


def test_naive_timestamp() -> None:
    assert only_reason(enc(trade(ts="2025-06-04T14:30:00"))) == "naive_timestamp"


def test_notional_mismatch() -> None:
    # 10 x 100 = 1000; 1006 is 0.6 % off
    good, bad = decode(enc(trade(notional=1006.0)), "trades", max_bytes=MAX)
    assert good == []
    assert bad[0].error.reason == "notional_mismatch"
    assert "1006.00" in bad[0].error.detail and "1000.00" in bad[0].error.detail


def test_reasons_cover_what_decode_produces() -> None:
    produced = {
        only_reason(enc(trade()), max_bytes=10),
        only_reason(b""),
        only_reason(b"{"),
        only_reason(b"1"),
        only_reason(enc({k: v for k, v in trade().items() if k != "fund_id"})),
        only_reason(enc(trade(fund_type="x"))),
        only_reason(enc(trade(ts="2025-06-04T14:30:00"))),
        only_reason(enc(trade(notional=2000))),
    }
    assert produced == set(codec.REASONS) - {"too_late", "in_future"}  # those two are the ingestor's


# --- hostile inputs -----------------------------------------------------------------------------


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("field", ["quantity", "price", "notional"])
def test_non_finite_trade_numbers_are_invalid(literal: str, field: str) -> None:
    body = enc(trade()).decode().replace(f'"{field}": {json.dumps(trade()[field])}', f'"{field}": {literal}')
    assert literal in body
    assert only_reason(body.encode()) == "invalid_field"


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_observation_and_exposure_values_are_invalid(literal: str) -> None:
    obs = f'{{"ts": "2025-06-04T12:00:00Z", "series": "s", "value": {literal}}}'.encode()
    assert only_reason(obs, "observations") == "invalid_field"
    exp = (
        '{"ts": "2025-06-04T22:00:00Z", "fund_id": "F", "fund_type": "hedge_fund", "strategy": "s", '
        f'"nav": 1, "long_mv": 1, "short_mv": 1, "sectors": {{"Energy": {{"long_mv": {literal}}}}}}}'
    ).encode()
    assert only_reason(exp, "exposures") == "invalid_field"


def test_nan_inside_an_envelope_is_rejected_per_item() -> None:
    raw = b'[{"ts": "2025-06-04T12:00:00Z", "series": "s", "value": NaN}, ' \
          b'{"ts": "2025-06-04T12:00:00Z", "series": "s", "value": 2}]'
    good, bad = decode(raw, "observations", max_bytes=MAX)
    assert [(i, e.value) for i, e in good] == [(1, 2.0)]  # type: ignore[union-attr]
    assert [(r.index, r.error.reason) for r in bad] == [(0, "invalid_field")]


@pytest.mark.parametrize("depth", [100_000, 5_000])
def test_deeply_nested_json_does_not_raise(depth: int) -> None:
    for raw in (b"[" * depth + b"]" * depth, b'{"a":' * depth + b"1" + b"}" * depth, b"[" * depth):
        good, bad = decode(raw, "trades", max_bytes=10 * depth + 10)
        assert good == []
        assert len(bad) >= 1
        assert {r.error.reason for r in bad} <= {"malformed_json", "not_an_object", "invalid_field", "missing_field"}


def test_nested_arrays_just_below_the_parser_limit_do_not_raise() -> None:
    for depth in range(900, 1001, 10):
        for raw in (b"[" * depth + b"]" * depth, b'[{"ts":' + b"[" * depth + b"]" * depth + b"}]"):
            good, bad = decode(raw, "observations", max_bytes=MAX)
            assert good == [] and bad


def test_non_utf8_bytes_are_malformed_and_kept_as_base64() -> None:
    raw = b'{"ts": "2025-06-04T14:30:00Z", "symbol": "\xff\xfe", "price": 1}'
    good, bad = decode(raw, "quotes", max_bytes=MAX)
    assert good == []
    assert [r.error.reason for r in bad] == ["malformed_json"]
    assert bad[0].raw == raw
    text = original_text(bad[0].raw)
    assert text.startswith("base64:")
    assert base64.b64decode(text[len("base64:"):]) == raw


def test_original_text_of_utf8_is_the_text() -> None:
    assert original_text("café {".encode()) == "café {"
    assert original_text(b"") == ""
    assert original_text(b"\x80") == "base64:gA=="


def test_lone_surrogate_escape_is_rejected_not_raised() -> None:
    good, bad = decode(enc(trade(symbol="\ud800")), "trades", max_bytes=MAX)
    assert good == []
    assert [r.error.reason for r in bad] == ["invalid_field"]


def test_notional_check_survives_overflow() -> None:
    assert only_reason(enc(trade(quantity=1e200, price=1e200, notional=1.0))) in {"notional_mismatch", "invalid_field"}


# --- property ------------------------------------------------------------------------------------


def _check_partition(value: bytes, kind: str) -> None:
    good, bad = decode(value, kind, max_bytes=4096)
    top_level = [r for r in bad if r.index is None]
    if top_level:
        # a message-level rejection is the only outcome
        assert good == [] and len(bad) == 1
        assert bad[0].error.reason in codec.REASONS
        return
    if len(good) == 1 and good[0][0] is None:
        assert bad == []
        return
    # an array envelope: each item ends in exactly one of good or bad
    indices = [i for i, _ in good] + [r.index for r in bad]
    assert sorted(indices) == list(range(len(indices)))  # type: ignore[type-var]
    assert all(r.error.reason in codec.REASONS for r in bad)


json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.integers() | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.binary(max_size=300), kind=st.sampled_from(["trades", "quotes", "exposures", "observations"]))
def test_decode_never_raises_on_arbitrary_bytes(value: bytes, kind: str) -> None:
    _check_partition(value, kind)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    items=st.lists(
        st.one_of(
            json_values,
            st.fixed_dictionaries(
                {"ts": st.sampled_from(["2025-06-04T12:00:00Z", "2025-06-04T12:00:00", "x"]), "symbol": st.text(max_size=5)},
                optional={"price": st.one_of(st.floats(), st.integers(), st.text(max_size=3)), "kind": st.text(max_size=6)},
            ),
        ),
        max_size=5,
    )
)
def test_envelope_items_end_in_exactly_one_outcome(items: list[Any]) -> None:
    raw = json.dumps(items).encode()
    good, bad = decode(raw, "quotes", max_bytes=1 << 20)
    assert sorted([i for i, _ in good] + [r.index for r in bad]) == list(range(len(items)))  # type: ignore[type-var]


@pytest.mark.parametrize(
    ("field", "value"),
    [("quantity", "10"), ("price", True), ("notional", "1000.0"), ("ts", 1749139200), ("ts", 1749139200.5)],
)
def test_a_wrong_json_type_is_an_invalid_field_not_a_coercion(field: str, value: object) -> None:
    assert only_reason(enc(trade(**{field: value}))) == "invalid_field"
