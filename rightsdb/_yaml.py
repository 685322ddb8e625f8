"""The YAML (and JSON) reading of manifests, strict where PyYAML's ``safe_load`` is lenient or unbounded.

- a key twice in one mapping is refused (naming the key and its line), not silently the last value;
- aliases may share a value (``policy: *deny``) but not expand the document beyond
  :data:`MAX_ALIAS_EXPANSION` nodes more than it holds (a "billion laughs" bomb), nor refer to themselves;
- scalars are YAML 1.2's: dates stay text (the manifest's check reads them, so ``2027-02-30`` is a one-line
  error, not a crash) and only ``true``/``false`` are booleans (``NO`` is Norway, not false);
- nesting too deep for the parser is an error, not a crash.

Errors are :class:`yaml.YAMLError` (with ``problem`` and ``problem_mark`` when a place is known) or
``ValueError`` for JSON; :func:`rightsdb.manifest.load_manifest` turns them into one line.
"""

from __future__ import annotations

import json
import re
from typing import Any, ClassVar

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

__all__ = ["MAX_ALIAS_EXPANSION", "load_json", "load_yaml"]

#: How many nodes aliases may add to a document beyond the ones it spells out.
MAX_ALIAS_EXPANSION = 10_000

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when PyYAML was built with it


class _Loader(_Base):  # type: ignore[misc]
    """PyYAML's safe loader with YAML 1.2 scalars, no duplicate keys and bounded aliases."""

    yaml_implicit_resolvers: ClassVar[dict[Any, Any]] = {}  # YAML 1.2's scalars, filled below

    def construct_document(self, node: Node) -> Any:
        _check_expansion(node)
        return super().construct_document(node)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: the constructor refuses it with its own message
                continue
            line = key_node.start_mark.line + 1
            if first is not None:
                raise ConstructorError(
                    None, None, f"duplicate key {_short(key)} (first at line {first})", key_node.start_mark
                )
            seen[key] = line
        return dict(super().construct_mapping(node, deep=deep))


_DROPPED = {"tag:yaml.org,2002:timestamp"}
_BOOL_12 = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_Loader.yaml_implicit_resolvers = {}
for _first, _resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items():
    kept = [(tag, regexp) for tag, regexp in _resolvers if tag not in _DROPPED]
    kept = [(tag, _BOOL_12 if tag == "tag:yaml.org,2002:bool" else regexp) for tag, regexp in kept]
    if kept:
        _Loader.yaml_implicit_resolvers[_first] = kept


def _short(value: Any) -> str:
    text = repr(value) if isinstance(value, (str, int, float, bool)) or value is None else type(value).__name__
    return text if len(text) <= 60 else text[:57] + "..."


def _check_expansion(root: Node) -> None:
    """Refuse a node graph whose aliases expand it by more than :data:`MAX_ALIAS_EXPANSION` nodes, or that
    contains itself (an alias inside the value it names)."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise ConstructorError(None, None, "an alias refers to the value that contains it", node.start_mark)
        open_.add(key)
        total = 1
        if isinstance(node, SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        open_.discard(key)
        sizes[key] = total
        if total - len(sizes) > MAX_ALIAS_EXPANSION:
            raise ConstructorError(
                None,
                None,
                f"aliases expand the document by more than {MAX_ALIAS_EXPANSION} values (an alias bomb?)",
                node.start_mark,
            )
        return total

    size(root)


def load_yaml(text: str) -> Any:
    """One YAML document, read strictly (see the module's notes)."""
    return yaml.load(text, Loader=_Loader)  # a safe loader (SafeLoader or CSafeLoader underneath)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {_short(key)}")
        out[key] = value
    return out


def load_json(text: str) -> Any:
    """A JSON document; a key twice in one object is a ``ValueError``."""
    return json.loads(text, object_pairs_hook=_pairs)
