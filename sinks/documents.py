"""Parse outcomes to bulk items and dead letters: the one place document ids and bodies are made.

The live pipeline (`consumer.pool`) and `secstash replay` both call these functions, so a replay of the
archive produces byte-identical documents under the same ids:

- the id is a hash of the record's position in its shard and the document's place in the record, never of a
  clock or a counter;
- `event.ingested` is the record's Kinesis arrival time (not the time of parsing), set here;
- the body is serialised with orjson from the dict the parser built, whose key order the parser fixes.
"""

from __future__ import annotations

from binascii import b2a_base64
from collections.abc import Callable
from hashlib import blake2b
from typing import Any

import orjson

from parsers.ecs import epoch_ms_to_iso
from parsers.outcome import Failure, RecordOutcome
from sinks.batch import BulkItem, DeadLetter, RawRecord, Source

IndexFor = Callable[[str, str, str], str]  # (event.dataset, namespace, @timestamp) -> stream or index name


def document_id(stream: str, shard: str, sequence: str, sub_sequence: int, ordinal: int, part: int) -> str:
    """20 URL-safe characters: base64url of a 120-bit BLAKE2b of the document's position.

    120 bits keep the chance of any collision among 10^15 documents below 10^-6, and 20 characters are
    shorter than Elasticsearch's own auto ids.
    """
    return _hashed(f"{_record_position(stream, shard, sequence, sub_sequence)}{ordinal}\x1f{part}")


def _record_position(stream: str, shard: str, sequence: str, sub_sequence: int) -> str:
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


def build_bulk_items(stream: str, shard: str, record: RawRecord, outcome: RecordOutcome,
                     index_for: IndexFor) -> list[BulkItem]:
    """Bulk items for the outcome's documents. A document JSON cannot represent (an integer beyond 64 bits,
    nesting deeper than 254 levels) becomes a failure of the outcome instead, so `dead_letters_for`, called
    after this, dead-letters it with its event."""
    ingested = ingested_at(record)
    position = _record_position(stream, shard, record.sequence, record.sub_sequence)
    items = []
    unserialisable = []
    for parsed in outcome.documents:
        doc: dict[str, Any] = parsed.doc
        event = doc.get("event")
        if not isinstance(event, dict):
            event = doc["event"] = {}
        event["ingested"] = ingested
        data_stream = doc.get("data_stream")
        namespace = data_stream.get("namespace") if isinstance(data_stream, dict) else None
        try:
            body = orjson.dumps(doc)
        except orjson.JSONEncodeError as exc:
            unserialisable.append(parsed)
            raw = event.get("original") if isinstance(event.get("original"), str) else repr(doc)[:100_000]
            outcome.failures.append(Failure("unserialisable_document", str(exc), parsed.ordinal, parsed.dataset, raw))
            continue
        timestamp = doc.get("@timestamp")
        items.append(BulkItem(
            index=index_for(parsed.event_dataset, namespace or "default",
                            timestamp if isinstance(timestamp, str) else ingested),
            id=_hashed(f"{position}{parsed.ordinal}\x1f{parsed.part}"),
            body=body,
            dataset=parsed.dataset,
            source=Source(stream, shard, record.sequence, record.sub_sequence, parsed.ordinal),
        ))
    if unserialisable:
        outcome.documents = [d for d in outcome.documents if d not in unserialisable]
    return items


def dead_letters_for(stream: str, shard: str, record: RawRecord, outcome: RecordOutcome) -> list[DeadLetter]:
    """One `parse` dead letter per failure, carrying the event text (or the record, base64) for a redrive."""
    return [
        DeadLetter(stage="parse", reason=failure.reason, message=failure.message, dataset=failure.dataset,
                   source=Source(stream, shard, record.sequence, record.sub_sequence, failure.ordinal),
                   raw=failure.raw)
        for failure in outcome.failures
    ]
