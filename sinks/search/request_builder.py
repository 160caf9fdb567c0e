"""Bulk requests from BulkItems: `create` actions with deterministic ids, bounded by count and bytes. No I/O.

`create` (not `index`) with the id the pipeline derived from the source position makes a replay harmless:
a document that is already there answers 409, which counts as delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import re

import orjson

from sinks.compress import gzip_bytes
from sinks.batch import BulkItem

T = TypeVar("T")

# Response filter: only what per-item classification reads. A 10 MB bulk's full reply is megabytes of
# JSON the client would otherwise parse; this keeps it to a status per item plus the errors.
FILTER_PATH = "errors,items.*.status,items.*.error"


@dataclass(frozen=True, slots=True)
class BulkRequest(Generic[T]):
    """One bulk request: the entries it carries (in body order), its body and the body's raw size."""

    entries: tuple[T, ...]
    body: bytes  # gzip-compressed when `compressed`
    raw_bytes: int  # NDJSON bytes before compression (what metrics count)
    compressed: bool

    @property
    def headers(self) -> dict[str, str]:
        # Both headers: Elasticsearch's REST compatibility needs Accept once Content-Type names a version.
        headers = {"content-type": "application/x-ndjson", "accept": "application/json"}
        if self.compressed:
            headers["content-encoding"] = "gzip"
        return headers


def action_line(item: BulkItem) -> bytes:
    # One per document: the part up to the id is the same for every document of an index, so it is
    # serialised once per index; an id that JSON would escape (never one secstash makes) takes orjson's way.
    prefix = action_prefix(item.index)
    if _PLAIN_ID(item.id) is None:
        return orjson.dumps({"create": {"_index": item.index, "_id": item.id}}) + b"\n"
    return prefix + item.id.encode() + b'"}}\n'


def action_prefix(index: str) -> bytes:
    """A `create` action line up to its id: `{"create":{"_index":"<index>","_id":"`, the index as JSON writes it."""
    prefix = _ACTION_PREFIXES.get(index)
    if prefix is None:
        if len(_ACTION_PREFIXES) >= 4096:
            _ACTION_PREFIXES.clear()
        prefix = _ACTION_PREFIXES[index] = orjson.dumps({"create": {"_index": index, "_id": ""}})[:-3]
    return prefix


_ACTION_PREFIXES: dict[str, bytes] = {}  # index -> `{"create":{"_index":"<index>","_id":"`
_PLAIN_ID = re.compile(r"[A-Za-z0-9_.:-]+\Z").match  # characters JSON writes as they are


def item_bytes(item: BulkItem) -> int:
    """Bytes an item adds to a bulk body: its action line, its document and two newlines (exact unless the index or id need JSON escapes)."""
    return len(item.index) + len(item.id) + len(item.body) + 35  # {"create":{"_index":"","_id":""}}\n and the body's \n


def ndjson(items: Iterable[BulkItem]) -> bytes:
    parts: list[bytes] = []
    add = parts.append
    for item in items:
        add(action_line(item))
        body = item.body
        add(body.rstrip(b"\n") if body.endswith(b"\n") else body)  # no copy of the usual body: one join
        add(b"\n")
    return b"".join(parts)


def chunks(entries: Sequence[T], size_of: Callable[[T], int], max_docs: int, max_bytes: int) -> Iterator[list[T]]:
    """Consecutive runs of `entries` with at most `max_docs` entries and `max_bytes` bytes each.

    An entry larger than `max_bytes` alone makes a chunk of its own (the server decides whether it fits).
    """
    chunk: list[T] = []
    size = 0
    for entry in entries:
        n = size_of(entry)
        if chunk and (len(chunk) >= max_docs or size + n > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += n
    if chunk:
        yield chunk


def build(entries: Sequence[T], item_of: Callable[[T], BulkItem], *, compress: bool, level: int = 1) -> BulkRequest[T]:
    """The request carrying `entries` (each maps to its BulkItem through `item_of`)."""
    raw = ndjson(item_of(e) for e in entries)
    body = gzip_bytes(raw, level) if compress else raw
    return BulkRequest(tuple(entries), body, len(raw), compress)


def params(pipeline: str | None) -> dict[str, str]:
    """Query parameters of every bulk request."""
    out = {"filter_path": FILTER_PATH}
    if pipeline:
        out["pipeline"] = pipeline
    return out
