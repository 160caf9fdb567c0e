"""CloudWatch Logs subscription messages (what a subscription filter writes to Kinesis, gzip removed):

    {"messageType": "DATA_MESSAGE", "owner": "123456789012", "logGroup": "...", "logStream": "...",
     "subscriptionFilters": ["..."], "logEvents": [{"id": "...", "timestamp": 1700000000000, "message": "..."}]}

A DATA_MESSAGE gives one event per log event, its message as the event text; a CONTROL_MESSAGE (sent once
when the subscription is created, to check the destination) carries no log data: a counted drop, no event.
AWS writes this shape itself, so a part that breaks it means a corrupt record: the whole record fails.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parsers.envelopes.limits import make_room
from parsers.errors import EnvelopeError
from parsers.event import Event, EventMeta

if TYPE_CHECKING:
    from parsers.envelopes import Unwrapped

# Timestamps past year 9999 cannot be rendered as dates; AWS never sends them.
_MAX_TIMESTAMP_MS = 253_402_300_799_999


def unwrap(obj: dict[str, Any], out: Unwrapped) -> None:
    kind = obj.get("messageType")
    if kind == "CONTROL_MESSAGE":
        out.dropped["control_message"] += 1
        return
    if kind != "DATA_MESSAGE":
        raise _bad(f"unknown messageType {kind[:64] if isinstance(kind, str) else type(kind).__name__!r}")
    group, stream, owner, events = obj.get("logGroup"), obj.get("logStream"), obj.get("owner"), obj.get("logEvents")
    if not isinstance(group, str) or not isinstance(stream, str):
        raise _bad("logGroup and logStream must be strings")
    if not isinstance(events, list):
        raise _bad("logEvents must be a list")
    if not isinstance(owner, str):
        owner = None
    make_room(out, len(events), "CloudWatch Logs subscription message")
    append = out.items.append
    for position, item in enumerate(events):
        if not isinstance(item, dict):
            raise _bad(f"logEvents[{position}] is not an object")
        message, timestamp, event_id = item.get("message"), item.get("timestamp"), item.get("id")
        if not isinstance(message, str):
            raise _bad(f"logEvents[{position}].message is not a string")
        if timestamp is not None and (type(timestamp) is not int or not 0 <= timestamp <= _MAX_TIMESTAMP_MS):
            raise _bad(f"logEvents[{position}].timestamp is not epoch milliseconds")
        if event_id is not None and not isinstance(event_id, str):
            raise _bad(f"logEvents[{position}].id is not a string")
        append((None, Event(message=message, meta=EventMeta(group, stream, event_id, timestamp, owner))))


def _bad(message: str) -> EnvelopeError:
    return EnvelopeError(f"CloudWatch Logs subscription message: {message}", reason="bad_cloudwatch_logs")
