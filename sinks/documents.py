"""Parse outcomes to bulk items and dead letters: the one place document ids and bodies are made.

The live pipeline (`consumer.pool`) and `secstash replay` both call these functions, so a replay of the
archive produces byte-identical documents under the same ids:

- the id is a hash of the record's position in its shard and the document's place in the record, never of a
  clock or a counter;
- `event.ingested` is the record's Kinesis arrival time (not the time of parsing), set here, and also
  `@timestamp` when the parser found none (data streams refuse a document without one);
- the body is serialised with orjson from the dict the parser built, whose key order the parser fixes.
"""

from __future__ import annotations

from array import array
from binascii import b2a_base64
from collections.abc import Callable
from hashlib import blake2b
from typing import Any

import orjson

from parsers.ecs import epoch_ms_to_iso
from parsers.outcome import Failure, ParsedDocument, RecordOutcome
from sinks.batch import ID_LENGTH, BulkItem, DeadLetter, DocumentRun, RawRecord, Source
from sinks.search.request_builder import action_prefix

IndexFor = Callable[[str, str, str], str]  # (event.dataset, namespace, @timestamp) -> stream or index name


def document_id(stream: str, shard: str, sequence: str, sub_sequence: int, ordinal: int, part: int) -> str:
    """20 URL-safe characters: base64url of a 120-bit BLAKE2b of the document's position.

    120 bits keep the chance of any collision among 10^15 documents below 10^-6, and 20 characters are
    shorter than Elasticsearch's own auto ids.
    """
    return _hashed(f"{record_position(stream, shard, sequence, sub_sequence)}{ordinal}\x1f{part}")


def record_position(stream: str, shard: str, sequence: str, sub_sequence: int) -> str:
    """The part of a document's position its record gives: built once per record, not per document."""
    return f"{stream}\x1f{shard}\x1f{sequence}\x1f{sub_sequence}\x1f"


_URLSAFE = bytes.maketrans(b"+/", b"-_")


def _hashed(position: str) -> str:
    return _hashed_bytes(position.encode()).decode()


def _hashed_bytes(position: bytes) -> bytes:
    # base64.urlsafe_b64encode, without its two Python-level calls: 15 bytes give 20 characters, no padding.
    digest = blake2b(position, digest_size=15).digest()
    return b2a_base64(digest, newline=False).translate(_URLSAFE)


def ingested_at(record: RawRecord) -> str:
    """`event.ingested`: the record's Kinesis arrival time, ISO 8601 in milliseconds, UTC (`...Z`)."""
    return epoch_ms_to_iso(record.arrival_ms)


class BulkItemBuilder:
    """Bulk lines of one record's documents, built one document at a time: the parser hands each event's
    documents over as soon as they are finished (`parse_record(..., emit=builder.add)`), so the documents of
    a large log object never all exist as dicts at once (about 10 KB each, against 2 KB serialised). A
    document JSON cannot represent (an integer beyond 64 bits, nesting deeper than 254 levels) becomes a
    failure in `failures` instead, for `dead_letters_for`.

    Documents are written straight into runs (`sinks.batch.DocumentRun`: consecutive events of one index and
    dataset, their action lines and bodies in one buffer), what a pool worker sends back: no object per
    document crosses the pipe, and the process the search sink runs in does not write their bulk lines.
    `items` gives them as BulkItems, for whoever takes documents one by one.
    """

    __slots__ = ("_open", "_prefix_for", "count", "failures", "index_for", "ingested", "position", "produced",
                 "record", "rejected", "runs", "shard", "stream")

    def __init__(self, stream: str, shard: str, record: RawRecord, index_for: IndexFor,
                 prefix_for: Callable[[str], bytes] = action_prefix) -> None:
        self.stream, self.shard, self.record, self.index_for = stream, shard, record, index_for
        self._prefix_for = prefix_for
        self.ingested = ingested_at(record)
        self.position = record_position(stream, shard, record.sequence, record.sub_sequence).encode()
        self.runs: list[DocumentRun] = []
        self._open: _RunLines | None = None
        self.count = 0  # documents added
        self.produced: list[str] = []  # each document's event.dataset, for the per-dataset document counts
        self.failures: list[Failure] = []
        self.rejected: list[ParsedDocument] = []

    def add(self, parsed: ParsedDocument) -> None:
        doc: dict[str, Any] = parsed.doc
        event = doc.get("event")
        if not isinstance(event, dict):
            event = doc["event"] = {}
        event["ingested"] = self.ingested
        # Data streams refuse a document without @timestamp. Like Elastic's Agent (which writes the read time and
        # lets the pipeline overwrite it), a document whose parser found no time of its own gets the record's
        # arrival time: deterministic, so a replay builds the same body.
        doc.setdefault("@timestamp", self.ingested)
        data_stream = doc.get("data_stream")
        namespace = data_stream.get("namespace") if isinstance(data_stream, dict) else None
        try:
            # orjson (3.12 on) keeps its whole growth buffer behind the bytes it returns, 4-16 KB for a 2 KB
            # document; the join copies the body to its own size (~0.1 µs), as a log object's record holds
            # thousands until its run is joined.
            body = b"".join((orjson.dumps(doc), b""))
        except orjson.JSONEncodeError as exc:
            self.rejected.append(parsed)
            raw: Any = event.get("original") if isinstance(event.get("original"), str) else repr(doc)[:100_000]
            self.failures.append(Failure("unserialisable_document", str(exc), parsed.ordinal, parsed.dataset, raw))
            return
        timestamp = doc.get("@timestamp")
        index = self.index_for(parsed.event_dataset, namespace or "default",
                               timestamp if isinstance(timestamp, str) else self.ingested)
        ordinal = parsed.ordinal
        lines = self._open
        if lines is None or ordinal != lines.next or index != lines.index or parsed.dataset != lines.dataset:
            lines = self._start(index, parsed.dataset, ordinal)
        lines.add(_hashed_bytes(self.position + b"%d\x1f%d" % (ordinal, parsed.part)), body)
        self.count += 1
        self.produced.append(parsed.event_dataset)

    def _start(self, index: str, dataset: str, ordinal: int) -> _RunLines:
        self.finish()
        lines = self._open = _RunLines(index, dataset, ordinal, self._prefix_for(index))
        return lines

    def finish(self) -> list[DocumentRun]:
        """The runs of every document added so far (what a worker sends back)."""
        lines = self._open
        if lines is not None:
            record = self.record
            self.runs.append(DocumentRun(lines.index, lines.dataset, "", self.stream, self.shard, record.sequence,
                                         record.sub_sequence, b"".join(lines.parts), lines.bounds.tobytes(),
                                         len(lines.prefix), lines.first))
            self._open = None
        return self.runs

    @property
    def items(self) -> list[BulkItem]:
        """Every document added so far as a BulkItem, in order."""
        return [item for run in self.finish() for item in run.items()]


class _RunLines:
    """The bulk lines of an open run: action line (the index's prefix, the id, `"}}`) and body per document,
    with the bounds `DocumentRun` keeps. A document whose event is not the next one, or whose index or
    dataset differs, starts another run; ids are base64url and bodies orjson's, so every document fits one."""

    __slots__ = ("action", "at", "bounds", "dataset", "first", "index", "next", "parts", "prefix")

    def __init__(self, index: str, dataset: str, first: int, prefix: bytes) -> None:
        self.index, self.dataset, self.first, self.next, self.prefix = index, dataset, first, first, prefix
        self.action = len(prefix) + ID_LENGTH + 4  # the prefix, the id, `"}}` and the newline
        self.parts: list[bytes] = []
        self.bounds = array("I")
        self.at = 0

    def add(self, doc_id: bytes, body: bytes) -> None:
        at = self.at
        end = at + self.action + len(body)
        self.parts += (self.prefix, doc_id, b'"}}\n', body, b"\n")
        self.bounds += array("I", (at, at + self.action, end))
        self.at = end + 1
        self.next += 1


def build_bulk_items(stream: str, shard: str, record: RawRecord, outcome: RecordOutcome,
                     index_for: IndexFor) -> list[BulkItem]:
    """Bulk items for the outcome's documents. A document JSON cannot represent becomes a failure of the
    outcome instead, so `dead_letters_for`, called after this, dead-letters it with its event."""
    builder = BulkItemBuilder(stream, shard, record, index_for)
    for parsed in outcome.documents:
        builder.add(parsed)
    if builder.failures:
        outcome.failures.extend(builder.failures)
        outcome.documents = [d for d in outcome.documents if d not in builder.rejected]
    return builder.items


def dead_letters_for(stream: str, shard: str, record: RawRecord, outcome: RecordOutcome) -> list[DeadLetter]:
    """One `parse` dead letter per failure, carrying the event text (or the record, base64) for a redrive."""
    return [
        DeadLetter(stage="parse", reason=failure.reason, message=failure.message, dataset=failure.dataset,
                   source=Source(stream, shard, record.sequence, record.sub_sequence, failure.ordinal),
                   raw=failure.raw)
        for failure in outcome.failures
    ]
