"""Reading the log objects in S3 that notifications on a stream point at: the I/O `parsers.record` leaves to
its caller (`fetch`).

Whoever writes to the stream chooses the pointer, so before any request: the pointer must be one S3 can
answer (a bucket name, a region botocore knows, a key and version id of S3's form: `bad_s3_notification`
otherwise), and the bucket one the stream may read: never secstash's own archive bucket, and one of
`s3_objects.buckets` when the stream lists them (`s3_bucket_not_allowed` otherwise). What the read's errors
mean (a retry mends it, or it cannot) is `consumer.object_errors`'s to say.

A reader is built lazily inside each parser worker (boto3 clients do not cross process boundaries), one
client per region, since notifications name the bucket's region. boto3 itself is imported on the first read:
workers of streams that carry no notifications never load it (about 16 MB per process).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import cache
from typing import TYPE_CHECKING, Any

from consumer.object_errors import MISSING_OR_DENIED, classified, code_of
from parsers import ObjectRef, ObjectUnavailable
from parsers.envelopes.s3_notification import MAX_KEY_BYTES, is_bucket_name, pointer_problem

if TYPE_CHECKING:
    import boto3


@dataclass(frozen=True, slots=True)
class ObjectAccess:
    """How one stream's pointers are read (picklable: it travels to the parser workers)."""

    region: str  # for notifications that do not name the bucket's region
    max_bytes: int  # objects larger than this, stored or decompressed, are not read
    role_arn: str | None = None  # assumed through STS for reading; None: the process's own credentials
    # What role_arn's trust policy requires (s3_objects.external_id); kept out of repr, hence out of logs.
    external_id: str | None = field(default=None, repr=False)
    session_name: str = "secstash-objects"  # RoleSessionName: the stream and the instance (StreamSettings.session_name)
    s3_endpoint: str | None = None
    sts_endpoint: str | None = None
    # (bucket name glob, owner account or None), first match wins; empty: any bucket. From s3_objects.buckets.
    buckets: tuple[tuple[str, str | None], ...] = ()
    # secstash's own archive bucket (archive.bucket): never read for a notification, whatever `buckets` says.
    # Its spill and manifest prefixes (and, for replay, the archived records of every stream) are readable
    # with secstash's credentials: a pointer to them would index other streams' data into this one's.
    archive_bucket: str | None = None

    def expected_owner(self, bucket: str) -> str | None:
        """The account that must own `bucket` (None: any); ObjectUnavailable when the stream may not read it."""
        if not is_bucket_name(bucket):  # an ARN or an alias never matches a pattern: `*` spans `:` and `/`
            raise ObjectUnavailable(f"{bucket!r} is not an S3 bucket name", reason="s3_bucket_not_allowed")
        if bucket == self.archive_bucket:
            raise ObjectUnavailable(f"s3://{bucket} is secstash's own archive bucket (archive.bucket), never read "
                                    "for a notification", reason="s3_bucket_not_allowed")
        if not self.buckets:
            # Kept for existing deployments (start warns about it): IAM alone bounds what is read.
            return None
        for pattern, owner in self.buckets:
            if fnmatchcase(bucket, pattern):
                return owner
        raise ObjectUnavailable(f"s3://{bucket} is not one of the stream's s3_objects.buckets",
                                reason="s3_bucket_not_allowed")

    def checked_region(self, ref: ObjectRef) -> str:
        """The region to ask, once the pointer is one S3 can answer; ObjectUnavailable (`bad_s3_notification`)
        when it is not. A region botocore does not know would send the request to a host that does not
        resolve, on every re-read; the configured region is always accepted (local emulators)."""
        problem = pointer_problem(ref)
        region = ref.region or self.region
        if problem is None and region != self.region and region not in known_regions():
            problem = "the region is not one botocore knows"
        if problem is not None:
            raise ObjectUnavailable(f"{object_location(ref)} (region {region!r}): {problem}", reason="bad_s3_notification")
        return region


@cache
def known_regions() -> frozenset[str]:
    """Every region with an S3 endpoint in botocore's data, over all partitions (read once per process)."""
    import botocore.session

    session = botocore.session.get_session()
    return frozenset(region for partition in session.get_available_partitions()
                     for region in session.get_available_regions("s3", partition_name=partition))


class ObjectReader:
    """`fetch` for `parsers.parse_record`: an object's bytes, as stored (gzip is undone by the envelope)."""

    def __init__(self, access: ObjectAccess, session: boto3.Session | None = None) -> None:
        self._access = access
        self._session = session
        self._clients: dict[str, Any] = {}

    def __call__(self, ref: ObjectRef) -> bytes:
        region = self._access.checked_region(ref)
        owner = self._access.expected_owner(ref.bucket)
        where = object_location(ref)
        try:
            client = self._client(region)
        except Exception as exc:  # noqa: BLE001 - sorted by object_errors: raised as it is, or a dead letter
            raise classified(exc, where) from None
        try:
            response = self._get(client, ref, ref.key, owner)
        except Exception as exc:  # noqa: BLE001 - as above
            if not _try_as_written(exc, ref):
                raise classified(exc, where) from None
            try:
                response = self._get(client, ref, ref.encoded_key, owner)
            except Exception as again:  # noqa: BLE001 - as above
                raise classified(again, where, decoded=exc) from None
        try:
            return self._body(response, ref)
        except ObjectUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - a body cut short: a connection error, raised as it is
            raise classified(exc, where) from None

    def _body(self, response: Any, ref: ObjectRef) -> bytes:
        body = response["Body"]
        try:
            size = response.get("ContentLength")
            if isinstance(size, int) and size > self._access.max_bytes:
                raise ObjectUnavailable(f"{object_location(ref)} holds {size} bytes, over the cap of {self._access.max_bytes}"
                                        " (pipeline.max_decompressed_bytes)", reason="payload_too_large")
            data: bytes = body.read(self._access.max_bytes + 1)
            if len(data) > self._access.max_bytes:
                raise ObjectUnavailable(f"{object_location(ref)} is over the cap of {self._access.max_bytes} bytes "
                                        "(pipeline.max_decompressed_bytes)", reason="payload_too_large")
            return data
        finally:
            body.close()

    def _get(self, client: Any, ref: ObjectRef, key: str, owner: str | None) -> Any:
        request = {"Bucket": ref.bucket, "Key": key}
        if ref.version_id:
            request["VersionId"] = ref.version_id
        if owner:
            # S3 answers 403 when another account owns the bucket: a deleted log bucket's name taken over
            # elsewhere is never read.
            request["ExpectedBucketOwner"] = owner
        return client.get_object(**request)

    def _client(self, region: str) -> Any:
        client = self._clients.get(region)
        if client is None:
            from sinks import aws

            if self._session is None:
                self._session = _session(self._access)
            client = self._clients[region] = aws.client("s3", region, self._access.s3_endpoint, self._session)
        return client


def _try_as_written(error: Exception, ref: ObjectRef) -> bool:
    """Whether to ask for the key as the notification wrote it: notifications URL-encode keys, and a key that
    itself holds `%` or `+` is only found as written. S3 answers a missing key 404, or 403 AccessDenied to
    a reader without s3:ListBucket (which the generated policies never grant), so both are worth the try."""
    return (code_of(error) in MISSING_OR_DENIED and bool(ref.encoded_key) and ref.encoded_key != ref.key
            and len(ref.encoded_key.encode("utf-8")) <= MAX_KEY_BYTES)


def _session(access: ObjectAccess) -> boto3.Session:
    """The process's own credentials, or the role's, refreshed before they expire (workers live for days)."""
    import boto3

    from sinks import aws

    if access.role_arn is None:
        return boto3.Session()
    return aws.assumed_role_session(access.role_arn, access.region, session_name=access.session_name,
                                    external_id=access.external_id, sts_endpoint=access.sts_endpoint)


def object_location(ref: ObjectRef) -> str:
    version = f" (version {ref.version_id})" if ref.version_id else ""
    return f"s3://{ref.bucket}/{ref.key}{version}"
