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

from binascii import b2a_base64
from collections.abc import Callable
from hashlib import blake2b
from typing import Any

import orjson

from parsers.ecs import epoch_ms_to_iso
from parsers.outcome import Failure, ParsedDocument, RecordOutcome
from sinks.batch import BulkItem, DeadLetter, RawRecord, Source

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
    # base64.urlsafe_b64encode, without its two Python-level calls: 15 bytes give 20 characters, no padding.
    digest = blake2b(position.encode(), digest_size=15).digest()
    return b2a_base64(digest, newline=False).translate(_URLSAFE).decode()


def ingested_at(record: RawRecord) -> str:
    """`event.ingested`: the record's Kinesis arrival time, ISO 8601 in milliseconds, UTC (`...Z`)."""
    return epoch_ms_to_iso(record.arrival_ms)


class BulkItemBuilder:
    """Bulk items of one record's documents, built one document at a time: the parser hands each event's
    documents over as soon as they are finished (`parse_record(..., emit=builder.add)`), so the documents of
    a large log object never all exist as dicts at once (about 10 KB each, against 2 KB serialised). A
    document JSON cannot represent (an integer beyond 64 bits, nesting deeper than 254 levels) becomes a
    failure in `failures` instead, for `dead_letters_for`."""

    __slots__ = ("failures", "index_for", "ingested", "items", "position", "produced", "record", "rejected",
                 "shard", "stream")

    def __init__(self, stream: str, shard: str, record: RawRecord, index_for: IndexFor) -> None:
        self.stream, self.shard, self.record, self.index_for = stream, shard, record, index_for
        self.ingested = ingested_at(record)
        self.position = record_position(stream, shard, record.sequence, record.sub_sequence)
        self.items: list[BulkItem] = []
        self.produced: list[str] = []  # each item's event.dataset, for the per-dataset document counts
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
            # document; the join copies the body to its own size (~0.1 µs), as a chunk holds thousands.
            body = b"".join((orjson.dumps(doc), b""))
        except orjson.JSONEncodeError as exc:
            self.rejected.append(parsed)
            raw: Any = event.get("original") if isinstance(event.get("original"), str) else repr(doc)[:100_000]
            self.failures.append(Failure("unserialisable_document", str(exc), parsed.ordinal, parsed.dataset, raw))
            return
        timestamp = doc.get("@timestamp")
        record = self.record
        self.items.append(BulkItem(
            index=self.index_for(parsed.event_dataset, namespace or "default",
                                 timestamp if isinstance(timestamp, str) else self.ingested),
            id=_hashed(f"{self.position}{parsed.ordinal}\x1f{parsed.part}"),
            body=body,
            dataset=parsed.dataset,
            source=Source(self.stream, self.shard, record.sequence, record.sub_sequence, parsed.ordinal),
        ))
        self.produced.append(parsed.event_dataset)


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
