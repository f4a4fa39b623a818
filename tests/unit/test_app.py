"""The worker app: what create_app wires from the rule set it is given, and the worker process's garbage collection."""

from __future__ import annotations

import gc
from pathlib import Path

from signal_monitor.app import GC_YOUNG_THRESHOLD, create_app, tune_gc
from signal_monitor.config.settings import Settings
from signal_monitor.rules.model import parse_rules

VIX_RULE = """version: 1
rules:
  - id: vix_below_20
    description: The VIX closed below 20.
    metric: close
    period: day
    scope: {symbol: VIX}
    kind: threshold_cross
    params: {direction: below, level: 20.0, rearm: 22.5}
"""


def test_the_app_runs_on_the_rule_set_it_is_given_and_parses_no_rule_file(tmp_path: Path) -> None:
    rules = parse_rules(VIX_RULE, "desk-rules.yaml")
    # nothing may read the configured path: it does not exist, so a parse would fail or fall back to defaults
    settings = Settings(kafka_bootstrap="127.0.0.1:9", redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path,
                        rules_path=tmp_path / "no-such-rules.yaml", web_enabled=True, delivery_enabled=False)
    context = create_app(settings, rules=rules).context
    assert context.rules is rules
    assert context.closer.evaluator is not None and context.closer.evaluator.rules == rules.rules
    assert context.installed.status is not None and context.installed.status.collector.rules_stats is not None
    assert context.installed.status.collector.rules_stats() == {"loaded": 1}
    assert context.installed.dashboard is not None and context.installed.dashboard.thresholds == (20.0, 22.5)


def test_the_app_without_rules_has_no_engine_and_reports_none_loaded(tmp_path: Path) -> None:
    settings = Settings(kafka_bootstrap="127.0.0.1:9", redis_url="redis://127.0.0.1:1/0", data_dir=tmp_path,
                        rules_path=tmp_path / "no-such-rules.yaml", rules_enabled=False, delivery_enabled=False)
    context = create_app(settings, rules=parse_rules(VIX_RULE, "desk-rules.yaml")).context
    assert context.rules is None and context.closer.evaluator is None
    assert context.installed.status is not None and context.installed.status.collector.rules_stats is not None
    assert context.installed.status.collector.rules_stats() == {"loaded": 0}
    assert context.installed.dashboard is None  # the web server is off


def test_tune_gc_collects_the_young_generation_less_often_and_freezes_start_up_objects() -> None:
    before = gc.get_threshold()
    frozen = gc.get_freeze_count()
    try:
        tune_gc()
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > frozen  # what exists now is left out of every collection
        assert gc.isenabled()  # cycles are still collected
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()
