"""Settings from the environment: variable names, secrets kept out of output, invalid values refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from signal_monitor.config.settings import DEFAULT_RULES_PATH, Settings

PLAIN = ("KAFKA_BOOTSTRAP", "REDIS_URL", "REDIS_PASSWORD", "SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "SLACK_CHANNEL")
SECRETS = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/webhook-S3CRET-1",
    "SLACK_BOT_TOKEN": "xoxb-bot-S3CRET-2",
    "REDIS_PASSWORD": "redis-pw-S3CRET-3",
    "KAFKA_SASL_PASSWORD": "sasl-pw-S3CRET-4",
}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start every test from an environment without any of the monitor's variables."""
    for name in list(os.environ):
        if name.startswith("SM_") or name.startswith("KAFKA_") or name in PLAIN:
            monkeypatch.delenv(name, raising=False)


def test_defaults() -> None:
    s = Settings()
    assert s.kafka_bootstrap == ""
    assert s.redis_url == ""
    assert s.redis_password is None and s.slack_webhook_url is None and s.slack_bot_token is None
    assert s.kafka_sasl_password is None
    assert s.batch_max == 2000
    assert s.lateness_days == 7.0
    assert s.topic_prefix == "signals"
    assert s.key_prefix == "sm"
    assert s.rules_path == DEFAULT_RULES_PATH
    assert s.topic("trades") == "signals.trades"


def test_the_future_allowance_is_minutes_and_at_most_an_hour(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().future_s == 300.0
    monkeypatch.setenv("SM_FUTURE_S", "3600")
    assert Settings().future_s == 3600.0
    monkeypatch.setenv("SM_FUTURE_S", "86400")
    with pytest.raises(ValidationError, match="future_s"):
        Settings()


def test_env_names_land_in_fields(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "k1:9092,k2:9092")
    monkeypatch.setenv("REDIS_URL", "rediss://redis.internal:6380/2")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", SECRETS["SLACK_WEBHOOK_URL"])
    monkeypatch.setenv("SLACK_BOT_TOKEN", SECRETS["SLACK_BOT_TOKEN"])
    monkeypatch.setenv("SLACK_CHANNEL", "#desk-signals")
    monkeypatch.setenv("REDIS_PASSWORD", SECRETS["REDIS_PASSWORD"])
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "monitor")
    monkeypatch.setenv("KAFKA_SASL_PASSWORD", SECRETS["KAFKA_SASL_PASSWORD"])
    monkeypatch.setenv("SM_BATCH_MAX", "500")
    monkeypatch.setenv("SM_BATCH_WITHIN_S", "0.05")
    monkeypatch.setenv("SM_LATENESS_DAYS", "3.5")
    monkeypatch.setenv("SM_IDLE_PARTITION_S", "45")
    monkeypatch.setenv("SM_TOPIC_PREFIX", "desk")
    monkeypatch.setenv("SM_KEY_PREFIX", "smprod")
    monkeypatch.setenv("SM_RULES_ENABLED", "false")
    monkeypatch.setenv("SM_RULES_PATH", "/etc/sm/rules.yaml")
    monkeypatch.setenv("SM_WORKER_ID", "w-7")
    s = Settings()
    assert s.kafka_bootstrap == "k1:9092,k2:9092"
    assert s.redis_url == "rediss://redis.internal:6380/2"
    assert s.slack_webhook_url is not None
    assert s.slack_webhook_url.get_secret_value() == SECRETS["SLACK_WEBHOOK_URL"]
    assert s.slack_bot_token is not None and s.slack_bot_token.get_secret_value() == SECRETS["SLACK_BOT_TOKEN"]
    assert s.slack_channel == "#desk-signals"
    assert s.redis_password is not None and s.redis_password.get_secret_value() == SECRETS["REDIS_PASSWORD"]
    assert s.kafka_security_protocol == "SASL_SSL"
    assert s.kafka_sasl_username == "monitor"
    assert s.kafka_sasl_password is not None
    assert s.kafka_sasl_password.get_secret_value() == SECRETS["KAFKA_SASL_PASSWORD"]
    assert s.batch_max == 500
    assert s.batch_within_s == 0.05
    assert s.lateness_days == 3.5
    assert s.idle_partition_s == 45.0
    assert s.topic_prefix == "desk" and s.topic("quotes") == "desk.quotes"
    assert s.key_prefix == "smprod"
    assert s.rules_enabled is False
    assert s.rules_path == Path("/etc/sm/rules.yaml")
    assert s.worker_id == "w-7"


def test_connection_variables_also_take_the_sm_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SM_KAFKA_BOOTSTRAP", "k9:9092")
    monkeypatch.setenv("SM_REDIS_URL", "redis://r9:6379/0")
    s = Settings()
    assert s.kafka_bootstrap == "k9:9092"
    assert s.redis_url == "redis://r9:6379/0"


def test_secrets_never_appear_in_output(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    s = Settings()
    outputs = {
        "repr": repr(s),
        "str": str(s),
        "json": s.model_dump_json(),
        "dump": str(s.model_dump()),
        "fields": " ".join(f"{k}={getattr(s, k)!s} {getattr(s, k)!r}" for k in Settings.model_fields),
    }
    for where, text in outputs.items():
        for value in SECRETS.values():
            assert value not in text, f"{value} in {where}"
            assert "S3CRET" not in text, where
    # they are set, just masked
    assert "**********" in outputs["json"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("SM_BATCH_MAX", "0"),
        ("SM_BATCH_MAX", "-5"),
        ("SM_BATCH_MAX", "lots"),
        ("SM_BATCH_WITHIN_S", "0"),
        ("SM_LATENESS_DAYS", "-1"),
        ("SM_IDLE_PARTITION_S", "0"),
        ("SM_TOPIC_PARTITIONS", "0"),
        ("SM_DEDUP_TTL_DAYS", "0"),
        ("SM_REDIS_RETRY_MAX_S", "0"),
        ("KAFKA_SECURITY_PROTOCOL", "TLS"),
        ("KAFKA_SASL_MECHANISM", "MD5"),
        ("SM_RULES_ENABLED", "maybe"),
    ],
)
def test_invalid_values_raise(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize("value", ["0", "-1"])
def test_non_positive_max_message_bytes_raises(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("SM_MAX_MESSAGE_BYTES", value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("name", "room"), [("SM_SLACK_SILENCE_URL", 2990), ("SM_DOCS_URL", 2960)]
)
def test_a_button_url_is_empty_or_http_without_spaces_and_leaves_slack_room(
    monkeypatch: pytest.MonkeyPatch, name: str, room: int
) -> None:
    field = name.removeprefix("SM_").lower()
    for good in ("", "https://monitor.example.com/silences/new", "http://h/" + "x" * (room - 2)):
        monkeypatch.setenv(name, good)
        assert getattr(Settings(), field) == good
    for bad in ("monitor.example.com/silences", "ftp://h/x", "https://", "https://h/a b", "https://h/\tx",
                "https://h/" + "x" * (room - 1)):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ValidationError, match=field):
            Settings()
