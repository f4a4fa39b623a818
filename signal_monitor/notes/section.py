"""The note's sections, in the desk note's order, and a rule's place in them (its ``note:`` entry)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SectionKey = Literal["flows", "sectors", "leverage", "volatility", "divergence", "indices", "other"]

#: section key -> its heading, in the order the note shows them
SECTIONS: dict[str, str] = {
    "flows": "Flows",
    "sectors": "Sectors",
    "leverage": "Leverage",
    "volatility": "Volatility",
    "divergence": "Divergence and crowding",
    "indices": "Indices",
    "other": "Other signals",
}

#: the rank of a rule that does not give one: after every ranked rule of the shipped set
DEFAULT_RANK = 100


class NotePlacement(BaseModel):
    """Where a rule's alerts go in the week's note and how significant they are.

    ``rank``: 1 is the most significant; within a section claims are ordered by rank, and the
    note's headline is the claim of the lowest rank. ``carry``: weeks before the note's week
    whose alert of the rule (same scope) the note still carries when the week itself has none
    (a record set a few weeks earlier, say); 0 carries nothing. ``include: false`` keeps the
    rule out of the note.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    section: SectionKey = "other"
    rank: int = Field(default=DEFAULT_RANK, ge=1, le=10_000)
    carry: int = Field(default=0, ge=0, le=52)
    include: bool = True


DEFAULT_PLACEMENT = NotePlacement()
