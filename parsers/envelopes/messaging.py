"""SNS notifications and SQS messages that carry another envelope in a string.

S3 event notifications usually travel S3 -> SNS -> SQS (or S3 -> SQS) before an EventBridge Pipe or a
forwarder puts them on the stream, wrapped on the way:

    SNS   {"Type": "Notification", "TopicArn": ..., "Message": "<JSON text>"}
    SQS   {"eventSource": "aws:sqs", "messageId": ..., "body": "<JSON text>"}   (as an EventBridge Pipe passes it)

The inner text is decoded and unwrapped like a record of its own (a notification inside, a CloudTrail
record, anything). A wrapper whose inner text is not a JSON object is kept whole for the generic dataset,
never dropped. Wrappers nest (SQS around SNS), a few levels at most.
"""

from __future__ import annotations

from typing import Any

import orjson

MAX_DEPTH = 4  # SQS around SNS around the payload is two; more is not something AWS produces


def inner_text(obj: dict[str, Any]) -> str | None:
    """The wrapped text when `obj` is an SNS notification or an SQS message, else None."""
    if obj.get("Type") == "Notification" and "TopicArn" in obj:
        message = obj.get("Message")
        return message if isinstance(message, str) else None
    if obj.get("eventSource") == "aws:sqs":
        body = obj.get("body")
        return body if isinstance(body, str) else None
    return None


def inner_object(text: str) -> dict[str, Any] | None:
    """The wrapped JSON object, or None when the text is not one."""
    if not text.lstrip().startswith("{"):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None
