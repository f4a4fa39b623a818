"""Publication: every ``status_interval_s`` and on each rebalance, a worker produces its status record
to the compacted ``<prefix>.status`` topic, keyed by its worker id.

Every configured secret (each ``SecretStr`` setting: Slack webhook and token,
Redis and Kafka passwords; a password inside ``REDIS_URL``) is masked in the encoded record, whatever
field it might have slipped into (an error message, say). Masking works on the record's values before
they are serialised, so a secret holding ``"`` or ``\\`` (which JSON escapes) is caught as well.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import pydantic_core
from faust.types import TP
from pydantic import BaseModel, SecretStr

from signal_monitor.config.settings import Settings
from signal_monitor.status.collector import Collector, RuleStats, redis_last_alert
from signal_monitor.status.record import Reason, StatusRecord

if TYPE_CHECKING:
    from signal_monitor.rules.model import RuleSet
    from signal_monitor.worker import WorkerContext

log = logging.getLogger(__name__)

MASK = "***"


def secret_values(settings: Settings) -> list[str]:
    """Return every secret the settings hold (each ``SecretStr`` field, a password in ``REDIS_URL``), longest first."""
    values = [v.get_secret_value() for v in (getattr(settings, name) for name in type(settings).model_fields)
              if isinstance(v, SecretStr)]
    if settings.redis_url:
        try:
            password = urlsplit(settings.redis_url).password
        except ValueError:
            password = None
        if password:
            values += [password, unquote(password)]
    return sorted({v for v in values if v}, key=len, reverse=True)


def _forms(secrets: Iterable[str]) -> list[str]:
    """Return each secret as written and as JSON and ``repr()`` escape it inside a text, longest first."""
    forms = set()
    for secret in secrets:
        if secret:
            forms.update({secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]})
            # repr() as it shows the secret alone, and inside a text that holds both kinds of quote
            forms.update({repr(secret)[1:-1], repr(secret + "'\"")[1:-4]})
    return sorted((f for f in forms if f), key=len, reverse=True)


def mask(value: Any, secrets: Iterable[str]) -> Any:
    """Return ``value`` (JSON-ready data: dicts, lists, strings, numbers) with every secret in a string masked.

    Keys are masked too. Each secret is also looked for in the forms JSON and ``repr()`` escape it to, for
    a string that quotes one (an error message showing a repr or a JSON body).
    """
    forms = _forms(secrets)
    return _mask(value, forms) if forms else value


def _mask(value: Any, forms: list[str]) -> Any:
    if isinstance(value, str):
        for form in forms:
            if form in value:
                value = value.replace(form, MASK)
        return value
    if isinstance(value, dict):
        return {_mask(k, forms): _mask(v, forms) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_mask(v, forms) for v in value]
    return value


def encode(record: BaseModel, secrets: Iterable[str] = ()) -> bytes:
    """Return the record's JSON with every secret masked in its values before they are serialised."""
    forms = _forms(secrets)
    if not forms:
        return record.model_dump_json().encode("utf-8")
    return pydantic_core.to_json(_mask(record.model_dump(mode="json"), forms))


def rule_stats(rules: RuleSet | None) -> RuleStats:
    """Return a reporter of how many rules the worker loaded (0 without a rule set: rules are disabled)."""
    loaded = len(rules) if rules is not None else 0
    return lambda: {"loaded": loaded}


@dataclass(frozen=True, kw_only=True)
class StatusOptions:
    """What status publication needs of the settings (``from_settings`` reads them); secrets stay out of its repr."""

    topic: str  #: the compacted status topic
    interval_s: float  #: SM_STATUS_INTERVAL_S
    key_prefix: str  #: SM_KEY_PREFIX, where the recent-alerts list is
    secrets: tuple[str, ...] = field(default=(), repr=False)  #: masked in every record (``secret_values``)

    @classmethod
    def from_settings(cls, settings: Settings) -> StatusOptions:
        """Return the options of ``settings``, with every secret it holds."""
        return cls(
            topic=settings.topic("status"),
            interval_s=settings.status_interval_s,
            key_prefix=settings.key_prefix,
            secrets=tuple(secret_values(settings)),
        )


class StatusPublisher:
    """Collects and produces this worker's status records."""

    def __init__(self, app: Any, context: WorkerContext, collector: Collector, *, options: StatusOptions) -> None:
        self.app = app
        self.context = context
        self.topic = options.topic
        self.collector = collector
        self.secrets = list(options.secrets)
        self.last: StatusRecord | None = None
        self.published = 0
        self.hooks: tuple[Callable[..., Any], ...] = ()  # strong references to the timer and signal handlers
        self._tasks: set[asyncio.Task[Any]] = set()

    async def collect(self, *, reason: Reason = "interval", assigned: Iterable[TP] | None = None) -> StatusRecord:
        """Return this worker's record now, without publishing it (``/metrics`` serves it)."""
        return await self.collector.collect(self.context, self.app.consumer, reason=reason, assigned=assigned)

    async def publish(self, *, reason: Reason = "interval", assigned: Iterable[TP] | None = None) -> StatusRecord:
        """Collect a record and produce it to the status topic; return it."""
        record = await self.collect(reason=reason, assigned=assigned)
        await self.app.producer.send_and_wait(
            self.topic, record.worker_id.encode("utf-8"), encode(record, self.secrets), None, None, None
        )
        self.last = record
        self.published += 1
        return record

    def publish_soon(self, *, reason: Reason, assigned: Iterable[TP]) -> None:
        """Publish in the background, so that a rebalance does not wait for it."""
        task = asyncio.ensure_future(self.publish(reason=reason, assigned=set(assigned)))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("status: publishing after a rebalance failed: %r", task.exception())


def install(app: Any, context: WorkerContext, options: StatusOptions) -> StatusPublisher:
    """Add the status timer and rebalance hooks to ``app``; idempotent. Returns the publisher."""
    existing = context.installed.status
    if existing is not None:
        return existing
    client = getattr(context.state, "client", None)  # a store without Redis (memory) has no recent alerts
    collector = Collector(
        interval_s=options.interval_s,
        delivery_stats=context.delivery_stats,
        rules_stats=context.rules_stats,
        last_alert=redis_last_alert(client, options.key_prefix) if client is not None else None,
    )
    publisher = StatusPublisher(app, context, collector, options=options)
    context.installed.status = publisher

    async def publish_status() -> None:
        """Publish this worker's status record."""
        try:
            await publisher.publish()
        except Exception:  # the next tick tries again
            log.exception("status: publishing the status record failed; retrying on the next tick")

    app.timer(interval=options.interval_s, name=f"{context.app_id}.status")(publish_status)

    async def status_on_assigned(sender: Any, assigned: set[TP], **_: Any) -> None:
        """Publish the new assignment."""
        publisher.publish_soon(reason="assigned", assigned=assigned)

    async def status_on_revoked(sender: Any, revoked: set[TP], **_: Any) -> None:
        """Publish what is left after partitions were revoked (nothing to say when none were)."""
        if not revoked:
            return
        try:
            current = set(app.consumer.assignment())
        except Exception:  # stopping: nothing is left
            current = set()
        publisher.publish_soon(reason="revoked", assigned=current - set(revoked))

    app.on_partitions_assigned.connect(status_on_assigned)
    app.on_partitions_revoked.connect(status_on_revoked)
    publisher.hooks = (publish_status, status_on_assigned, status_on_revoked)
    return publisher
