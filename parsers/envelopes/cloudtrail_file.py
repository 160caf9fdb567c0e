"""CloudTrail's S3 file shapes, as forwarders put whole files onto the stream.

A log file is `{"Records": [record, ...]}`: one `cloudtrail` event per record, as Elastic's aws-s3 input
splits them (`expand_event_list_from_field: Records`). A digest file is one object (`digestStartTime`,
`digestS3Object`, ...): one `cloudtrail` event, which the cloudtrail parser maps to `file.*` fields.
S3 event notifications also use `{"Records": [...]}`; their `eventSource` is `aws:s3`, not a service host,
so they are not taken for CloudTrail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from parsers.envelopes.limits import make_room
from parsers.event import Event

if TYPE_CHECKING:
    from parsers.envelopes import Unwrapped

DATASET = "cloudtrail"


def is_cloudtrail_file(obj: dict[str, Any]) -> bool:
    records = obj.get("Records")
    if isinstance(records, list):
        first = records[0] if records else None
        return first is None or not isinstance(first, dict) or _is_trail_record(first)
    return is_digest(obj)


def is_digest(obj: dict[str, Any]) -> bool:
    return "digestStartTime" in obj and "digestS3Object" in obj


def unwrap(obj: dict[str, Any], text: str | None, out: Unwrapped) -> None:
    records = obj.get("Records")
    if not isinstance(records, list):  # a digest file: the object itself is the event
        out.items.append((DATASET, Event(message=text, obj=obj)))
        return
    if not records:
        out.dropped["no_records"] += 1
    make_room(out, len(records), "CloudTrail file")
    append = out.items.append
    for record in records:
        append((DATASET, Event(obj=record)))


def _is_trail_record(record: dict[str, Any]) -> bool:
    source = record.get("eventSource")
    return "eventVersion" in record and not (isinstance(source, str) and source.startswith("aws:"))
