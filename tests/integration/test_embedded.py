"""The embedded broker and Redis start, work and stop cleanly; ensure_services picks and checks services."""

from __future__ import annotations

import itertools
import logging
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

from signal_monitor.config.settings import Settings
from signal_monitor.embedded import (
    EmbeddedKafka,
    EmbeddedRedis,
    EmbeddedTansu,
    ensure_services,
    free_port,
    kafka_answers,
)
from signal_monitor.embedded.kafka import kafka_version
from signal_monitor.embedded.process import tcp_open
from signal_monitor.state.connect import redis_answers
from signal_monitor.errors import EmbeddedServiceError


def _gone(pid: int) -> bool:
    """Whether no process ``pid`` and no process group ``pid`` exist any more."""
    for probe in (os.kill, os.killpg):
        try:
            probe(pid, 0)
        except ProcessLookupError:
            continue
        return False
    return True


def _read(bootstrap: str, topic: str, partition: int, *, timeout_ms: int = 20_000) -> list[Any]:
    """The first record of ``topic[partition]``, read from the earliest offset (an empty list if none came)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=timeout_ms)
    try:
        consumer.assign([TopicPartition(topic, partition)])
        return list(itertools.islice(consumer, 1))
    finally:
        consumer.close()


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


# --- the broker --------------------------------------------------------------------------


def test_broker_topic_with_four_partitions_round_trip(broker: str) -> None:
    topic = f"smtest.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=broker, request_timeout_ms=5000)
    try:
        admin.create_topics([NewTopic(name=topic, num_partitions=4, replication_factor=1)])
        (described,) = admin.describe_topics([topic])
        assert len(described["partitions"]) == 4
    finally:
        admin.close()

    producer = KafkaProducer(bootstrap_servers=broker)
    try:
        producer.send(topic, key=b"AAPL", value=b'{"qty": 100}', partition=3).get(timeout=10)
    finally:
        producer.close()

    records = _read(broker, topic, 3)
    assert [(r.partition, r.key, r.value) for r in records] == [(3, b"AAPL", b'{"qty": 100}')]


def test_tansu_topic_round_trip(tansu_broker: str) -> None:
    test_broker_topic_with_four_partitions_round_trip(tansu_broker)


def test_tansu_stop_leaves_no_process(tmp_path: Path) -> None:
    with EmbeddedTansu(tmp_path) as server:
        pid = server.pid
        assert pid is not None and server.running
        host, port = server.bootstrap.split(":")
        assert host == "127.0.0.1" and int(port) != 9092
        assert os.getpgid(pid) == pid  # its own process group
        assert kafka_answers(server.bootstrap)
    assert not server.running
    assert _gone(pid)
    assert not tcp_open("127.0.0.1", int(port))
    assert (tmp_path / "tansu.log").stat().st_size > 0
    server.stop()  # idempotent


def test_tansu_that_cannot_start_raises_with_the_log_tail(tmp_path: Path) -> None:
    fake = tmp_path / "fake-tansu"
    fake.write_text("#!/bin/sh\necho 'cannot open storage: disk on fire' >&2\nexit 3\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    with pytest.raises(EmbeddedServiceError, match="disk on fire") as caught:
        EmbeddedTansu(tmp_path, binary=str(fake), start_timeout=5).start()
    assert "exited with code 3" in str(caught.value)


def test_session_broker_is_apache_kafka_of_the_pinned_version(kafka_broker: EmbeddedKafka) -> None:
    assert kafka_broker.label == f"apache-kafka {kafka_version()}"
    assert kafka_version().startswith("4.")
    assert "Kafka Server started" in kafka_broker.log_path.read_text()
    assert (kafka_broker.log_dir / "meta.properties").is_file()  # KRaft storage formatted on disk


def test_kafka_killed_comes_back_on_the_same_port_with_its_log(tmp_path: Path) -> None:
    topic = f"smtest.{uuid.uuid4().hex[:8]}"
    with EmbeddedKafka(tmp_path) as server:
        pid, bootstrap = server.pid, server.bootstrap
        assert pid is not None and os.getpgid(pid) == pid  # its own process group
        producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
        try:
            producer.send(topic, key=b"k", value=b"before the kill", partition=0).get(timeout=30)
        finally:
            producer.close()
        server.kill()
        assert _gone(pid)
        assert not kafka_answers(bootstrap, timeout=1.0)
        server.start()
        assert server.bootstrap == bootstrap and server.pid != pid
        assert [r.value for r in _read(bootstrap, topic, 0)] == [b"before the kill"]
    assert not server.running and not tcp_open("127.0.0.1", int(bootstrap.split(":")[1]))


def test_a_new_kafka_in_the_workdir_of_a_killed_one_starts_empty(tmp_path: Path) -> None:
    topic = f"smtest.{uuid.uuid4().hex[:8]}"
    first = EmbeddedKafka(tmp_path).start()
    try:
        producer = KafkaProducer(bootstrap_servers=first.bootstrap, acks="all")
        try:
            producer.send(topic, value=b"left behind", partition=0).get(timeout=30)
        finally:
            producer.close()
    finally:
        first.kill()  # as a run killed without its clean-up leaves it
    with EmbeddedKafka(tmp_path) as second:  # other ports: the old metadata names a controller nobody runs
        assert kafka_answers(second.bootstrap)
        consumer = KafkaConsumer(bootstrap_servers=second.bootstrap)
        try:
            assert topic not in consumer.topics()
        finally:
            consumer.close()


def test_kafka_in_a_relative_workdir_starts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # make demo passes .run/demo/services/kafka
    with EmbeddedKafka(Path("run") / "kafka") as server:
        assert kafka_answers(server.bootstrap)
    assert (tmp_path / "run" / "kafka" / "logs" / "meta.properties").is_file()


def test_kafka_formats_a_cluster_id_that_starts_with_a_dash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import signal_monitor.embedded.kafka as kafka_module

    monkeypatch.setattr(kafka_module, "new_cluster_id", lambda: "-194nIoCQq6cw8TGTTHpLg")  # 1 id in 64 does
    with EmbeddedKafka(tmp_path) as server:
        assert kafka_answers(server.bootstrap)
    assert "cluster.id=-194nIoCQq6cw8TGTTHpLg" in (tmp_path / "logs" / "meta.properties").read_text()


def test_kafka_without_java_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(EmbeddedServiceError, match="needs Java 17.*SM_EMBEDDED_BROKER=tansu"):
        EmbeddedKafka(tmp_path).start()


# --- Redis -------------------------------------------------------------------------------


def test_embedded_redis_restart_keeps_aof_data_on_the_same_port(own_redis: EmbeddedRedis) -> None:
    port, url = own_redis.port, own_redis.url
    client = redis.Redis.from_url(url)
    try:
        client.hset("sector:tech", mapping={"flow": "1250.5"})
        old_pid = own_redis.pid
        own_redis.stop()
        assert not redis_answers(url)
        own_redis.start()
        assert (own_redis.port, own_redis.url) == (port, url)
        assert own_redis.pid != old_pid
        assert client.hget("sector:tech", "flow") == b"1250.5"
        own_redis.restart()
        assert own_redis.port == port
        assert client.hgetall("sector:tech") == {b"flow": b"1250.5"}
    finally:
        client.close()


def test_embedded_redis_defaults_to_no_persistence(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        client = redis.Redis.from_url(server.url)
        try:
            assert client.config_get("appendonly") == {"appendonly": "no"}
            assert client.config_get("save") == {"save": ""}
            assert client.config_get("bind")["bind"] == "127.0.0.1"
        finally:
            client.close()
        pid = server.pid
        assert pid is not None
    assert _gone(pid)


# --- ensure_services ---------------------------------------------------------------------


def test_ensure_services_uses_configured_services(broker: str, redis_url: str, tmp_path: Path) -> None:
    settings = _settings(kafka_bootstrap=broker, redis_url=redis_url)
    with ensure_services(settings, workdir=tmp_path) as (bootstrap, url):
        assert (bootstrap, url) == (broker, redis_url)
    assert not any(tmp_path.iterdir())  # nothing embedded was started


def test_ensure_services_fails_clearly_on_unreachable_redis(broker: str, tmp_path: Path) -> None:
    port = free_port()
    settings = _settings(kafka_bootstrap=broker, redis_url=f"redis://:hunter2@127.0.0.1:{port}/0")
    with pytest.raises(EmbeddedServiceError) as caught, ensure_services(settings, workdir=tmp_path):
        pytest.fail("must not yield")
    message = str(caught.value)
    assert f"redis://:***@127.0.0.1:{port}/0" in message
    assert "hunter2" not in message


def test_ensure_services_fails_clearly_on_unreachable_kafka(tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    settings = _settings(kafka_bootstrap=address)
    with pytest.raises(EmbeddedServiceError, match=address), ensure_services(settings, workdir=tmp_path):
        pytest.fail("must not yield")


@pytest.mark.parametrize("kind", ["tansu", "kafka"])
def test_ensure_services_starts_what_is_missing_and_stops_only_that(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="signal_monitor.embedded")
    settings = _settings(kafka_bootstrap="", redis_url="", embedded_broker=kind)
    with ensure_services(settings, workdir=tmp_path) as (bootstrap, url):
        assert (tmp_path / kind).is_dir()
        assert kafka_answers(bootstrap)
        assert redis_answers(url)
    assert not kafka_answers(bootstrap, timeout=1.0)
    if url == "redis://127.0.0.1:6379/0":
        assert redis_answers(url)  # the shared Redis was used, not stopped
    else:
        assert not redis_answers(url)
    assert any("embedded broker" in record.getMessage() for record in caplog.records)
