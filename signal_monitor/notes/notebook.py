"""The notebook: keeps each week's final alerts in the state and its note composed and stored.

Whoever hands alerts on (the worker's ``emit_alerts``, a replay) gives them to
:meth:`Notebook.take` once they are on their way. It keeps every final alert
(provisional ones never) under its week, the highest revision of each rule, scope
and period, then composes the note of a week

* when the week closes: the batch holds weekly alerts of the week (the closer hands on
  a day's alerts before its week's, so the Friday's daily alerts are kept by then);
* when the week has a note already: a correction, a withdrawal or a late daily alert of
  the week changes it (recomposed from everything kept).

A note is stored only when what it says changed (its digest); each stored change
raises its revision and is passed to ``on_note`` (delivery). Handing the same alerts
on again (a close taken over) composes the same note: nothing is stored or sent twice.
A week in which no weekly rule fires gets its note once a correction or a later
alert of the week arrives, or from ``signal-monitor note``, which composes it from
what is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import date

from signal_monitor.notes.compose import Note, claim_key, compose, max_carry, weeks_before
from signal_monitor.periods import week_of
from signal_monitor.rules.alert import Alert
from signal_monitor.rules.model import RuleSet
from signal_monitor.state.base import State

log = logging.getLogger(__name__)

NoteSink = Callable[[Note], Awaitable[None]]


class Notebook:
    """Records the weeks' final alerts and composes, stores and hands on their notes."""

    def __init__(self, state: State, rules: RuleSet | None, *, on_note: NoteSink | None = None) -> None:
        self.state = state
        self.rules = rules
        self.on_note = on_note
        self.composed = 0  # notes stored (first ones and changes)

    async def take(self, alerts: Iterable[Alert]) -> list[Note]:
        """Record the final alerts; compose the notes they close or change; return the notes stored anew."""
        final = [a for a in alerts if not a.provisional]
        weeks: set[date] = set()
        closing: set[date] = set()
        for alert in final:
            week = week_of(alert.period_end)
            await self.state.record_note_alert(week, claim_key(alert), alert.model_dump_json(), revision=alert.revision)
            weeks.add(week)
            if alert.granularity == "week" and not alert.correction:
                closing.add(week)
        stored = []
        for week in sorted(weeks):
            if week in closing or await self.state.get_note(week) is not None:
                note = await self.refresh(week)
                if note is not None:
                    stored.append(note)
        return stored

    async def week_alerts(self, week: date) -> list[Alert]:
        """Return the alerts kept for ``week`` (entries that no longer parse as alerts are skipped, and logged)."""
        out = []
        for raw in await self.state.note_alerts(week):
            try:
                out.append(Alert.model_validate_json(raw))
            except ValueError as exc:
                log.warning("note of %s: a kept alert is not an alert (%s); left out", week.isoformat(), exc)
        return out

    async def compose(self, week: date, *, revision: int = 1) -> Note:
        """Compose the note of ``week`` from the alerts kept for it (and the weeks its rules carry)."""
        earlier = {before: await self.week_alerts(before) for before in weeks_before(week, max_carry(self.rules))}
        return compose(week, await self.week_alerts(week), rules=self.rules, earlier=earlier, revision=revision)

    async def stored(self, week: date) -> Note | None:
        """Return the stored note of ``week``, None when there is none (or it no longer parses)."""
        raw = await self.state.get_note(week)
        if raw is None:
            return None
        try:
            return Note.model_validate_json(raw)
        except ValueError as exc:
            log.warning("the stored note of %s does not parse (%s); composing it again", week.isoformat(), exc)
            return None

    async def refresh(self, week: date) -> Note | None:
        """Compose the note of ``week``; store and hand it on when it says something new; return it then, else None."""
        old = await self.stored(week)
        note = await self.compose(week, revision=old.revision if old else 1)
        if old is not None and old.digest() == note.digest():
            return None
        if old is not None:
            note = note.model_copy(update={"revision": old.revision + 1})
        await self.state.put_note(week, note.model_dump_json())
        self.composed += 1
        log.info("note of the week ending %s: revision %d, %d findings", week.isoformat(), note.revision, len(note.claims))
        if self.on_note is not None:
            await self.on_note(note)
        return note
