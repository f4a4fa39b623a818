"""Grouping without Redis: a group's digests and the entries its buffer holds."""

from __future__ import annotations

from signal_monitor.delivery.stages.grouping import chunks, load_entry


def test_digest_chunks_keep_order() -> None:
    assert chunks(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    assert chunks([], 3) == []


def test_an_entry_that_is_not_an_alert_for_a_receiver_reads_as_none() -> None:
    assert load_entry('{"alert": {}, "receiver": "desk"}') == {"alert": {}, "receiver": "desk"}
    assert load_entry("not json") is None and load_entry('{"alert": {}}') is None and load_entry("[1]") is None
