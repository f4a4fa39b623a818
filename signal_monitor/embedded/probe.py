"""Whether a Kafka-protocol broker answers: a metadata request with kafka-python, for either embedded broker or a configured one."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from signal_monitor.embedded.process import tcp_open
from signal_monitor.errors import EmbeddedServiceError

log = logging.getLogger("signal_monitor.embedded")


def kafka_metadata_ok(
    bootstrap: str, *, timeout: float = 2.0, client_config: Mapping[str, object] | None = None
) -> None:
    """Ask ``bootstrap`` for its topic list with kafka-python (``client_config`` passes through); raise if it fails."""
    from kafka import KafkaAdminClient

    timeout_ms = max(100, int(timeout * 1000))
    config: dict[str, object] = {"client_id": "signal-monitor-probe", "request_timeout_ms": timeout_ms}
    known = getattr(KafkaAdminClient, "DEFAULT_CONFIG", {})
    for key in ("bootstrap_timeout_ms", "api_version_auto_timeout_ms"):  # kafka-python 3.x, 2.x
        if key in known:
            config[key] = timeout_ms
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **{**config, **(client_config or {})})
    try:
        admin.list_topics()
    finally:
        admin.close()


def split_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    """``host:port[,host:port]`` as pairs; raise EmbeddedServiceError naming the bad item."""
    servers: list[tuple[str, int]] = []
    for item in bootstrap.split(","):
        item = item.strip()
        if not item:
            continue
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit():
            raise EmbeddedServiceError(f"KAFKA_BOOTSTRAP {bootstrap!r}: {item!r} is not host:port")
        servers.append((host.strip("[]"), int(port)))
    if not servers:
        raise EmbeddedServiceError(f"KAFKA_BOOTSTRAP {bootstrap!r} names no server")
    return servers


def kafka_answers(bootstrap: str, timeout: float = 5.0, *, client_config: Mapping[str, object] | None = None) -> bool:
    """Return whether a broker of ``bootstrap`` answers a metadata request; ``client_config`` goes to kafka-python."""
    try:
        servers = split_bootstrap(bootstrap)
    except EmbeddedServiceError:
        return False
    if not any(tcp_open(host, port, timeout=min(timeout, 1.0)) for host, port in servers):
        return False
    try:
        kafka_metadata_ok(bootstrap, timeout=timeout, client_config=client_config)
    except Exception:  # kafka-python raises many types for an unreachable or refusing broker
        log.debug("Kafka at %s does not answer", bootstrap, exc_info=True)
        return False
    return True
