"""The streaming core end to end: real broker, real Redis, worker processes.

Ground truth is computed here from the events the test produced, independently
of the monitor's fold.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.integration.harness import (
    UTC,
    Names,
    Worker,
    applied_offsets,
    as_messages,
    caught_up,
    create_topics,
    ground_truth,
    make_trades,
    produce,
    read_topic,
    stored_truth,
    trade,
    wait_for,
)

MONDAY = datetime(2025, 6, 2, 13, 30, tzinfo=UTC)


def assert_matches_truth(redis_url: str, names: Names, events: list[dict]) -> None:
    """Every (week, fund_type x sector, action) sum and count in the store equals the ground truth."""
    truth = ground_truth(events)
    stored = stored_truth(redis_url, names.key_prefix, names.topic("trades"), truth)
    wrong = {k: (stored[k], v) for k, v in truth.items() if abs(stored[k] - v) > 1e-6 * max(1.0, abs(v))}
    assert not wrong, f"{len(wrong)} aggregates differ (stored, expected), e.g. {list(wrong.items())[:3]}"


@pytest.fixture
def names(key_prefix: str, broker: str) -> Names:
    """Topics, group and key prefix of this test, with the topics created."""
    n = Names(key_prefix)
    create_topics(broker, n)
    return n


def test_bad_input_goes_to_the_dlq_and_good_events_of_the_batch_land(
    broker: str, redis_url: str, names: Names, tmp_path: Path
) -> None:
    rng = random.Random(3)
    good = make_trades(200, seed=1, start=MONDAY, span=timedelta(days=3))
    base = trade(10_000, ts=datetime(2025, 6, 10, 14, 0, tzinfo=UTC), fund="F1", rng=rng)

    def variant(i: int, **changes: object) -> dict:
        e = dict(base, trade_id=f"V{i}", **changes)
        return e

    missing = variant(1)
    del missing["action"]
    big = variant(2, note="x" * (1024 * 1024 + 10))
    late_ok = variant(3, ts="2025-06-05T15:00:00+00:00")  # 5 days behind the partition's newest: lands
    specials: list[tuple[bytes, bytes]] = [
        (b"F1", json.dumps(base).encode()),  # moves partition F1's watermark to 2025-06-10
        (b"F1", b'{"trade_id": "broken",'),
        (b"F1", json.dumps(variant(4, quantity="abc")).encode()),
        (b"F1", json.dumps(missing).encode()),
        (b"F1", json.dumps(variant(5, sector="Crypto")).encode()),
        (b"F1", json.dumps(variant(6, notional=base["notional"] * 1.2)).encode()),
        (b"F1", json.dumps(variant(7, ts="2025-06-10T10:00:00")).encode()),
        (b"F1", json.dumps(big).encode()),
        (b"F1", json.dumps(variant(8, ts="2025-05-20T15:00:00+00:00")).encode()),  # 21 days behind: too late
        (b"F1", json.dumps([variant(9, action="hold"), variant(10)]).encode()),
        (b"F1", json.dumps(late_ok).encode()),
    ]
    produce(broker, names.topic("trades"), as_messages(good) + specials)
    worker = Worker(broker, redis_url, names, tmp_path).start()
    try:
        wait_for(caught_up(broker, redis_url, names.key_prefix, names.topic("trades")), timeout=120, what="the worker to catch up")
        letters = read_topic(broker, names.topic("dlq"), expect=9)
    finally:
        worker.stop()
    reasons = sorted(letter["reason"] for letter in letters)
    assert reasons == sorted(
        ["malformed_json", "invalid_field", "missing_field", "invalid_field", "notional_mismatch",
         "naive_timestamp", "too_large", "too_late", "invalid_field"]
    ), reasons
    for letter in letters:
        assert letter["topic"] == names.topic("trades")
        assert letter["offset"] >= 0 and letter["detail"]
    envelope = [x for x in letters if x["index"] is not None]
    assert len(envelope) == 1 and envelope[0]["index"] == 0 and '"hold"' in envelope[0]["original"]
    malformed = next(x for x in letters if x["reason"] == "malformed_json")
    assert malformed["original"] == '{"trade_id": "broken",'
    too_large = next(x for x in letters if x["reason"] == "too_large")
    raw_big = json.dumps(big).encode()
    assert too_large["original_size"] == len(raw_big)
    assert too_large["original_sha256"] == hashlib.sha256(raw_big).hexdigest()
    landed = good + [base, variant(10), late_ok]
    assert_matches_truth(redis_url, names, landed)


@pytest.mark.parametrize("broker_fixture", ["broker", "tansu_broker"], ids=["apache-kafka", "tansu"])
def test_worker_killed_mid_stream_leaves_every_aggregate_exact(
    broker_fixture: str, request: pytest.FixtureRequest, redis_url: str, names: Names, tmp_path: Path
) -> None:
    broker: str = request.getfixturevalue(broker_fixture)  # the desk's broker, and the no-Java one of make demo
    if broker_fixture == "tansu_broker":
        create_topics(broker, names)  # ``names`` made them on Apache Kafka
    events = make_trades(40_000, seed=2, start=MONDAY, span=timedelta(days=10))
    resent = random.Random(5).sample(events, 300)  # an upstream resend: same trade_id, new message
    messages = as_messages(events[:20_000], envelope=25) + as_messages(events[20_000:]) + as_messages(resent)
    produce(broker, names.topic("trades"), messages)
    topic = names.topic("trades")
    kills = 0
    worker = Worker(broker, redis_url, names, tmp_path, tag="k").start()
    try:
        for _ in range(3):
            before = sum(applied_offsets(redis_url, names.key_prefix, topic).values())
            wait_for(
                lambda: sum(applied_offsets(redis_url, names.key_prefix, topic).values()) > before + 200,
                timeout=120, what="progress before the kill", interval=0.05,
            )
            time.sleep(random.Random(kills).uniform(0.0, 0.3))
            worker.kill()
            kills += 1
            worker = Worker(broker, redis_url, names, tmp_path, tag="k").start()
        wait_for(caught_up(broker, redis_url, names.key_prefix, topic), timeout=240, what="the restarted worker to catch up")
    finally:
        worker.stop()
    assert kills == 3
    assert_matches_truth(redis_url, names, events)


def test_two_workers_split_the_partitions_and_apply_each_event_once(
    broker: str, redis_url: str, names: Names, tmp_path: Path
) -> None:
    a = Worker(broker, redis_url, names, tmp_path, tag="a").start()
    b = Worker(broker, redis_url, names, tmp_path, tag="b").start()
    try:
        wait_for(lambda: "Ready" in a.log and "Ready" in b.log, timeout=120, what="both workers to be ready")
        time.sleep(2)
        events = make_trades(30_000, seed=4, start=MONDAY, span=timedelta(days=4))
        produce(broker, names.topic("trades"), as_messages(events, envelope=10))
        wait_for(caught_up(broker, redis_url, names.key_prefix, names.topic("trades")), timeout=180, what="both workers to catch up")
    finally:
        a.stop()
        b.stop()
    assert_matches_truth(redis_url, names, events)
    import redis as redis_lib

    client = redis_lib.Redis.from_url(redis_url, decode_responses=True)
    try:
        owners = {client.hget(f"{names.key_prefix}:{{{names.topic('trades')}:{p}}}:mark", "worker") for p in range(4)}
    finally:
        client.close()
    assert owners == {"a", "b"}, f"partitions were applied by {owners}"


def test_redis_outage_pauses_the_worker_and_loses_nothing(broker: str, own_redis, names: Names, tmp_path: Path) -> None:
    url = own_redis.url
    topic = names.topic("trades")
    first = make_trades(5_000, seed=6, start=MONDAY, span=timedelta(days=2))
    second = [dict(e, trade_id=f"B{i}") for i, e in enumerate(make_trades(5_000, seed=7, start=MONDAY, span=timedelta(days=3)))]
    worker = Worker(broker, url, names, tmp_path, tag="r").start()
    try:
        produce(broker, topic, as_messages(first, envelope=5))
        wait_for(caught_up(broker, url, names.key_prefix, topic), timeout=120, what="the first half")
        own_redis.stop()
        produce(broker, topic, as_messages(second, envelope=5))
        wait_for(lambda: "Redis unavailable" in worker.log, timeout=60, what="the worker to report the outage")
        time.sleep(3)
        own_redis.start()
        wait_for(caught_up(broker, url, names.key_prefix, topic), timeout=120, what="the worker to resume")
        assert worker.proc is not None and worker.proc.poll() is None, "the worker died during the outage"
    finally:
        worker.stop()
    assert "retry" in worker.log
    assert_matches_truth(url, names, first + second)


def _snapshot(url: str, prefix: str) -> dict[bytes, tuple[bytes, int]]:
    """Return every key under ``prefix`` as DUMP bytes and its TTL in ms (0: none), as a backup would hold it."""
    import redis as redis_lib

    client = redis_lib.Redis.from_url(url)
    try:
        out = {}
        for key in client.scan_iter(match=f"{prefix}:*", count=1000):
            ttl = client.pttl(key)
            out[key] = (client.dump(key), max(0, ttl))
        return out
    finally:
        client.close()


def _restore(url: str, prefix: str, snapshot: dict[bytes, tuple[bytes, int]]) -> None:
    """Bring the keys under ``prefix`` back to ``snapshot``: what the store holds after a restore or a fail-over."""
    import redis as redis_lib

    client = redis_lib.Redis.from_url(url)
    try:
        for key in list(client.scan_iter(match=f"{prefix}:*", count=1000)):
            client.unlink(key)
        for key, (dumped, ttl) in snapshot.items():
            client.restore(key, ttl, dumped, replace=True)
    finally:
        client.close()


def test_a_store_that_comes_back_without_its_last_batches_gets_them_again_from_kafka(
    broker: str, own_redis, names: Names, tmp_path: Path
) -> None:
    """Redis acknowledged batches it then loses (a crash under appendfsync everysec, a fail-over to a lagging
    replica, a restore from a backup), after Kafka offsets were committed: the worker reads them again.

    Once with the worker running (its next batch does not follow the stored offset), once across a
    restart (the assignment seeks to the stored offset).
    """
    url = own_redis.url
    topic = names.topic("trades")
    batches = [
        [dict(e, trade_id=f"{tag}{i}") for i, e in enumerate(make_trades(3_000, seed=seed, start=MONDAY, span=timedelta(days=3)))]
        for tag, seed in (("A", 11), ("B", 12), ("C", 13), ("D", 14))
    ]
    done = caught_up(broker, url, names.key_prefix, topic)
    worker = Worker(broker, url, names, tmp_path, tag="g").start()
    try:
        produce(broker, topic, as_messages(batches[0], envelope=5))
        wait_for(done, timeout=120, what="the first part")
        time.sleep(2)  # Kafka offsets committed (every second)
        after_a = _snapshot(url, names.key_prefix)
        produce(broker, topic, as_messages(batches[1], envelope=5))
        wait_for(done, timeout=120, what="the second part")
        time.sleep(2)
        _restore(url, names.key_prefix, after_a)  # the store lost B, the worker runs on
        produce(broker, topic, as_messages(batches[2], envelope=5))
        wait_for(done, timeout=120, what="the third part, after the store lost the second")
        time.sleep(2)
        after_c = _snapshot(url, names.key_prefix)
        produce(broker, topic, as_messages(batches[3], envelope=5))
        wait_for(done, timeout=120, what="the fourth part")
        time.sleep(2)
        worker.kill()
        _restore(url, names.key_prefix, after_c)  # the store lost D while no worker ran
        worker = Worker(broker, url, names, tmp_path, tag="g").start()
        wait_for(done, timeout=120, what="the restarted worker to catch up again")
        time.sleep(2)
    finally:
        worker.stop()
    assert_matches_truth(url, names, [e for part in batches for e in part])
