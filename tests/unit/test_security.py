"""Security: no secret in logs, status, dead letters or exceptions; templates cannot run code;
the web server binds 127.0.0.1 unless configured; Kafka and Redis TLS/SASL options are built right.

Secrets are configured with marker values and every text the monitor produces is
grepped for them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import shutil
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import faust
import pytest
import redis.asyncio as aioredis
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from faust.types.auth import AuthProtocol, SASLMechanism
from pydantic import BaseModel

from signal_monitor.agents.ingest import Ingestor, Record
from signal_monitor.config.settings import Settings
from signal_monitor.redaction import redact_url
from signal_monitor.errors import ConfigError, RuleFileError
from signal_monitor.rules.engine import RuleEngine
from signal_monitor.rules.model import load_rules, parse_rules
from signal_monitor.security import (
    faust_broker_credentials,
    kafka_ssl_context,
    redis_ssl_kwargs,
    redis_tls_kwargs,
)
from signal_monitor.state.connect import redis_client
from signal_monitor.state.memory import MemoryState
from signal_monitor.state.redis import RedisState
from signal_monitor.streams.events import DeadLetter
from signal_monitor.streams.topics import kafka_client_options

MARKERS = {
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/MARKERwebhook7f3a",
    "SLACK_BOT_TOKEN": "xoxb-MARKERbottoken91c2",
    "REDIS_PASSWORD": "MARKERredispw55e1",
    "KAFKA_SASL_PASSWORD": "MARKERsaslpw08d4",
}
URL_PASSWORD = "MARKERurlpw3b6c"
#: The parts of the secrets a leak would show (a webhook URL's path is its secret).
NEEDLES = ("MARKERwebhook7f3a", "MARKERbottoken91c2", "MARKERredispw55e1", "MARKERsaslpw08d4", URL_PASSWORD)
CLOSED_PORT = 1  # nothing listens on port 1: connections are refused at once


def leaks(text: str) -> list[str]:
    """Return the secret markers found in ``text``."""
    return [n for n in NEEDLES if n in text]


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Settings:
    """Settings read from an environment holding every secret, Redis pointing at a closed port."""
    for name, value in MARKERS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("REDIS_URL", f"redis://monitor:{URL_PASSWORD}@127.0.0.1:{CLOSED_PORT}/0")
    monkeypatch.setenv("KAFKA_BOOTSTRAP", "127.0.0.1:9")
    monkeypatch.setenv("KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("KAFKA_SASL_USERNAME", "monitor")
    monkeypatch.setenv("SM_DATA_DIR", str(tmp_path / "data"))
    return Settings()


# --- (a) no secret in logs, status, dead letters or exceptions -------------------------------------


def test_settings_repr_and_str_hide_every_secret(secret_env: Settings) -> None:
    assert secret_env.redis_password is not None  # the markers were read
    assert secret_env.redis_password.get_secret_value() == MARKERS["REDIS_PASSWORD"]
    for text in (repr(secret_env), str(secret_env), f"{secret_env}"):
        assert not leaks(text), text


def test_settings_json_hides_every_secret_but_the_redis_url_password(secret_env: Settings) -> None:
    dumped = secret_env.model_dump_json()
    assert not [n for n in leaks(dumped) if n != URL_PASSWORD], dumped


def test_settings_json_hides_the_password_inside_redis_url(secret_env: Settings) -> None:
    dumped = json.loads(secret_env.model_dump_json())
    assert URL_PASSWORD not in dumped["redis_url"]
    assert dumped["redis_url"] == redact_url(secret_env.redis_url)


@pytest.mark.parametrize(
    "url",
    [
        f"redis://monitor:{URL_PASSWORD}@127.0.0.1:6379/0",
        f"rediss://:{URL_PASSWORD}@redis.internal:6380/0",
        f"redis://127.0.0.1:6379/0?password={URL_PASSWORD}",
        f"rediss://default:{URL_PASSWORD}@[::1]:6380/2?ssl_cert_reqs=required",
    ],
)
def test_redact_url_masks_the_password(url: str) -> None:
    masked = redact_url(url)
    assert URL_PASSWORD not in masked and "***" in masked


def test_redis_errors_and_the_connect_warning_name_no_secret(secret_env: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = redis_client(secret_env)  # asks INFO cluster: refused, logged, falls back to one server
    assert type(client) is aioredis.Redis
    state = RedisState(client, prefix="smtest:security")

    async def fail() -> BaseException:
        try:
            await state.ping()
        except Exception as exc:  # noqa: BLE001 - the point is to read it
            return exc
        finally:
            await state.close()
        raise AssertionError("a closed port answered")

    exc = asyncio.run(fail())
    assert not leaks(f"{exc!s} {exc!r} {exc.args!r}")
    assert "cannot ask" in caplog.text and "***" in caplog.text
    assert not leaks(caplog.text), caplog.text


def test_an_ingest_retrying_against_a_dead_redis_logs_no_secret(secret_env: Settings, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    async def run() -> None:
        state = RedisState(redis_client(secret_env, cluster=False), prefix="smtest:security")
        ing = Ingestor(state, topic="signals.trades", kind="trades", dead_letters=_discard, lateness_s=7 * 86400,
                       max_message_bytes=1024 * 1024, worker_id="w1", retry_max_s=0.05)
        try:
            await asyncio.wait_for(ing.handle([Record(0, 0, b'{"trade_id": "x"}')]), timeout=1.5)
        except TimeoutError:
            pass
        finally:
            await state.close()

    asyncio.run(run())
    assert "Redis unavailable" in caplog.text
    assert not leaks(caplog.text), caplog.text


async def _discard(letters: Sequence[DeadLetter]) -> None:
    return None


async def test_dead_letters_and_their_log_lines_hold_no_secret(secret_env: Settings, caplog: pytest.LogCaptureFixture) -> None:
    from signal_monitor.app import worker_id

    caplog.set_level(logging.DEBUG)
    letters: list[DeadLetter] = []

    async def sink(batch: Sequence[DeadLetter]) -> None:
        letters.extend(batch)

    ing = Ingestor(MemoryState(), topic="signals.trades", kind="trades", dead_letters=sink, lateness_s=7 * 86400,
                   max_message_bytes=2048, worker_id=worker_id(secret_env))
    bad = [b"", b"{", b"[1, {}]", b'{"ts": "2025-06-04T14:00:00"}', b"\xff" * 10, b"x" * 4096,
           json.dumps({"trade_id": "t", "ts": "2025-06-04T14:00:00Z", "quantity": float("nan")}).encode()]
    await ing.handle([Record(0, i, value) for i, value in enumerate(bad)])
    assert len(letters) == len(bad) + 1
    for letter in letters:
        assert not leaks(letter.model_dump_json())
    assert not leaks(caplog.text)


def test_rule_file_errors_quote_no_secret(secret_env: Settings, tmp_path: Path) -> None:
    """Errors name the file, the rule and the field; a secret pasted into the file is not echoed."""
    webhook = MARKERS["SLACK_WEBHOOK_URL"]
    bad_files = {
        "syntax": f"rules:\n  - id: a\n    labels: {{hook: {webhook}}}\n    description: [unclosed\n",
        "field": f"rules:\n  - id: a\n    description: d\n    metric: net_buying\n    period: week\n"
                 f"    labels: {{hook: '{webhook}'}}\n    kind: streak\n    params: {{condition: sideways}}\n",
        "unknown": f"rules:\n  - id: a\n    description: d\n    metric: net_buying\n    period: month\n"
                   f"    labels: {{token: '{MARKERS['SLACK_BOT_TOKEN']}'}}\n    kind: streak\n",
        "python": "rules: !!python/object/apply:os.system ['echo pwned']\n",
    }
    for name, text in bad_files.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        with pytest.raises(RuleFileError) as info:
            load_rules(path)
        assert not leaks(f"{info.value!s} {info.value!r} {info.value.message}"), (name, str(info.value))
    with pytest.raises(RuleFileError) as missing:
        load_rules(tmp_path / "nope.yaml")
    assert not leaks(str(missing.value))


def test_sasl_credentials_never_show_the_password(secret_env: Settings) -> None:
    creds = faust_broker_credentials(secret_env)
    assert isinstance(creds, faust.SASLCredentials)
    assert not leaks(f"{creds!r} {creds!s}")
    with pytest.raises(ConfigError) as info:
        faust_broker_credentials(secret_env.model_copy(update={"kafka_sasl_username": ""}))
    assert not leaks(str(info.value))


def test_the_status_encoder_masks_every_configured_secret(secret_env: Settings) -> None:
    publisher = pytest.importorskip("signal_monitor.status.publisher")

    class Record(BaseModel):
        error: str
        detail: dict[str, str]

    secrets = publisher.secret_values(secret_env)
    slipped = Record(error=f"boom {MARKERS['REDIS_PASSWORD']} at {secret_env.redis_url}",
                     detail={"hook": MARKERS["SLACK_WEBHOOK_URL"], "sasl": MARKERS["KAFKA_SASL_PASSWORD"],
                             "token": MARKERS["SLACK_BOT_TOKEN"]})
    assert not leaks(publisher.encode(slipped, secrets).decode())


# --- (b) message templates cannot run code ------------------------------------------------------------

RULE = """
rules:
  - id: hf_net_buying_streak
    description: Hedge funds net bought for 2 weeks.
    metric: net_buying
    period: week
    scope: {{fund_type: hedge_fund}}
    kind: streak
    params: {{condition: gt, level: 0, min_count: 2}}
    message: {message}
"""


@pytest.mark.parametrize("message", ["'${__class__}'", "'$__import__'", "'${text.__globals__}'", "'$$ ${0}'"])
def test_a_template_reaching_for_internals_is_refused_at_load(message: str) -> None:
    with pytest.raises(RuleFileError) as info:
        parse_rules(RULE.format(message=message), "rules.yaml")
    assert info.value.field == "message"


async def test_format_and_attribute_syntax_renders_literally() -> None:
    template = "{0.__class__} {text.__globals__} %(x)s %s $text.__globals__ ${rule}.__init__ {{}} $$"
    rules = parse_rules(RULE.format(message=json.dumps(template)), "rules.yaml")
    state = MemoryState()
    await state.put_series("net_buying:week|fund_type=hedge_fund", [(date(2025, 5, 30), 1e9), (date(2025, 6, 6), 2e9)])
    engine = RuleEngine(rules, state, clock=lambda: datetime(2025, 6, 6, 21, 0, tzinfo=UTC))
    [alert] = await engine.evaluate(date(2025, 6, 6), "week")
    text = alert.text
    assert text.startswith("{0.__class__} {text.__globals__} %(x)s %s Hedge funds")
    assert text.endswith(".__globals__ hf_net_buying_streak.__init__ {{}} $")
    for sign in ("<class", "<function", "<module", "__builtins__", "object at 0x"):
        assert sign not in text


def test_no_code_in_the_package_evaluates_or_formats_rule_text() -> None:
    """No eval, exec or pickle anywhere; YAML through a SafeLoader; rule messages through string.Template only."""
    import yaml

    from signal_monitor.config import yamlfile

    root = Path(__file__).resolve().parents[2] / "signal_monitor"
    banned = re.compile(r"(?<![.\w])(eval|exec|__import__)\(|pickle\.loads?\(|yaml\.(unsafe_)?load\((?!.*Loader=UniqueKeyLoader)")
    for path in root.rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            assert not banned.search(code), f"{path.relative_to(root)}:{number}: {line.strip()}"
    assert issubclass(yamlfile.UniqueKeyLoader, yaml.SafeLoader)
    text_py = (root / "rules" / "text.py").read_text(encoding="utf-8")
    assert "safe_substitute" in text_py and ".format_map(" not in text_py


# --- (c) the web server binds 127.0.0.1 unless configured -------------------------------------------


def test_the_web_server_binds_localhost_by_default(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SM_WEB_HOST", "WEB_HOST"):
        monkeypatch.delenv(name, raising=False)
    assert Settings().web_host == "127.0.0.1"
    assert Settings.model_fields["web_host"].default == "127.0.0.1"
    monkeypatch.setenv("SM_WEB_HOST", "0.0.0.0")
    assert Settings().web_host == "0.0.0.0"


def test_the_app_passes_the_bind_address_to_faust(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from signal_monitor.app import create_app

    for name in ("SM_WEB_HOST", "WEB_HOST"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(kafka_bootstrap="127.0.0.1:9", redis_url=f"redis://127.0.0.1:{CLOSED_PORT}/0",
                        data_dir=tmp_path, rules_enabled=False, web_enabled=True)
    app = create_app(settings)
    assert app.conf.web_bind == "127.0.0.1"


# --- Kafka: SASL_SSL (SCRAM), SSL, SASL_PLAINTEXT --------------------------------------------------------


@pytest.fixture(scope="module")
def ca_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throw-away CA certificate made with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not on PATH")
    workdir = tmp_path_factory.mktemp("ca")
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
         "-subj", "/CN=signal-monitor security test CA"],
        cwd=workdir, check=True, capture_output=True, timeout=60,
    )
    yield str(workdir / "ca.crt")


def kafka_settings(**over: Any) -> Settings:
    base: dict[str, Any] = {"kafka_bootstrap": "broker.internal:9093", "kafka_sasl_username": "monitor",
                            "kafka_sasl_password": MARKERS["KAFKA_SASL_PASSWORD"]}
    return Settings(**{**base, **over})


def test_plaintext_needs_no_credentials() -> None:
    assert faust_broker_credentials(kafka_settings(kafka_security_protocol="PLAINTEXT")) is None


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256"])
def test_sasl_ssl_scram_carries_the_password_and_a_verifying_tls_context(mechanism: str, ca_file: str) -> None:
    settings = kafka_settings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism=mechanism, kafka_ssl_cafile=ca_file)
    creds = faust_broker_credentials(settings)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol is AuthProtocol.SASL_SSL
    assert creds.mechanism is SASLMechanism(mechanism)
    assert (creds.username, creds.password) == ("monitor", MARKERS["KAFKA_SASL_PASSWORD"])
    context = creds.ssl_context
    assert context is not None and context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert any(dict(x[0] for x in c["subject"]).get("commonName") == "signal-monitor security test CA"
               for c in context.get_ca_certs())
    auth = credentials_to_aiokafka_auth(creds)
    assert auth["security_protocol"] == "SASL_SSL" and auth["sasl_mechanism"] == mechanism
    assert auth["sasl_plain_password"] == MARKERS["KAFKA_SASL_PASSWORD"] and auth["ssl_context"] is context


def test_sasl_plaintext_has_no_tls_context() -> None:
    creds = faust_broker_credentials(kafka_settings(kafka_security_protocol="SASL_PLAINTEXT",
                                                    kafka_sasl_mechanism="SCRAM-SHA-256"))
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol is AuthProtocol.SASL_PLAINTEXT and creds.ssl_context is None
    assert credentials_to_aiokafka_auth(creds)["security_protocol"] == "SASL_PLAINTEXT"


def test_ssl_builds_ssl_credentials_with_the_ca(ca_file: str) -> None:
    creds = faust_broker_credentials(kafka_settings(kafka_security_protocol="SSL", kafka_ssl_cafile=ca_file))
    assert isinstance(creds, faust.SSLCredentials)
    assert creds.context.verify_mode == ssl.CERT_REQUIRED and creds.context.check_hostname
    assert credentials_to_aiokafka_auth(creds) == {"security_protocol": "SSL", "ssl_context": creds.context}


async def test_aiokafka_accepts_what_faust_would_pass(ca_file: str) -> None:
    """aiokafka validates protocol, mechanism and context when a client is built (no connection is made)."""
    from aiokafka import AIOKafkaConsumer

    for protocol in ("SSL", "SASL_SSL", "SASL_PLAINTEXT"):
        creds = faust_broker_credentials(kafka_settings(kafka_security_protocol=protocol, kafka_ssl_cafile=ca_file))
        consumer = AIOKafkaConsumer(bootstrap_servers="broker.internal:9093", **credentials_to_aiokafka_auth(creds))
        assert consumer._client._security_protocol == protocol


def test_sasl_without_a_password_or_a_user_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="KAFKA_SASL_PASSWORD"):
        faust_broker_credentials(kafka_settings(kafka_security_protocol="SASL_SSL", kafka_sasl_password=None))
    with pytest.raises(ConfigError, match="KAFKA_SASL_USERNAME"):
        faust_broker_credentials(kafka_settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_username=""))


def test_an_unreadable_ca_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KAFKA_SSL_CAFILE"):
        kafka_ssl_context(kafka_settings(kafka_security_protocol="SSL", kafka_ssl_cafile=str(tmp_path / "none.pem")))


def test_admin_client_options_match_the_protocol(ca_file: str) -> None:
    opts = kafka_client_options(kafka_settings(kafka_security_protocol="SASL_SSL", kafka_ssl_cafile=ca_file))
    assert opts["security_protocol"] == "SASL_SSL" and opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert opts["sasl_plain_password"] == MARKERS["KAFKA_SASL_PASSWORD"] and opts["ssl_cafile"] == ca_file


# --- Redis: rediss:// and passwords --------------------------------------------------------------------


def test_plain_redis_urls_get_no_tls_options() -> None:
    assert redis_ssl_kwargs(Settings(redis_url="redis://127.0.0.1:6379/0")) == {}
    assert redis_tls_kwargs("unix:///tmp/redis.sock") == {}


def test_rediss_verifies_the_server_by_default() -> None:
    assert redis_ssl_kwargs(Settings(redis_url="rediss://redis.internal:6380/0")) == {
        "ssl_cert_reqs": "required", "ssl_check_hostname": True,
    }


def test_rediss_options_from_the_proposed_settings(ca_file: str) -> None:
    settings = SimpleNamespace(redis_url="rediss://redis.internal:6380/0", redis_ssl_ca_file=ca_file,
                               redis_ssl_cert_reqs="none", redis_ssl_certfile="", redis_ssl_keyfile="")
    assert redis_ssl_kwargs(settings) == {"ssl_cert_reqs": "none", "ssl_check_hostname": False, "ssl_ca_certs": ca_file}  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="REDIS_SSL_CERT_REQS"):
        redis_tls_kwargs("rediss://h:1/0", cert_reqs="maybe")


def test_redis_client_applies_tls_and_the_password(ca_file: str) -> None:
    settings = SimpleNamespace(redis_url="rediss://redis.internal:6380/0", redis_password=None, redis_cluster=None,
                               redis_ssl_ca_file=ca_file, redis_ssl_cert_reqs="required")
    single = redis_client(settings, password=MARKERS["REDIS_PASSWORD"], cluster=False)  # type: ignore[arg-type]
    kwargs = single.connection_pool.connection_kwargs
    assert kwargs["ssl_ca_certs"] == ca_file and kwargs["ssl_cert_reqs"] == "required"
    assert kwargs["password"] == MARKERS["REDIS_PASSWORD"]
    assert single.connection_pool.connection_class.__name__ == "SSLConnection"
    cluster = redis_client(settings, password=MARKERS["REDIS_PASSWORD"], cluster=True)  # type: ignore[arg-type]
    assert isinstance(cluster, aioredis.RedisCluster)
    node_kwargs = cluster.nodes_manager.connection_kwargs
    assert node_kwargs["ssl_ca_certs"] == ca_file and node_kwargs["password"] == MARKERS["REDIS_PASSWORD"]
    assert node_kwargs["connection_class"].__name__ == "SSLConnection"


def test_redis_password_setting_is_used_when_the_url_has_none(secret_env: Settings) -> None:
    settings = secret_env.model_copy(update={"redis_url": f"redis://127.0.0.1:{CLOSED_PORT}/0"})
    client = redis_client(settings, cluster=False)
    assert client.connection_pool.connection_kwargs["password"] == MARKERS["REDIS_PASSWORD"]
    url_wins = redis_client(secret_env, cluster=False)
    assert url_wins.connection_pool.connection_kwargs["password"] == URL_PASSWORD
