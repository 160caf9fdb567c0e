"""Pure parsing: raw Kinesis record bytes in, ECS documents out. No I/O but the GeoIP databases.

    parse_record(data, parsing, options[, fetch, emit]) -> RecordOutcome   a whole record, envelopes included
                                (fetch: the caller's reader of S3 log objects; emit: takes documents as made)
    registry.get(name).parse(event, options) -> [doc, ...]     one event of a known dataset
"""

from parsers.envelopes import ObjectRef
from parsers.errors import EnvelopeError, EventError, ObjectUnavailable, ParseError, PayloadTooLarge
from parsers.event import Event, EventMeta
from parsers.options import ParseOptions
from parsers.outcome import Failure, ParsedDocument, RecordOutcome
from parsers.record import parse_record
from parsers.rules import Condition, DetectionRule, FilterRule, StreamParsing

__all__ = [
    "Condition", "DetectionRule", "EnvelopeError", "Event", "EventError", "EventMeta", "Failure", "FilterRule",
    "ObjectRef", "ObjectUnavailable", "ParseError", "ParseOptions", "ParsedDocument", "PayloadTooLarge", "RecordOutcome", "StreamParsing",
    "parse_record",
]
