"""The week's note as Markdown, plain text and Slack Block Kit.

Every renderer prints the note's words as they are: the headline and each claim's
text (the alert's, numbers included). A claim carried from an earlier week says so.
Slack's limits hold: a section's text is cut at 3,000 characters with a marker, and
a note never has more than 50 blocks.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.models.blocks import Block, ContextBlock, HeaderBlock, MarkdownTextObject, PlainTextObject, SectionBlock

from signal_monitor.notes.compose import Claim, Note

FORMATS = ("markdown", "text")

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FALLBACK_TEXT = 3000
TRUNCATED = "… [truncated]"


def _claim_text(claim: Claim) -> str:
    return f"Earlier: {claim.text}" if claim.carried else claim.text


def _footer(note: Note) -> str:
    carried = sum(1 for c in note.claims if c.carried)
    earlier = f" and {carried} of an earlier week" if carried else ""
    parts = [f"{len(note.claims)} findings: from {note.alerts} alerts of the week ending {note.week.isoformat()}{earlier}"]
    if note.revision > 1:
        parts.append(f"revision {note.revision}")
    parts.append(f"composed {note.composed_at.isoformat(timespec='seconds')}")
    return " · ".join(parts)


def _md_escape(text: str) -> str:
    """Escape what Markdown would read as markup in a sentence (emphasis, code, links, HTML)."""
    for ch in "\\`*_[]<>#|":
        text = text.replace(ch, "\\" + ch)
    return text


def markdown(note: Note) -> str:
    """Return the note as Markdown: a title, the headline in bold, a heading and a bullet list per section."""
    lines = [f"# {note.title}", "", f"**{_md_escape(note.headline)}**", ""]
    for section in note.sections:
        lines += [f"## {section.title}", ""]
        lines += [f"- {_md_escape(_claim_text(c))}" for c in section.claims]
        lines.append("")
    lines.append(f"_{_md_escape(_footer(note))}_")
    return "\n".join(lines) + "\n"


def text(note: Note) -> str:
    """Return the note as plain text: the title, the headline, then each section's heading and claims."""
    lines = [note.title, "=" * len(note.title), "", note.headline, ""]
    for section in note.sections:
        lines += [section.title, "-" * len(section.title)]
        lines += [f"* {_claim_text(c)}" for c in section.claims]
        lines.append("")
    lines.append(_footer(note))
    return "\n".join(lines) + "\n"


def render(note: Note, fmt: str = "markdown") -> str:
    """Return the note in ``fmt`` (``markdown`` or ``text``)."""
    if fmt == "markdown":
        return markdown(note)
    if fmt == "text":
        return text(note)
    raise ValueError(f"unknown note format {fmt!r} (known: {', '.join(FORMATS)})")


def _truncate(value: str, limit: int) -> str:
    if len(value) <= limit:
        return value
    return value[: max(0, limit - len(TRUNCATED))].rstrip() + TRUNCATED


def _mrkdwn(value: str) -> str:
    """Escape the three characters Slack's mrkdwn reserves."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_blocks(note: Note) -> list[dict[str, Any]]:
    """Return the note as Block Kit: a header (the title), the headline, one section per heading, a context line."""
    title = note.title + (f" (revised, revision {note.revision})" if note.revision > 1 else "")
    blocks: list[Block] = [
        HeaderBlock(text=PlainTextObject(text=_truncate(title, MAX_HEADER_TEXT), emoji=False)),
        SectionBlock(text=MarkdownTextObject(text=_truncate(f"*{_mrkdwn(note.headline)}*", MAX_SECTION_TEXT))),
    ]
    room = MAX_BLOCKS - len(blocks) - 1
    for section in note.sections[:room]:
        bullets = "\n".join(f"• {_mrkdwn(_claim_text(c))}" for c in section.claims)
        body = f"*{_mrkdwn(section.title)}*\n{bullets}"
        blocks.append(SectionBlock(text=MarkdownTextObject(text=_truncate(body, MAX_SECTION_TEXT))))
    blocks.append(ContextBlock(elements=[MarkdownTextObject(text=_truncate(_mrkdwn(_footer(note)), 2000))]))
    return [b.to_dict() for b in blocks]


def slack_fallback(note: Note) -> str:
    """Return the notification text of the note's Slack message: the title and the headline."""
    return _truncate(f"{note.title}: {note.headline}", MAX_FALLBACK_TEXT)
