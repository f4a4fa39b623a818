"""The one number formatter, on the figures of the desk's note (each spelled as the note does)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from signal_monitor.delivery.slack import build_message
from signal_monitor.format import (
    fmt_figure,
    fmt_money,
    fmt_percent,
    fmt_percentile,
    fmt_points,
    fmt_ratio,
    fmt_to_one,
    fmt_unit,
    fmt_unit_change,
)
from signal_monitor.rules.alert import Alert


@pytest.mark.parametrize(
    ("text", "got"),
    [
        ("$2.41B", fmt_money(2.41e9)),  # SIGNALS.md: "net buying of $2.41 B"
        ("-$3.00B", fmt_money(-3e9)),  # "Pure long strategy funds net sold $3 billion"
        ("$400M", fmt_money(400e6)),
        ("$14.3M", fmt_money(14.3e6)),  # "a total reduction of $14.3 million"
        ("23%", fmt_percent(0.23)),  # "Macro products ... account for 23%"
        ("210.6%", fmt_percent(2.106)),  # "now down 2.5% to 210.6%"
        ("0.2%", fmt_percent(0.002)),  # "increased by 0.2% this week"
        ("2.5 points", fmt_points(-0.025)),  # leverage changes are percentage points (SIGNALS.md)
        ("1 point", fmt_points(0.01)),
        ("3.0 to 1", fmt_to_one(3.0)),  # "a ratio of about 3 to 1"
        ("3.7 to 1", fmt_to_one(3.7)),
        ("1.642", fmt_ratio(1.6424)),  # "rebounded 1.5% to 1.642"
        ("3.83", fmt_ratio(3.83)),  # "has now reached 3.83"
        ("2.90", fmt_ratio(2.9)),  # "from 2.90 at the beginning of 2025"
        ("97th percentile over 3 years", fmt_percentile(97.2, "3y")),
        ("16.77", fmt_unit("price", 16.77)),
        ("+0.9 points", fmt_unit_change("leverage", 0.009, None)),
        ("-$14.3M", fmt_unit_change("money", -14.3e6, None)),
        ("-8.1%", fmt_unit_change("money", -2.9e6, -0.081)),
    ],
)
def test_the_note_figures(text: str, got: str) -> None:
    assert got == text


def test_a_figure_without_a_unit() -> None:
    assert fmt_figure(None) == "—"
    assert fmt_figure(209) == "209"
    assert fmt_figure([["Energy", 0.98e9]]) == "Energy (980.0M)"


def test_slack_fields_are_the_alerts_formatted_figures() -> None:
    alert = Alert(
        rule="sector_net_buying_high",
        scope={"fund_type": "hedge_fund", "sector": "Industrials"},
        granularity="week",
        period_start=date(2025, 6, 2),
        period_end=date(2025, 6, 6),
        value=2.41e9,
        threshold=2.2e9,
        context={"ls_flow_ratio": 3.7},
        severity="info",
        dedup_key="k",
        text="Industrials: ...",
        unit="money",
        figures={"value": "$2.41B", "threshold": "$2.20B", "ls_flow_ratio": "3.7 to 1"},
        fired_at=datetime(2025, 6, 6, 21, tzinfo=UTC),
    )
    [attachment] = build_message([alert]).attachments
    fields = [f["text"] for b in attachment["blocks"] for f in b.get("fields", [])]
    assert fields[:3] == ["*value*\n$2.41B", "*threshold*\n$2.20B", "*ls flow ratio*\n3.7 to 1"]
