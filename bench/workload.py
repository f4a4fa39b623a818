"""The benchmark's input: trade events as JSON bytes, generated fast, and an aiokafka producer for them.

Trades follow the event contract (``signal_monitor.streams.events.Trade``) with
the spread of a desk's flow: 200 funds of both fund types and three strategies,
single stocks across the 11 GICS sectors and 20 sub-industries, ETFs and index
products as ``broad``. Event times are in time order over ``span`` ending a day
before the wall clock, so nothing is late or in the future. Generation formats
strings directly (no ``json.dumps`` per event) so that producing millions of
events does not dominate a run.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from signal_monitor.streams.events import GICS_SECTORS

SUB_INDUSTRIES: dict[str, tuple[str, ...]] = {
    "Information Technology": ("Semiconductors", "Application Software", "Systems Software", "IT Services"),
    "Health Care": ("Biotechnology", "Pharmaceuticals", "Health Care Equipment"),
    "Financials": ("Diversified Banks", "Asset Management", "Insurance Brokers"),
    "Industrials": ("Aerospace & Defense", "Industrial Machinery", "Railroads"),
    "Energy": ("Oil & Gas Exploration", "Integrated Oil & Gas"),
    "Consumer Discretionary": ("Automobiles", "Broadline Retail"),
    "Communication Services": ("Interactive Media", "Entertainment"),
    "Utilities": ("Electric Utilities",),
}
ACTIONS: tuple[str, ...] = ("buy_long", "sell_long", "sell_short", "buy_to_cover")
STRATEGIES: tuple[str, ...] = ("fundamental_long_short", "quant", "macro")
FUNDS = 200


@dataclass(frozen=True, slots=True)
class _Fund:
    fund_id: str
    head: str  # the fund's constant fields, as a JSON fragment


def _funds(rng: random.Random) -> list[_Fund]:
    out = []
    for i in range(FUNDS):
        fund_type = "hedge_fund" if i % 4 else "long_only"
        strategy = STRATEGIES[i % 3] if fund_type == "hedge_fund" else "long_only_core"
        fid = f"F{i:03d}"
        out.append(_Fund(fid, f'"fund_id":"{fid}","fund_type":"{fund_type}","strategy":"{strategy}"'))
    return out


def _instruments(rng: random.Random) -> list[str]:
    """Return 600 instruments as JSON fragments (symbol, instrument type, sector, sub-industry)."""
    out = []
    for i in range(600):
        if i % 20 == 0:
            out.append(f'"symbol":"ETF{i}","instrument_type":"etf","sector":"broad"')
        elif i % 50 == 1:
            out.append(f'"symbol":"IDX{i}","instrument_type":"index","sector":"broad"')
        else:
            sector = GICS_SECTORS[i % len(GICS_SECTORS)]
            subs = SUB_INDUSTRIES.get(sector)
            sub = f',"sub_industry":"{subs[i % len(subs)]}"' if subs and i % 3 else ""
            out.append(f'"symbol":"S{i}","instrument_type":"single_stock","sector":"{sector}"{sub}')
    return out


class TradeGenerator:
    """Generates unique, valid trades in event-time order as JSON object strings, keyed by fund."""

    def __init__(self, total: int, *, seed: int = 7, span: timedelta = timedelta(days=20), end: datetime | None = None) -> None:
        self.rng = random.Random(seed)
        self.total = total
        self.run_id = uuid.uuid4().hex[:8]
        end = end or (datetime.now(timezone.utc) - timedelta(days=1))
        self.start_epoch = (end - span).timestamp()
        self.step = span.total_seconds() / max(1, total)
        self.funds = _funds(self.rng)
        self.instruments = _instruments(self.rng)
        self._ts_second = -1
        self._ts_text = ""

    def _ts(self, i: int) -> str:
        second = int(self.start_epoch + i * self.step)
        if second != self._ts_second:
            self._ts_second = second
            self._ts_text = datetime.fromtimestamp(second, timezone.utc).isoformat()
        return self._ts_text

    def trade(self, i: int, fund: _Fund, *, ts: str | None = None) -> str:
        """Return trade number ``i`` of ``fund`` as a JSON object (at its place in time, or at ``ts``)."""
        rng = self.rng
        qty = rng.randint(1, 5000)
        cents = rng.randint(500, 50000)
        return (
            f'{{"trade_id":"{self.run_id}-{i}","ts":"{ts or self._ts(i)}",{fund.head},'
            f'{self.instruments[rng.randrange(600)]},"action":"{ACTIONS[rng.randrange(4)]}",'
            f'"quantity":{qty},"price":{cents / 100},"notional":{qty * cents / 100}}}'
        )

    def messages(self, *, envelope: int = 1) -> Iterator[tuple[bytes, bytes]]:
        """Yield ``(key, value)`` messages for all ``total`` trades: one per message, or envelopes of one fund."""
        funds = self.funds
        rng = self.rng
        if envelope <= 1:
            for i in range(self.total):
                fund = funds[rng.randrange(FUNDS)]
                yield fund.fund_id.encode(), self.trade(i, fund).encode()
            return
        i = 0
        while i < self.total:
            fund = funds[rng.randrange(FUNDS)]
            n = min(envelope, self.total - i)
            body = ",".join(self.trade(i + j, fund) for j in range(n))
            yield fund.fund_id.encode(), f"[{body}]".encode()
            i += n


def quote(symbol: str, ts: datetime, price: float, *, kind: str = "close") -> bytes:
    """Return a quote event as JSON bytes."""
    return f'{{"ts":"{ts.isoformat()}","symbol":"{symbol}","price":{price},"kind":"{kind}"}}'.encode()


async def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes]],
    *,
    partition_of: dict[bytes, int] | None = None,
    partitions: int | None = None,
) -> int:
    """Produce ``messages`` with an aiokafka producer tuned for throughput; return how many.

    Keys go to partitions by a stable hash of our own (``partitions`` given), so the
    benchmark does not depend on the client's partitioner.
    """
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1024 * 1024, max_request_size=8 * 1024 * 1024, acks=1
    )
    await producer.start()
    n = 0
    pending: list[asyncio.Future[object]] = []
    try:
        for key, value in messages:
            part = None
            if partitions:
                part = (partition_of or {}).get(key) if key else None
                if part is None:
                    part = _stable_partition(key, partitions)
            pending.append(await producer.send(topic, value, key=key, partition=part))
            n += 1
            if len(pending) >= 20000:
                await asyncio.gather(*pending)
                pending.clear()
        await producer.flush()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return n


def _stable_partition(key: bytes | None, partitions: int) -> int:
    if not key:
        return 0
    h = 0
    for b in key:
        h = (h * 31 + b) & 0xFFFFFFFF
    return h % partitions


def produce_sync(bootstrap: str, topic: str, messages: Iterable[tuple[bytes | None, bytes]], *, partitions: int) -> tuple[int, float]:
    """Produce in a fresh event loop; return the count and the seconds it took."""
    t0 = time.perf_counter()
    n = asyncio.run(produce(bootstrap, topic, messages, partitions=partitions))
    return n, time.perf_counter() - t0


def create_topics(bootstrap: str, topics: Sequence[tuple[str, int]]) -> None:
    """Create ``(name, partitions)`` topics on the broker (replication 1)."""
    from kafka.admin import KafkaAdminClient, NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, parts, 1) for name, parts in topics])
    finally:
        admin.close()
