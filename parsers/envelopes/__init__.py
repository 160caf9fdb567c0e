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
`unwrap(data, max_decompressed_bytes, max_events)` picks the envelope from the record's own bytes, and refuses
a record of more than `max_events` events before it makes them (EnvelopeError, reason `too_many_events`). Envelopes that decode
JSON hand the decoded object to the parser (`Event.obj`), so no event is decoded twice.
`unwrap_log_file(data, max_decompressed_bytes, max_events, on_bad_line)` does the same for a log object read
from S3, lazily: its lines become events as they are taken, at most `max_events` of them, and
`LogFile.truncated` says where it stopped; lines past that point are never made into events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
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
from parsers.envelopes.limits import make_room
from parsers.envelopes.s3_notification import ObjectRef
from parsers.event import Event

__all__ = ["Item", "LogFile", "ObjectRef", "OnBadLine", "Truncated", "Unwrapped", "make_room", "unwrap",
           "unwrap_log_file", "unwrap_object"]

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
    # Events and pointers the record may hold (`make_room`); None: no limit.
    max_events: int | None = None



def unwrap(data: bytes, max_decompressed_bytes: int, max_events: int | None = None) -> Unwrapped:
    """Every event in one record. Raises EnvelopeError (PayloadTooLarge) when the record cannot be unwrapped,
    and (`too_many_events`) when it holds more than `max_events` events and pointers."""
    if gzip.is_gzip(data):
        data = gzip.decompress(data, max_decompressed_bytes)
    out = Unwrapped(max_events=max_events)
    document = _document(data)
    if document is not None:
        unwrap_object(document, data, out)
        return _counted(out)
    text = data.decode("utf-8", "replace")
    for _, line in lines.iter_lines(text):
        make_room(out, 1, "lines")
        _line(line, out)
    return _counted(out)


@dataclass(frozen=True, slots=True)
class Truncated:
    """Where `unwrap_log_file` stopped: the file holds more events than it took."""

    taken: int  # events taken (max_events)
    # 1-based line of the (decompressed) file whose events were not all taken: the first event not taken is on
    # it. None when the file is one JSON document (a CloudTrail file), whose entries are not lines.
    line: int | None


@dataclass(slots=True)
class LogFile:
    """A log object's events, unwrapped one line at a time as `events` is iterated: the lines of a large file
    never all exist as events at once. `dropped`, `objects` and `truncated` are complete once `events` is
    exhausted."""

    events: Iterator[Item]
    dropped: Counter[str] = field(default_factory=Counter)
    objects: list[ObjectRef] = field(default_factory=list)  # pointers inside the file (indexed, not followed)
    truncated: Truncated | None = None  # set when `max_events` left events out


# Told of a line of a log file whose envelope is malformed: (the error, the line). The line is one event.
OnBadLine = Callable[[Exception, str], None]


def unwrap_log_file(data: bytes, max_decompressed_bytes: int, max_events: int, on_bad_line: OnBadLine) -> LogFile:
    """The events of a log object read from S3, at most `max_events` of them (pointers and bad lines count
    as one each), taken in file order. Raises EnvelopeError (PayloadTooLarge) when the file cannot be
    decompressed, or is one JSON document that cannot be unwrapped; a line that cannot be unwrapped is one
    event that failed (`on_bad_line`), not the whole file."""
    if gzip.is_gzip(data):
        data = gzip.decompress(data, max_decompressed_bytes)
    document = _document(data)
    if document is not None:
        whole = Unwrapped()
        unwrap_object(document, data, whole)
        _counted(whole)
        out = LogFile(iter(()), whole.dropped)
        if len(whole.items) + len(whole.objects) > max_events:
            del whole.items[max_events:]
            del whole.objects[max_events - len(whole.items):]
            out.truncated = Truncated(max_events, None)
        out.events, out.objects = iter(whole.items), whole.objects
        return out
    out = LogFile(iter(()))
    out.events = _lines(data.decode("utf-8", "replace"), out, max_events, on_bad_line)
    return out


def _lines(text: str, out: LogFile, max_events: int, on_bad_line: OnBadLine) -> Iterator[Item]:
    taken = 0
    part = Unwrapped()
    for offset, line in lines.iter_lines(text):
        if taken >= max_events:  # and here is another line: its events are the first not taken
            out.truncated = Truncated(max_events, text.count("\n", 0, offset) + 1)
            return
        if line[0] != "{":  # most lines: one event of plain text (what `_line` makes of it)
            taken += 1
            yield None, Event(message=line)
            continue
        try:
            _line(line, part)
        except Exception as exc:  # noqa: BLE001 - a malformed envelope (or an envelope bug) fails this line only
            part = Unwrapped()  # nothing of it is kept
            taken += 1
            on_bad_line(exc, line)
            continue
        items, objects = part.items, part.objects
        part.items, part.objects = [], []
        room = max_events - taken
        if len(items) + len(objects) > room:  # one line held several events (a CloudWatch Logs message, say)
            del items[room:]
            del objects[room - len(items):]
            out.truncated = Truncated(max_events, text.count("\n", 0, offset) + 1)
        taken += len(items) + len(objects)
        out.objects.extend(objects)
        if part.dropped:
            out.dropped.update(part.dropped)
            part.dropped.clear()
        yield from items
        if out.truncated is not None:
            return
    if not taken and not out.dropped:
        out.dropped["empty_record"] += 1


def _document(data: bytes) -> dict | None:
    """The input as one JSON object, if it is one."""
    if data.lstrip()[:1] != b"{":
        return None
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


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
