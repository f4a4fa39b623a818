"""The worker process's own settings: garbage collection."""

from __future__ import annotations

import gc

from signal_monitor.app import GC_YOUNG_THRESHOLD, tune_gc


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
