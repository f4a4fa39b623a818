"""The files of a data set: its manifest, the CSV and JSON-lines writers, and the VIX history it reads."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from signal_monitor.offline.simulate.errors import SimulateError


@dataclass
class Manifest:
    """What a simulation wrote: the files, the backfill arguments and the target figures."""

    root: str
    seed: int
    note_week: str
    history_end: str
    stream_weeks: list[str]
    streams: dict[str, str]  #: topic -> file, relative to root
    history: dict[str, Any]  #: backfill arguments: closes [{path, symbol}], flows, exposures, observations
    counts: dict[str, int]  #: events per stream file, rows per history file
    targets: list[dict[str, Any]]  #: one per claim of the note: rule, series, period, value, context

    def path(self, relative: str) -> Path:
        """Return the absolute path of a file of the data set."""
        return Path(self.root) / relative

    def backfill_args(self) -> dict[str, Any]:
        """Return the keyword arguments of ``backfill.backfill`` for the history files."""
        return {
            "closes": [(self.path(c["path"]), c["symbol"]) for c in self.history["closes"]],
            "flows": [self.path(p) for p in self.history["flows"]],
            "exposures": [self.path(p) for p in self.history["exposures"]],
            "observations": [self.path(p) for p in self.history["observations"]],
        }

    def to_json(self) -> str:
        """Return the manifest as JSON text (without ``root``: paths are relative to the manifest)."""
        data = asdict(self)
        data.pop("root")
        return json.dumps(data, indent=2, sort_keys=False) + "\n"

    @classmethod
    def load(cls, path: str | Path) -> "Manifest":
        """Read a ``manifest.json``; ``root`` is its folder."""
        path = Path(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(root=str(path.parent), **data)


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[str]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        for row in rows:
            writer.writerow(row)
            count += 1
    return count


def _write_jsonl(path: Path, events: Iterable[Mapping[str, Any]]) -> int:
    count = 0
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for event in events:
            handle.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
            handle.write("\n")
            count += 1
    return count


def _read_vix(path: Path) -> list[list[str]]:
    if not path.is_file():
        raise SimulateError(f"VIX history {path} not found")
    with path.open("r", encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows or [c.strip().upper() for c in rows[0][:5]] != ["DATE", "OPEN", "HIGH", "LOW", "CLOSE"]:
        raise SimulateError(f"{path}: expected the CBOE header DATE,OPEN,HIGH,LOW,CLOSE")
    body = [r for r in rows[1:] if r]
    days = {r[0] for r in body}
    for needed in ("2025-05-09", "2025-06-06"):
        if needed not in days:
            raise SimulateError(f"{path}: no row for {needed}")
    return body
