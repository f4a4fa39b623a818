"""Every YAML example of the README and docs/*.md that looks like rules or routes loads."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
import yaml

from signal_monitor.delivery.routing import parse_routes
from signal_monitor.rules.model import parse_rules

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^([ \t]*)```ya?ml[ \t]*\n(.*?)^\1```", re.M | re.S)


def yaml_blocks() -> list[tuple[str, str]]:
    """Return (where, text) of every fenced yaml block of the documents."""
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{doc.relative_to(ROOT)}:{line}", textwrap.dedent(match.group(2))))
    return found


def classify(text: str) -> tuple[str, str] | None:
    """Return ("rules" | "routes", a whole file's text) for a block that is a rule file, a list of rules or routes."""
    doc = yaml.safe_load(text)
    if isinstance(doc, list) and doc and all(isinstance(item, dict) and "id" in item for item in doc):
        return "rules", "version: 1\nrules:\n" + textwrap.indent(text, "  ")
    if isinstance(doc, dict) and "rules" in doc and isinstance(doc["rules"], list):
        return "rules", text
    if isinstance(doc, dict) and ("receivers" in doc or "route" in doc):
        return "routes", text
    return None


BLOCKS = yaml_blocks()


def test_the_documents_have_rule_and_routes_examples() -> None:
    kinds = [c[0] for _, text in BLOCKS if (c := classify(text)) is not None]
    assert "rules" in kinds and "routes" in kinds


@pytest.mark.parametrize(("where", "text"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_yaml_example_loads(where: str, text: str) -> None:
    found = classify(text)
    if found is None:
        pytest.skip("neither a rule file nor a routes file")
    kind, whole = found
    if kind == "rules":
        assert len(parse_rules(whole, where)) >= 1
    else:
        parse_routes(whole, where)
