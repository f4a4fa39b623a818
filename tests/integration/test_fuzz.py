"""Bad input through the live path: a fuzz corpus produced to the broker, one worker process over it.

The corpus is generated up front by a seeded ``random.Random`` (reproducible: the
seed is in the failure message): valid trades with odd unicode and large-but-sane
numbers, nearly valid ones (one field broken), garbage bytes, NaN and infinities,
numbers past float range, deep nesting, messages over 1 MiB, batched envelopes
mixing all of these, and upstream resends. Each item carries the dead-letter
reason it must get, or its trade for the ground truth; the lateness rule is
simulated per partition in produce order. The test checks:

* the worker process is alive at the end, and has closed the first week;
* every invalid item is in the DLQ with its reason, at its partition, offset and
  envelope index (and the right SHA-256 for whole messages);
* every valid trade is counted once: the stored sums equal the ground truth.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import redis
from kafka import KafkaProducer

from signal_monitor.periods import week_end
from tests.integration.harness import (
    ACTIONS,
    SECTORS,
    UTC,
    Names,
    Worker,
    caught_up,
    create_topics,
    ground_truth,
    read_topic,
    stored_truth,
    wait_for,
)

SEED = 20250606
PARTITIONS = 4
LATENESS_S = 7 * 86400
MAX_BYTES = 1024 * 1024
WINDOW_START = datetime(2025, 6, 2, 13, 30, tzinfo=UTC)  # Monday, 09:30 New York
WINDOW = timedelta(days=11, hours=6)  # to Friday 2025-06-13, 19:30 UTC (before its close)
FIRST_FRIDAY = date(2025, 6, 6)
NY = ZoneInfo("America/New_York")
WORKER_ENV = {"SM_CLOSE_GRACE_S": "0", "SM_IDLE_PARTITION_S": "2"}

#: Odd but printable text: direction overrides, zero-width and combining marks, emoji sequences,
#: noncharacters, astral planes, a BOM, line separators. No ``|`` and no control characters:
#: scope names (strategy, symbol, sub_industry) become scope keys.
ODD = [
    "\u202e", "\u200b", "e\u0301", "\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\ufeff", "\uffff",
    "\U0010fffd", "\u4e2d\u6587", "\u03a9\u2248\u00e7\u221a", "\u2028", "\u00a0", "=", ":", "'\"", "\\", "{}", "$x",
    "%(x)s", "{0.__class__}", "\u0130", "\u00df", "\ufdd0", "\U0001d54f",
]
#: Control characters are fine where a name is not a scope: trade and fund ids.
CONTROL = ["\x00", "\x01", "\x1f", "\x7f", "\t"]
REQUIRED = ("trade_id", "ts", "fund_id", "fund_type", "strategy", "symbol", "instrument_type", "sector", "action",
            "quantity", "price", "notional")


@dataclass
class Item:
    """One event of the corpus: its trade when it must count, else the dead-letter reason it must get."""

    trade: dict[str, Any] | None = None
    reason: str | None = None
    ts: float | None = None  #: event time, for items whose fate depends on the lateness rule


@dataclass
class Message:
    """One Kafka message of the corpus and what each of its items must become."""

    partition: int
    value: bytes | None
    items: list[Item]
    envelope: bool = False
    offset: int = -1


@dataclass
class Corpus:
    """Messages in produce order, and after ``settle()`` the expected letters and the trades that land."""

    seed: int
    messages: list[Message] = field(default_factory=list)
    letters: Counter[tuple[int, int, int | None, str]] = field(default_factory=Counter)
    landed: list[dict[str, Any]] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)

    def settle(self) -> None:
        """Number the offsets and apply the lateness rule and trade-id dedup per partition, in order."""
        next_offset = [0] * PARTITIONS
        watermark = [0.0] * PARTITIONS
        seen: list[set[str]] = [set() for _ in range(PARTITIONS)]
        for msg in self.messages:
            p = msg.partition
            msg.offset = next_offset[p]
            next_offset[p] += 1
            for index, item in enumerate(msg.items):
                where = (p, msg.offset, index if msg.envelope else None)
                reason = item.reason
                if reason is None and item.ts is not None and watermark[p] and item.ts < watermark[p] - LATENESS_S:
                    reason = "too_late"
                if reason is not None:
                    self.letters[(*where, reason)] += 1
                    continue
                assert item.trade is not None and item.ts is not None
                watermark[p] = max(watermark[p], item.ts)
                if item.trade["trade_id"] not in seen[p]:
                    seen[p].add(item.trade["trade_id"])
                    self.landed.append(item.trade)


class Generator:
    """Builds a corpus from a seeded ``random.Random``."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.corpus = Corpus(seed)
        self.n = 0
        self.sent: dict[str, tuple[int, dict[str, Any]]] = {}  # trade_id -> (partition, trade)
        self.progress = 0.0  # how far through the corpus: event times mostly move forward

    # --- events -----------------------------------------------------------------------
    def odd(self, core: str, *, control: bool = False) -> str:
        rng = self.rng
        palette = ODD + CONTROL if control else ODD
        return f"{rng.choice(palette)}{core}{rng.choice(palette)}{rng.choice(palette)}" if rng.random() < 0.6 else core

    def amounts(self) -> tuple[Any, Any, float]:
        """Quantity, price and notional: usual sizes, and sane extremes (to 1e14 USD, down to 1e-6 USD)."""
        rng = self.rng
        kind = rng.random()
        if kind < 0.7:
            qty: Any = rng.randint(1, 5000)
            price: Any = round(rng.uniform(1, 900), 2)
        elif kind < 0.8:
            qty, price = rng.randint(10**6, 10**7), round(rng.uniform(10**6, 10**7), 2)  # up to 1e14
        elif kind < 0.9:
            qty, price = 10**12, 0.0001  # a huge integer count at a tiny price
        else:
            qty, price = 1, 1e-6
        return qty, price, round(qty * price, 6)

    def trade(self, ts: datetime | None = None) -> dict[str, Any]:
        """Return a valid trade with odd unicode in its free-text fields."""
        rng = self.rng
        self.n += 1
        if ts is None:
            ts = WINDOW_START + WINDOW * min(1.0, max(0.0, self.progress + rng.uniform(-0.3, 0.1)))
        qty, price, notional = self.amounts()
        body: dict[str, Any] = {
            "trade_id": self.odd(f"FZ{self.n}", control=True),
            "ts": ts.astimezone(rng.choice([UTC, UTC, NY])).isoformat(),
            "fund_id": self.odd(f"F{rng.randint(0, 30)}", control=True),
            "fund_type": rng.choice(("hedge_fund", "long_only")),
            "strategy": self.odd(rng.choice(("macro", "quant", "fundamental_long_short"))),
            "symbol": self.odd(f"S{rng.randint(0, 60)}"),
            "instrument_type": rng.choice(("single_stock", "etf", "index")),
            "sector": rng.choice(SECTORS + ("broad",)),
            "action": rng.choice(ACTIONS),
            "quantity": qty,
            "price": price,
            "notional": notional,
        }
        if rng.random() < 0.3:
            body["sub_industry"] = self.odd(rng.choice(("Biotechnology", "Semiconductors", "Oil & Gas")))
        if rng.random() < 0.15:
            depth = rng.randint(10, 400)
            body["nested"] = json.loads("[" * depth + "{}" + "]" * depth)  # extra fields are ignored
        if rng.random() < 0.1:
            body["note"] = "".join(rng.choice(ODD) for _ in range(rng.randint(1, 50)))
        return body

    def valid(self) -> tuple[Item, dict[str, Any]]:
        body = self.trade()
        return Item(trade=body, ts=datetime.fromisoformat(body["ts"]).timestamp()), body

    def nearly_valid(self) -> tuple[Item, Any]:
        """A valid trade with exactly one field broken, and the reason it must get."""
        rng = self.rng
        body = self.trade()
        ts = datetime.fromisoformat(body["ts"])
        choice = rng.randrange(12)
        if choice == 0:
            del body[rng.choice(REQUIRED)]
            return Item(reason="missing_field"), body
        if choice == 1:
            name, bad = rng.choice([("action", "hold"), ("fund_type", "family_office"), ("sector", "Crypto"),
                                    ("instrument_type", "swap"), ("action", "BUY_LONG"), ("sector", "")])
            body[name] = bad
        elif choice == 2:
            body[rng.choice(("quantity", "price", "notional"))] = rng.choice(
                [0, -5, "abc", "1e999x", None, [], {}, float("nan"), float("inf"), -float("inf")]
            )
        elif choice == 3:
            body["ts"] = ts.replace(tzinfo=None).isoformat()
            return Item(reason="naive_timestamp"), body
        elif choice == 4:
            body["ts"] = rng.choice(["yesterday", "2025-02-30T10:00:00Z", "2300-01-01T00:00:00Z", "1850-06-01T00:00:00Z", 1e20])
        elif choice == 5:
            body["notional"] = round(body["notional"] * rng.choice((1.5, 0.5, 10.0)), 6) or 1.0
            return Item(reason="notional_mismatch"), body
        elif choice == 6:
            body["trade_id"] = rng.choice(["", "   ", "\u3000", "x" * 201])
        elif choice == 7:
            body["strategy"] = "macro\ud800"  # a lone surrogate: json.dumps writes it as \\ud800
        elif choice == 8:
            body["ts"] = "2199-06-01T12:00:00+00:00"  # inside the calendar, far ahead of the wall clock
            return Item(reason="in_future"), body
        elif choice == 9:
            body["ts"] = (WINDOW_START - timedelta(days=10)).isoformat()
            return Item(reason="too_late"), body  # each partition starts with an anchor in the window
        elif choice == 10:
            body["symbol"] = "S" * 201
        else:
            body[rng.choice(("strategy", "fund_id", "symbol"))] = rng.choice([42, None, ["a"], {"x": 1}])
        return Item(reason="invalid_field"), body

    # --- messages ---------------------------------------------------------------------
    def add(self, kind: str, partition: int, value: bytes | None, items: list[Item], *, envelope: bool = False) -> None:
        self.corpus.kinds[kind] += 1
        self.corpus.messages.append(Message(partition, value, items, envelope))

    def single(self, kind: str, item: Item, body: Any, partition: int | None = None) -> None:
        p = self.rng.randrange(PARTITIONS) if partition is None else partition
        if item.trade is not None:
            self.sent[item.trade["trade_id"]] = (p, item.trade)
        self.add(kind, p, encode(body), [item])

    def build(self, messages: int) -> Corpus:
        rng = self.rng
        for p in range(PARTITIONS):  # an anchor per partition: lateness is decided from here on
            item, body = self.valid()
            item.trade["ts"] = body["ts"] = (WINDOW_START + timedelta(hours=p)).isoformat()  # type: ignore[index]
            item.ts = datetime.fromisoformat(body["ts"]).timestamp()
            self.single("valid", item, body, p)
        for k in range(messages):
            self.progress = k / messages
            roll = rng.random()
            if roll < 0.30:
                self.single("valid", *self.valid())
            elif roll < 0.50:
                self.single("nearly_valid", *self.nearly_valid())
            elif roll < 0.68:
                self.envelope()
            elif roll < 0.76:
                self.garbage()
            elif roll < 0.82:
                self.numbers()
            elif roll < 0.87:
                self.scalar()
            elif roll < 0.92:
                self.deep()
            elif self.sent:
                trade_id = rng.choice(sorted(self.sent))
                p, trade = self.sent[trade_id]
                self.add("resend", p, encode(trade), [Item(trade=trade, ts=datetime.fromisoformat(trade["ts"]).timestamp())])
        self.oversized()
        return self.corpus

    def envelope(self) -> None:
        rng = self.rng
        p = rng.randrange(PARTITIONS)
        items: list[Item] = []
        bodies: list[Any] = []
        for _ in range(rng.randint(0, 8)):
            roll = rng.random()
            if roll < 0.5:
                item, body = self.valid()
                self.sent[body["trade_id"]] = (p, body)
            elif roll < 0.85:
                item, body = self.nearly_valid()
            else:
                item, body = Item(reason="not_an_object"), rng.choice([1, "x", None, True, [], [{}], 1.5])
            items.append(item)
            bodies.append(body)
        self.add("envelope", p, encode(bodies), items, envelope=True)

    def garbage(self) -> None:
        rng = self.rng
        noise = bytes(rng.randrange(256) for _ in range(rng.randint(1, 400)))
        value = rng.choice([
            b"#" + noise,  # '#' starts no JSON value
            encode(self.trade())[: rng.randint(1, 60)],  # a truncated event
            b'{"trade_id": "x", ' + noise,
            b"\xff\xfe\xfd" + noise,  # not UTF-8
            b"{'single': 'quotes'}",
            b"[1, 2,]",
        ])
        self.add("garbage", rng.randrange(PARTITIONS), value, [Item(reason="malformed_json")])

    def numbers(self) -> None:
        """Numbers past float range, JSON NaN / Infinity tokens, integers past Python's digit limit."""
        rng = self.rng
        text = encode(self.trade()).decode()
        field_ = rng.choice(("quantity", "price", "notional"))
        token = rng.choice(["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 5000])
        # replace the field's value in place, keeping everything else valid
        obj = json.loads(text)
        obj[field_] = "@@"
        value = json.dumps(obj).replace('"@@"', token).encode()
        reason = "malformed_json" if token.startswith("999") else "invalid_field"
        self.add("numbers", rng.randrange(PARTITIONS), value, [Item(reason=reason)])

    def scalar(self) -> None:
        rng = self.rng
        value = rng.choice([b"42", b'"a string"', b"null", b"true", b"-0.0", b"[]", b"", None, b"   \n\t"])
        if value == b"[]":
            items: list[Item] = []  # an empty envelope holds nothing
        elif value is None or not value.strip():
            items = [Item(reason="empty_message")]
        else:
            items = [Item(reason="not_an_object")]
        self.add("scalar", rng.randrange(PARTITIONS), value, items, envelope=value == b"[]")

    def deep(self) -> None:
        rng = self.rng
        depth = rng.randint(5_000, 100_000)  # past the recursion limit, under 1 MiB
        opener, closer = rng.choice([("[", "]"), ('{"a":', "}")])
        value = (opener * depth + "1" + closer * depth).encode()
        self.add("deep", rng.randrange(PARTITIONS), value, [Item(reason="malformed_json")])

    def oversized(self) -> None:
        """Messages over 1 MiB (an event, an envelope of valid events, garbage), and a valid one just under."""
        rng = self.rng
        big = self.trade()
        big["note"] = "\U0001f600" * (MAX_BYTES // 12 + 10)  # 12 bytes each, escaped
        self.add("too_large", rng.randrange(PARTITIONS), encode(big), [Item(reason="too_large")])
        envelope = [self.trade() for _ in range(3)]
        envelope[0]["note"] = "x" * MAX_BYTES
        self.add("too_large", rng.randrange(PARTITIONS), encode(envelope), [Item(reason="too_large")])
        self.add("too_large", rng.randrange(PARTITIONS), bytes(rng.randrange(256) for _ in range(64)) * (MAX_BYTES // 64 + 1),
                 [Item(reason="too_large")])
        item, body = self.valid()
        body["note"] = ""
        body["note"] = "y" * (MAX_BYTES - len(encode(body)) - 16)
        value = encode(body)
        assert MAX_BYTES - 64 < len(value) <= MAX_BYTES
        p = rng.randrange(PARTITIONS)
        self.sent[body["trade_id"]] = (p, body)
        self.add("just_under_1MiB", p, value, [item])


def encode(obj: Any) -> bytes:
    """JSON as a producer would write it (NaN and Infinity allowed, lone surrogates escaped)."""
    return json.dumps(obj, allow_nan=True).encode()


def produce_to_partitions(bootstrap: str, topic: str, messages: list[Message]) -> None:
    """Produce every message to its own partition, in order; offsets follow the order per partition."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, max_request_size=4 * 1024 * 1024)
    try:
        for msg in messages:
            producer.send(topic, key=b"fuzz", value=msg.value, partition=msg.partition)
        producer.flush(timeout=60)
    finally:
        producer.close()


def alive(worker: Worker, check: Callable[[], bool]) -> Callable[[], bool]:
    """Wrap ``check`` so a wait fails at once, with the log's tail, when the worker process has died."""

    def wrapped() -> bool:
        if worker.proc is not None and worker.proc.poll() is not None:
            raise AssertionError(f"the worker died (exit {worker.proc.returncode}); log tail:\n{worker.log[-3000:]}")
        return check()

    return wrapped


def week_point(redis_url: str, key_prefix: str, sid: str, friday: date) -> float | None:
    """Return a series' point for ``friday`` (None when absent)."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        rows = client.zrangebyscore(f"{key_prefix}:{{s:{sid}}}", friday.toordinal(), friday.toordinal())
    finally:
        client.close()
    return float(rows[0].split("\x1f", 1)[1]) if rows else None


@pytest.fixture
def names(key_prefix: str, broker: str) -> Names:
    """Topics, group and key prefix of this test, with the topics created."""
    n = Names(key_prefix)
    create_topics(broker, n, partitions=PARTITIONS)
    return n


def test_a_fuzz_corpus_through_a_live_worker(broker: str, redis_url: str, names: Names, tmp_path: Path) -> None:
    corpus = Generator(SEED).build(messages=450)
    corpus.settle()
    expected = sum(corpus.letters.values())
    assert expected > 200 and len(corpus.landed) > 300, f"a thin corpus: {corpus.kinds}"
    topic = names.topic("trades")
    produce_to_partitions(broker, topic, corpus.messages)

    worker = Worker(broker, redis_url, names, tmp_path, tag="fz", env=WORKER_ENV).start()
    try:
        wait_for(alive(worker, caught_up(broker, redis_url, names.key_prefix, topic)), timeout=90,
                 what="the worker to apply the corpus")
        letters = read_topic(broker, names.topic("dlq"), expect=expected, timeout=30)
        truth = ground_truth(corpus.landed)
        first_week = truth.get((FIRST_FRIDAY.isoformat(), "", "n"), 0.0)
        wait_for(
            alive(worker, lambda: week_point(redis_url, names.key_prefix, "trades:week", FIRST_FRIDAY) == first_week),
            timeout=30, what=f"the first week to close with {first_week:.0f} trades",
        )
        assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
    finally:
        worker.stop()

    context = f"(seed {corpus.seed}, corpus {dict(corpus.kinds)})"
    got = Counter((x["partition"], x["offset"], x["index"], x["reason"]) for x in letters)
    missing, extra = corpus.letters - got, got - corpus.letters
    assert not missing and not extra, f"dead letters differ {context}: missing {list(missing)[:8]}, unexpected {list(extra)[:8]}"
    by_place = {(m.partition, m.offset): m for m in corpus.messages}
    for letter in letters:
        assert letter["topic"] == topic and letter["detail"] and letter["worker"] == "fz"
        if letter["index"] is None and letter["reason"] not in ("too_late", "in_future"):
            value = by_place[(letter["partition"], letter["offset"])].value or b""
            assert letter["original_sha256"] == hashlib.sha256(value).hexdigest()
            assert letter["original_size"] == len(value)

    stored = stored_truth(redis_url, names.key_prefix, topic, truth)
    wrong = {k: (stored[k], v) for k, v in truth.items() if abs(stored[k] - v) > 1e-6 * max(1.0, abs(v))}
    assert not wrong, f"{len(wrong)} aggregates differ (stored, expected) {context}, e.g. {list(wrong.items())[:3]}"


def test_a_huge_finite_amount_neither_stops_the_worker_nor_loses_its_batch(
    broker: str, redis_url: str, names: Names, tmp_path: Path
) -> None:
    """Two trades of 1e308 USD each are valid by the contract today; their sum is infinite.

    HINCRBYFLOAT refuses it inside the apply script, after the script has already
    added the batch's trade ids to the partition's ``seen`` set (a script is not rolled
    back): the worker stops, and on restart every trade of that batch, the sane ones
    too, is taken for a resend and never counted, with no dead letter. Amounts bounded
    in the event contract (e.g. ``le=1e15``) send the huge ones to the DLQ instead.
    """
    gen = Generator(SEED + 1)
    huge = [dict(gen.trade(), action="buy_long", quantity=1e154, price=1e154, notional=1e308) for _ in range(2)]
    after = gen.trade()
    topic = names.topic("trades")
    produce_to_partitions(broker, topic, [Message(0, encode(t), []) for t in (*huge, after)])
    worker = Worker(broker, redis_url, names, tmp_path, tag="hg", env=WORKER_ENV).start()
    try:
        wait_for(alive(worker, caught_up(broker, redis_url, names.key_prefix, topic)), timeout=60,
                 what="the worker to apply the batch")
        letters = read_topic(broker, names.topic("dlq"), expect=2, timeout=20)
    finally:
        worker.stop()
    assert sorted(x["reason"] for x in letters) == ["invalid_field", "invalid_field"]
    truth = ground_truth([after])
    assert stored_truth(redis_url, names.key_prefix, topic, truth) == pytest.approx(truth)


def test_a_pipe_in_a_scope_name_does_not_stop_the_worker_at_the_period_close(
    broker: str, redis_url: str, names: Names, tmp_path: Path
) -> None:
    """``strategy: "macro|tactical"`` is valid today and lands; closing its week then raises in every worker."""
    gen = Generator(SEED + 2)
    first = gen.trade(WINDOW_START)
    piped = dict(gen.trade(WINDOW_START + timedelta(days=1)), strategy="macro|tactical")
    later = gen.trade(WINDOW_START + timedelta(days=8))  # the next week: the first one closes
    topic = names.topic("trades")
    produce_to_partitions(broker, topic, [Message(0, encode(t), []) for t in (first, piped, later)])
    worker = Worker(broker, redis_url, names, tmp_path, tag="pp", env=WORKER_ENV).start()
    try:
        wait_for(alive(worker, caught_up(broker, redis_url, names.key_prefix, topic)), timeout=60,
                 what="the worker to apply the trades")
        wait_for(
            alive(worker, lambda: week_point(redis_url, names.key_prefix, "trades:week", FIRST_FRIDAY) is not None),
            timeout=30, what="the first week to close",
        )
        letters = read_topic(broker, names.topic("dlq"), expect=1, timeout=20)
    finally:
        worker.stop()
    assert [x["reason"] for x in letters] == ["invalid_field"]
    assert week_point(redis_url, names.key_prefix, "trades:week", FIRST_FRIDAY) == 1.0


def test_the_corpus_generator_is_reproducible_and_covers_every_kind() -> None:
    """Same seed, same bytes; every category and every dead-letter reason but ``seen`` appears."""
    a, b = Generator(SEED).build(messages=450), Generator(SEED).build(messages=450)
    assert [m.value for m in a.messages] == [m.value for m in b.messages]
    a.settle()
    assert set(a.kinds) >= {"valid", "nearly_valid", "envelope", "garbage", "numbers", "scalar", "deep", "resend",
                            "too_large", "just_under_1MiB"}
    reasons = {r for (_, _, _, r) in a.letters}
    assert reasons >= {"too_large", "empty_message", "malformed_json", "not_an_object", "missing_field",
                       "invalid_field", "naive_timestamp", "notional_mismatch", "too_late", "in_future"}
    weeks = {week_end(datetime.fromisoformat(t["ts"])) for t in a.landed}
    assert FIRST_FRIDAY in weeks and len(weeks) == 2
