"""docker-compose.yml and the Dockerfile agree with each other and with Settings."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices, SecretStr

from signal_monitor.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
PYPROJECT = ROOT / "pyproject.toml"

# Values the host would supply for ${VAR} / ${VAR:-default} in the compose file.
HOST_ENV = {"SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXXXXXX"}
_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = compose["services"]
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment as a dict (compose allows a mapping or a list of KEY=VALUE)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def interpolate(value: str, host_env: dict[str, str]) -> str:
    """Resolve ${VAR} and ${VAR:-default} the way compose does."""
    return _INTERPOLATION.sub(lambda m: host_env.get(m["name"]) or (m["default"] or ""), value)


def env_names_of_settings() -> dict[str, str]:
    """Map every environment variable Settings reads (upper case) to its field name."""
    names: dict[str, str] = {}
    prefix = Settings.model_config.get("env_prefix", "")
    for field_name, info in Settings.model_fields.items():
        alias = info.validation_alias
        if isinstance(alias, AliasChoices):
            for choice in alias.choices:
                assert isinstance(choice, str)
                names[choice.upper()] = field_name
        elif isinstance(alias, str):
            names[alias.upper()] = field_name
        else:
            names[f"{prefix}{field_name}".upper()] = field_name
    return names


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def listener_ports(listeners: str) -> dict[str, int]:
    """``PLAINTEXT://:9092,CONTROLLER://:9093`` -> {"PLAINTEXT": 9092, "CONTROLLER": 9093}."""
    ports: dict[str, int] = {}
    for item in listeners.split(","):
        name, _, rest = item.strip().partition("://")
        ports[name] = host_port(rest)[1]
    return ports


def dockerfile_instruction(name: str) -> list[str]:
    lines = [line.strip() for line in DOCKERFILE.read_text().splitlines()]
    found = [line[len(name) :].strip() for line in lines if line.upper().startswith(name + " ")]
    assert found, f"the Dockerfile has no {name}"
    value = json.loads(found[-1])  # exec form
    assert isinstance(value, list)
    return value


def test_services(services: dict[str, Any]) -> None:
    assert set(services) == {"kafka", "redis", "monitor"}
    assert services["kafka"]["image"].split(":")[0] == "apache/kafka"
    assert services["redis"]["image"].split(":")[0] == "redis"
    assert services["redis"]["image"].split(":")[1].startswith("7")
    assert services["monitor"]["build"]


def test_kafka_image_is_the_version_the_tests_run_on(services: dict[str, Any]) -> None:
    from signal_monitor.embedded.kafka import kafka_version

    tag = services["kafka"]["image"].split(":")[1]
    assert tag.split(".")[:2] == kafka_version().split(".")[:2], "compose and kafka-pom.xml name other Kafka versions"


def test_kafka_is_single_node_kraft_with_healthcheck(services: dict[str, Any]) -> None:
    env = environment(services["kafka"])
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_CONTROLLER_LISTENER_NAMES"] in listener_ports(env["KAFKA_LISTENERS"])
    assert "healthcheck" in services["kafka"]


def test_monitor_kafka_bootstrap_names_the_kafka_service_and_a_client_port(services: dict[str, Any]) -> None:
    bootstrap = environment(services["monitor"])["KAFKA_BOOTSTRAP"]
    kafka_env = environment(services["kafka"])
    listens = listener_ports(kafka_env["KAFKA_LISTENERS"])
    client_ports = {port for name, port in listens.items() if name != kafka_env["KAFKA_CONTROLLER_LISTENER_NAMES"]}
    advertised = {host_port(item.partition("://")[2]) for item in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")}
    for server in bootstrap.split(","):
        host, port = host_port(server)
        assert host in {"kafka", services["kafka"].get("hostname", "kafka")}
        assert port in client_ports
        assert (host, port) in advertised


def test_monitor_redis_url_names_the_redis_service(services: dict[str, Any]) -> None:
    url = environment(services["monitor"])["REDIS_URL"]
    assert re.fullmatch(r"redis://redis:6379/\d+", url), url


def test_redis_persists_with_aof_on_a_volume(services: dict[str, Any]) -> None:
    redis = services["redis"]
    command = redis["command"]
    command = command if isinstance(command, list) else command.split()
    assert "--appendonly" in command
    assert command[command.index("--appendonly") + 1] == "yes"
    assert any(str(volume).endswith(":/data") for volume in redis["volumes"])
    assert "healthcheck" in redis


def test_monitor_waits_for_healthy_dependencies(services: dict[str, Any]) -> None:
    depends = services["monitor"]["depends_on"]
    assert depends == {
        "kafka": {"condition": "service_healthy"},
        "redis": {"condition": "service_healthy"},
    }


@pytest.mark.parametrize("host_env", [HOST_ENV, {}], ids=["host-sets-slack", "host-sets-nothing"])
def test_every_monitor_variable_is_a_setting(
    services: dict[str, Any], host_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    known = env_names_of_settings()
    env = {key: interpolate(value, host_env) for key, value in environment(services["monitor"]).items()}
    unknown = sorted(set(env) - set(known))
    assert not unknown, f"monitor sets variables Settings does not read: {unknown}"

    for name in known:  # the test runner's own environment must not leak in
        monkeypatch.delenv(name, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]

    for key, value in env.items():
        got = getattr(settings, known[key])
        if isinstance(got, SecretStr):
            got = got.get_secret_value()
        elif isinstance(got, Path):
            value = str(Path(value))
            got = str(got)
        assert got == value, f"{key} did not land in Settings.{known[key]}"
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.redis_url.startswith("redis://redis:")


def test_dockerfile_runs_the_console_script(services: dict[str, Any]) -> None:
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    entrypoint = dockerfile_instruction("ENTRYPOINT")
    assert entrypoint == ["signal-monitor"]
    assert entrypoint[0] in scripts
    assert dockerfile_instruction("CMD") == ["worker"]
    text = DOCKERFILE.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1].split(":")[0] not in {"root", "0"}

    monitor = services["monitor"]
    command = monitor["command"]
    command = command if isinstance(command, list) else command.split()
    full = list(monitor.get("entrypoint") or entrypoint) + command
    assert full == ["signal-monitor", "worker"]
