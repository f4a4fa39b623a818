"""The Faust application: wires topics, the state, the ingestion agents and the period closer.

Nothing here decides anything; :mod:`signal_monitor.agents` does the work, so the
same code runs live and in replay.
"""

from __future__ import annotations

import functools
import gc
import logging
import os
import socket
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import faust
from faust.types import TP
from mode import CrashingSupervisor

from signal_monitor import __version__
from signal_monitor.agents.closer import EMIT_TTL_S, PeriodCloser
from signal_monitor.agents.ingest import Ingestor, IngestStats, Record
from signal_monitor.agents.provisional import ProvisionalWatch
from signal_monitor.allocator import tune_allocator
from signal_monitor.charts.render import alert_png
from signal_monitor.config.settings import Settings
from signal_monitor.delivery.dispatcher import DeliveryOptions, Dispatcher, SlackDefaults
from signal_monitor.delivery.slack import ChartSource
from signal_monitor.delivery.routing import load_routes
from signal_monitor.notes.notebook import Notebook
from signal_monitor.rules.alert import Alert
from signal_monitor.rules.engine import RuleEngine
from signal_monitor.rules.model import RuleSet, load_rules
from signal_monitor.security import faust_broker_credentials
from signal_monitor.state.base import Batch
from signal_monitor.state.connect import redis_client
from signal_monitor.state.redis import RedisState
from signal_monitor.status.publisher import StatusOptions, rule_stats
from signal_monitor.status.publisher import install as install_status
from signal_monitor.status.recent_alerts import remember_alert
from signal_monitor.streams.consumer import BatchStream, Transport
from signal_monitor.streams.events import DeadLetter
from signal_monitor.streams.topics import INPUTS
from signal_monitor.tasks import together
from signal_monitor.web import WebOptions, install_web
from signal_monitor.web.prometheus import observe_alert_latency, observe_batch
from signal_monitor.worker import WorkerContext

log = logging.getLogger(__name__)


def worker_id(settings: Settings) -> str:
    """Return this worker's id: the setting, else host:pid."""
    return settings.worker_id or f"{socket.gethostname()}:{os.getpid()}"


def build_dispatcher(
    client: Any, settings: Settings, *, worker_id: str, charts: ChartSource | None = None
) -> Dispatcher:
    """Return the dispatcher of ``settings``: its routes file (SM_ROUTES_PATH), key prefix, options and Slack.

    ``charts`` draws an alert's PNG chart, which a bot-token receiver uploads beside the message.
    """
    return Dispatcher(
        client,
        routes=load_routes(settings.routes_path),
        prefix=settings.key_prefix,
        options=DeliveryOptions.from_settings(settings),
        slack=SlackDefaults.from_settings(settings),
        worker_id=worker_id,
        charts=charts,
    )


class MonitorApp(faust.App):
    """A Faust app whose consumer delivers fetches in batches (:mod:`signal_monitor.streams.consumer`)."""

    #: How long the broker may hold a fetch on a quiet partition, in milliseconds.
    fetch_max_wait_ms: int = 100
    #: Bytes of messages queued ahead of the agents before the consumer holds the next fetch back (0: no bound).
    stream_buffer_bytes: int = 0
    #: Assigned partitions -> their stored offset (-1: none); the consumer seeks each to it + 1 on an assignment.
    store_positions: Any = None
    #: The worker's parts, for what reports on it (status, /metrics, the dashboard); set by ``create_app``.
    context: WorkerContext

    def _new_transport(self) -> Transport:
        return Transport(self.conf.broker_consumer, self)


def create_app(settings: Settings, *, rules: RuleSet | None = None) -> MonitorApp:
    """Build the Faust app of one worker from the settings.

    ``rules``: the rule set already parsed from ``settings.rules_path`` (the command line checks it
    before anything connects); when not given and rules are enabled, the file is parsed here
    (RuleFileError when invalid). Either way it is parsed once: the engine, the status record's
    rule count and the dashboard share it.
    """
    wid = worker_id(settings)
    (settings.data_dir / "faust").mkdir(parents=True, exist_ok=True)
    app = MonitorApp(
        settings.app_id,
        broker=[f"kafka://{h}" for h in settings.kafka_bootstrap.split(",")],
        broker_credentials=faust_broker_credentials(settings),
        version=1,
        datadir=str(settings.data_dir / "faust"),
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.topic_partitions,
        topic_disable_leader=True,
        topic_allow_declare=False,
        consumer_auto_offset_reset="earliest",
        web_enabled=settings.web_enabled,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_rebalance_timeout=settings.kafka_rebalance_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_s / 4),
        broker_commit_every=10_000,
        broker_commit_interval=1.0,
        # messages queued per input topic, so a batch is at most this many; their bytes are bounded
        # by SM_BUFFER_MB (streams.consumer), since an envelope of 500 events can be ~150 KB
        stream_buffer_maxsize=settings.batch_max,
        broker_max_poll_records=settings.batch_max,
        Stream=BatchStream,
    )
    app.fetch_max_wait_ms = int(settings.batch_within_s * 1000)
    app.stream_buffer_bytes = int(settings.buffer_mb * 1024 * 1024)
    state = RedisState(
        redis_client(settings),
        prefix=settings.key_prefix,
        lateness_s=settings.lateness_days * 86400,
        dedup_ttl_s=settings.dedup_ttl_days * 86400,
        topic_prefix=settings.topic_prefix,
    )
    if not settings.rules_enabled:
        rules = None
    elif rules is None:
        rules = load_rules(settings.rules_path)
    engine = RuleEngine(rules, state) if rules is not None else None
    charts = functools.partial(alert_png, state, rules) if rules is not None else None
    dispatcher = (
        build_dispatcher(state.client, settings, worker_id=wid, charts=charts) if settings.delivery_enabled else None
    )
    if dispatcher is not None and engine is not None:
        dispatcher.routes.check_rule_ids(rule.id for rule in engine.rules)
    dlq_topic = settings.topic("dlq")
    alerts_topic = settings.topic("alerts")
    notebook = Notebook(state, rules, on_note=dispatcher.submit_note if dispatcher is not None else None)
    stats = IngestStats()

    async def send_dead_letters(letters: Sequence[DeadLetter]) -> None:
        for letter in letters:
            await app.producer.send_and_wait(
                dlq_topic, letter.topic.encode(), letter.model_dump_json().encode(), None, None, None
            )

    async def emit_alerts(alerts: Sequence[Alert]) -> None:
        # delivery first: the dispatcher sends while the alerts go to the topic (the POST does not wait for them)
        if dispatcher is not None:
            await dispatcher.submit(alerts)  # the outbox claims each dedup key: a second submit posts nothing twice
        for alert in alerts:
            body = alert.model_dump_json()
            await app.producer.send_and_wait(alerts_topic, alert.rule.encode(), body.encode(), None, None, None)
            observe_alert_latency((datetime.now(timezone.utc) - alert.fired_at).total_seconds())
            await remember_alert(state.client, settings.key_prefix, body)
            what = "provisional finding" if alert.provisional else "alert"
            log.info("%s %s %s: %s", what, alert.rule, alert.period_end.isoformat(), alert.text)
        await notebook.take(alerts)  # the week's note: final alerts only; composed at the week's close, stored
        # in the outbox and on the topic: a close taken over from here on does not hand them on again
        # (see PeriodCloser._hand_on); marked any earlier, a worker lost in between loses its Slack post
        # or its topic record
        await together(*(state.mark_emitted(alert.dedup_key, ttl_s=EMIT_TTL_S) for alert in alerts))

    closer = PeriodCloser(
        state,
        topics=[settings.topic(k) for k in INPUTS],
        evaluator=engine,
        emit=emit_alerts,
        grace_s=settings.close_grace_s,
        idle_s=settings.idle_partition_s,
        retry_max_s=settings.redis_retry_max_s,
        provisional=(
            ProvisionalWatch(engine.rules, every_s=settings.provisional_every_s)
            if engine is not None and settings.provisional_enabled
            else None
        ),
    )

    async def on_applied(batch: Batch) -> None:
        await closer.note(batch)

    ingestors: dict[str, Ingestor] = {}
    for kind in INPUTS:
        name = settings.topic(kind)
        ingestors[name] = Ingestor(
            state,
            topic=name,
            kind=kind,
            dead_letters=send_dead_letters,
            lateness_s=settings.lateness_days * 86400,
            max_message_bytes=settings.max_message_bytes,
            worker_id=wid,
            on_applied=on_applied,
            retry_max_s=settings.redis_retry_max_s,
            stats=stats,
            highwater=lambda p, t=name: app.consumer.highwater(TP(t, p)),
            future_s=settings.future_s,
            reseek=lambda p, offset, t=name: app.consumer.seek_to(TP(t, p), offset),
        )
        topic = app.topic(name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
        _add_agent(app, topic, ingestors[name], closer, settings)

    @app.task
    async def close_periods() -> None:
        """Close periods whose watermark passed: woken by the agents after a batch, and every second.

        The only place a worker closes periods, with one error policy (``PeriodCloser.tick``: an
        unexpected error is logged and the next tick retries); the agents wait for a close only while
        live, before their next batch and at most ``MAKE_WAY_S`` (``PeriodCloser.make_way``).
        """
        await closer.run(interval_s=1.0)

    async def store_positions(assigned: set[TP]) -> dict[TP, int]:
        """Return each assigned input partition's stored offset (-1: none), reloaded into its ingestor."""
        out: dict[TP, int] = {}
        for name, ingestor in ingestors.items():
            parts = [tp.partition for tp in assigned if tp.topic == name]
            if parts:
                out.update({TP(name, p): o for p, o in (await ingestor.positions(parts)).items()})
        return out

    app.store_positions = store_positions  # read by the consumer (streams.consumer.Consumer.perform_seek)

    @app.on_partitions_assigned.connect
    async def register_backlog(app_: faust.App, assigned: set, **_: Any) -> None:  # type: ignore[type-arg]
        """Reload each assigned input partition's stored offset and record its backlog for the closer.

        The consumer then seeks each one to its stored offset + 1 (``store_positions``, from
        Faust's ``perform_seek``, through the consumer's thread: seeking from this signal
        raced with that thread and could stop the worker).
        """
        inputs = [tp for tp in assigned if tp.topic in ingestors]
        ends = await app.consumer.highwaters(*inputs) if inputs else {}
        for tp in inputs:
            ingestor = ingestors[tp.topic]
            ingestor.forget([tp.partition])
            stored = await ingestor.stored_offset(tp.partition)
            if ends.get(tp, 0) > stored + 1:
                # the closer must wait for this partition's backlog
                await state.register(tp.topic, tp.partition, highwater=ends[tp])

    context = app.context = WorkerContext(
        worker_id=wid,
        version=__version__,
        app_id=settings.app_id,
        state=state,
        stats=stats,
        inputs=tuple(closer.topics),
        closer=closer,
        rules=rules,
        rules_stats=rule_stats(rules),
        delivery_stats=dispatcher.stats if dispatcher is not None else None,
    )
    if dispatcher is not None:

        @app.task
        async def deliver() -> None:
            """Drain the outbox to Slack (or the console) until the worker stops."""
            try:
                await dispatcher.run()
            finally:
                await dispatcher.close()

    install_status(app, context, StatusOptions.from_settings(settings))
    install_web(app, context, WebOptions.from_settings(settings))
    return app


def _add_agent(app: faust.App, topic: Any, ingestor: Ingestor, closer: PeriodCloser, settings: Settings) -> None:
    async def ingest(stream: Any) -> None:
        async for events in stream.batches(settings.batch_max):
            records = [Record(m.partition, m.offset, m.value, getattr(m, "sm_prev", None)) for m in (e.message for e in events)]
            await closer.make_way()  # a close under way goes first (alerts before throughput)
            started = time.perf_counter()
            try:
                await ingestor.handle(records)
            except Exception:
                # the batch is not acknowledged, but a restarted agent would read on after it;
                # exit at once instead, so a restart reads it again after the stored offsets
                log.critical("%s: stopping the worker on an unexpected error", ingestor.topic, exc_info=True)
                logging.shutdown()
                os._exit(70)
            observe_batch(time.perf_counter() - started)
            # the close runs in the closer's task (close_periods), not here: the batch is acknowledged
            # now, and a rebalance does not wait for a close
            closer.wake()

    ingest.__name__ = f"ingest_{ingestor.kind}"
    ingest.__qualname__ = ingest.__name__
    # an unexpected error stops the worker: a restart resumes exactly after the stored offsets,
    # where a restarted agent alone would skip the batch it was holding
    app.agent(
        topic, name=f"{settings.app_id}.ingest.{ingestor.kind}", concurrency=1, supervisor_strategy=CrashingSupervisor
    )(ingest)


#: Allocations between two collections of the youngest generation (CPython's default is 700).
GC_YOUNG_THRESHOLD = 50_000


def tune_gc() -> None:
    """Collect garbage less often in a worker: it allocates a few objects per event and keeps few of them.

    The objects alive after start-up (modules, the app, the rules) are frozen out
    of every collection, and the youngest generation is collected every 50,000
    allocations instead of 700: with one event per message this is a quarter
    more events per second, with the same memory (see BENCHMARKS.md).
    """
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


def run_worker(settings: Settings, *, loglevel: str = "info", rules: RuleSet | None = None) -> None:
    """Run a worker until it is stopped (SIGTERM / SIGINT); ``rules`` as for :func:`create_app`."""
    from faust.worker import Worker

    app = create_app(settings, rules=rules)
    tune_gc()
    tune_allocator(settings.malloc_threshold_kib)
    worker = Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
