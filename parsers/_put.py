"""ecs.put and ecs.append_unique for paths known when the parser is written, without splitting them per event.

    put_key(node, key, value)          ecs.put(node, key, value) for a key without dots
    put_in(doc, parent, key, value)    ecs.put(doc, f"{parent}.{key}", value)
    add_related(doc, key, value)       ecs.append_unique(doc, f"related.{key}", value) for one value

The same fields in the same order, null and "" left out as ecs.put leaves them out: splitting each dotted
path was a fifth of the parse of the CloudWatch Logs datasets that wrote a dozen fields that way.
"""

from __future__ import annotations

from typing import Any


def put_key(node: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != "":
        node[key] = value


def put_in(doc: dict[str, Any], parent: str, key: str, value: Any) -> None:
    if value is None or value == "":
        return
    node = doc.get(parent)
    if not isinstance(node, dict):
        node = doc[parent] = {}
    node[key] = value


def add_related(doc: dict[str, Any], key: str, value: Any) -> None:
    if value is None or value == "":
        return
    related = doc.get("related")
    if not isinstance(related, dict):
        related = doc["related"] = {}
    items = related.get(key)
    if not isinstance(items, list):
        related[key] = [value]
    elif value not in items:
        related[key] = [*items, value]
