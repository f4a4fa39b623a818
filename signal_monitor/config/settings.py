"""Settings of the monitor: one pydantic-settings class, read from the environment.

Each field names its environment variable. Well-known connection variables
(``KAFKA_BOOTSTRAP``, ``REDIS_URL``, ``SLACK_*``) have no prefix; everything
else is ``SM_<FIELD>``. Secrets are ``SecretStr`` and never printed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import AfterValidator, AliasChoices, Field, SecretStr, field_serializer
from pydantic_settings import BaseSettings, SettingsConfigDict

from signal_monitor.redaction import redact_url

def _button_url(room: int) -> Callable[[str], str]:
    """Return a check of a URL a Slack button opens: empty, or http(s):// and at most ``room`` more
    characters, none of them whitespace (Slack takes 3000; the rest is left for what is appended).

    A function, not a ``pattern``: a regular expression with a bounded repetition this long compiles
    to an automaton of tens of MiB that every worker would keep.
    """

    def check(value: str) -> str:
        if not value:
            return value
        scheme = "https://" if value.startswith("https://") else "http://" if value.startswith("http://") else ""
        rest = value[len(scheme):]
        if not scheme or not 0 < len(rest) <= room or any(c.isspace() for c in rest):
            raise ValueError(f"expected an http(s):// URL without spaces, at most {room} characters after the scheme")
        return value

    return check


DEFAULT_RULES_PATH = Path(__file__).with_name("rules.yaml")
DEFAULT_ROUTES_PATH = Path(__file__).with_name("routes.yaml")


def _env(name: str) -> AliasChoices:
    return AliasChoices(name, f"SM_{name}")


class Settings(BaseSettings):
    """Every setting of a worker, with its environment variable and default."""

    model_config = SettingsConfigDict(env_prefix="SM_", extra="ignore", populate_by_name=True)

    # --- connections -------------------------------------------------------------
    kafka_bootstrap: str = Field(
        "",
        validation_alias=_env("KAFKA_BOOTSTRAP"),
        description="KAFKA_BOOTSTRAP: host:port[,host:port]. Empty: start the embedded broker.",
    )
    embedded_broker: Literal["tansu", "kafka"] = Field(
        "tansu",
        description=(
            "SM_EMBEDDED_BROKER: the broker started when KAFKA_BOOTSTRAP is empty: tansu (no Java, memory "
            "storage) or kafka (Apache Kafka from Maven Central jars, KRaft, logs on disk; needs Java 17)."
        ),
    )
    redis_url: str = Field(
        "",
        repr=False,  # may hold a password
        validation_alias=_env("REDIS_URL"),
        description="REDIS_URL: redis:// or rediss:// URL. Empty: 127.0.0.1:6379 if it answers, else an embedded redis-server.",
    )
    redis_password: SecretStr | None = Field(
        None, validation_alias=_env("REDIS_PASSWORD"), description="REDIS_PASSWORD, when not in the URL."
    )
    redis_cluster: bool | None = Field(
        None, validation_alias=_env("REDIS_CLUSTER"),
        description="REDIS_CLUSTER: true for a Redis Cluster, false for one server; unset: ask the server (INFO cluster) at start-up.",
    )
    redis_ssl_ca_file: str = Field(
        "", validation_alias=_env("REDIS_SSL_CA_FILE"),
        description="REDIS_SSL_CA_FILE: CA bundle that signed the server's certificate (rediss://); empty: the system CAs.",
    )
    redis_ssl_cert_reqs: Literal["required", "optional", "none"] = Field(
        "required", validation_alias=_env("REDIS_SSL_CERT_REQS"),
        description="REDIS_SSL_CERT_REQS: required verifies the server's certificate and hostname; none only encrypts (a test bench).",
    )
    redis_ssl_certfile: str = Field(
        "", validation_alias=_env("REDIS_SSL_CERTFILE"),
        description="REDIS_SSL_CERTFILE: client certificate, for a server that asks for one (tls-auth-clients yes).",
    )
    redis_ssl_keyfile: str = Field("", validation_alias=_env("REDIS_SSL_KEYFILE"), description="REDIS_SSL_KEYFILE: its key.")
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", validation_alias=_env("KAFKA_SECURITY_PROTOCOL")
    )
    kafka_session_timeout_s: float = Field(
        30.0, gt=0, validation_alias=_env("KAFKA_SESSION_TIMEOUT_S"),
        description=(
            "SM_KAFKA_SESSION_TIMEOUT_S: a worker silent this long leaves the consumer group. The broker "
            "accepts group.min.session.timeout.ms to group.max.session.timeout.ms (Apache Kafka: 6 s to 30 min)."
        ),
    )
    kafka_rebalance_timeout_s: float = Field(
        10.0, gt=0, validation_alias=_env("KAFKA_REBALANCE_TIMEOUT_S"),
        description="SM_KAFKA_REBALANCE_TIMEOUT_S: how long a rebalance waits for members to rejoin.",
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "SCRAM-SHA-512", validation_alias=_env("KAFKA_SASL_MECHANISM")
    )
    kafka_sasl_username: str = Field("", validation_alias=_env("KAFKA_SASL_USERNAME"))
    kafka_sasl_password: SecretStr | None = Field(None, validation_alias=_env("KAFKA_SASL_PASSWORD"))
    kafka_ssl_cafile: str = Field(
        "", validation_alias=_env("KAFKA_SSL_CAFILE"),
        description="KAFKA_SSL_CAFILE: CA bundle that signed the brokers' certificates (SSL, SASL_SSL); empty: the system CAs.",
    )
    kafka_ssl_certfile: str = Field(
        "", validation_alias=_env("KAFKA_SSL_CERTFILE"),
        description="KAFKA_SSL_CERTFILE: client certificate, for brokers that require mutual TLS.",
    )
    kafka_ssl_keyfile: str = Field("", validation_alias=_env("KAFKA_SSL_KEYFILE"), description="KAFKA_SSL_KEYFILE: its key.")
    kafka_ssl_check_hostname: bool = Field(
        True, validation_alias=_env("KAFKA_SSL_CHECK_HOSTNAME"),
        description="KAFKA_SSL_CHECK_HOSTNAME: check that a broker's certificate names the host dialled.",
    )

    # --- Slack ---------------------------------------------------------------------
    slack_webhook_url: SecretStr | None = Field(None, validation_alias=_env("SLACK_WEBHOOK_URL"))
    slack_bot_token: SecretStr | None = Field(None, validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_channel: str = Field("", validation_alias=_env("SLACK_CHANNEL"))
    slack_api_url: str = Field("https://slack.com/api/", description="SM_SLACK_API_URL: the Web API base URL.")
    slack_pace_s: float = Field(1.0, ge=0, description="SM_SLACK_PACE_S: at least this long between messages of a channel.")
    slack_timeout_s: float = Field(10.0, gt=0, description="SM_SLACK_TIMEOUT_S: longest wait for Slack's answer.")
    dashboard_url: str = Field(
        "", description=(
            "SM_DASHBOARD_URL: the dashboard's public base URL (https://monitor.desk.example); a webhook's "
            "message links the alert's chart there. Empty: no link."
        ),
    )
    slack_silence_url: Annotated[str, AfterValidator(_button_url(2990))] = Field(
        "",
        description="SM_SLACK_SILENCE_URL: the page a message's 'How to silence' button opens (a silence page).",
    )
    docs_url: Annotated[str, AfterValidator(_button_url(2960))] = Field(
        "",
        description="SM_DOCS_URL: where docs/ is published; without a silence page the button opens slack.md#silences.",
    )

    # --- delivery ------------------------------------------------------------------
    delivery_enabled: bool = Field(True, description="SM_DELIVERY_ENABLED: route alerts to receivers (Slack, console).")
    routes_path: Path = Field(DEFAULT_ROUTES_PATH, description="SM_ROUTES_PATH: the routing tree (YAML).")
    delivery_retry_base_s: float = Field(1.0, gt=0, description="SM_DELIVERY_RETRY_BASE_S: first retry delay.")
    delivery_retry_max_s: float = Field(300.0, gt=0, description="SM_DELIVERY_RETRY_MAX_S: longest retry delay.")
    delivery_max_attempts: int = Field(12, ge=1, description="SM_DELIVERY_MAX_ATTEMPTS: then the message is parked.")
    delivery_lease_s: float = Field(30.0, gt=0, description="SM_DELIVERY_LEASE_S: a worker's hold on a channel's queue.")
    delivery_claim_ttl_days: float = Field(
        14.0, gt=0, description="SM_DELIVERY_CLAIM_TTL_DAYS: how long an alert's dedup key blocks a second post."
    )

    # --- the app -------------------------------------------------------------------
    app_id: str = Field("signal-monitor", description="SM_APP_ID: Faust app id, also the consumer group.")
    worker_id: str = Field("", description="SM_WORKER_ID: defaults to host:pid.")
    topic_prefix: str = Field("signals", description="SM_TOPIC_PREFIX: topics are <prefix>.trades and so on.")
    topic_partitions: int = Field(4, ge=1, description="SM_TOPIC_PARTITIONS: partitions of input topics when created.")
    topic_replication: int = Field(1, ge=1, description="SM_TOPIC_REPLICATION: replication factor when created.")
    key_prefix: str = Field("sm", description="SM_KEY_PREFIX: prefix of every Redis key.")
    web_host: str = Field("127.0.0.1", description="SM_WEB_HOST: the worker's web server binds here.")
    web_port: int = Field(6066, description="SM_WEB_PORT: the worker's web server port.")
    web_enabled: bool = Field(False, description="SM_WEB_ENABLED: serve the worker's web endpoints.")
    data_dir: Path = Field(Path(".run"), description="SM_DATA_DIR: Faust data directory and embedded service files.")

    # --- the stream ----------------------------------------------------------------
    batch_max: int = Field(
        2000, ge=1,
        description="SM_BATCH_MAX: most messages queued per input topic and taken as one batch (one Redis call a partition).",
    )
    batch_within_s: float = Field(
        0.1, gt=0, le=10,
        description="SM_BATCH_WITHIN_S: longest the broker holds a fetch of a quiet partition; a batch is what arrived by then.",
    )
    buffer_mb: float = Field(
        4.0, gt=0, description="SM_BUFFER_MB: message bytes queued ahead of the agents before the consumer waits."
    )
    malloc_threshold_kib: int = Field(
        0,
        ge=0,
        le=32768,
        description="SM_MALLOC_THRESHOLD_KIB: a worker's allocations of this size and more are mapped on their own and "
        "returned to the system when freed (glibc): less memory kept for more CPU; 0 keeps malloc's defaults.",
    )
    lateness_days: float = Field(
        7.0, ge=0, description="SM_LATENESS_DAYS: events older than the partition's newest by more go to the DLQ."
    )
    future_s: float = Field(
        300.0,
        gt=0,
        le=3600,
        description=(
            "SM_FUTURE_S: events stamped further ahead of the wall clock go to the DLQ (at most an hour: "
            "the closer's watermark never passes the wall clock, so a period waits for its close in any case)."
        ),
    )
    close_grace_s: float = Field(
        300.0, ge=0, description="SM_CLOSE_GRACE_S: event-time wait after a period's end before it is closed."
    )
    idle_partition_s: float = Field(
        120.0, gt=0, description="SM_IDLE_PARTITION_S: a partition silent this long no longer holds the watermark back."
    )
    max_message_bytes: int = Field(1024 * 1024, ge=1024, description="SM_MAX_MESSAGE_BYTES: larger messages go to the DLQ.")
    dedup_ttl_days: float = Field(14.0, gt=0, description="SM_DEDUP_TTL_DAYS: how long a trade_id is remembered.")
    history_years: int = Field(5, ge=1, description="SM_HISTORY_YEARS: state older than this is trimmed.")
    redis_retry_max_s: float = Field(30.0, gt=0, description="SM_REDIS_RETRY_MAX_S: longest pause between Redis retries.")
    status_interval_s: float = Field(10.0, gt=0, description="SM_STATUS_INTERVAL_S: seconds between status records.")

    # --- rules ---------------------------------------------------------------------
    rules_path: Path = Field(DEFAULT_RULES_PATH, description="SM_RULES_PATH: the rule file (YAML).")
    rules_enabled: bool = Field(True, description="SM_RULES_ENABLED: run the rules when periods close.")
    provisional_enabled: bool = Field(
        True, description="SM_PROVISIONAL_ENABLED: evaluate the provisional rules on the running week."
    )
    provisional_every_s: float = Field(
        300.0,
        ge=0,
        description="SM_PROVISIONAL_EVERY_S: seconds between evaluations of the running week, besides one after "
        "each day's close (0: only after the day closes).",
    )

    @field_serializer("redis_url", when_used="json")
    def _redact_redis_url(self, url: str) -> str:
        """Write REDIS_URL without its password (``repr`` leaves the field out altogether)."""
        return redact_url(url)

    def topic(self, name: str) -> str:
        """Return the full topic name of ``name`` (``trades`` -> ``signals.trades``)."""
        return f"{self.topic_prefix}.{name}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings, read once from the environment."""
    return Settings()
