"""`ecs.drop_empty` for a whole document, in a form several times faster (the parsers' hottest clean-up).

    drop_empty(doc)   a copy of the document without null, "", {} and [] values, as ecs.drop_empty(doc)
    prune(doc)        the same values removed from the document itself (no copy): for a document that shares
                      no object with anything that must stay as it is

ecs.drop_empty makes one call per value, leaves included; here text, null and number leaves are decided in
their object's loop, and only objects and lists cost a call (Route 53 Resolver logs spent over half of their
parse in the call per leaf). Unlike ecs.drop_empty, whose end depended on Python's recursion limit and so on
the caller's stack, a document nested deeper than orjson renders is refused here as `too_deep`: it could
never be indexed.
"""

from __future__ import annotations

from typing import Any

from parsers import ecs
from parsers.errors import EventError

# orjson writes at most this many nested objects and arrays.
RENDERED_DEPTH = 254
_EMPTY: tuple[object, ...] = (None, "", {}, [])


def drop_empty(doc: dict[str, Any]) -> dict[str, Any]:
    return _object(doc, 1)


def _too_deep() -> EventError:
    return EventError("input nested too deeply", reason="too_deep")


def _object(node: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > RENDERED_DEPTH:
        raise _too_deep()
    out = {}
    for key, item in node.items():
        kind = type(item)
        if kind is str:
            if item:
                out[key] = item
        elif kind is dict:
            if item and (item := _object(item, depth + 1)):
                out[key] = item
        elif kind is list:
            if item and (item := _list(item, depth + 1)):
                out[key] = item
        elif (kind is int or kind is float or kind is bool
              or (item is not None and (item := _other(item, depth + 1)) not in _EMPTY)):
            out[key] = item
    return out


def _list(items: list[Any], depth: int) -> list[Any]:
    if depth > RENDERED_DEPTH:
        raise _too_deep()
    out = []
    for item in items:
        kind = type(item)
        if kind is str:
            if item:
                out.append(item)
        elif kind is dict:
            if item and (item := _object(item, depth + 1)):
                out.append(item)
        elif kind is list:
            if item and (item := _list(item, depth + 1)):
                out.append(item)
        elif (kind is int or kind is float or kind is bool
              or (item is not None and (item := _other(item, depth + 1)) not in _EMPTY)):
            out.append(item)
    return out


def _other(value: Any, depth: int) -> Any:
    """A subclass of dict or list (no parser makes one), or a value of another type: as ecs.drop_empty."""
    if isinstance(value, dict):
        return _object(value, depth)
    if isinstance(value, list):
        return _list(value, depth)
    return ecs.drop_empty(value)


def prune(doc: dict[str, Any]) -> dict[str, Any]:
    """`doc` with what drop_empty leaves out removed in place: the same JSON, without copying every object
    (the copy was a fifth of a Kubernetes audit event's parse). An object met twice is cleaned once, and the
    second visit finds it clean, so shared objects come out as drop_empty writes them."""
    _object_in_place(doc, 1)
    return doc


def _object_in_place(node: dict[str, Any], depth: int) -> bool:
    """Whether the object is left empty."""
    if depth > RENDERED_DEPTH:
        raise _too_deep()
    removed = None
    for key, item in node.items():
        kind = type(item)
        if kind is str:
            if item:
                continue
        elif kind is dict:
            if item and not _object_in_place(item, depth + 1):
                continue
        elif kind is list:
            if item and not _list_in_place(item, depth + 1):
                continue
        elif (kind is int or kind is float or kind is bool
              or (item is not None and not _other_in_place(item, depth + 1))):
            continue
        if removed is None:
            removed = [key]
        else:
            removed.append(key)
    if removed is not None:
        for key in removed:
            del node[key]
    return not node


def _list_in_place(items: list[Any], depth: int) -> bool:
    """Whether the list is left empty."""
    if depth > RENDERED_DEPTH:
        raise _too_deep()
    keep = None  # the indexes kept, once one item is dropped
    for index, item in enumerate(items):
        kind = type(item)
        if kind is str:
            empty = not item
        elif kind is dict:
            empty = not item or _object_in_place(item, depth + 1)
        elif kind is list:
            empty = not item or _list_in_place(item, depth + 1)
        elif kind is int or kind is float or kind is bool:
            empty = False
        else:
            empty = item is None or _other_in_place(item, depth + 1)
        if empty and keep is None:
            keep = list(range(index))
        elif not empty and keep is not None:
            keep.append(index)
    if keep is not None:
        items[:] = [items[index] for index in keep]
    return not items


def _other_in_place(value: Any, depth: int) -> bool:
    """Whether a subclass of dict or list (no parser makes one) or a value of another type is empty."""
    if isinstance(value, dict):
        return _object_in_place(value, depth)
    if isinstance(value, list):
        return _list_in_place(value, depth)
    return ecs.drop_empty(value) in _EMPTY
