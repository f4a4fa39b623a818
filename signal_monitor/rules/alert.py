"""The alert: what a rule found for one scope and period, as data first and prose second."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from signal_monitor.periods import Granularity
from signal_monitor.series import scope_key


def dedup_key(rule_id: str, scope: Mapping[str, str], period: date) -> str:
    """Return the stable key of (rule, scope, period): the first 16 hex digits of a sha1."""
    raw = f"{rule_id}|{scope_key(scope)}|{period.isoformat()}"
    return hashlib.sha1(raw.encode("utf-8")).hexdigest()[:16]


#: the revision suffix of a correction's dedup key (``:v2``)
_REVISION = re.compile(r":v\d+$")


def provisional_key(rule_id: str, scope: Mapping[str, str], week: date) -> str:
    """Return the dedup key of a provisional finding: one per (rule, scope, week), readable.

    ``provisional:hf_net_buying_streak:fund_type=hedge_fund:2025-06-06``; the final alert of the
    week names it in ``supersedes``.
    """
    return f"provisional:{rule_id}:{scope_key(scope)}:{week.isoformat()}"


def base_key(key: str) -> str:
    """Return a dedup key without its revision suffix (``<key>:v2`` -> ``<key>``)."""
    return _REVISION.sub("", key)


class Alert(BaseModel):
    """One alert (or a correction of one), ready to route and to print."""

    model_config = ConfigDict(frozen=True)

    rule: str
    scope: dict[str, str]
    granularity: Granularity
    period_start: date = Field(description="The first day of the period (a week's Monday).")
    period_end: date = Field(description="The last day of the period (a week's Friday, which names it).")
    value: float | None = Field(description="The tested value (the metric's, or a ratio, spread, share or count).")
    threshold: float | None = Field(description="What the value was compared with.")
    context: dict[str, Any] = Field(
        default_factory=dict, description="since, periods_ago, streak, percentile and window, ratio parts, leaders..."
    )
    severity: Literal["info", "warning", "critical"]
    labels: dict[str, str] = Field(default_factory=dict)
    dedup_key: str = Field(description="Stable for rule + scope + period; a correction appends ':v<revision>'.")
    text: str
    summary: str = Field(default="", description="The rule's summary: a Slack message's header.")
    runbook_url: str = Field(default="", description="The rule's runbook: a button of the Slack message.")
    dashboard_url: str = Field(default="", description="The rule's dashboard: a button of the Slack message.")
    unit: str = Field(default="", description="The unit of ``value``: money, leverage, fraction, ratio, to_one, price, count, number.")
    figures: dict[str, str] = Field(
        default_factory=dict,
        description="value, threshold and each context figure, formatted by signal_monitor.format for display.",
    )
    fired: bool = Field(default=True, description="False only in a correction that withdraws an alert.")
    provisional: bool = Field(default=False, description="From a period that is not closed yet: state was not changed.")
    supersedes: str | None = Field(
        default=None,
        description="The dedup key of the provisional finding this alert replaces (the final alert of its week, "
        "or the withdrawal of a finding that did not hold at the close).",
    )
    correction: bool = False
    revision: int = Field(default=1, ge=1)
    fired_at: AwareDatetime
