"""Reading the log objects in S3 that notifications on a stream point at: the I/O `parsers.record` leaves to
its caller (`fetch`).

Errors are sorted by what a retry would do. Missing objects, versions or buckets, denied access (S3's or
KMS's), objects archived to Glacier and objects over the size cap will not get better by reading the record
again: `ObjectUnavailable`, so the pointer is dead-lettered with its reason, and `secstash replay` of the
record reads the object once the cause is mended. Anything else (throttling, 5xx, a dropped connection, after botocore's own retries) is
raised as it is: the batch fails, nothing is checkpointed, and the shard is read again.

A reader is built lazily inside each parser worker (boto3 clients do not cross process boundaries), one
client per region, since notifications name the bucket's region. boto3 itself is imported on the first read:
workers of streams that carry no notifications never load it (about 16 MB per process).
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from parsers import ObjectRef, ObjectUnavailable

if TYPE_CHECKING:
    import boto3

# Error codes after which reading the same object again cannot succeed.
_PERMANENT_CODES = frozenset({
    "NoSuchKey", "NoSuchBucket", "NoSuchVersion", "NotFound", "404", "AccessDenied", "403", "AllAccessDisabled",
    "InvalidObjectState", "InvalidBucketName", "KMS.AccessDeniedException", "KMS.DisabledException",
    "KMS.NotFoundException", "KMS.KMSInvalidStateException",
})
_NOT_FOUND = frozenset({"NoSuchKey", "NotFound", "404"})


@dataclass(frozen=True, slots=True)
class ObjectAccess:
    """How one stream's pointers are read (picklable: it travels to the parser workers)."""

    region: str  # for notifications that do not name the bucket's region
    max_bytes: int  # objects larger than this, stored or decompressed, are not read
    role_arn: str | None = None  # assumed through STS for reading; None: the process's own credentials
    s3_endpoint: str | None = None
    sts_endpoint: str | None = None
    # (bucket name glob, owner account or None), first match wins; empty: any bucket. From s3_objects.buckets.
    buckets: tuple[tuple[str, str | None], ...] = ()

    def expected_owner(self, bucket: str) -> str | None:
        """The account that must own `bucket` (None: any); ObjectUnavailable when the stream may not read it."""
        if not self.buckets:
            return None
        for pattern, owner in self.buckets:
            if fnmatchcase(bucket, pattern):
                return owner
        raise ObjectUnavailable(f"s3://{bucket} is not one of the stream's s3_objects.buckets",
                                reason="s3_bucket_not_allowed")


class ObjectReader:
    """`fetch` for `parsers.parse_record`: an object's bytes, as stored (gzip is undone by the envelope)."""

    def __init__(self, access: ObjectAccess, session: boto3.Session | None = None) -> None:
        self._access = access
        self._session = session
        self._clients: dict[str, Any] = {}

    def __call__(self, ref: ObjectRef) -> bytes:
        owner = self._access.expected_owner(ref.bucket)
        client = self._client(ref.region or self._access.region)
        try:
            response = self._get(client, ref, ref.key, owner)
        except ClientError as exc:
            # Notifications URL-encode keys; a key that itself contains `%` or `+` is only found as written.
            if _code(exc) in _NOT_FOUND and ref.encoded_key and ref.encoded_key != ref.key:
                try:
                    response = self._get(client, ref, ref.encoded_key, owner)
                except ClientError as again:
                    raise _classified(again, ref) from None
            else:
                raise _classified(exc, ref) from None
        body = response["Body"]
        try:
            size = response.get("ContentLength")
            if isinstance(size, int) and size > self._access.max_bytes:
                raise ObjectUnavailable(f"{_where(ref)} holds {size} bytes, over the cap of {self._access.max_bytes}"
                                        " (pipeline.max_decompressed_bytes)", reason="payload_too_large")
            data: bytes = body.read(self._access.max_bytes + 1)
            if len(data) > self._access.max_bytes:
                raise ObjectUnavailable(f"{_where(ref)} is over the cap of {self._access.max_bytes} bytes "
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


def _session(access: ObjectAccess) -> boto3.Session:
    """The process's own credentials, or the role's, refreshed before they expire (workers live for days)."""
    import boto3
    import botocore.session
    from botocore.credentials import DeferredRefreshableCredentials

    from sinks import aws

    if access.role_arn is None:
        return boto3.Session()
    sts = aws.client("sts", access.region, access.sts_endpoint)
    role_arn = access.role_arn

    def assume() -> dict[str, str]:
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="secstash-log-objects")["Credentials"]
        return {"access_key": credentials["AccessKeyId"], "secret_key": credentials["SecretAccessKey"],
                "token": credentials["SessionToken"], "expiry_time": credentials["Expiration"].isoformat()}

    core = botocore.session.get_session()
    # botocore has no public setter for credentials that refresh themselves; this is how its own
    # assume-role provider installs them.
    core._credentials = DeferredRefreshableCredentials(refresh_using=assume, method="sts-assume-role")
    return boto3.Session(botocore_session=core)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _classified(exc: ClientError, ref: ObjectRef) -> Exception:
    code = _code(exc)
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _PERMANENT_CODES or status in (403, 404):
        return ObjectUnavailable(f"{_where(ref)}: {code or status}")
    return exc  # transient: the batch fails and the record is read again


def _where(ref: ObjectRef) -> str:
    version = f" (version {ref.version_id})" if ref.version_id else ""
    return f"s3://{ref.bucket}/{ref.key}{version}"
