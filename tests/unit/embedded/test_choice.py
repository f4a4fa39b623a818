"""Which embedded broker is started: the setting, the environment of bench and chaos, and bad values."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from signal_monitor.config.settings import Settings
from signal_monitor.embedded import EmbeddedKafka, EmbeddedTansu, default_broker_kind, embedded_broker
from signal_monitor.embedded.kafka import KAFKA_POM, kafka_home, kafka_version
from signal_monitor.errors import EmbeddedServiceError


def test_settings_default_to_tansu_and_take_kafka(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SM_EMBEDDED_BROKER", raising=False)
    assert Settings(_env_file=None).embedded_broker == "tansu"  # type: ignore[call-arg]
    monkeypatch.setenv("SM_EMBEDDED_BROKER", "kafka")
    assert Settings(_env_file=None).embedded_broker == "kafka"  # type: ignore[call-arg]


def test_settings_refuse_an_unknown_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_EMBEDDED_BROKER", "redpanda")
    with pytest.raises(ValidationError, match="embedded_broker"):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_embedded_broker_builds_the_kind_asked_for(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert isinstance(embedded_broker("kafka", tmp_path), EmbeddedKafka)
    assert isinstance(embedded_broker("tansu", tmp_path), EmbeddedTansu)
    with pytest.raises(EmbeddedServiceError, match="choose kafka or tansu"):
        embedded_broker("zookeeper", tmp_path)  # type: ignore[arg-type]


def test_bench_and_chaos_follow_the_environment_then_java(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("SM_EMBEDDED_BROKER", "tansu")
    assert default_broker_kind() == "tansu"
    monkeypatch.setenv("SM_EMBEDDED_BROKER", "Kafka")
    assert default_broker_kind() == "kafka"
    monkeypatch.setenv("SM_EMBEDDED_BROKER", "nats")
    with pytest.raises(EmbeddedServiceError, match="nats"):
        default_broker_kind()
    monkeypatch.delenv("SM_EMBEDDED_BROKER")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java, no mvn
    monkeypatch.setenv("SM_KAFKA_HOME", str(tmp_path / "none"))
    assert default_broker_kind() == "tansu"


def test_the_pinned_version_is_a_kafka_4_and_names_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    assert kafka_version().split(".")[0] == "4"
    assert "kafka_2.13" in KAFKA_POM.read_text() and "log4j-slf4j-impl" in KAFKA_POM.read_text()
    monkeypatch.delenv("SM_KAFKA_HOME", raising=False)
    assert kafka_home().name == f"kafka-{kafka_version()}"
    monkeypatch.setenv("SM_KAFKA_HOME", "/opt/k")
    assert str(kafka_home()) == "/opt/k"
