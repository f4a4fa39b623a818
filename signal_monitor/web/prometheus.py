"""Prometheus metrics at ``/metrics``: the status record's figures plus two histograms and a counter.

Counters and gauges are rendered at scrape time from a freshly collected
``StatusRecord`` (the same figures as the status topic, so the two never
disagree). The histograms are process-wide and fed by the agents:
:func:`observe_batch` around each batch, :func:`observe_alert_latency` once an
alert is produced (seconds from its ``fired_at``). :func:`count_chart_upload` counts the alerts' chart
uploads to Slack by outcome (``sm_chart_uploads_total``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

from signal_monitor.status.record import StatusRecord

if TYPE_CHECKING:
    from signal_monitor.status.publisher import StatusPublisher

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

BATCH_SECONDS = Histogram(
    "sm_batch_seconds",
    "Time to process one batch of input messages (decode, fold, one Redis call), in seconds.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=None,
)
ALERT_LATENCY_SECONDS = Histogram(
    "sm_alert_latency_seconds",
    "Alert end-to-end latency: from the alert's fired_at until it was produced to the alerts topic, in seconds.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
    registry=None,
)
CHART_UPLOADS = Counter(
    "sm_chart_uploads",
    "Charts of alerts uploaded to Slack beside their message, by outcome: ok, failed, none (no chart).",
    ["outcome"],
    registry=None,
)
_PROCESS = ProcessCollector(registry=None)


def observe_batch(seconds: float) -> None:
    """Record the processing time of one batch."""
    BATCH_SECONDS.observe(max(0.0, seconds))


def count_chart_upload(outcome: str) -> None:
    """Count one chart upload (ok, failed, or none: the alert has no chart)."""
    CHART_UPLOADS.labels(outcome=outcome).inc()


def observe_alert_latency(seconds: float) -> None:
    """Record one alert's latency from fired_at to produced."""
    ALERT_LATENCY_SECONDS.observe(max(0.0, seconds))


class RecordCollector(Collector):
    """Exposes one status record as Prometheus metric families."""

    def __init__(self, record: StatusRecord, *, published: int | None = None) -> None:
        self.record = record
        self.published = published

    def collect(self) -> Iterator[Metric]:
        """Yield the record's figures."""
        r = self.record
        info = InfoMetricFamily("sm_worker", "This worker.", labels=["worker_id", "host", "version", "app_id"])
        info.add_metric([r.worker_id, r.host, r.version, r.app_id], {})
        yield info
        yield GaugeMetricFamily("sm_worker_start_time_seconds", "When this worker started (epoch seconds).",
                                value=r.started.timestamp())
        yield GaugeMetricFamily("sm_partitions_assigned", "Topic partitions assigned to this worker.",
                                value=len(r.partitions))
        lag = GaugeMetricFamily("sm_consumer_lag", "Messages past the offset applied in the store, per partition.",
                                labels=["topic", "partition"])
        for p in r.lag:
            if p.lag is not None:
                lag.add_metric([p.topic, str(p.partition)], p.lag)
        yield lag
        families = {
            "events": CounterMetricFamily("sm_events", "Input events applied (duplicates excluded).", labels=["topic"]),
            "messages": CounterMetricFamily("sm_messages", "Input messages applied.", labels=["topic"]),
            "duplicates": CounterMetricFamily("sm_duplicate_trades", "Resent trades skipped.", labels=["topic"]),
            "redelivered": CounterMetricFamily("sm_redelivered_messages", "Messages seen again and skipped.",
                                               labels=["topic"]),
        }
        rate = GaugeMetricFamily("sm_events_per_second", "Input events applied per second over the last minute.",
                                 labels=["topic"])
        newest = GaugeMetricFamily("sm_newest_event_timestamp_seconds", "Newest event time applied (epoch seconds).",
                                   labels=["topic"])
        for topic, fig in sorted(r.topics.items()):
            for name, family in families.items():
                family.add_metric([topic], getattr(fig, name))
            rate.add_metric([topic], fig.events_per_s)
            if fig.newest_event is not None:
                newest.add_metric([topic], fig.newest_event.timestamp())
        yield from families.values()
        yield rate
        yield newest
        dlq = CounterMetricFamily("sm_dead_letters", "Dead letters sent, by reason.", labels=["reason"])
        for reason, n in sorted(r.dlq.items()):
            dlq.add_metric([reason], n)
        yield dlq
        yield CounterMetricFamily("sm_batches", "Batches applied to the store.", value=r.batches)
        yield CounterMetricFamily("sm_store_retries", "Retries after the store was unreachable.", value=r.store_retries)
        yield GaugeMetricFamily("sm_redis_up", "1 when Redis answered the last PING.", value=1.0 if r.redis.ok else 0.0)
        if r.redis.rtt_ms is not None:
            yield GaugeMetricFamily("sm_redis_rtt_seconds", "Round trip of the last Redis PING.", value=r.redis.rtt_ms / 1000)
        outbox = GaugeMetricFamily("sm_outbox_depth", "Alerts waiting for delivery, per channel.", labels=["channel"])
        for channel, depth in sorted(r.delivery.outbox.items()):
            outbox.add_metric([channel], depth)
        yield outbox
        yield GaugeMetricFamily("sm_alerts_parked", "Alerts parked after delivery failed.", value=r.delivery.parked)
        rules = GaugeMetricFamily("sm_rules", "Rules by state (only the states the worker reports).", labels=["state"])
        for state in ("loaded", "armed", "firing", "silenced"):
            value = getattr(r.rules, state)
            if value is not None:
                rules.add_metric([state], value)
        yield rules
        closed = CounterMetricFamily("sm_periods_closed", "Periods this worker closed, by granularity.",
                                     labels=["granularity"])
        closed.add_metric(["day"], r.closer.closed_days)
        closed.add_metric(["week"], r.closer.closed_weeks)
        yield closed
        yield CounterMetricFamily("sm_close_failures", "Closes that failed on an unexpected error (retried).",
                                  value=r.closer.failures)
        yield CounterMetricFamily("sm_close_leases_lost", "Closes stopped because another worker took their lease over.",
                                  value=r.closer.leases_lost)
        yield CounterMetricFamily("sm_ingest_waits_for_close", "Batches held back while a close was under way.",
                                  value=r.closer.ingest_waits)
        if r.last_alert is not None and r.last_alert.fired_at is not None:
            yield GaugeMetricFamily("sm_last_alert_timestamp_seconds", "fired_at of the newest alert produced.",
                                    value=r.last_alert.fired_at.timestamp())
        if self.published is not None:
            yield CounterMetricFamily("sm_status_records", "Status records this worker published.", value=self.published)


def render_metrics(record: StatusRecord, *, published: int | None = None) -> bytes:
    """Return the Prometheus text exposition of the record's figures, the histograms and the process."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RecordCollector(record, published=published))
    registry.register(BATCH_SECONDS)
    registry.register(ALERT_LATENCY_SECONDS)
    registry.register(CHART_UPLOADS)
    registry.register(_PROCESS)
    return generate_latest(registry)


def install_metrics(app: Any, publisher: StatusPublisher) -> None:
    """Serve ``/metrics`` on the app's web server: the figures of a record ``publisher`` collects on each scrape."""

    async def metrics(self: Any, request: Any) -> Any:
        """Serve the Prometheus metrics of this worker."""
        record = await publisher.collect()
        body = render_metrics(record, published=publisher.published)
        return self.bytes(body, headers={"Content-Type": CONTENT_TYPE})

    app.page("/metrics", name="sm_metrics")(metrics)
