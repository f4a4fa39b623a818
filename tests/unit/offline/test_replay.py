"""Replay's readers: CBOE daily closes become close quotes at their session's close."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from signal_monitor.offline.replay import cboe_quotes
from signal_monitor.periods import EASTERN


def test_cboe_rows_close_at_their_sessions_close(tmp_path: Path) -> None:
    path = tmp_path / "vix.csv"
    # a regular day, an early close (13:00), a day without a session (Good Friday: its nominal 16:00)
    path.write_text("DATE,OPEN,HIGH,LOW,CLOSE\n11/26/2025,18,19,17,17.2\n11/28/2025,17,17.5,16,16.35\n2025-04-18,30,31,29,29.6\n")
    got = [(t, json.loads(body)) for t, body in cboe_quotes(path, "VIX")]
    stamps = [datetime.fromisoformat(q["ts"]).astimezone(EASTERN).strftime("%Y-%m-%d %H:%M") for _, q in got]
    assert stamps == ["2025-11-26 16:00", "2025-11-28 13:00", "2025-04-18 16:00"]
    assert [t for t, _ in got] == [datetime.fromisoformat(q["ts"]).timestamp() for _, q in got]
    assert [q["price"] for _, q in got] == [17.2, 16.35, 29.6]
