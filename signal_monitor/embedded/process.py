"""The life cycle the embedded services share: a server process on a free local port, in its own process group."""

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
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from signal_monitor.errors import EmbeddedServiceError

log = logging.getLogger("signal_monitor.embedded")

LOCALHOST = "127.0.0.1"

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
PORT_IN_USE = re.compile(r"addr(?:ess)?\s*(?:already\s*)?in\s*use", re.IGNORECASE)
_START_ATTEMPTS = 3


# --- process helpers -----------------------------------------------------------------------


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


def exit_on_sigterm() -> None:
    """Make SIGTERM end this process as ``SystemExit(143)``, so ``with`` blocks and ``atexit`` stop its services.

    By default SIGTERM ends Python at once and the embedded services it started keep running.
    Call it from the main thread of a program that starts services (the benchmark, the fault campaign).
    """

    def stop(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)


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


# --- the shared life cycle -----------------------------------------------------------------


class ManagedServer(ABC):
    """A server process on ``host`` and a free (or given) port, in its own process group; a context manager.

    ``start`` spawns it and waits until ``_probe`` says it answers, choosing another free port when the
    chosen one was taken before the server bound it; ``stop`` terminates and reaps it. Subclasses give
    the command line, the readiness probe, the address clients use and the wording of messages.
    """

    _log_name: ClassVar[str]  # the log file in ``workdir``
    _noun: ClassVar[str]  # "the embedded <noun> is not started"
    _service: ClassVar[str]  # the service, in messages: "embedded Redis"
    _server: ClassVar[str]  # its process, in messages: "embedded redis-server"
    _program: ClassVar[str]  # the program, in the debug message on a taken port
    _ready_check: ClassVar[str] = ""  # what it did not answer in time, e.g. " PING"
    _not_ready: ClassVar[str] = ""  # why it is not ready until ``_probe`` says better
    _poll_interval: ClassVar[float] = 0.05

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        port: int | None,
        host: str,
        binary: str | None,
        start_timeout: float,
        stop_timeout: float,
    ) -> None:
        self.workdir = Path(workdir)
        self.host = host
        self.log_path = self.workdir / self._log_name
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._binary = binary
        self._requested_port = port  # the port every start uses; None: a free one each time
        self._port: int | None = port
        self._proc: subprocess.Popen[bytes] | None = None

    # -- what differs ------------------------------------------------------------

    @abstractmethod
    def _default_binary(self) -> str:
        """The server binary to run when none was given."""

    @abstractmethod
    def _argv(self, binary: str, port: int) -> list[str]:
        """The command line that serves on ``self.host:port``."""

    def _env(self) -> Mapping[str, str] | None:
        """The server's environment (None: this process's)."""
        return None

    @abstractmethod
    def _probe(self) -> str | None:
        """Check once whether the server answers: None if it does, else why not ("" for no news)."""

    @property
    @abstractmethod
    def _address(self) -> str:
        """Where clients reach the server, for messages."""

    @abstractmethod
    def _log_started(self) -> None:
        """Log that the server started."""

    # -- properties --------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port the server listens on (known once started, or when given)."""
        if self._port is None:
            raise EmbeddedServiceError(f"the embedded {self._noun} is not started: it has no port yet")
        return self._port

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    # -- life cycle --------------------------------------------------------------

    def start(self) -> Self:
        """Start the server and wait until it answers; raise EmbeddedServiceError if it does not."""
        if self.running:
            return self
        binary = self._binary or self._default_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        env = self._env()
        for attempt in range(1, _START_ATTEMPTS + 1):
            port = self._requested_port or free_port(host=self.host)
            self._proc = spawn(self._argv(binary, port), log_path=self.log_path, env=env, cwd=self.workdir)
            self._port = port
            try:
                self._wait_ready()
            except _PortTaken:
                self._reap()
                self._port = self._requested_port
                if self._requested_port is not None or attempt == _START_ATTEMPTS:
                    raise EmbeddedServiceError(
                        f"{self._service}: port {port} on {self.host} is in use; log {self.log_path}:\n"
                        f"{log_tail(self.log_path)}"
                    ) from None
                log.debug("port %s was taken before %s bound it; trying another", port, self._program)
                continue
            except BaseException:
                self._reap()
                self._port = self._requested_port
                raise
            atexit.register(self.stop)
            self._log_started()
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_ready(self) -> None:
        assert self._proc is not None and self._port is not None
        deadline = time.monotonic() + self.start_timeout
        not_ready = self._not_ready
        while True:
            code = self._proc.poll()
            if code is not None:
                tail = log_tail(self.log_path)
                if PORT_IN_USE.search(tail):
                    raise _PortTaken
                raise EmbeddedServiceError(
                    f"{self._server} exited with code {code} before answering on {self.host}:{self._port}; "
                    f"log {self.log_path}:\n{tail}"
                )
            why = self._probe()
            if why is None:
                return
            not_ready = why or not_ready
            if time.monotonic() >= deadline:
                detail = f" ({not_ready})" if not_ready else ""
                raise EmbeddedServiceError(
                    f"{self._server} did not answer{self._ready_check} on {self.host}:{self._port} within "
                    f"{self.start_timeout:g}s{detail}; log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(self._poll_interval)

    def _reap(self) -> None:
        if self._proc is not None:
            terminate(self._proc, timeout=self.stop_timeout)
            self._proc = None

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after ``stop_timeout``) and reap it; idempotent.

        SIGTERM lets it shut down cleanly: redis-server, for one, flushes its AOF.
        """
        atexit.unregister(self.stop)
        if self._proc is None:
            return
        pid = self._proc.pid
        code = terminate(self._proc, timeout=self.stop_timeout)
        self._proc = None
        log.info("stopped %s at %s (pid %s, exit code %s)", self._service, self._address, pid, code)

    def kill(self) -> None:
        """Kill the server's process group with SIGKILL, no clean shutdown (a crash, as its clients see it)."""
        atexit.unregister(self.stop)
        if self._proc is None:
            return
        pid = self._proc.pid
        _signal_group(pid, signal.SIGKILL)
        self._proc.wait()
        self._proc = None
        log.info("killed %s at %s (pid %s) with SIGKILL", self._service, self._address, pid)

    def restart(self) -> Self:
        """Stop and start again (on the same port where the subclass keeps it)."""
        self.stop()
        return self.start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = f"{self.host}:{self._port}" if self._port else "no port"
        return f"{type(self).__name__}({where}, {'running' if self.running else 'stopped'})"


class _PortTaken(Exception):
    """The server exited because its port was taken between choosing and binding it."""
