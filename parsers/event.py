"""The unit a dataset parser works on: one log event, plus what its envelope said about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from parsers.errors import EventError

if TYPE_CHECKING:
    from parsers.envelopes.s3_notification import ObjectRef


@dataclass(slots=True)
class EventMeta:
    """What the envelope knew about an event. Everything is optional: `secstash parse` has none of it."""

    log_group: str | None = None
    log_stream: str | None = None
    log_event_id: str | None = None
    timestamp_ms: int | None = None  # the CloudWatch Logs event timestamp, or EventBridge time
    owner: str | None = None  # account id of the envelope's producer
    region: str | None = None
    # Per-dataset hints from detection rules, e.g. {"vpcflow_format": "${version} ${account-id} ..."}.
    hints: dict[str, str] = field(default_factory=dict)
    source_object: ObjectRef | None = None  # the S3 log object the event was read from


@dataclass(slots=True)
class Event:
    """One log event. `message` is the text Elastic's integration would see as `message`.

    Envelopes that had to decode JSON to find the events (CloudTrail files, EventBridge) pass the decoded
    object as `obj` so the parser does not decode it twice; `message` is then rendered only if needed.
    """

    message: str | None = None
    obj: Any = None
    meta: EventMeta = field(default_factory=EventMeta)

    def text(self) -> str:
        if self.message is None:
            try:
                self.message = orjson.dumps(self.obj).decode()
            except (orjson.JSONEncodeError, TypeError) as exc:  # deeper than 255 levels, integers over 64 bits
                raise EventError(f"event cannot be rendered as JSON: {exc}", reason="too_deep") from None
        return self.message

    def json(self) -> Any:
        if self.obj is None:
            if self.message is None:
                raise EventError("empty event", reason="empty_event")
            try:
                self.obj = orjson.loads(self.message)
            except orjson.JSONDecodeError as exc:
                raise EventError(f"not JSON: {exc}", reason="invalid_json") from None
        return self.obj

    def json_object(self) -> dict[str, Any]:
        value = self.json()
        if not isinstance(value, dict):
            raise EventError(f"expected a JSON object, got {type(value).__name__}", reason="invalid_json")
        return value
