"""The campaign's input: trade events with a known weekly shape, in batched envelopes keyed by fund.

Every (week, fund type, sector) gets a sign from a seeded pattern: net buyers (+1) or
net sellers (-1), in runs of a few weeks, so the streak rules of ``chaos/rules.yaml``
fire dozens of times. The shape only makes alerts likely; which alerts are *expected*
is decided by the replay engine over exactly these events.

Envelopes never cross a week: every envelope of week W is produced before any of week
W+1, so a partition that has applied an event of W+1 has applied all of its W events,
and a week closes only when it is complete. The exception is ``add_late``: one envelope
of a closed week, produced halfway through the next one (its week is then reopened and
recomputed, which gives corrections). The last
week is followed by a short tail (Monday morning of the next week, every fund) that
moves every partition's watermark past the Friday close plus the grace.

A small share of trades is sent twice (an upstream resend: same trade_id, same fund,
so the same partition, in a later envelope): the ground truth counts each trade once.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from signal_monitor.exchange_calendar import session
from signal_monitor.periods import EASTERN, week_close_day
from signal_monitor.streams.events import GICS_SECTORS

FIRST_MONDAY = date(2025, 3, 3)
STRATEGIES = ("fundamental_long_short", "quant", "macro")
SEP = "\x1f"


@dataclass(frozen=True)
class Fund:
    """One fund: its id (the message key), type and strategy."""

    fund_id: str
    fund_type: str
    strategy: str


@dataclass
class Workload:
    """Trades of ``weeks`` weeks as envelopes, with what the ground truth and the replay need."""

    weeks: int
    funds: list[Fund]
    #: per week (in order), the envelopes as (key, JSON bytes); resends included
    messages: list[list[tuple[bytes, bytes]]] = field(default_factory=list)
    #: every distinct trade once: (ts ISO, trade JSON bytes), for the replay
    trades: list[tuple[float, bytes]] = field(default_factory=list)
    #: (week ISO, "fund_type=..|sector=..", field) -> summed notional, or count for field "n"
    truth: dict[tuple[str, str, str], float] = field(default_factory=lambda: defaultdict(float))
    #: (fund_id, week ISO) -> distinct trades, to locate a loss by partition
    fund_weeks: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    resent: int = 0
    signs: dict[tuple[str, str, str], int] = field(default_factory=dict)
    #: late envelopes: (index in ``messages``, position in that list, index of the week their trades belong to)
    late: list[tuple[int, int, int]] = field(default_factory=list)
    late_events: int = 0

    @property
    def events(self) -> int:
        """Distinct trades."""
        return len(self.trades)

    @property
    def message_count(self) -> int:
        """Messages, all weeks."""
        return sum(len(w) for w in self.messages)

    @property
    def fridays(self) -> list[date]:
        """The Friday naming each week of data (the tail's week excluded)."""
        return [FIRST_MONDAY + timedelta(days=7 * w + 4) for w in range(self.weeks)]

    @property
    def close_days(self) -> list[date]:
        """The day whose close closes each week: its last session (Thursday when Good Friday is a holiday)."""
        return [week_close_day(friday) for friday in self.fridays]


def sign_of(week: int, fund_type_index: int, sector_index: int, rng_offset: int) -> int:
    """Return +1 (net buyers) or -1 (net sellers): runs of 2 to 4 weeks, shifted per sector and fund type."""
    period = 2 + (sector_index + fund_type_index) % 3  # runs of 2, 3 or 4 weeks
    phase = (week + sector_index * 2 + fund_type_index * 5 + rng_offset) // period
    return 1 if phase % 2 == 0 else -1


def _week_times(rng: random.Random, monday: date, n: int) -> list[tuple[float, str]]:
    """Return ``n`` sorted (epoch, ISO text) event times over the week's NYSE sessions (holidays and early closes kept)."""
    days = []
    for d in range(5):
        found = session(monday + timedelta(days=d))
        if found is None:
            continue
        offset = found.open.isoformat()[-6:]
        open_us = (found.open.hour * 3600 + found.open.minute * 60) * 1_000_000
        length_us = int((found.close - found.open).total_seconds() - 1) * 1_000_000
        days.append((found.open.timestamp(), f"{found.day.isoformat()}T", offset, open_us, length_us))
    rand = rng.random
    picks = []
    for _ in range(n):
        d = int(rand() * len(days))
        picks.append((d, int(rand() * days[d][4])))
    picks.sort()
    out = []
    for d, us in picks:
        open_epoch, prefix, offset, open_us, _ = days[d]
        secs, micro = divmod(open_us + us, 1_000_000)
        hh, rest = divmod(secs, 3600)
        mm, ss = divmod(rest, 60)
        out.append((open_epoch + us / 1e6, f"{prefix}{hh:02d}:{mm:02d}:{ss:02d}.{micro:06d}{offset}"))
    return out


def build(total: int, *, weeks: int = 8, funds: int = 48, envelope: int = 500, seed: int = 7, resend_share: float = 0.003) -> Workload:
    """Generate about ``total`` distinct trades over ``weeks`` weeks (plus the tail) as envelopes."""
    rng = random.Random(seed)
    fund_list = [
        Fund(f"F{i:03d}", "long_only" if i % 4 == 0 else "hedge_fund", "long_only_core" if i % 4 == 0 else STRATEGIES[i % 3])
        for i in range(funds)
    ]
    fund_types = ("hedge_fund", "long_only")
    work = Workload(weeks=weeks, funds=fund_list)
    shift = rng.randrange(6)
    per_week = total // weeks
    tid = 0
    for w in range(weeks + 1):
        monday = FIRST_MONDAY + timedelta(days=7 * w)
        tail = w == weeks
        if tail:
            # every fund once on the next Monday morning: each partition passes the Friday close + grace
            opening = datetime.combine(monday, time(9, 30), tzinfo=EASTERN)
            times = [
                (opening.timestamp() + i, (opening + timedelta(seconds=i)).isoformat()) for i in range(len(fund_list))
            ]
            owners = list(fund_list)
        else:
            n = per_week + (total - per_week * weeks if w == weeks - 1 else 0)
            times = _week_times(rng, monday, n)
            owners = [fund_list[int(rng.random() * len(fund_list))] for _ in range(n)]
        friday = (monday + timedelta(days=4)).isoformat()
        by_fund: dict[str, list[tuple[float, str]]] = defaultdict(list)
        rand = rng.random
        n_sectors = len(GICS_SECTORS)
        for (epoch, iso), fund in zip(times, owners):
            sector_i = int(rand() * n_sectors)
            sector = GICS_SECTORS[sector_i]
            ft_i = fund_types.index(fund.fund_type)
            sign = sign_of(w, ft_i, sector_i, shift)
            work.signs[(friday, fund.fund_type, sector)] = sign
            buy_side = rand() < 0.5 + 0.1 * sign
            if buy_side:
                action = "buy_long" if rand() < 0.7 else "buy_to_cover"
            else:
                action = "sell_long" if rand() < 0.6 else "sell_short"
            qty = 1 + int(rand() * 500)
            cents = 500 + int(rand() * 49_500)
            price = cents / 100
            notional = qty * cents / 100
            tid += 1
            trade_id = f"C{seed}-{tid}"
            text = (
                f'{{"trade_id":"{trade_id}","ts":"{iso}","fund_id":"{fund.fund_id}","fund_type":"{fund.fund_type}",'
                f'"strategy":"{fund.strategy}","symbol":"S{sector_i:02d}{int(rand() * 40):02d}",'
                f'"instrument_type":"single_stock","sector":"{sector}","action":"{action}",'
                f'"quantity":{qty},"price":{price},"notional":{notional}}}'
            )
            by_fund[fund.fund_id].append((epoch, text))
            work.trades.append((epoch, text.encode()))
            scope = f"fund_type={fund.fund_type}|sector={sector}"
            work.truth[(friday, scope, action)] += notional
            work.truth[(friday, scope, "n")] += 1
            work.truth[(friday, "", "n")] += 1
            work.fund_weeks[(fund.fund_id, friday)] += 1
        # envelopes per fund in time order; resends go into a later envelope of the same fund
        week_msgs: list[tuple[float, bytes, bytes]] = []
        for fund_id, items in by_fund.items():
            chunks = [items[i : i + envelope] for i in range(0, len(items), envelope)]
            extra: list[list[str]] = [[] for _ in chunks]
            if not tail and len(chunks) > 1:
                for ci, chunk in enumerate(chunks[:-1]):
                    for _, text in chunk:
                        if rng.random() < resend_share:
                            extra[rng.randrange(ci + 1, len(chunks))].append(text)
                            work.resent += 1
            for chunk, more in zip(chunks, extra):
                body = "[" + ",".join([t for _, t in chunk] + more) + "]"
                week_msgs.append((chunk[0][0], fund_id.encode(), body.encode()))
        week_msgs.sort(key=lambda m: m[0])
        work.messages.append([(k, v) for _, k, v in week_msgs])
    return work


def add_late(work: Workload, week: int, *, seed: int, per_sector: int = 4) -> None:
    """Add one late envelope: trades of week ``week`` (its last session, from 30 minutes after the open for up to
    5 hours, ending before the close), of one fund, produced halfway
    through the next week, after ``week`` closed (the campaign's producer waits for that close).

    One envelope, so one batch and one recompute of the week whatever the timing. Per sector, the trades go the
    way the week's net buying of the fund's type already goes (buyers add to a net buy, sellers to a net sell), so
    no sign flips: the streaks and breadth of later weeks do not depend on when the late data lands, and only the
    values of the week's alerts change (corrections, ``:v2``). The ground truth counts them in their week.
    """
    rng = random.Random(seed * 1000 + week)
    friday = work.fridays[week]
    fund = work.funds[rng.randrange(len(work.funds))]
    last = session(work.close_days[week])
    assert last is not None
    start = last.open + timedelta(minutes=30)
    span_s = min(5 * 3600, int((last.close - start).total_seconds()) - 60)
    texts: list[str] = []
    first = None
    for si, sector in enumerate(GICS_SECTORS):
        scope = f"fund_type={fund.fund_type}|sector={sector}"
        net = (work.truth.get((friday.isoformat(), scope, "buy_long"), 0.0) + work.truth.get((friday.isoformat(), scope, "buy_to_cover"), 0.0)
               - work.truth.get((friday.isoformat(), scope, "sell_long"), 0.0) - work.truth.get((friday.isoformat(), scope, "sell_short"), 0.0))
        action = "buy_long" if net >= 0 else "sell_long"
        for k in range(per_sector):
            ts = start + timedelta(seconds=int(rng.random() * span_s))
            first = ts if first is None or ts < first else first
            qty = 100 + int(rng.random() * 400)
            cents = 1000 + int(rng.random() * 40_000)
            notional = qty * cents / 100
            text = (
                f'{{"trade_id":"L{seed}-{week}-{si}-{k}","ts":"{ts.isoformat()}","fund_id":"{fund.fund_id}",'
                f'"fund_type":"{fund.fund_type}","strategy":"{fund.strategy}","symbol":"S{si:02d}{k:02d}",'
                f'"instrument_type":"single_stock","sector":"{sector}","action":"{action}",'
                f'"quantity":{qty},"price":{cents / 100},"notional":{notional}}}'
            )
            texts.append(text)
            work.trades.append((ts.timestamp(), text.encode()))
            work.truth[(friday.isoformat(), scope, action)] += notional
            work.truth[(friday.isoformat(), scope, "n")] += 1
            work.truth[(friday.isoformat(), "", "n")] += 1
            work.fund_weeks[(fund.fund_id, friday.isoformat())] += 1
    target = week + 1
    position = len(work.messages[target]) // 2
    work.messages[target].insert(position, (fund.fund_id.encode(), ("[" + ",".join(texts) + "]").encode()))
    work.late = [(m, p + (1 if m == target and p >= position else 0), w) for m, p, w in work.late]
    work.late.append((target, position, week))
    work.late_events += len(texts)


def iter_trades(work: Workload) -> Iterator[tuple[float, bytes]]:
    """Yield (event time, trade JSON) of every distinct trade, for the replay engine."""
    return iter(work.trades)


def parse_check(work: Workload, sample: int = 2000) -> None:
    """Assert a sample of envelopes is valid JSON (a cheap self-check of the generator)."""
    for week in work.messages:
        for _, value in week[: max(1, sample // max(1, len(work.messages)))]:
            json.loads(value)
