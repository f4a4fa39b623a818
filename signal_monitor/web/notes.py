"""The week's notes on the dashboard: ``/notes`` lists the weeks with a stored note, ``/notes/<week>`` shows one.

Both read the notes the workers stored (``State.note_weeks``, ``State.get_note``); every
text is HTML-escaped. A week that is not a Friday is a 400, a week without a note a 404.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date
from typing import Any

from signal_monitor.notes.compose import Note
from signal_monitor.state.base import State

E = html.escape


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{E(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/dashboard.css"></head>
<body><header><h1>{E(title)}</h1><nav><a href="/">dashboard</a> · <a href="/notes">notes</a></nav></header>
<main>{body}</main></body></html>
"""


def notes_index_html(weeks: Sequence[date]) -> str:
    """Return the list of the weeks with a note, newest first."""
    if not weeks:
        items = '<p class="none">no note yet: a worker stores one at each week\'s close</p>'
    else:
        rows = "".join(
            f'<li><a href="/notes/{w.isoformat()}">week ending {w.isoformat()}</a></li>' for w in sorted(weeks, reverse=True)
        )
        items = f'<ul class="notes">{rows}</ul>'
    return _page("Positioning notes", f'<section id="notes">{items}</section>')


def note_html(note: Note) -> str:
    """Return one note: its headline, then a heading and a list of findings per section."""
    parts = [f'<section id="note"><p class="headline"><strong>{E(note.headline)}</strong></p>']
    for section in note.sections:
        items = "".join(
            f'<li class="claim {E(c.severity)}" data-rule="{E(c.rule)}">'
            f"{'Earlier: ' if c.carried else ''}{E(c.text)}</li>"
            for c in section.claims
        )
        parts.append(f'<h2 id="{E(section.key)}">{E(section.title)}</h2><ul>{items}</ul>')
    carried = sum(1 for c in note.claims if c.carried)
    parts.append(
        f'<p class="meta">{len(note.claims)} findings from {note.alerts} alerts of the week'
        + (f" and {carried} of an earlier week" if carried else "")
        + (f" · revision {note.revision}" if note.revision > 1 else "")
        + f" · composed {E(note.composed_at.isoformat(timespec='seconds'))}</p></section>"
    )
    return _page(note.title, "".join(parts))


def _week(text: str) -> date | None:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        return None
    return day if day.weekday() == 4 else None


def install_notes(app: Any, state: State) -> None:
    """Register ``/notes`` and ``/notes/{week}`` on the app's web server."""

    async def notes_index(self: Any, request: Any) -> Any:
        """Serve the list of the weeks with a note."""
        return self.html(notes_index_html(await state.note_weeks()), headers={"Cache-Control": "no-store"})

    async def note_page(self: Any, request: Any, week: str) -> Any:
        """Serve the note of one week."""
        day = _week(week)
        if day is None:
            body = _page("Not a week", f"<p>{E(week)} is not a Friday (YYYY-MM-DD): a week is named by its Friday.</p>")
            return self.html(body, status=400)
        raw = await state.get_note(day)
        if raw is None:
            return self.html(_page("No note", f"<p>no note of the week ending {day.isoformat()}</p>"), status=404)
        return self.html(note_html(Note.model_validate_json(raw)), headers={"Cache-Control": "no-store"})

    app.page("/notes", name="sm_notes_index")(notes_index)
    app.page("/notes/{week}", name="sm_note_page")(note_page)
