"""S3 event notifications: pointers to log objects that AWS services write to S3.

ALB, NLB and Classic ELB, CloudFront, S3 server access logging, WAF, and VPC Flow Logs or CloudTrail sent to
S3 write log files to a bucket, not to a stream; an S3 notification of each new object reaches the stream
(through SNS, SQS or EventBridge Pipes, or an EventBridge rule). Two shapes:

    {"Records": [{"eventSource": "aws:s3", "eventName": "ObjectCreated:Put", "awsRegion": ..., "s3": {...}}]}
    {"source": "aws.s3", "detail-type": "Object Created", "region": ..., "detail": {"bucket": ..., "object": ...}}

Each created object becomes an `ObjectRef` in `Unwrapped.objects`; reading it is I/O, so `parsers.record`
leaves it to the caller's `fetch`, which checks `pointer_problem` before any request (whoever writes to the
stream chooses the bucket, key, version and region). Other S3 events (deletions, restores) are kept whole
for the generic dataset, never dropped; the test event S3 sends when a notification is configured is a
counted drop.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import orjson

from parsers.envelopes.limits import make_room
from parsers.errors import EnvelopeError
from parsers.event import Event

if TYPE_CHECKING:
    from parsers.envelopes import Unwrapped

GENERIC = "cloudwatch_logs"


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """One log object a notification points at."""

    bucket: str
    key: str  # as S3 names it (notifications URL-encode keys; this is decoded)
    region: str | None
    size: int | None
    version_id: str | None
    # A notification naming only this object: the dead letter's raw text when the object cannot be read, so
    # the dead letter says exactly which object is missing (`secstash replay` of the record reads it again).
    notification: str
    encoded_key: str = ""  # the key as the notification wrote it, tried when the decoded one is not found

    @property
    def url(self) -> str:
        """`log.file.path`, as Elastic's aws-s3 input writes it."""
        return f"https://{self.bucket}.s3.{self.region or 'us-east-1'}.amazonaws.com/{self.key}"


def is_notification(obj: dict[str, Any]) -> bool:
    records = obj.get("Records")
    if not isinstance(records, list) or not records:
        return False
    first = records[0]
    return isinstance(first, dict) and first.get("eventSource") == "aws:s3" and "s3" in first


def is_test_event(obj: dict[str, Any]) -> bool:
    return obj.get("Event") == "s3:TestEvent" and obj.get("Service") == "Amazon S3"


def unwrap(obj: dict[str, Any], out: Unwrapped) -> None:
    """A classic notification (`Records`): one ObjectRef per created object, other records kept whole."""
    make_room(out, len(obj["Records"]), "S3 event notification")
    for record in obj["Records"]:
        if not isinstance(record, dict):
            raise _bad("Records[] must be objects")
        name = record.get("eventName")
        if isinstance(name, str) and name.startswith("ObjectCreated:"):
            s3 = _mapping(record.get("s3"), "s3")
            bucket = _mapping(s3.get("bucket"), "s3.bucket").get("name")
            target = _mapping(s3.get("object"), "s3.object")
            out.objects.append(_ref(bucket, target, record.get("awsRegion"), name))
        else:
            out.items.append((GENERIC, Event(obj=record)))


def unwrap_eventbridge(obj: dict[str, Any], out: Unwrapped) -> None:
    """An EventBridge `Object Created` event from S3."""
    detail = _mapping(obj.get("detail"), "detail")
    bucket = _mapping(detail.get("bucket"), "detail.bucket").get("name")
    out.objects.append(_ref(bucket, _mapping(detail.get("object"), "detail.object"), obj.get("region"),
                            "ObjectCreated:Put"))


def _ref(bucket: Any, target: dict[str, Any], region: Any, event_name: str) -> ObjectRef:
    key, size, version = target.get("key"), target.get("size"), target.get("versionId", target.get("version-id"))
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise _bad("a created object needs a bucket name and an object key")
    region = region if isinstance(region, str) and region else None
    size = size if isinstance(size, int) and not isinstance(size, bool) else None
    version = version if isinstance(version, str) and version else None
    # Only what reading the object needs: the rest of a notification may be anything (nested past what JSON
    # can render, integers past 64 bits), and none of it is needed to read the object again.
    obj: dict[str, Any] = {"key": key}
    if size is not None:
        obj["size"] = size
    if version is not None:
        obj["versionId"] = version
    notification = {"Records": [{"eventSource": "aws:s3", "eventName": event_name, "awsRegion": region,
                                 "s3": {"bucket": {"name": bucket}, "object": obj}}]}
    try:
        text = orjson.dumps(notification).decode()
    except orjson.JSONEncodeError as exc:  # a size beyond 64 bits
        raise _bad(f"cannot render the object's pointer: {exc}") from None
    return ObjectRef(bucket=bucket, key=unquote_plus(key), region=region, size=size, version_id=version,
                     notification=text, encoded_key=key)


# S3's rule for bucket names (3-63 of a-z 0-9 . -, a letter or digit at each end). An ARN, an access point or
# a name with a `/` never passes, so a pointer can only name a bucket, never route elsewhere through botocore.
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_IP_ADDRESS = re.compile(r"\d+\.\d+\.\d+\.\d+")
# Names S3 never gives a bucket: the prefixes and suffixes it reserves. Those ending so are aliases of access
# points (`-s3alias`), Object Lambda (`--ol-s3`) or Multi-Region access points (`.mrap`), or directory and
# table buckets (which send no such notifications): an alias reaches a bucket under another name, past the
# allow-list and past the refusal of secstash's own archive bucket.
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_REGION_SHAPE = re.compile(r"[a-z]{2,8}(-[a-z]+)+-\d{1,2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
MAX_KEY_BYTES = 1024  # S3's limit; a longer key can never name an object
MAX_VERSION_BYTES = 1024  # S3's version ids are opaque, URL-ready, at most 1,024 bytes


def is_bucket_name(name: str) -> bool:
    """Whether `name` is a name S3 can give a general purpose bucket."""
    return (bool(_BUCKET_NAME.fullmatch(name)) and ".." not in name and not _IP_ADDRESS.fullmatch(name)
            and not name.startswith(_RESERVED_PREFIXES) and not name.endswith(_RESERVED_SUFFIXES))


def is_region_shaped(region: str) -> bool:
    """Whether `region` looks like an AWS region name (which regions exist is the reader's to say)."""
    return bool(_REGION_SHAPE.fullmatch(region))


def pointer_problem(ref: ObjectRef) -> str | None:
    """What makes the pointer one S3 can never answer (None: nothing). Checked before any request: whoever
    writes to the stream chooses these values, and a request botocore refuses, or one S3 refuses for its
    form, would otherwise fail the same way on every re-read of the record."""
    if not is_bucket_name(ref.bucket):
        return "the bucket is not an S3 bucket name (3-63 of a-z 0-9 . -, a letter or digit at each end)"
    if ref.region is not None and not is_region_shaped(ref.region):
        return "the region is not an AWS region name"
    try:
        key_bytes = len(ref.key.encode("utf-8"))
    except UnicodeEncodeError:
        return "the key is not valid UTF-8"
    if key_bytes > MAX_KEY_BYTES:
        return f"the key is {key_bytes} bytes long, over S3's limit of {MAX_KEY_BYTES}"
    if ref.version_id is not None:
        try:
            version_bytes = len(ref.version_id.encode("utf-8"))
        except UnicodeEncodeError:
            return "the version id is not valid UTF-8"
        if version_bytes > MAX_VERSION_BYTES or _CONTROL.search(ref.version_id):
            return f"the version id is not an S3 version id (control characters, or over {MAX_VERSION_BYTES} bytes)"
    return None


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object")
    return value


def _bad(message: str) -> EnvelopeError:
    return EnvelopeError(f"S3 event notification: {message}", reason="bad_s3_notification")
