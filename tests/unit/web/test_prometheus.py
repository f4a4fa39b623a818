"""Prometheus rendering without a server: the status record's figures and the agents' histograms."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from signal_monitor.status.record import CloserCounts, RedisHealth, RuleCounts
from signal_monitor.web.prometheus import observe_alert_latency, observe_batch, render_metrics
from tests.unit.status.records import make_record


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text.decode()) for s in fam.samples}


def test_metrics_carry_the_records_figures() -> None:
    record = make_record(lag={0: 4, 1: None}, dlq={"too_late": 3}, rules=RuleCounts(loaded=21, firing=2),
                         redis=RedisHealth(ok=True, rtt_ms=2.5))
    got = samples(render_metrics(record, published=7))
    assert got[("sm_events_total", (("topic", "signals.trades"),))] == 10
    assert got[("sm_consumer_lag", (("partition", "0"), ("topic", "signals.trades")))] == 4
    assert ("sm_consumer_lag", (("partition", "1"), ("topic", "signals.trades"))) not in got  # unknown is absent, not 0
    assert got[("sm_dead_letters_total", (("reason", "too_late"),))] == 3
    assert got[("sm_rules", (("state", "loaded"),))] == 21 and ("sm_rules", (("state", "armed"),)) not in got
    assert got[("sm_redis_rtt_seconds", ())] == pytest.approx(0.0025) and got[("sm_redis_up", ())] == 1
    assert got[("sm_status_records_total", ())] == 7
    assert got[("sm_worker_info", (("app_id", "signal-monitor"), ("host", "host-a"), ("version", "0.1.0"),
                                   ("worker_id", "w1")))] == 1


def test_metrics_carry_the_closers_counters() -> None:
    record = make_record(closer=CloserCounts(closed_days=5, closed_weeks=1, failures=2, leases_lost=1, ingest_waits=7))
    got = samples(render_metrics(record))
    assert got[("sm_periods_closed_total", (("granularity", "day"),))] == 5
    assert got[("sm_periods_closed_total", (("granularity", "week"),))] == 1
    assert got[("sm_close_failures_total", ())] == 2 and got[("sm_close_leases_lost_total", ())] == 1
    assert got[("sm_ingest_waits_for_close_total", ())] == 7


def test_histograms_count_what_the_agents_observe() -> None:
    before = samples(render_metrics(make_record()))
    observe_batch(0.003)
    observe_batch(0.2)
    observe_alert_latency(1.5)
    after = samples(render_metrics(make_record()))
    assert after[("sm_batch_seconds_count", ())] == before[("sm_batch_seconds_count", ())] + 2
    assert after[("sm_batch_seconds_bucket", (("le", "0.005"),))] == before[("sm_batch_seconds_bucket", (("le", "0.005"),))] + 1
    assert after[("sm_alert_latency_seconds_sum", ())] == pytest.approx(before[("sm_alert_latency_seconds_sum", ())] + 1.5)
