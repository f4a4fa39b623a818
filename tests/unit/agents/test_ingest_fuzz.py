"""Property tests of ingestion over MemoryState: arbitrary bytes never raise, and every item is accounted for.

An item is a message, or one element of a message that is a JSON array (a batched
envelope). Each item ends up applied, a duplicate of an applied trade, or in the
dead-letter sink with a reason: never lost, never raising.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from signal_monitor.agents.closer import PeriodCloser
from signal_monitor.agents.ingest import Ingestor, Record
from signal_monitor.errors import InvalidEvent
from signal_monitor.periods import week_end
from signal_monitor.state.memory import MemoryState
from signal_monitor.streams.codec import REASONS, validate
from signal_monitor.streams.events import ACTIONS, GICS_SECTORS, DeadLetter
from tests.factories import trade_fields

TOPIC = "signals.trades"
MAX_BYTES = 2048
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Sink:
    """Collects dead letters."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def __call__(self, letters: Sequence[DeadLetter]) -> None:
        self.letters.extend(letters)


def base_trade(i: int) -> dict[str, Any]:
    return trade_fields(f"T{i}", "2025-06-04T14:00:00+00:00")


# --- strategies -------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
odd_text = st.text(st.characters(codec="utf-8"), min_size=0, max_size=30) | st.sampled_from(
    ["", " ", "\u200b", "\u202e", "\ufeff", "\x00", "e\u0301", "\U0001f468\u200d\U0001f469", "x" * 250, "NaN"]
)
field_values = st.one_of(
    json_values,
    odd_text,
    st.sampled_from([0, -1, 1e308, 1e-308, 5e-324, 10**20, float("nan"), float("inf"), -float("inf"), True]),
    st.sampled_from(["2025-06-04T14:00:00", "2025-06-04T14:00:00+00:00", "1899-12-31T00:00:00Z", "2300-01-01T00:00:00Z",
                     "2025-13-40T99:00:00Z", "2025-06-04T14:00:00-23:59", "now"]),
    st.sampled_from(list(ACTIONS) + list(GICS_SECTORS) + ["broad", "hold", "etf", "index", "long_only"]),
)


@st.composite
def mutated_trade(draw: st.DrawFn) -> dict[str, Any]:
    """A trade with some fields deleted or replaced by arbitrary values (often still valid)."""
    body = base_trade(draw(st.integers(0, 50)))
    for name in draw(st.lists(st.sampled_from(sorted(body)), max_size=3, unique=True)):
        if draw(st.booleans()):
            del body[name]
        else:
            body[name] = draw(field_values)
    for name, value in draw(st.dictionaries(st.text(max_size=10), json_values, max_size=2)).items():
        body.setdefault(name, value)
    return body


def encode(obj: Any) -> bytes:
    return json.dumps(obj, allow_nan=True).encode("utf-8", errors="surrogatepass")


message_values = st.one_of(
    st.binary(max_size=300),
    st.none(),
    st.just(b""),
    st.binary(min_size=MAX_BYTES + 1, max_size=MAX_BYTES + 64),
    json_values.map(encode),
    mutated_trade().map(encode),
    st.lists(mutated_trade() | json_values, max_size=6).map(encode),
    st.integers(3000, 20000).map(lambda d: b"[" * d + b"]" * d),  # far past the recursion limit
    st.integers(1, 200).map(lambda d: encode({**base_trade(900), "extra": json.loads("[" * d + "]" * d)})),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", errors="surrogatepass")),
)


def expected_items(value: bytes | None) -> int:
    """Count the items of one message: the length of a top-level JSON array, else 1."""
    raw = value or b""
    if len(raw) > MAX_BYTES or not raw.strip():
        return 1
    try:
        obj = json.loads(raw)
    except (ValueError, RecursionError):
        return 1
    return len(obj) if isinstance(obj, list) else 1


async def ingest(values: Sequence[bytes | None], *, batch: int) -> tuple[Ingestor, Sink]:
    sink = Sink()
    ing = Ingestor(MemoryState(), topic=TOPIC, kind="trades", dead_letters=sink, lateness_s=7 * 86400,
                   max_message_bytes=MAX_BYTES, worker_id="fuzz")
    records = [Record(0, offset, value) for offset, value in enumerate(values)]
    for start in range(0, len(records), batch):
        await ing.handle(records[start : start + batch])
    return ing, sink


# --- properties ---------------------------------------------------------------------------


@FUZZ
@given(values=st.lists(message_values, max_size=25), batch=st.integers(1, 10))
def test_arbitrary_records_never_raise_and_every_item_is_accounted_for(values: list[bytes | None], batch: int) -> None:
    ing, sink = asyncio.run(ingest(values, batch=batch))
    valid = ing.stats.events[TOPIC] + ing.stats.duplicates[TOPIC]
    assert valid + len(sink.letters) == sum(expected_items(v) for v in values)
    for letter in sink.letters:
        assert letter.reason in REASONS and letter.detail, letter
        assert letter.topic == TOPIC and 0 <= letter.offset < len(values)
    assert sum(ing.stats.dlq.values()) == len(sink.letters)


@FUZZ
@given(values=st.lists(mutated_trade(), min_size=1, max_size=20), batch=st.integers(1, 10))
def test_what_lands_sums_to_the_notional_of_the_valid_trades(values: list[dict[str, Any]], batch: int) -> None:
    """The store's weekly sums equal a truth built from the contract: valid, not late, not ahead, each id once."""
    horizon = time.time() + 86400.0
    truth: dict[str, dict[str, float]] = {}
    watermark = 0.0
    ids: set[str] = set()
    for v in values:
        try:
            event = validate("trades", json.loads(encode(v)))
        except InvalidEvent:
            continue
        ts = event.ts.timestamp()
        if ts > horizon or (watermark and ts < watermark - 7 * 86400):
            continue
        watermark = max(watermark, ts)
        if event.trade_id in ids:
            continue
        ids.add(event.trade_id)
        week = truth.setdefault(week_end(event.ts).isoformat(), {})
        week[event.action] = week.get(event.action, 0.0) + event.notional
        week["n"] = week.get("n", 0.0) + 1.0

    async def go() -> tuple[Ingestor, Sink, dict[str, dict[str, float]]]:
        ing, sink = await ingest([encode(v) for v in values], batch=batch)
        stored = {week: (await ing.state.flow_sums(date.fromisoformat(week))).get("", {}) for week in truth}
        return ing, sink, stored

    ing, sink, stored = asyncio.run(go())
    assert ing.stats.events[TOPIC] + ing.stats.duplicates[TOPIC] + len(sink.letters) == len(values)
    assert ing.stats.events[TOPIC] == len(ids)
    assert stored.keys() == truth.keys()
    for week, fields in truth.items():
        assert stored[week].keys() == fields.keys()
        for name, value in fields.items():
            assert math.isclose(stored[week][name], value, rel_tol=1e-9) or (math.isinf(value) and math.isinf(stored[week][name]))


names = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), min_size=1, max_size=20).filter(
    lambda s: s.strip() != ""
)


@settings(max_examples=60, deadline=None)
@given(strategy=names, sub_industry=names, symbol=names)
@example(strategy="macro|tactical", sub_industry="Semiconductors", symbol="NVDA")
@example(strategy="macro", sub_industry="Semis|Memory", symbol="MU")
def test_a_week_closes_whatever_names_a_valid_trade_carries(strategy: str, sub_industry: str, symbol: str) -> None:
    """A period close never raises on what ingestion accepted (scope names are free text in the contract).

    Pins that a ``|`` in ``strategy`` or ``sub_industry`` passes validation, then
    breaks ``parse_scope_key`` when the week closes, so the agent (and every restart)
    stops. Once the event contract refuses ``|`` in scope names, such a trade goes to
    the dead-letter sink and the week closes.
    """

    async def go() -> tuple[int, int, int]:
        state = MemoryState()
        sink = Sink()
        closer = PeriodCloser(state, topics=[TOPIC], evaluator=None, emit=_no_alerts, grace_s=0.0, idle_s=3600.0)
        ing = Ingestor(state, topic=TOPIC, kind="trades", dead_letters=sink, lateness_s=7 * 86400,
                       max_message_bytes=MAX_BYTES, worker_id="fuzz", on_applied=closer.note)
        plain = {**base_trade(0), "ts": "2025-06-03T14:00:00+00:00"}  # starts the calendar
        odd = {**base_trade(1), "strategy": strategy, "sub_industry": sub_industry, "symbol": symbol}
        later = {**base_trade(2), "ts": "2025-06-10T14:00:00+00:00"}  # the next week: closes the first
        await ing.handle([Record(0, 0, encode(plain)), Record(0, 1, encode(odd)), Record(0, 2, encode(later))])
        closed = await closer.advance()
        return closed, ing.stats.events[TOPIC], len(sink.letters)

    closed, landed, rejected = asyncio.run(go())
    assert landed + rejected == 3
    assert closed >= 4  # Tuesday to Friday, and the week


async def _no_alerts(alerts: Sequence[Any]) -> None:
    raise AssertionError("no evaluator, no alerts")
