"""The rule engine: evaluates the rules when a period closes, once, and corrects them after late data.

Per rule and scope it keeps one record in the state's rule state:

* ``period``: the last period evaluated for good, and ``checks``: the kinds' states
  after it (the memory carried to the next period);
* ``recent``: the results of the last few final periods, each with the kinds'
  states *before* it, so the same period can be re-run (by another worker, or
  after late data) from the same starting point and compared.

A final evaluation writes the record, then claims ``eval:<dedup_key>`` before
returning a fired alert, so two workers closing the same period produce it once;
a period already in ``recent`` is not evaluated again (use :meth:`reevaluate`).
A provisional evaluation reads the same state and writes nothing; its text is the rule's
``provisional_message`` ("on track for ..."), else the default text labelled as provisional.

The entry of a period that fired also keeps its ``alert`` (as JSON), until a
later period of the same rule and scope is final. A worker can die after the
record is written and before the alert is handed on; whoever takes the close
over evaluates with ``resume=True``, which returns these alerts again, the same
ones with the same dedup keys (the delivery outbox's claim on the key keeps
Slack to one post), and evaluates the scopes the dead worker had not reached.

A correction is kept the same way: the entry of a corrected period keeps its newest
``correction`` (as JSON), claimed before it is returned. A worker can die between
that claim and handing the correction on; whoever takes the recompute over calls
:meth:`reevaluate` with ``resume=True``, which returns the stored correction again
(same dedup key), then a further correction if the data changed since.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypeVar

from signal_monitor.periods import EASTERN, Granularity, period_bounds
from signal_monitor.rules.alert import Alert, dedup_key
from signal_monitor.rules.kinds import KINDS, Finding, Inputs, SeriesRef
from signal_monitor.rules.model import Check, Rule
from signal_monitor.rules.names import DisplayNames
from signal_monitor.rules.text import correction_text, describe, provisional_text, render, template_fields
from signal_monitor.series import parse_series_id, scope_key, series_id
from signal_monitor.state.base import Point, State
from signal_monitor.tasks import together

#: Final results kept per rule and scope for corrections (far more than any grace period spans).
RECENT_PERIODS = 8
#: The key of a rule's own memory among its checks' states (a check name cannot start with "_").
COOLDOWN = "_cooldown"
#: How long a claim on an alert lasts (30 days).
CLAIM_TTL_S = 30 * 86400.0


T = TypeVar("T")

#: The rules and scopes of one period are evaluated side by side, at most this many at once: each is a few
#: round trips to the store, independent of the others (its own state, its own claim).
SIDE_BY_SIDE = 16


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class _Outcome:
    """A rule's result for one scope and period."""

    fired: bool
    value: float | None
    threshold: float | None
    context: dict[str, Any]
    states: dict[str, dict[str, Any]]
    conditions: tuple[tuple[Check, Finding], ...]  #: fired ones first
    reports: tuple[tuple[Check, Finding], ...]
    cooled: bool = False  #: the checks held, but the period was within the rule's cooldown


def _same(a: float | None, b: float | None) -> bool:
    """Return True when two optional values are equal up to float noise."""
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def value_unit(rule: Rule, scope: Mapping[str, str], lead: Check | None, names: DisplayNames | None = None) -> str:
    """Return the unit of an alert's value: the lead check's metric's, unless its kind's value is a ratio, share...

    ``names``: the display names with the units the store keeps for observed series (the rule's own by default).
    """
    names = rule.names if names is None else names
    if lead is None:
        return names.unit(rule.metric, scope)
    fmt = KINDS[lead.kind].value_fmt
    if fmt == "value":
        return names.unit(lead.metric, scope)
    return {"ratio": "ratio", "to_one": "to_one", "fraction": "fraction", "count": "count"}.get(fmt, "number")


async def series_points(
    state: State,
    metric: str,
    granularity: Granularity,
    scope: Mapping[str, str | list[str]],
    *,
    since: date | None = None,
    until: date | None = None,
) -> list[Point]:
    """Return the points a rule reads of a series; a list of scope values reads each and sums them by period."""
    keys = list(scope)
    combos = list(itertools.product(*([v] if isinstance(v, str) else v for v in scope.values())))
    if len(combos) == 1:
        return await state.history(
            series_id(metric, granularity, dict(zip(keys, combos[0], strict=True))), since=since, until=until
        )
    sums: dict[date, float] = {}
    for combo in combos:
        sid = series_id(metric, granularity, dict(zip(keys, combo, strict=True)))
        for day, value in await state.history(sid, since=since, until=until):
            sums[day] = sums.get(day, 0.0) + value
    return sorted(sums.items())


class RuleEngine:
    """Evaluates a rule set over the series of a ``State``."""

    def __init__(
        self,
        rules: Iterable[Rule],
        state: State,
        *,
        claim_ttl_s: float = CLAIM_TTL_S,
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.state = state
        self.claim_ttl_s = claim_ttl_s
        self.clock = clock

    # --- public -----------------------------------------------------------------------

    async def evaluate(
        self, period: date, granularity: Granularity, *, provisional: bool = False, resume: bool = False
    ) -> list[Alert]:
        """Evaluate every rule of this granularity for a period; return the alerts that fired.

        Final (``provisional=False``): persists each rule's state and result and
        returns only alerts this call claimed. Provisional: returns what would fire,
        marked provisional, and changes nothing.

        ``resume=True`` is for a close taken over from a worker that did not finish
        it: where the period was already evaluated, it returns the alert that
        evaluation fired (whether or not it was handed on before the worker died),
        and a correction if the data changed since; elsewhere it evaluates as usual.
        """
        async def one(rule: Rule, scope: dict[str, str]) -> list[Alert]:
            if provisional:
                alert = await self._provisional(rule, scope, period)
                return [] if alert is None else [alert]
            return await self._final(rule, scope, period, resume=resume)

        return [a for found in await self._each(granularity, one) for a in found]

    async def reevaluate(self, period: date, granularity: Granularity, *, resume: bool = False) -> list[Alert]:
        """Re-run a period already evaluated (after late data); return corrections where the result changed.

        A correction carries ``correction=True`` and the dedup key plus ``:v<n>``. It
        is returned when an alert no longer fires (``fired=False``), when one fires
        now that did not, or when a fired alert's value or threshold changed.
        Scopes never evaluated for the period are skipped.

        ``resume=True`` is for a recompute taken over from a worker that did not finish
        it: it also returns the newest correction of each corrected scope of the period,
        the same one (whether or not it was handed on before the worker died).
        """
        async def one(rule: Rule, scope: dict[str, str]) -> list[Alert]:
            found: list[Alert] = []
            if resume:
                stored = await self._stored_correction(rule, scope, period)
                if stored is not None:
                    found.append(stored)
            alert = await self._recheck(rule, scope, period)
            return found if alert is None else [*found, alert]

        return [a for found in await self._each(granularity, one) for a in found]

    async def _each(self, granularity: Granularity, fn: Callable[[Rule, dict[str, str]], Awaitable[T]]) -> list[T]:
        """Run ``fn`` for every rule of ``granularity`` and each of its scopes, side by side (at most
        ``SIDE_BY_SIDE`` at once); return the results in the rule file's order, then the scopes' order.

        The first failure cancels the others and raises, as a failure ends a loop over them: what each
        finished stays stored, and a close taken over resumes from it.
        """
        rules = [rule for rule in self.rules if rule.period == granularity]
        targets = await together(*(self._targets(rule) for rule in rules))
        gate = asyncio.Semaphore(SIDE_BY_SIDE)

        async def gated(rule: Rule, scope: dict[str, str]) -> T:
            async with gate:
                return await fn(rule, scope)

        return await together(*(gated(r, s) for r, scopes in zip(rules, targets, strict=True) for s in scopes))

    # --- one rule, one scope --------------------------------------------------------------

    async def _final(self, rule: Rule, scope: dict[str, str], period: date, *, resume: bool) -> list[Alert]:
        """Evaluate for good: persist (with the alert if it fired), then claim and return the alert.

        A period already evaluated returns nothing, or with ``resume`` what that evaluation fired.
        """
        key, iso = scope_key(scope), period.isoformat()
        # the inputs do not depend on the state: both are read at once (wasted only for a period evaluated before)
        record, inputs = await together(self.state.get_rule_state(rule.id, key), self._check_inputs(rule, scope, period))
        recent: dict[str, Any] = record.get("recent", {})
        if iso in recent:
            return await self._resume(rule, scope, period, recent[iso]) if resume else []
        last = record.get("period")
        advancing = last is None or last < iso
        before = record.get("checks", {}) if advancing else {}
        outcome = await self._run(rule, scope, period, before, inputs=inputs)
        alert = await self._alert(rule, scope, period, outcome) if outcome.fired else None
        entry: dict[str, Any] = {
            "fired": outcome.fired,
            "value": outcome.value,
            "threshold": outcome.threshold,
            "revision": 1,
            "before": before,
        }
        if outcome.cooled:  # for ``explain``: quiet because of the cooldown, not because no check held
            entry["cooled"] = True
        if alert is not None:
            entry["alert"] = alert.model_dump(mode="json")
        # only the newest final period can still be in a close that has to be taken over: older ones drop their alert
        older = {p: {k: v for k, v in e.items() if k != "alert"} if p < iso else e for p, e in recent.items()}
        kept = dict(sorted({**older, iso: entry}.items())[-RECENT_PERIODS:])
        await self.state.set_rule_state(
            rule.id,
            key,
            {
                "period": iso if advancing else last,
                "checks": outcome.states if advancing else record.get("checks", {}),
                "recent": kept,
            },
        )
        if alert is None:
            return []
        if not await self.state.claim(f"eval:{alert.dedup_key}", ttl_s=self.claim_ttl_s):
            return []
        return [alert]

    async def _resume(self, rule: Rule, scope: dict[str, str], period: date, entry: Mapping[str, Any]) -> list[Alert]:
        """Return what the final evaluation of a period fired, then a correction if the data changed since.

        The alert is the one stored with the result; an entry without it (its period is no
        longer the newest) is run again from its starting state, which gives the same dedup key.
        A corrected entry returns no first alert: a correction needs the period closed, so its
        close was finished, alerts handed on included.
        """
        alerts: list[Alert] = []
        if entry["revision"] == 1:
            stored = entry.get("alert")
            if stored is not None:
                alerts.append(Alert.model_validate(stored))
            elif entry["fired"]:
                outcome = await self._run(rule, scope, period, entry["before"])
                if outcome.fired:
                    alerts.append(await self._alert(rule, scope, period, outcome))
        correction = await self._recheck(rule, scope, period)
        if correction is not None:
            alerts.append(correction)
        return alerts

    async def _stored_correction(self, rule: Rule, scope: dict[str, str], period: date) -> Alert | None:
        """Return the newest correction claimed for a period (None when it was never corrected)."""
        record = await self.state.get_rule_state(rule.id, scope_key(scope))
        stored = record.get("recent", {}).get(period.isoformat(), {}).get("correction")
        return Alert.model_validate(stored) if stored is not None else None

    async def _provisional(self, rule: Rule, scope: dict[str, str], period: date) -> Alert | None:
        """Evaluate without changing anything; return the alert that would fire, marked provisional."""
        record = await self.state.get_rule_state(rule.id, scope_key(scope))
        iso = period.isoformat()
        entry = record.get("recent", {}).get(iso)
        last = record.get("period")
        if entry is not None:
            before = entry["before"]
        else:
            before = record.get("checks", {}) if last is None or last < iso else {}
        outcome = await self._run(rule, scope, period, before)
        return await self._alert(rule, scope, period, outcome, provisional=True) if outcome.fired else None

    async def _recheck(self, rule: Rule, scope: dict[str, str], period: date) -> Alert | None:
        """Re-run a final period from its saved starting state; return a correction when the result changed."""
        key, iso = scope_key(scope), period.isoformat()
        record = await self.state.get_rule_state(rule.id, key)
        entry = record.get("recent", {}).get(iso)
        if entry is None:
            return None
        outcome = await self._run(rule, scope, period, entry["before"])
        if outcome.fired == entry["fired"] and (
            not outcome.fired or (_same(outcome.value, entry["value"]) and _same(outcome.threshold, entry["threshold"]))
        ):
            return None
        revision = entry["revision"] + 1
        alert = await self._alert(rule, scope, period, outcome, revision=revision)
        new_entry = {
            **entry,
            "fired": outcome.fired,
            "value": outcome.value,
            "threshold": outcome.threshold,
            "revision": revision,
            "cooled": outcome.cooled,
            # kept so that a recompute taken over hands on this very correction (see ``reevaluate``)
            "correction": alert.model_dump(mode="json"),
        }
        new_record = {**record, "recent": {**record["recent"], iso: new_entry}}
        if record.get("period") == iso:
            new_record["checks"] = outcome.states
        await self.state.set_rule_state(rule.id, key, new_record)
        if not await self.state.claim(f"eval:{alert.dedup_key}", ttl_s=self.claim_ttl_s):
            return None
        return alert

    # --- evaluation -----------------------------------------------------------------------

    async def _check_inputs(self, rule: Rule, scope: Mapping[str, str], period: date) -> list[Inputs]:
        """Read the inputs of each of the rule's checks, all at once."""
        return await together(*(self._inputs(rule, check, scope, period) for check in rule.checks))

    async def _run(
        self,
        rule: Rule,
        scope: dict[str, str],
        period: date,
        before: Mapping[str, Any],
        *,
        inputs: Sequence[Inputs] | None = None,
    ) -> _Outcome:
        """Run the rule's checks (and, when it fires, its reports) for one scope and period.

        ``inputs``: the checks' inputs when already read (``_check_inputs``).
        """
        conditions: list[tuple[Check, Finding]] = []
        states: dict[str, dict[str, Any]] = {}
        if inputs is None:
            inputs = await self._check_inputs(rule, scope, period)
        for check, given in zip(rule.checks, inputs, strict=True):
            finding = KINDS[check.kind].fn(given, check.params, before.get(check.name, {}))
            conditions.append((check, finding))
            if finding.state:
                states[check.name] = finding.state
        held = [(c, f) for c, f in conditions if f.fired]
        fired = bool(held) and (rule.combine == "any" or len(held) == len(conditions))
        cooled = False
        if rule.cooldown:
            # periods with data since the last alert of this scope (this one included; a closed day without a
            # point, an exchange holiday, does not count); quiet while within the cooldown
            last = before.get(COOLDOWN)
            has_data = any(f.value is not None for _, f in conditions)
            since = int(last["since"]) + (1 if has_data else 0) if last else None
            if fired and since is not None and since <= rule.cooldown:
                fired, cooled = False, True
            if fired:
                states[COOLDOWN] = {"since": 0}
            elif since is not None:
                states[COOLDOWN] = {"since": since}
        reports: list[tuple[Check, Finding]] = []
        if fired:
            read = await together(*(self._inputs(rule, check, scope, period) for check in rule.report))
            for check, given in zip(rule.report, read, strict=True):
                reports.append((check, KINDS[check.kind].fn(given, check.params, {})))
        ordered = [*held, *((c, f) for c, f in conditions if not f.fired)]
        context: dict[str, Any] = {}
        for _, finding in ordered:
            for k, v in finding.context.items():
                context.setdefault(k, v)
        for check, finding in reports:
            for k, v in finding.context.items():
                context.setdefault(check.name if k == "value" else k, v)
        if len(conditions) > 1:
            context["held"] = [c.name for c, _ in held]
        lead = ordered[0][1]
        return _Outcome(fired, lead.value, lead.threshold, context, states, tuple(ordered), tuple(reports), cooled)

    async def _inputs(self, rule: Rule, check: Check, scope: Mapping[str, str], period: date) -> Inputs:
        """Read what one check needs from the state, window-limited by its parameters."""
        spec = KINDS[check.kind]
        since = check.params.since(period, rule.period)
        if spec.shape == "group":
            dim = rule.wildcards[0]
            members = await self._expand(rule)
            read = await together(*(self._points(check.metric, rule.period, m, since, period) for m in members))
            return Inputs(period, rule.period, group={m[dim]: pts for m, pts in zip(members, read, strict=True)})
        if not spec.ref:
            return Inputs(period, rule.period, await self._points(check.metric, rule.period, scope, since, period), [])
        ref = getattr(check.params, spec.ref)
        points, other = await together(
            self._points(check.metric, rule.period, scope, since, period),
            self._points(ref.metric or check.metric, rule.period, {**scope, **ref.scope}, since, period),
        )
        return Inputs(period, rule.period, points, other)

    async def _points(
        self,
        metric: str,
        granularity: Granularity,
        scope: Mapping[str, str | list[str]],
        since: date | None,
        until: date,
    ) -> list[Point]:
        """Return a series' points; a list of scope values reads each and sums them by period."""
        return await series_points(self.state, metric, granularity, scope, since=since, until=until)

    async def _targets(self, rule: Rule) -> list[dict[str, str]]:
        """Return the scopes a rule is evaluated for: its scope, or one per wildcard match (a group: its scope)."""
        if rule.grouped or not rule.wildcards:
            return [dict(rule.scope)]
        return await self._expand(rule)

    async def _expand(self, rule: Rule) -> list[dict[str, str]]:
        """Return the scopes with a series of the rule's metric that match its wildcards, minus the excluded values."""
        prefix = f"{rule.metric}:{rule.period}|"
        for k in sorted(rule.scope):
            if rule.scope[k] == "*":
                prefix += f"{k}="
                break
            prefix += f"{k}={rule.scope[k]}|"
        out: list[dict[str, str]] = []
        for sid in await self.state.series_ids(prefix):
            metric, granularity, scope = parse_series_id(sid)
            if metric != rule.metric or granularity != rule.period or scope.keys() != rule.scope.keys():
                continue
            if any(v != "*" and scope[k] != v for k, v in rule.scope.items()):
                continue
            if any(scope[k] in rule.exclude.get(k, ()) for k in rule.wildcards):
                continue
            out.append(scope)
        return out

    # --- alerts -------------------------------------------------------------------------

    def is_current(self, period: date, granularity: Granularity) -> bool:
        """Whether the engine's clock is still in the period (a week until its Sunday): its text says "this week".

        A replay or backtest of past data, a close caught up after the week, and every correction
        name the period instead ("in the week ending 2025-06-06").
        """
        today = self.clock().astimezone(EASTERN).date()
        start, end = period_bounds(period, granularity)
        return start <= today <= (end + timedelta(days=2) if granularity == "week" else end)

    async def _names(self, rule: Rule, scope: Mapping[str, str]) -> DisplayNames:
        """Return the rule's names knowing the units the events of its observation series gave (the store keeps them)."""
        checks = (*rule.checks, *rule.report)
        if rule.metric != "obs" and all(c.metric != "obs" for c in checks):
            return rule.names
        wanted = [scope["series"]] if isinstance(scope.get("series"), str) else []
        for check in checks:
            spec = KINDS[check.kind]
            ref: SeriesRef | None = getattr(check.params, spec.ref) if spec.ref else None
            if ref is not None and isinstance(ref.scope.get("series"), str):
                wanted.append(ref.scope["series"])
        units = await self.state.series_units(list(dict.fromkeys(wanted)))
        return rule.names.with_observed_units(units) if units else rule.names

    async def _alert(
        self,
        rule: Rule,
        scope: dict[str, str],
        period: date,
        outcome: _Outcome,
        *,
        provisional: bool = False,
        revision: int = 1,
    ) -> Alert:
        """Build the alert (a correction when ``revision`` > 1) of an outcome."""
        held = [(c, f) for c, f in outcome.conditions if f.fired]
        names = await self._names(rule, scope)
        current = revision == 1 and self.is_current(period, rule.period)
        text = ""
        if outcome.fired:
            text = describe(scope, period, rule.period, held, outcome.reports, names=names, current=current)
        parts: Sequence[tuple[Check, Finding]] = [*outcome.conditions, *outcome.reports]
        fields = template_fields(rule, scope, period, outcome.value, outcome.threshold, text, parts, names=names)
        if rule.message is not None and outcome.fired:
            text = render(rule.message, fields)
        if provisional and outcome.fired:
            text = provisional_text(rule, fields, text)
        shown = ("value", "threshold", *outcome.context)
        figures = {k: fields[k] for k in shown if k in fields and (k != "threshold" or outcome.threshold is not None)}
        lead = outcome.conditions[0][0] if outcome.conditions else None
        if revision > 1:
            text = correction_text(rule.summary or rule.id, scope, period, rule.period, text, names=names)
        start, end = period_bounds(period, rule.period)
        key = dedup_key(rule.id, scope, period)
        return Alert(
            rule=rule.id,
            scope=scope,
            granularity=rule.period,
            period_start=start,
            period_end=end,
            value=outcome.value,
            threshold=outcome.threshold,
            context=outcome.context,
            severity=rule.severity,
            labels=rule.labels,
            dedup_key=key if revision == 1 else f"{key}:v{revision}",
            text=text,
            summary=rule.summary,
            runbook_url=rule.runbook_url,
            dashboard_url=rule.dashboard_url,
            unit=value_unit(rule, scope, lead, names),
            figures=figures,
            fired=outcome.fired,
            provisional=provisional,
            correction=revision > 1,
            revision=revision,
            fired_at=self.clock(),
        )
