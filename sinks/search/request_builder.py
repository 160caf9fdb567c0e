"""Bulk requests from BulkItems and DocumentRuns: `create` actions with deterministic ids, bounded by count and bytes. No I/O.

`create` (not `index`) with the id the pipeline derived from the source position makes a replay harmless:
a document that is already there answers 409, which counts as delivered.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import orjson

from sinks.batch import BulkItem, DocumentRun, Entry, plain_id
from sinks.compress import Segments

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
    if plain_id(item.id) is None:
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


def item_bytes(item: BulkItem) -> int:
    """Bytes an item adds to a bulk body: its action line, its document and two newlines (exact unless the index or id need JSON escapes)."""
    return len(item.index) + len(item.id) + len(item.body) + 35  # {"create":{"_index":"","_id":""}}\n and the body's \n


def entry_bytes(entry: Entry) -> int:
    """Bytes a document or a run adds to a bulk body."""
    return item_bytes(entry) if type(entry) is BulkItem else entry.nbytes


def ndjson(entries: Iterable[Entry]) -> bytes:
    parts: list[bytes | memoryview] = []
    add = parts.append
    for entry in entries:
        if type(entry) is not BulkItem:
            add(entry.ndjson())  # the compiled path wrote the lines already
            continue
        add(action_line(entry))
        body = entry.body
        add(body.rstrip(b"\n") if body.endswith(b"\n") else body)  # no copy of the usual body: one join
        add(b"\n")
    return b"".join(parts)


def fitted(entries: Iterable[Entry], max_docs: int, max_bytes: int) -> Iterator[Entry]:
    """`entries`, with every run cut into pieces of at most `max_docs` documents and `max_bytes` bytes (a
    document larger than that alone is a piece of its own), so that a bulk request can always take one. A
    RunGroup is left whole: a worker makes them well within these bounds (`consumer.pool`)."""
    for entry in entries:
        if type(entry) is not DocumentRun or (len(entry) <= max_docs and entry.nbytes <= max_bytes):
            yield entry
            continue
        run: DocumentRun | None = entry
        while run is not None:
            count = _fitting(run, max_docs, max_bytes)
            if count >= len(run):
                yield run
                run = None
            else:
                head, run = run.split(count)
                yield head


def _fitting(run: DocumentRun, max_docs: int, max_bytes: int) -> int:
    """How many of the run's first documents fit in one request (at least one)."""
    bounds = memoryview(run.bounds).cast("I")
    start, limit = bounds[0], min(len(run), max_docs)
    count = 1
    while count < limit and bounds[3 * count + 2] + 1 - start <= max_bytes:
        count += 1
    return count


def chunks(entries: Iterable[T], size_of: Callable[[T], int], max_docs: int, max_bytes: int,
           documents_of: Callable[[T], int] | None = None) -> Iterator[list[T]]:
    """Consecutive runs of `entries` with at most `max_docs` documents and `max_bytes` bytes each
    (`documents_of`: how many documents an entry holds, one each by default).

    An entry larger than `max_bytes` alone makes a chunk of its own (the server decides whether it fits).
    """
    chunk: list[T] = []
    size = docs = 0
    for entry in entries:
        n = size_of(entry)
        d = 1 if documents_of is None else documents_of(entry)
        if chunk and (docs + d > max_docs or size + n > max_bytes):
            yield chunk
            chunk, size, docs = [], 0, 0
        chunk.append(entry)
        size += n
        docs += d
    if chunk:
        yield chunk


def build(entries: Sequence[T], item_of: Callable[[T], Entry], *, compress: bool, level: int = 1) -> BulkRequest[T]:
    """The request carrying `entries` (each maps to its BulkItem or DocumentRun through `item_of`)."""
    if compress:
        body, raw_bytes = gzip_ndjson((item_of(e) for e in entries), level)
        return BulkRequest(tuple(entries), body, raw_bytes, True)
    raw = ndjson(item_of(e) for e in entries)
    return BulkRequest(tuple(entries), raw, len(raw), False)


def gzip_ndjson(entries: Iterable[Entry], level: int) -> tuple[bytes, int]:
    """`ndjson(entries)` gzipped, and its size: the segments the pool's workers deflated are joined as they
    are; the rest is compressed here, each stretch of it between two such segments into a segment of its own."""
    body = Segments(level)
    stretch: list[Entry] = []
    for entry in entries:
        if type(entry) is not BulkItem and entry.segment is not None:
            if stretch:
                body.add_text(ndjson(stretch))
                stretch = []
            body.add_segment(entry.segment, entry.crc, entry.nbytes)
        else:
            stretch.append(entry)
    if stretch:
        body.add_text(ndjson(stretch))
    return body.finish(), body.size


def params(pipeline: str | None) -> dict[str, str]:
    """Query parameters of every bulk request."""
    out = {"filter_path": FILTER_PATH}
    if pipeline:
        out["pipeline"] = pipeline
    return out
