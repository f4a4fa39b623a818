"""A local Slack-compatible receiver, the one fake Slack of the benchmark (``bench.latency``) and the fault
campaign (``chaos``): incoming webhooks and the Web API, with faults on demand.

It speaks the two contracts the monitor posts to (``signal_monitor.delivery.slack``):

* incoming webhooks, ``POST /services/<team>/B<worker>/<secret>``: 200 ``ok`` when posted;
  any other ``/services/`` path: 404 ``no_service``, as Slack answers an unknown hook;
* the Web API, ``POST /api/chat.postMessage`` (bearer token, JSON body with the
  message metadata that carries the outbox id; a ``thread_ts`` makes it a reply in
  that message's thread), ``POST /api/chat.update`` (changes the posted message of a
  ``ts`` in place; ``message_not_found`` for an unknown one), ``GET
  /api/conversations.history`` (the channel's posted messages with their metadata,
  newest first, without the replies in threads, as Slack) and ``GET
  /api/conversations.replies`` (a thread's parent and replies).

Modes (``set_mode``): ``ok``; ``429`` (rate limited, with ``Retry-After``); ``500`` (a
server error: nothing posted); and ``down`` (``stop()``: the listener is closed, so a
connection is refused; ``start()`` opens it again on the same port). Every request is
recorded with its answer; ``posted`` marks what Slack would show in the channel.

The path of a webhook URL and the bot token name the worker process that posts
(``/services/<team>/B<worker>/<secret>``, ``<token_prefix><worker>``), so a duplicate can be
traced to the process that sent each copy.

For latency, ``watch()`` queues each posted message on the running event loop (``next()`` reads it),
stamped with ``time.perf_counter()`` as soon as its body is read, in the receiver's own threads, so the
stamp does not wait for that loop.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

KEY = re.compile(r"key ([0-9a-f]{16}(?::v\d+)?)")


def message_keys(body: dict[str, Any]) -> list[str]:
    """The dedup keys a Slack message shows, in order: in its blocks, then in its attachments' blocks."""
    parts = [body.get("blocks") or []] + [a.get("blocks") or [] for a in body.get("attachments") or []]
    return KEY.findall(json.dumps(parts))
MODES = ("ok", "429", "500")


@dataclass
class Request:
    """One request the receiver answered."""

    at: float
    kind: str  # webhook | bot | update | history
    worker: str
    status: int
    posted: bool
    keys: list[str] = field(default_factory=list)
    outbox_id: str = ""
    thread_ts: str = ""  #: a chat.postMessage reply: the ts of the message it replies under


class SlackReceiver:
    """The fake Slack; thread-safe; a context manager.

    ``team`` and ``secret`` make the webhook path, ``token_prefix`` the bot tokens, ``channel`` the channel
    ``chat.postMessage`` answers with.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        retry_after_s: float = 1.0,
        team: str = "TFAKE",
        secret: str = "fakeS3cret",
        token_prefix: str = "xoxb-fake-",
        channel: str = "C0FAKE001",
    ) -> None:
        #: called as ``on_post(kind, worker)`` after a message is posted and before the answer is sent
        self.on_post: Callable[[str, str], None] | None = None
        self.host = "127.0.0.1"
        self.port = port
        self.retry_after_s = retry_after_s
        self.team = team
        self.secret = secret
        self.token_prefix = token_prefix
        self.channel_id = channel
        self.mode = "ok"
        self.lock = threading.Lock()
        self.requests: list[Request] = []
        self.channel: list[dict[str, Any]] = []  # posted chat.postMessage messages (for history)
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[tuple[float, str]] | None = None

    # --- control --------------------------------------------------------------------------

    def start(self) -> Self:
        """Open the listener (on the same port after a ``stop``)."""
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: a stopped listener refuses the next

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                receiver._handle(self, "POST")

            def do_GET(self) -> None:
                receiver._handle(self, "GET")

        server = ThreadingHTTPServer((self.host, self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="slack-receiver", daemon=True
        )
        self._thread.start()
        return self

    def watch(self) -> Self:
        """Queue every message posted from now on, for ``next()`` on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        return self

    async def next(self, timeout: float) -> tuple[float, str] | None:
        """Return the next posted message as (``perf_counter`` stamp, body), or None after ``timeout`` seconds."""
        assert self._queue is not None, "watch() the receiver first"
        try:
            return await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None

    def stop(self) -> None:
        """Close the listener: connections are refused until ``start``."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def listening(self) -> bool:
        """Whether the listener is open."""
        return self._server is not None

    def set_mode(self, mode: str) -> None:
        """Answer ``ok``, ``429`` or ``500`` from now on."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        with self.lock:
            self.mode = mode

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses ------------------------------------------------------------------------

    def webhook_url(self, worker: str) -> str:
        """The incoming-webhook URL a worker posts to."""
        return f"http://{self.host}:{self.port}/services/{self.team}/B{worker}/{self.secret}"

    @property
    def api_url(self) -> str:
        """The Web API base (SM_SLACK_API_URL)."""
        return f"http://{self.host}:{self.port}/api/"

    def token(self, worker: str) -> str:
        """The bot token a worker posts with."""
        return f"{self.token_prefix}{worker}"

    # --- reading --------------------------------------------------------------------------

    def snapshot(self) -> list[Request]:
        """Every request answered so far."""
        with self.lock:
            return list(self.requests)

    def posted_keys(self, kind: str) -> list[tuple[str, Request]]:
        """(dedup key, request) of every message shown in the channel of ``kind`` (webhook or bot), in order."""
        return [(k, r) for r in self.snapshot() if r.kind == kind and r.posted for k in r.keys]

    # --- serving --------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        stamp = time.perf_counter()
        with self.lock:
            mode = self.mode
        now = time.time()
        if method == "POST" and url.path.startswith("/services/"):
            worker = self._hook_worker(url.path)
            if worker is None:
                self._reply(handler, 404, "text/plain", b"no_service")
            else:
                self._webhook(handler, raw, mode, now, worker, stamp)
        elif url.path == "/api/chat.postMessage":
            self._post_message(handler, raw, mode, now, stamp)
        elif url.path == "/api/chat.update":
            self._update(handler, raw, mode, now)
        elif url.path in ("/api/conversations.history", "/api/conversations.replies"):
            params = {k: v[-1] for k, v in parse_qs(url.query).items()}
            if method == "POST" and raw:
                params.update({k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()})
            self._history(handler, params, mode, now, thread=url.path.endswith("replies"))
        else:
            self._reply(handler, 404, "text/plain", b"not_found")

    def _hook_worker(self, path: str) -> str | None:
        """The worker named by a webhook path of this receiver (``/services/<team>/B<worker>/<secret>``), else None."""
        parts = path.split("/")
        if len(parts) != 5 or parts[2] != self.team or parts[4] != self.secret or not parts[3].startswith("B"):
            return None
        return parts[3][1:]

    def _fault(
        self, handler: BaseHTTPRequestHandler, mode: str, *, api: bool, record: Callable[[int], None]
    ) -> int | None:
        """Answer a 429 or a 500 when the mode says so, calling ``record(status)`` before the answer goes out
        (a client that reads its answer finds the request counted); return the status sent (None in mode ok)."""
        if mode == "429":
            body = json.dumps({"ok": False, "error": "ratelimited"}).encode() if api else b"rate_limited"
            record(429)
            self._reply(
                handler, 429, "application/json" if api else "text/plain", body,
                {"Retry-After": f"{self.retry_after_s:g}"},
            )
            return 429
        if mode == "500":
            body = json.dumps({"ok": False, "error": "internal_error"}).encode() if api else b"internal_error"
            record(500)
            self._reply(handler, 500, "application/json" if api else "text/plain", body)
            return 500
        return None

    def _webhook(
        self, handler: BaseHTTPRequestHandler, raw: bytes, mode: str, now: float, worker: str, stamp: float
    ) -> None:
        body = _json(raw)
        keys = message_keys(body)

        def record(status: int) -> None:
            with self.lock:
                self.requests.append(Request(now, "webhook", worker, status, status == 200, keys))

        status = self._fault(handler, mode, api=False, record=record)
        if status is None:
            record(200)
            self._posted("webhook", worker, raw, stamp)
            self._reply(handler, 200, "text/plain", b"ok")

    def _post_message(self, handler: BaseHTTPRequestHandler, raw: bytes, mode: str, now: float, stamp: float) -> None:
        auth = handler.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        if not token.startswith(self.token_prefix):
            self._reply(handler, 200, "application/json", json.dumps({"ok": False, "error": "invalid_auth"}).encode())
            return
        worker = token.removeprefix(self.token_prefix)
        body = _json(raw)
        keys = message_keys(body)
        outbox_id = str(((body.get("metadata") or {}).get("event_payload") or {}).get("outbox_id", ""))
        thread_ts = str(body.get("thread_ts") or "")

        def record(status: int) -> None:
            with self.lock:
                self.requests.append(Request(now, "bot", worker, status, False, keys, outbox_id, thread_ts))

        if self._fault(handler, mode, api=True, record=record) is not None:
            return
        with self.lock:
            ts = f"{max(now, float(self.channel[-1]['ts']) + 1e-6) if self.channel else now:.6f}"
            self.channel.append({
                "ts": ts, "text": body.get("text", ""), "blocks": body.get("blocks"), "metadata": body.get("metadata"),
                "thread_ts": thread_ts, "reply_broadcast": bool(body.get("reply_broadcast")),
            })
            self.requests.append(Request(now, "bot", worker, 200, True, keys, outbox_id, thread_ts))
        self._posted("bot", worker, raw, stamp)
        reply = {"ok": True, "channel": self.channel_id, "ts": ts}
        self._reply(handler, 200, "application/json", json.dumps(reply).encode())

    def _update(self, handler: BaseHTTPRequestHandler, raw: bytes, mode: str, now: float) -> None:
        token = handler.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not token.startswith(self.token_prefix):
            self._reply(handler, 200, "application/json", json.dumps({"ok": False, "error": "invalid_auth"}).encode())
            return
        worker = token.removeprefix(self.token_prefix)
        body = _json(raw)
        keys = message_keys(body)

        def record(status: int, posted: bool = False) -> None:
            with self.lock:
                self.requests.append(Request(now, "update", worker, status, posted, keys))

        if self._fault(handler, mode, api=True, record=record) is not None:
            return
        ts = str(body.get("ts", ""))
        with self.lock:
            found = next((m for m in self.channel if m["ts"] == ts), None)
            if found is not None:
                found.update(text=body.get("text", ""), blocks=body.get("blocks"), edited=True)
        if found is None:
            record(200)
            reply: dict[str, Any] = {"ok": False, "error": "message_not_found"}
        else:
            record(200, True)
            reply = {"ok": True, "channel": self.channel_id, "ts": ts}
        self._reply(handler, 200, "application/json", json.dumps(reply).encode())

    def _history(
        self, handler: BaseHTTPRequestHandler, params: dict[str, str], mode: str, now: float, *, thread: bool = False
    ) -> None:
        """Answer conversations.history (the channel, newest first, no thread replies) or, with ``thread``,
        conversations.replies (the parent ``ts`` and its replies, oldest first)."""

        def record(status: int) -> None:
            with self.lock:
                self.requests.append(Request(now, "history", "", status, False))

        if self._fault(handler, mode, api=True, record=record) is None:
            oldest = float(params.get("oldest") or 0)
            limit = int(params.get("limit") or 100)
            parent = params.get("ts", "")
            with self.lock:
                if thread:
                    shown = [m for m in self.channel if parent in (m["ts"], m["thread_ts"])][:limit]
                else:
                    shown = [
                        m for m in self.channel
                        if float(m["ts"]) >= oldest and (not m["thread_ts"] or m["reply_broadcast"])
                    ][::-1][:limit]
            reply = {"ok": True, "messages": shown, "has_more": False}
            record(200)
            self._reply(handler, 200, "application/json", json.dumps(reply).encode())

    def _posted(self, kind: str, worker: str, raw: bytes, stamp: float) -> None:
        loop, queue = self._loop, self._queue
        if loop is not None and queue is not None:
            loop.call_soon_threadsafe(queue.put_nowait, (stamp, raw.decode("utf-8", "replace")))
        hook = self.on_post
        if hook is not None:
            try:
                hook(kind, worker)
            except Exception as exc:  # noqa: BLE001 - a hook's failure must not turn into an HTTP error
                print(f"slack receiver: the post hook failed: {type(exc).__name__}: {exc}", flush=True)

    @staticmethod
    def _reply(
        handler: BaseHTTPRequestHandler, status: int, ctype: str, body: bytes, headers: dict[str, str] | None = None
    ) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                handler.send_header(k, v)
            handler.end_headers()
            handler.wfile.write(body)
        except OSError:  # the client went away (a killed worker): what it sent is recorded all the same
            pass


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw or b"{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
