"""Errors raised while turning raw records into documents.

    ParseError                 anything the parsers package reports about bad input
    ├── EnvelopeError          a record's envelope (gzip, CloudWatch Logs, EventBridge, ...) is malformed
    │   └── PayloadTooLarge    decompressed size over the configured cap (a gzip bomb, or a misconfiguration)
    ├── EventError             one event inside a well-formed envelope cannot be parsed by its dataset's parser
    └── ObjectUnavailable      a log object an S3 notification points at cannot be read, and retrying will not
                               help (missing, access denied, archived, too large): raised by the caller's fetch

Every failure carries a short, fixed `reason` (used as a metric label and in the dead-letter record) and a
human-readable message. Nothing else may escape a parser: `parsers.record.parse_record` turns any other
exception into an `EventError` with reason "internal_error", so a bug is dead-lettered, never a crash.
"""

from __future__ import annotations


class ParseError(Exception):
    """Base of every error the parsers package raises about input."""

    reason = "parse_error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.reason


class EnvelopeError(ParseError):
    reason = "bad_envelope"


class PayloadTooLarge(EnvelopeError):
    reason = "payload_too_large"


class EventError(ParseError):
    reason = "bad_event"


class ObjectUnavailable(ParseError):
    reason = "s3_object_unavailable"
