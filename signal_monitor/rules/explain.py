"""Why an alert fired and what delivery did with it, from what the state and the outbox keep.

Read-only. What is known comes from: the series points (``P:{s:<series id>}``), the rule's per-scope
state (``P:rule:<rule id>``: the last final period, the kinds' memory, the results of the last
:data:`~signal_monitor.rules.engine.RECENT_PERIODS` periods), the recent-alerts list (the last
:data:`~signal_monitor.status.recent_alerts.RECENT_ALERTS_MAX` alerts), and delivery's keys (claims per
receiver, queues, digests, parked messages, realert times, inhibition sources, silences). What is not
kept is said so: delivery records no per-alert decision (a silenced, inhibited or realert-dropped alert
leaves a counter and a log line only).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from signal_monitor.delivery.outbox import Outbox
from signal_monitor.delivery.realert import realert_key
from signal_monitor.delivery.routing import Routes, format_duration
from signal_monitor.delivery.silences import SilenceStore
from signal_monitor.rules.alert import Alert, base_key, dedup_key
from signal_monitor.rules.engine import COOLDOWN
from signal_monitor.rules.model import Rule, RuleSet
from signal_monitor.series import parse_scope_key, scope_key, series_id
from signal_monitor.state.redis import RedisState
from signal_monitor.status.recent_alerts import RECENT_ALERTS_MAX, recent_alerts

#: Points shown before and after the period.
AROUND = (6, 2)

NOT_KEPT = [
    "delivery keeps no per-alert decision: a silenced or inhibited alert leaves only a counter and a log line",
    "a Slack message's ts is kept only for a bot-token post (the thread its withdrawal replies in)",
    "series points are kept per period, not their revisions; the rule's results of the last 8 periods only",
]


@dataclass(frozen=True)
class Target:
    """What is explained: a rule, a scope and a period (and the dedup key they make)."""

    rule: Rule
    scope: dict[str, str]
    period: date

    @property
    def dedup_key(self) -> str:
        """Return the first revision's dedup key."""
        return dedup_key(self.rule.id, self.scope, self.period)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


async def find(state: RedisState, rules: RuleSet, key: str) -> tuple[Target | None, dict[str, Any] | None]:
    """Return the rule, scope and period of a dedup key (``:v<n>`` allowed), and its recent alert if still listed.

    Looked up in the recent alerts, then over the periods each rule state still keeps.
    """
    base = base_key(key)
    known = {rule.id: rule for rule in rules}
    stored = await recent_alerts(state.client, state.prefix, limit=RECENT_ALERTS_MAX)
    for alert in stored:
        if base_key(str(alert.get("dedup_key", ""))) == base and alert.get("rule") in known:
            period = date.fromisoformat(alert["period_end"])
            return Target(known[alert["rule"]], dict(alert.get("scope") or {}), period), alert
    for rule in rules:
        for scope_text, raw in (await state.client.hgetall(f"{state.prefix}:rule:{rule.id}")).items():
            record = json.loads(_text(raw))
            scope = parse_scope_key(_text(scope_text))
            for iso in record.get("recent", {}):
                if dedup_key(rule.id, scope, date.fromisoformat(iso)) == base:
                    return Target(rule, scope, date.fromisoformat(iso)), None
    return None, None


async def explain(
    state: RedisState, routes: Routes, target: Target, *, alert_json: dict[str, Any] | None, now: float
) -> dict[str, Any]:
    """Return what is known about one rule, scope and period, as JSON-able sections."""
    rule, scope, period = target.rule, target.scope, target.period
    if alert_json is None:
        for item in await recent_alerts(state.client, state.prefix, limit=RECENT_ALERTS_MAX):
            if base_key(str(item.get("dedup_key", ""))) == target.dedup_key:
                alert_json = item
                break
    out: dict[str, Any] = {
        "rule": rule.id,
        "scope": scope,
        "period": period.isoformat(),
        "granularity": rule.period,
        "dedup_key": target.dedup_key,
        "alert": alert_json,
        "checks": [{"name": c.name, "kind": c.kind, "metric": c.metric, "params": c.params.model_dump()} for c in rule.checks],
    }
    out["points"] = await _points(state, rule, scope, period)
    record = await state.get_rule_state(rule.id, scope_key(scope))
    entry = record.get("recent", {}).get(period.isoformat())
    out["state"] = {
        "last_final_period": record.get("period"),
        "memory": record.get("checks", {}),
        "result": None if entry is None else {
            "fired": entry.get("fired"), "value": entry.get("value"), "threshold": entry.get("threshold"),
            "revision": entry.get("revision"), "memory_before": entry.get("before"),
            "corrected": "correction" in entry,
        },
        "kept_periods": sorted(record.get("recent", {})),
    }
    out["cooldown"] = cooldown(rule, entry)
    out["delivery"] = await _delivery(state, routes, rule, target, alert_json, now=now)
    out["not_kept"] = NOT_KEPT
    return out


def cooldown(rule: Rule, entry: dict[str, Any] | None) -> dict[str, Any]:
    """Return the rule's cooldown and whether the period fell inside its window, from the period's kept result.

    ``since_last_alert`` counts the periods with data from the scope's last alert to this one (this one
    included); ``held_back`` says the checks held but the cooldown kept the alert back (a result kept
    before this was recorded says False).
    """
    unit = "weeks" if rule.period == "week" else "trading days"
    out: dict[str, Any] = {"periods": rule.cooldown, "unit": unit, "since_last_alert": None, "inside": False,
                           "held_back": False}
    if not rule.cooldown:
        return {**out, "said": "none: the rule may fire every period"}
    if entry is None:
        return {**out, "inside": None, "held_back": None,
                "said": f"{rule.cooldown} {unit}; no result is kept for the period, so whether it was inside is not known"}
    last = (entry.get("before") or {}).get(COOLDOWN)
    since = None if last is None else int(last["since"]) + (0 if entry.get("value") is None else 1)
    inside = since is not None and since <= rule.cooldown and not entry.get("fired")
    held = bool(entry.get("cooled"))
    after = "no earlier alert of this scope is known" if since is None else f"{since} {unit} after the last alert of this scope"
    if entry.get("fired"):
        said = f"{rule.cooldown} {unit}; outside it ({after}), so it could fire, and the next {rule.cooldown} are kept quiet"
    elif held:
        said = f"{rule.cooldown} {unit}; inside it ({after}): the checks held, but the cooldown kept the alert back"
    elif inside:
        said = f"{rule.cooldown} {unit}; inside it ({after}): no alert could fire"
    else:
        said = f"{rule.cooldown} {unit}; outside it ({after})"
    return {**out, "since_last_alert": since, "inside": inside or held, "held_back": held, "said": said}


async def _points(state: RedisState, rule: Rule, scope: dict[str, str], period: date) -> dict[str, Any]:
    """Return the rule's series points around the period (and the metrics its checks read)."""
    step = 7 if rule.period == "week" else 1
    before, after = AROUND
    since = period - timedelta(days=step * before * 2 + 7)
    until = period + timedelta(days=step * after * 2 + 7)
    out: dict[str, Any] = {}
    for metric in dict.fromkeys([rule.metric, *(c.metric for c in rule.checks)]):
        sid = series_id(metric, rule.period, scope)
        points = await state.history(sid, since=since, until=until)
        earlier = [p for p in points if p[0] < period][-before:]
        at = [p for p in points if p[0] == period]
        later = [p for p in points if p[0] > period][:after]
        out[sid] = [{"period": d.isoformat(), "value": v, "this": d == period} for d, v in earlier + at + later]
    return out


async def _delivery(
    state: RedisState, routes: Routes, rule: Rule, target: Target, alert_json: dict[str, Any] | None, *, now: float
) -> dict[str, Any]:
    """Return what delivery keeps about the alert: its routes and, per receiver, claim, place, realert; silences, inhibition."""
    client, prefix = state.client, state.prefix
    if alert_json is not None:
        alert = Alert.model_validate(alert_json)
    else:  # the routes match on rule, scope, severity, granularity and labels: all known from the rule
        start = target.period - timedelta(days=4 if rule.period == "week" else 0)
        alert = Alert(
            rule=rule.id, scope=target.scope, granularity=rule.period, period_start=start, period_end=target.period,
            value=None, threshold=None, severity=rule.severity, labels=rule.labels, dedup_key=target.dedup_key,
            text="", fired_at=datetime.fromtimestamp(now, UTC),
        )
    fired_at = alert.fired_at.timestamp()
    box = Outbox(client, prefix=prefix)
    parked = {p.id: p for p in await box.parked()}
    receivers = []
    for route in routes.match(alert):
        noise = routes.noise(route, alert)
        claimed = await box.claimed(route.receiver, alert.dedup_key)
        place = await _place(box, route, alert.dedup_key, parked)
        raw_last = await client.get(realert_key(prefix, route.receiver, alert))
        last = float(_text(raw_last)) if raw_last is not None else None
        if place:
            decided = place
        elif claimed and noise.realert > 0 and last is not None and last < fired_at - 1:
            decided = (f"claimed but not queued: probably dropped by realert ({format_duration(noise.realert)}; "
                       f"rule and scope last queued {_when(last)})")
        elif claimed:
            decided = "claimed and no longer queued: sent (or dropped by realert; the outcome is not kept per alert)"
        else:
            decided = ("not claimed: never handed to this receiver (silenced, inhibited, provisional, not delivered "
                       "yet), or its claim expired")
        receivers.append({
            "route": route.name, "receiver": route.receiver, "claimed": claimed, "decided": decided,
            "slack_ts": await box.post_ts(route.receiver, alert.dedup_key.split(":v", 1)[0]),
            "digest": f"group_wait {format_duration(noise.group_wait)}" if noise.group_wait > 0 else None,
            "realert": format_duration(noise.realert) if noise.realert > 0 else None,
            "last_queued": _when(last) if last is not None else None,
        })
    store = SilenceStore(client, prefix=prefix, clock=lambda: now)
    silences = [
        {"id": s.id, "reason": s.reason, "from": _when(s.starts_at), "until": _when(s.ends_at),
         "covered_the_alert": s.starts_at <= fired_at < s.ends_at}
        for s in await store.all() if s.matches(alert)
    ]
    inhibition = []
    for index, inhibit in enumerate(routes.inhibit):
        if not inhibit.target.matches(alert) or inhibit.source.matches(alert):
            continue
        raw = await client.hget(f"{prefix}:{{delivery}}:noise:inhibit:{index}", inhibit.key(alert))
        if raw is None:
            inhibition.append({"inhibit": f"inhibit[{index}]", "source": None})
            continue
        record = json.loads(_text(raw))
        at = float(record["at"])
        inhibition.append({
            "inhibit": f"inhibit[{index}]", "source": record.get("rule"), "source_at": _when(at),
            "covered_the_alert": at <= fired_at < at + inhibit.duration,
        })
    return {"receivers": receivers, "silences": silences, "inhibition": inhibition}


async def _place(box: Outbox, route: Any, key: str, parked: dict[str, Any]) -> str | None:
    """Return where a message holding ``key`` sits for the route's receiver: queued, in a digest or parked."""
    for ident, item in parked.items():
        if item.message.get("receiver") == route.receiver and any(a.get("dedup_key") == key for a in item.message.get("alerts", [])):
            return f"parked ({item.reason}); `signal-monitor outbox requeue {ident}` after the fix"
    for message in await box.queued(route.receiver):
        if any(a.get("dedup_key") == key for a in message.get("alerts", [])):
            return "queued for the receiver (not sent yet)"
    for raw in await box.group_entries(route.name):
        if key in raw:
            return f"waiting in the digest of route {route.name!r}"
    return None


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
