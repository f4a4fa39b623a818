"""Reading the YAML configuration files: safe loading that refuses repeated keys and names the line."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import yaml

from signal_monitor.errors import ConfigFileError


class UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses a key repeated within one mapping."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """Build a mapping, raising on a duplicate key (with its line)."""
        seen: set[Hashable] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Hashable):
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f"found duplicate key {key!r}",
                        key_node.start_mark,
                    )
                seen.add(key)
        return super().construct_mapping(node, deep)


def load_yaml(text: str, path: str, error: type[ConfigFileError]) -> Any:
    """Parse ``text`` safely; a syntax error or a repeated key raises ``error`` naming ``path`` and the line."""
    try:
        return yaml.load(text, Loader=UniqueKeyLoader)  # a SafeLoader subclass: no object construction
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise error(path, None, None, f"YAML syntax error{at}: {exc.problem or exc.context}") from exc
    except yaml.YAMLError as exc:
        raise error(path, None, None, f"YAML error: {exc}") from exc
