"""Runs of bulk lines made from items, as a pool worker's results hold them (`sinks.documents.BulkItemBuilder`
writes its runs directly): for tests that hand the search sink runs of chosen ids and bodies."""

from __future__ import annotations

from array import array
from collections.abc import Callable

from sinks.batch import ID_LENGTH, BulkItem, DocumentRun, plain_id


def pack(items: list[BulkItem], action_prefix: Callable[[str], bytes]) -> list[BulkItem | DocumentRun]:
    """A record's items (in order), every stretch of them that can be a run's documents (consecutive events,
    one index and dataset, ids and bodies as the bulk lines take them) packed into a DocumentRun; the rest stay
    as they are. `run.items()` gives the items back."""
    out: list[BulkItem | DocumentRun] = []
    stretch: list[BulkItem] = []
    for item in items:
        if stretch and (item.index != stretch[0].index or item.dataset != stretch[0].dataset
                        or item.source.ordinal != stretch[-1].source.ordinal + 1):  # type: ignore[operator]
            out.append(_run_of(stretch, action_prefix(stretch[0].index)))
            stretch = []
        if item.source.ordinal is not None and len(item.id) == ID_LENGTH and item.id.isascii() \
                and plain_id(item.id) and not item.body.endswith(b"\n"):
            stretch.append(item)
        else:
            if stretch:
                out.append(_run_of(stretch, action_prefix(stretch[0].index)))
                stretch = []
            out.append(item)
    if stretch:
        out.append(_run_of(stretch, action_prefix(stretch[0].index)))
    return out


def _run_of(items: list[BulkItem], prefix: bytes) -> DocumentRun:
    action = len(prefix) + ID_LENGTH + 4  # the prefix, the id, `"}}` and the newline
    parts: list[bytes] = []
    bounds = array("I")
    at = 0
    for item in items:
        parts += (prefix, item.id.encode("ascii"), b'"}}\n', item.body, b"\n")
        end = at + action + len(item.body)
        bounds.extend((at, at + action, end))
        at = end + 1
    first, source = items[0], items[0].source
    return DocumentRun(first.index, first.dataset, "", source.stream, source.shard, source.sequence,
                       source.sub_sequence, b"".join(parts), bounds.tobytes(), len(prefix), source.ordinal or 0)
