"""Provisional findings: the rules marked ``provisional`` evaluated on the running week, before it closes.

The running week is the week that contains the watermark and is not closed yet.
The period closer evaluates it at a cadence (``every_s``) and after each day of the
week closes (Monday to Thursday), in its one task and under its lease on the next
day to close (:class:`~signal_monitor.agents.closer.PeriodCloser`): whoever holds
that lease closes the day or evaluates the week, never both at once, and two
workers never evaluate together. The week's points are computed from the ingest
aggregates so far and laid over the stored series (:class:`PointsOverlay`): nothing
is written to the series, and the rule engine's provisional evaluation writes no
rule state.

A finding is handed on once per (rule, scope, week), under the key
``provisional:<rule>:<scope>:<week>`` (:func:`~signal_monitor.rules.alert.provisional_key`).
Each is claimed under the closer's fence like a final alert (``State.claim_emit``):
a later evaluation, or a worker that takes the lease over, finds it handed on and
skips it; a finding claimed by a worker that died before handing it on is handed
on again by the next evaluation. Before it is handed on, the finding is listed in
the closer's record ``provisional:<week>``.

At the week's close (:meth:`ProvisionalWatch.supersede`), each listed finding that
was handed on is superseded: the week's final alert of the same rule and scope
names it in ``supersedes``; when the rule did not fire at the close, a withdrawal
(``fired: false``, still provisional, key ``<provisional key>:v2``, "no longer on
track") is handed on instead, to the receivers that had the finding. A worker that
takes the close over supersedes the same findings again (same keys).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from signal_monitor.agents.closer import CLOSER_STATE, EMIT_TTL_S
from signal_monitor.rules.alert import Alert, provisional_key
from signal_monitor.rules.engine import RuleEngine
from signal_monitor.rules.model import Rule
from signal_monitor.rules.text import scope_subject
from signal_monitor.state.base import Point, State

log = logging.getLogger(__name__)

AlertSink = Callable[[Sequence[Alert]], Awaitable[None]]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def record_name(week: date) -> str:
    """Return the name of the closer's record listing the findings of ``week`` handed on (or about to be)."""
    return f"provisional:{week.isoformat()}"


class PointsOverlay:
    """A read-only view of a ``State`` with one period's points added, not written: the running week's.

    ``history`` and ``series_ids`` see the points; every other read goes to the state.
    Writes are refused: a provisional evaluation changes nothing.
    """

    def __init__(self, state: State, period: date, points: Mapping[str, float]) -> None:
        self._state = state
        self._period = period
        self._points = dict(points)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._state, name)

    async def history(self, sid: str, *, since: date | None = None, until: date | None = None) -> list[Point]:
        """Return the stored points of a series with the overlaid point of the period in place of a stored one."""
        points = await self._state.history(sid, since=since, until=until)
        value = self._points.get(sid)
        inside = (since is None or since <= self._period) and (until is None or self._period <= until)
        if value is None or not inside:
            return points
        return sorted([p for p in points if p[0] != self._period] + [(self._period, value)])

    async def series_ids(self, prefix: str) -> list[str]:
        """Return the stored series ids and the overlaid ones that start with ``prefix``, sorted."""
        ids = set(await self._state.series_ids(prefix))
        return sorted(ids | {sid for sid in self._points if sid.startswith(prefix)})

    async def set_rule_state(self, rule_id: str, scope: str, value: Mapping[str, Any]) -> None:
        """Refused: a provisional evaluation writes no rule state."""
        raise RuntimeError(f"a provisional evaluation wrote the rule state of {rule_id} {scope}")

    async def put_points(self, period: date, points: Mapping[str, float]) -> None:
        """Refused: the running week's points are not written."""
        raise RuntimeError("a provisional evaluation wrote series points")

    async def claim(self, key: str, *, ttl_s: float) -> bool:
        """Refused: a provisional evaluation claims nothing of the rule engine's."""
        raise RuntimeError(f"a provisional evaluation claimed {key}")


class ProvisionalWatch:
    """Evaluates the provisional rules on the running week; supersedes its findings at the week's close."""

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        every_s: float,
        clock: Callable[[], datetime] = _utcnow,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.rules: tuple[Rule, ...] = tuple(r for r in rules if r.provisional and r.period == "week")
        self.every_s = every_s
        self.clock = clock
        self._next = -math.inf  # when (monotonic) the cadence is due next
        self.evaluations = 0  # evaluations of a running week
        self.found = 0  # findings handed on
        self.superseded = 0  # findings named by the week's final alert
        self.withdrawn = 0  # findings withdrawn at the week's close

    def due(self, now: float) -> bool:
        """Return whether the cadence is due at monotonic time ``now`` (never with ``every_s`` 0)."""
        return bool(self.rules) and self.every_s > 0 and now >= self._next

    def schedule(self, now: float) -> None:
        """Set the next cadence evaluation ``every_s`` after monotonic time ``now``."""
        self._next = now + self.every_s

    async def evaluate(self, state: State, week: date, points: Mapping[str, float]) -> list[Alert]:
        """Return the findings of ``week`` with its points so far (``points``), keyed once per rule and scope.

        Nothing is written: the engine reads the rule state and the series through a read-only overlay.
        """
        if not self.rules:
            return []
        self.evaluations += 1
        engine = RuleEngine(self.rules, PointsOverlay(state, week, points), clock=self.clock)  # type: ignore[arg-type]
        found = await engine.evaluate(week, "week", provisional=True)
        return [a.model_copy(update={"dedup_key": provisional_key(a.rule, a.scope, week)}) for a in found]

    async def hand_on(self, state: State, week: date, findings: Sequence[Alert], emit: AlertSink) -> int:
        """Hand on the findings not handed on before; return how many. Runs under the closer's fence.

        Each is listed in the week's record, then claimed; one found handed on (by an earlier
        evaluation or a previous holder of the lease) is skipped without a word.
        """
        todo: list[Alert] = []
        for alert in findings:
            if await state.claim_emit(alert.dedup_key, ttl_s=EMIT_TTL_S) != "sent":
                todo.append(alert)
        if not todo:
            return 0
        name = record_name(week)
        record = await state.get_rule_state(CLOSER_STATE, name)
        listed = dict(record.get("sent", {}))
        # listed before it goes out: the week's close asks each listed key's emit claim whether it went
        listed.update({a.dedup_key: a.model_dump(mode="json") for a in todo if a.dedup_key not in listed})
        await state.set_rule_state(CLOSER_STATE, name, {**record, "sent": listed})
        await emit(todo)
        for alert in todo:
            await state.mark_emitted(alert.dedup_key, ttl_s=EMIT_TTL_S)
        self.found += len(todo)
        return len(todo)

    async def supersede(self, state: State, week: date, finals: Sequence[Any]) -> list[Any]:
        """Return the week's final alerts naming the findings they supersede, plus a withdrawal of each other one.

        Runs under the fence of the week's close, before its alerts are handed on. Only findings
        handed on count (a finding listed and never handed on is left alone).
        """
        listed: dict[str, Any] = (await state.get_rule_state(CLOSER_STATE, record_name(week))).get("sent", {})
        if not listed:
            return list(finals)
        log.info("the close of the week ending %s supersedes its provisional findings", week.isoformat())
        handed = [key for key in sorted(listed) if await state.claim_emit(key, ttl_s=EMIT_TTL_S) == "sent"]
        out: list[Any] = []
        named: set[str] = set()
        for alert in finals:
            if isinstance(alert, Alert) and alert.fired and not alert.correction and not alert.provisional:
                key = provisional_key(alert.rule, alert.scope, week)
                if key in handed:
                    alert = alert.model_copy(update={"supersedes": key})
                    named.add(key)
            out.append(alert)
        withdrawals = [self._withdrawal(Alert.model_validate(listed[key])) for key in handed if key not in named]
        self.superseded += len(named)
        self.withdrawn += len(withdrawals)
        return out + withdrawals

    def _withdrawal(self, finding: Alert) -> Alert:
        """Return the withdrawal of a finding that did not hold at the week's close."""
        names = next((r.names for r in self.rules if r.id == finding.rule), None)
        subject = scope_subject(finding.scope, names=names) if names is not None else scope_subject(finding.scope)
        what = finding.summary or finding.rule
        text = (
            f"No longer on track: {what} ({subject}) did not hold at the close of the week ending "
            f"{finding.period_end.isoformat()}."
        )
        return finding.model_copy(
            update={
                "fired": False,
                "correction": True,
                "revision": 2,
                "dedup_key": f"{finding.dedup_key}:v2",
                "supersedes": finding.dedup_key,
                "text": text,
                "fired_at": self.clock(),
            }
        )
