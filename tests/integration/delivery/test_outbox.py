"""The outbox against a real Redis: claims, realert, queues under a lease, parking, retries and group buffers.

Each step is one Lua script; these tests drive the scripts directly, one worker token or two, where
tests/integration/test_delivery.py drives them through the dispatcher and a fake Slack. (An outbox unit test
would need a fake Redis that runs Lua; there is none, so this lives with the integration tests.)
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from signal_monitor.delivery.outbox import Outbox, Turn
from signal_monitor.delivery.realert import realert_key
from tests.unit.delivery.factory import make_alert

NOW = 1_750_000_000.0
HOUR = 3600.0
DAY = 86400.0


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """An async client of the shared Redis (keys only under the test's key_prefix), decoding as a worker does."""
    connection = aioredis.Redis.from_url(redis_url, decode_responses=True)
    yield connection
    await connection.aclose()


@pytest.fixture
def outbox(client: aioredis.Redis, key_prefix: str) -> Outbox:
    return Outbox(client, prefix=key_prefix)


def unused_realert_key(outbox: Outbox) -> str:
    """A realert key under the test's prefix, for admissions with realert off (the script does not touch it)."""
    return f"{outbox.tagged}:noise:realert:unused"


def message(ident: str, dest: str = "desk", rule: str = "vix_below_17") -> dict[str, Any]:
    return {"id": ident, "dest": dest, "receiver": dest, "route": "route", "title": None,
            "alerts": [{"rule": rule, "dedup_key": f"key-{ident}"}], "created_at": NOW}


async def admit(outbox: Outbox, ident: str, *, dedup: str | None = None, receiver: str = "desk",
                realert: tuple[str, float] = ("", 0.0), now: float = NOW) -> str:
    key, interval = realert
    return await outbox.admit(receiver=receiver, dedup=dedup or f"key-{ident}", claim_ttl_s=DAY,
                              realert_key=key or unused_realert_key(outbox), realert_s=interval,
                              now=now, message=message(ident, receiver))


async def queued_ids(outbox: Outbox, dest: str = "desk") -> list[str]:
    return [m["id"] for m in await outbox.queued(dest)]


# --- admission ------------------------------------------------------------------------------------


async def test_a_dedup_key_is_claimed_once_per_receiver(outbox: Outbox) -> None:
    assert await admit(outbox, "m1", dedup="k") == "ok"
    assert await admit(outbox, "m2", dedup="k") == "duplicate"
    assert await admit(outbox, "m3", dedup="k", receiver="urgent") == "ok"
    assert await queued_ids(outbox) == ["m1"] and await queued_ids(outbox, "urgent") == ["m3"]
    assert await outbox.claimed("desk", "k") and not await outbox.claimed("desk", "other")
    assert await outbox.destinations() == ["desk", "urgent"]
    counts = await outbox.counts()
    assert (counts["enqueued"], counts["deduplicated"]) == (2, 1)


async def test_a_claim_expires_with_its_ttl(outbox: Outbox, client: aioredis.Redis) -> None:
    await outbox.admit(receiver="desk", dedup="k", claim_ttl_s=60.0, realert_key=unused_realert_key(outbox),
                       realert_s=0.0, now=NOW, message=message("m1"))
    assert 0 < await client.pttl(outbox.claim_key("desk", "k")) <= 60_000


async def test_realert_drops_the_same_rule_and_scope_within_its_interval_but_keeps_the_claim(outbox: Outbox) -> None:
    key = realert_key(outbox.prefix, "desk", make_alert("sector_breadth", {"sector": "Energy"}))
    assert await admit(outbox, "w1", realert=(key, HOUR)) == "ok"
    assert await admit(outbox, "w2", realert=(key, HOUR), now=NOW + HOUR - 1) == "realert"
    assert await admit(outbox, "w2", realert=(key, HOUR), now=NOW + HOUR) == "duplicate"  # claimed when dropped
    assert await admit(outbox, "w3", realert=(key, HOUR), now=NOW + HOUR) == "ok"  # the interval is over
    assert await admit(outbox, "w4", realert=(key, 0.0), now=NOW + HOUR + 1) == "ok"  # realert off: always queued
    assert await queued_ids(outbox) == ["w1", "w3", "w4"]
    assert (await outbox.counts())["realert_suppressed"] == 1


async def test_admit_needs_a_message_or_a_group_entry(outbox: Outbox) -> None:
    with pytest.raises(ValueError, match="give a message, or a group and an entry"):
        await outbox.admit(receiver="desk", dedup="k", claim_ttl_s=DAY, realert_key=unused_realert_key(outbox),
                           realert_s=0.0, now=NOW)


# --- sending under a lease -------------------------------------------------------------------------


async def test_one_token_at_a_time_sends_a_destination_s_queue_in_order(outbox: Outbox) -> None:
    for ident in ("m1", "m2", "m3"):
        await outbox.enqueue(message(ident))
    assert await outbox.depths() == {"desk": 3}
    assert await outbox.lease("desk", "worker-a", 30.0)
    assert not await outbox.lease("desk", "worker-b", 30.0)
    assert await outbox.lease("desk", "worker-a", 30.0)  # renewed by its holder
    ident, head = await outbox.head("desk")  # type: ignore[misc]
    assert ident == "m1" and head == message("m1")
    assert not await outbox.begin("desk", "m1", "worker-b", now=NOW, attempt=1, ttl_s=30)  # not the lease holder
    assert not await outbox.begin("desk", "m2", "worker-a", now=NOW, attempt=1, ttl_s=30)  # not the head
    assert await outbox.begin("desk", "m1", "worker-a", now=NOW, attempt=1, ttl_s=90)
    assert 60_000 < await outbox.client.pttl(outbox.key("lease", "desk")) <= 90_000  # and renewed the lease
    assert await outbox.inflight("m1") == {"token": "worker-a", "started": NOW, "attempt": 1}
    assert await outbox.gates("desk") == (0.0, NOW)  # paced from this attempt
    assert await outbox.ack("desk", "m1", "worker-b", now=NOW + 1, rule="vix_below_17") == 0  # lease lost
    assert await outbox.ack("desk", "m2", "worker-a", now=NOW + 1, rule="vix_below_17") == -1  # not the head
    assert await outbox.ack("desk", "m1", "worker-a", now=NOW + 1, rule="vix_below_17") == 1
    assert await outbox.inflight("m1") is None
    assert await queued_ids(outbox) == ["m2", "m3"]
    assert await outbox.last_sent() == {"at": repr(NOW + 1), "dest": "desk", "rule": "vix_below_17", "id": "m1"}
    for ident in ("m2", "m3"):
        assert await outbox.ack("desk", ident, "worker-a", now=NOW + 2, rule="r", confirmed=ident == "m3") == 1
    assert await outbox.head("desk") is None
    assert await outbox.destinations() == [] and await outbox.depths() == {}
    counts = await outbox.counts()
    assert (counts["sent"], counts["confirmed"]) == (3, 1)


async def test_a_turn_takes_the_lease_and_reads_the_head_and_its_gates_as_the_single_reads_do(outbox: Outbox) -> None:
    assert await outbox.turn("desk", "worker-a", 30.0) == Turn(held=True)  # empty queue: the lease taken
    assert not await outbox.lease("desk", "worker-b", 30.0)
    assert await outbox.turn("desk", "worker-b", 30.0) == Turn(held=False)
    for ident in ("m1", "m2"):
        await outbox.enqueue(message(ident))
    turn = await outbox.turn("desk", "worker-a", 30.0)
    assert turn == Turn(held=True, ident="m1", message=message("m1"))
    assert await outbox.begin("desk", "m1", "worker-a", now=NOW, attempt=1, ttl_s=30)
    await outbox.defer("desk", "m1", until=NOW + 5, count=True, keep_inflight=True)
    turn = await outbox.turn("desk", "worker-a", 30.0)
    next_at, paced_at = await outbox.gates("desk")
    assert (turn.ident, turn.message) == (await outbox.head("desk"))
    assert (turn.next_at, turn.paced_at) == (next_at, paced_at) == (NOW + 5, NOW)
    assert turn.inflight == await outbox.inflight("m1") == {"token": "worker-a", "started": NOW, "attempt": 1}
    assert turn.attempts == await outbox.attempts("m1") == 1
    # a head id whose message is missing
    await outbox.client.hdel(outbox.key("msg"), "m1")
    assert (await outbox.turn("desk", "worker-a", 30.0)).message is None
    # the lease renewed by the turn: still worker-a's
    assert await outbox.client.pttl(outbox.key("lease", "desk")) > 29_000
    assert not await outbox.lease("desk", "worker-b", 30.0)


async def test_a_released_lease_is_free_for_another_token_and_only_its_holder_releases_it(outbox: Outbox) -> None:
    assert await outbox.lease("desk", "worker-a", 30.0)
    await outbox.release("desk", "worker-b")
    assert not await outbox.lease("desk", "worker-b", 30.0)
    await outbox.release("desk", "worker-a")
    assert await outbox.lease("desk", "worker-b", 30.0)


async def test_failed_attempts_hold_the_destination_and_count_but_a_rate_limit_does_not(outbox: Outbox) -> None:
    await outbox.enqueue(message("m1"))
    assert await outbox.lease("desk", "worker-a", 30.0)
    assert await outbox.begin("desk", "m1", "worker-a", now=NOW, attempt=1, ttl_s=30)
    assert await outbox.defer("desk", "m1", until=NOW + 5, count=True, keep_inflight=False) == 1
    assert await outbox.inflight("m1") is None  # the answer was known: nothing to confirm
    assert await outbox.gates("desk") == (NOW + 5, NOW)
    assert await outbox.begin("desk", "m1", "worker-a", now=NOW + 5, attempt=2, ttl_s=30)
    assert await outbox.defer("desk", "m1", until=NOW + 65, count=False, keep_inflight=True) == 1  # a 429
    assert await outbox.attempts("m1") == 1
    assert (await outbox.inflight("m1") or {})["attempt"] == 2  # no answer: kept, to be confirmed before a resend
    counts = await outbox.counts()
    assert (counts["retried"], counts["rate_limited"]) == (1, 1)
    assert await outbox.ack("desk", "m1", "worker-a", now=NOW + 70, rule="r") == 1
    assert await outbox.attempts("m1") == 0 and await outbox.gates("desk") == (0.0, NOW + 5)


# --- parking ----------------------------------------------------------------------------------------


async def test_a_parked_message_keeps_its_reason_lets_the_queue_go_on_and_is_requeued_once(outbox: Outbox) -> None:
    for ident in ("m1", "m2"):
        await outbox.enqueue(message(ident))
    assert await outbox.lease("desk", "worker-a", 30.0)
    assert await outbox.park("desk", "m1", "worker-a", now=NOW, reason="channel_not_found",
                             detail="404 channel_not_found", status=404) == 1
    assert await queued_ids(outbox) == ["m2"]
    (parked,) = await outbox.parked()
    assert (parked.id, parked.reason, parked.detail, parked.status, parked.parked_at) == (
        "m1", "channel_not_found", "404 channel_not_found", 404, NOW)
    assert parked.message == message("m1")
    counts = await outbox.counts()
    assert (counts["parked"], counts["parked:channel_not_found"]) == (1, 1)
    assert await outbox.requeue("m1")
    assert not await outbox.requeue("m1") and not await outbox.requeue("no-such-id")
    assert await outbox.parked() == []
    assert await queued_ids(outbox) == ["m2", "m1"]  # at the end of its destination's queue
    assert (await outbox.counts())["requeued"] == 1


async def test_a_queued_id_without_its_message_is_dropped(outbox: Outbox, client: aioredis.Redis) -> None:
    await outbox.enqueue(message("m1"))
    await client.hdel(outbox.key("msg"), "m1")
    assert await outbox.head("desk") == ("m1", None)
    assert await outbox.lease("desk", "worker-a", 30.0)
    assert await outbox.drop("desk", "m1", "worker-a", now=NOW) == 1
    assert await outbox.head("desk") is None and (await outbox.counts())["dropped"] == 1


# --- group buffers --------------------------------------------------------------------------------


async def test_a_group_buffers_until_due_and_flushes_into_the_queues_once(outbox: Outbox) -> None:
    entries = []
    for n, ident in enumerate(("a1", "a2", "a3")):
        entry = {"alert": {"rule": "sector_breadth", "dedup_key": ident}, "receiver": "desk", "route": "flows"}
        entries.append(json.dumps(entry))
        result = await outbox.admit(receiver="desk", dedup=ident, claim_ttl_s=DAY, realert_key=unused_realert_key(outbox),
                                    realert_s=0.0, now=NOW + n, group="flows", entry=entry, due=NOW + 30 + n)
        assert result == "ok"
    assert await outbox.due_groups(NOW + 29) == []
    assert await outbox.due_groups(NOW + 30) == ["flows"]  # due at the first entry's time, not pushed back
    assert await outbox.due_groups(None) == ["flows"]
    assert await outbox.group_entries("flows") == entries
    assert await outbox.group_depth() == 3 and await outbox.depths() == {}
    digest = [message("d1"), message("d2", dest="urgent")]
    assert await outbox.flush_group("flows", entries[:2], digest, NOW + 30)
    assert not await outbox.flush_group("flows", entries[:2], digest, NOW + 30)  # another worker flushed them
    assert await outbox.group_entries("flows") == entries[2:]
    assert await outbox.due_groups(NOW + 30) == ["flows"]  # what is left is still buffered
    assert await queued_ids(outbox) == ["d1"] and await queued_ids(outbox, "urgent") == ["d2"]
    assert await outbox.flush_group("flows", entries[2:], [message("d3")], NOW + 31)
    assert await outbox.due_groups(None) == [] and await outbox.group_depth() == 0
    counts = await outbox.counts()
    assert (counts["grouped"], counts["enqueued"]) == (3, 3)


async def test_the_learnt_channel_id_of_a_receiver_is_kept(outbox: Outbox) -> None:
    assert await outbox.channel_id("urgent") is None
    await outbox.set_channel_id("urgent", "C0URGENT01")
    assert await outbox.channel_id("urgent") == "C0URGENT01"
