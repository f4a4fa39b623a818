"""The week's note as one Slack message: routed, queued in the outbox and sent once; a revision changes it in place.

Routing: every route whose ``match`` has ``kind: note`` (anywhere in the tree) takes the
note to its receiver; a routes file without one sends it to the root's receiver. The
alert matchers (severity, rule, scope) do not apply to it, and silences, inhibition,
realert and grouping are for alerts: a note is queued at once, as one message.

Once: the message is claimed per receiver under ``note:<week>:<digest>``, the digest of
what the note says, so the same note handed on again (a close taken over) is not queued
twice, and a note whose content changed (a correction of its week) is queued as a new
message. Sent with a bot token, the first message's channel id and ``ts`` are kept in the
outbox (``note_ts``: receiver|week -> JSON); a later revision is sent as ``chat.update``
of that message, so the channel shows one note per week. A webhook cannot change a
message: each revision is posted, its header saying it is revised.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from signal_monitor.delivery.outbox import Outbox
from signal_monitor.delivery.routing import Route, Routes
from signal_monitor.delivery.slack import LeaseCheck, Outcome, Sender, SlackMessage
from signal_monitor.notes.compose import Note
from signal_monitor.notes.render import slack_blocks, slack_fallback, text

NOTE_KIND = "note"


def note_routes(routes: Routes) -> list[Route]:
    """Return the routes that take the note: each that matches ``kind: note``, else the root."""
    found = [r for r in routes.walk() if NOTE_KIND in r.matcher.equal.get("kind", ())]
    return found or [routes.root]


def is_note(message: Mapping[str, Any]) -> bool:
    """Return whether an outbox message carries a note (not alerts)."""
    return message.get("kind") == NOTE_KIND


def note_message(receiver: str, route: str, note: Note, now: float) -> dict[str, Any]:
    """Return the outbox message of ``note`` for ``receiver``."""
    return {
        "id": uuid.uuid4().hex,
        "dest": receiver,
        "receiver": receiver,
        "route": route,
        "kind": NOTE_KIND,
        "title": None,
        "alerts": [],
        "week": note.week.isoformat(),
        "note": note.model_dump(mode="json"),
        "created_at": now,
    }


def slack_message(note: Note, *, console: bool = False) -> SlackMessage:
    """Return the note's message: Block Kit and a notification text (the whole plain text for the console)."""
    return SlackMessage(text=text(note) if console else slack_fallback(note), blocks=slack_blocks(note))


async def admit_note(outbox: Outbox, routes: Routes, note: Note, *, claim_ttl_s: float, now: float) -> list[str]:
    """Queue ``note`` for the receiver of each matching route, once per content; return the receivers queued."""
    queued = []
    for route in note_routes(routes):
        receiver = route.receiver
        result = await outbox.admit(
            receiver=receiver,
            dedup=f"note:{note.week.isoformat()}:{note.digest()}",
            claim_ttl_s=claim_ttl_s,
            realert_key=outbox.key("note_realert"),  # not read: a note has no realert
            realert_s=0.0,
            now=now,
            message=note_message(receiver, route.name, note, now),
        )
        if result == "ok":
            queued.append(receiver)
    return queued


def _ts_key(outbox: Outbox) -> str:
    return outbox.key("note_ts")


async def posted_note(outbox: Outbox, receiver: str, week: str) -> tuple[str, str] | None:
    """Return (channel id, ts) of the note of ``week`` posted to ``receiver`` with a bot token, None when none."""
    raw = await outbox.client.hget(_ts_key(outbox), f"{receiver}|{week}")
    if raw is None:
        return None
    record = json.loads(raw)
    return str(record["channel"]), str(record["ts"])


async def send_note(
    outbox: Outbox, sender: Sender, dest: str, ident: str, message: Mapping[str, Any], *, lease: LeaseCheck | None
) -> Outcome:
    """Send the note of an outbox message: post it, or change the one posted before; keep where it was posted."""
    note = Note.model_validate(message["note"])
    week = note.week.isoformat()
    built = slack_message(note, console=sender.kind == "console")
    replace = await posted_note(outbox, dest, week) if sender.kind == "bot" else None
    outcome = await sender.post_note(built, outbox_id=ident, replace=replace, lease=lease)
    if outcome.kind == "ok" and sender.kind == "bot" and outcome.channel_id and outcome.ts:
        record = {"channel": outcome.channel_id, "ts": outcome.ts, "revision": note.revision,
                  "at": datetime.now(timezone.utc).isoformat()}
        await outbox.client.hset(_ts_key(outbox), f"{dest}|{week}", json.dumps(record))
    return outcome
