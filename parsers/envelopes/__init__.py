"""Envelopes: how log events are packed into one Kinesis record. Unwrapped before any dataset parser runs.

    gzip             magic bytes 1f 8b; decompressed size capped (PayloadTooLarge past the cap)
    cloudwatch_logs  a CloudWatch Logs subscription message: DATA_MESSAGE -> its log events,
                     CONTROL_MESSAGE -> a counted drop
    eventbridge      an EventBridge event: GuardDuty, Security Hub and Config findings, CloudTrail API calls
                     routed by source and detail-type; any other event kept whole, for the generic dataset
    cloudtrail_file  CloudTrail's S3 file shape {"Records": [...]}, and digest files
    messaging        SNS notifications and SQS messages (as EventBridge Pipes pass them) wrapping any of these
    s3_notification  S3 event notifications (classic `Records`, or EventBridge `Object Created`): pointers to
                     log objects, collected in `Unwrapped.objects` for the caller to fetch
    lines            anything else: one event per non-empty line (how ALB, S3 access, CloudFront and WAF lines
                     arrive when forwarded onto the stream; NDJSON lines go through the JSON shapes above)

KPL aggregation is undone by the KCL daemon before Python sees a record, so it is not an envelope here.
`unwrap(data, max_decompressed_bytes)` picks the envelope from the record's own bytes. Envelopes that decode
JSON hand the decoded object to the parser (`Event.obj`), so no event is decoded twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import orjson

from parsers.envelopes import (
    cloudtrail_file,
    cloudwatch_logs,
    eventbridge,
    gzip,
    lines,
    messaging,
    s3_notification,
)
from parsers.envelopes.s3_notification import ObjectRef
from parsers.event import Event

__all__ = ["Item", "ObjectRef", "Unwrapped", "unwrap", "unwrap_object"]

# One event and the dataset its envelope already knows (EventBridge source, CloudTrail file), or None:
# `parsers.detect` decides from the log group, the stream's rules and the event's shape.
Item = tuple[str | None, Event]


@dataclass(slots=True)
class Unwrapped:
    items: list[Item] = field(default_factory=list)
    # Parts of the record that are intentionally not events ("control_message", "no_findings", ...).
    dropped: Counter[str] = field(default_factory=Counter)
    # Log objects in S3 that S3 event notifications point at: their events are read by the caller.
    objects: list[ObjectRef] = field(default_factory=list)


def unwrap(data: bytes, max_decompressed_bytes: int) -> Unwrapped:
    """Every event in one record. Raises EnvelopeError (PayloadTooLarge) when the record cannot be unwrapped."""
    if gzip.is_gzip(data):
        data = gzip.decompress(data, max_decompressed_bytes)
    out = Unwrapped()
    if data.lstrip()[:1] == b"{":
        try:
            obj = orjson.loads(data)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            unwrap_object(obj, data, out)
            return _counted(out)
    text = data.decode("utf-8", "replace")
    for line in lines.split(text):
        _line(line, out)
    return _counted(out)


def unwrap_object(obj: dict, raw: bytes | str | None, out: Unwrapped, depth: int = 0) -> None:
    """A JSON object: a known envelope, or one bare event (`raw` is its text, kept as the event's message).
    `depth` counts the SNS/SQS wrappers already taken off."""
    inner = messaging.inner_text(obj) if depth < messaging.MAX_DEPTH else None
    wrapped = messaging.inner_object(inner) if inner is not None else None
    if wrapped is not None:
        unwrap_object(wrapped, inner, out, depth + 1)
    elif "messageType" in obj and "logGroup" in obj:
        cloudwatch_logs.unwrap(obj, out)
    elif "detail-type" in obj and "source" in obj and "detail" in obj:
        eventbridge.unwrap(obj, _text(raw), out)
    elif s3_notification.is_notification(obj):
        s3_notification.unwrap(obj, out)
    elif s3_notification.is_test_event(obj):
        out.dropped["s3_test_event"] += 1
    elif cloudtrail_file.is_cloudtrail_file(obj):
        cloudtrail_file.unwrap(obj, _text(raw), out)
    else:
        out.items.append((None, Event(message=_text(raw), obj=obj)))


def _line(line: str, out: Unwrapped) -> None:
    if line[0] == "{":
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            obj = None
        if isinstance(obj, dict):
            unwrap_object(obj, line, out)
            return
    out.items.append((None, Event(message=line)))


def _counted(out: Unwrapped) -> Unwrapped:
    """A record with no events and no other drop reason (blank, or a subscription message with no log
    events) is still counted."""
    if not out.items and not out.dropped and not out.objects:
        out.dropped["empty_record"] += 1
    return out


def _text(raw: bytes | str | None) -> str | None:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace").strip()
    return raw
