"""Write objects the archive bucket keeps: SSE-KMS, a SHA-256 checksum and Object Lock retention on every PUT.

The only place that PUTs to the archive bucket; the archive, dead-letter and spill writers go through it.
Transient failures are retried here with capped backoff until the object is stored or the store is closed:
a batch counts as delivered only once S3 has acknowledged it, so waiting is backpressure, not loss.

S3 refuses a PUT that carries a retention period (or lands in a bucket with default retention) unless it
names a checksum algorithm (`x-amz-sdk-checksum-algorithm`) or sends Content-MD5: every PUT and every part
of a multipart upload names SHA-256 and sends the digest we computed, so S3 checks the bytes it stores
against the bytes we hashed for the manifest.

Every object must end up SSE-KMS. With a key id each PUT names `aws:kms` and the key; without one the PUT
names no encryption and the bucket's default applies, so `check_encryption()` (run before the first write)
refuses a bucket whose default is not KMS: S3 would otherwise encrypt with its own keys (SSE-S3), silently.

`put(..., if_none_match=True)` is a conditional write (`If-None-Match: *`): it raises `KeyExists` instead of
adding a version when the key is taken. The archive claims manifest keys that way, so two writers of one
shard (a lease hand-over) cannot both extend its hash chain from the same object.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from sinks.backoff import full_jitter
from sinks.errors import SinkClosed, SinkConfigError, SinkError

# Errors that retrying cannot fix: the request itself is wrong. Everything else (throttling, 5xx, 409
# ConditionalRequestConflict, connection trouble, expired credentials being refreshed, AccessDenied while an
# operator fixes a policy) is retried: the shard waits rather than losing records.
PERMANENT_CODES = frozenset({
    "InvalidArgument", "InvalidRequest", "MalformedXML", "InvalidBucketName", "NoSuchBucket",
    "InvalidObjectState", "KMS.NotFoundException", "KMS.DisabledException", "InvalidDigest", "BadDigest",
    "MissingUploadObjectWithObjectLockHeaders", "InvalidRetentionPeriod", "EntityTooLarge",
})
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})  # bucket defaults that encrypt with a KMS key
PART_SIZE = 16 * 1024 * 1024
MIN_PART_SIZE = 5 * 1024 * 1024  # S3's floor for every part but the last


class KeyExists(Exception):
    """A conditional PUT found the key already taken (HTTP 412)."""

    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"s3://{bucket}/{key} exists")
        self.bucket = bucket
        self.key = key


@dataclass(frozen=True, slots=True)
class StoredObject:
    key: str
    sha256_hex: str
    size: int
    version_id: str | None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class LockedObjectStore:
    def __init__(self, s3: Any, bucket: str, *, kms_key_id: str | None, retention_days: int | None,
                 multipart_threshold: int = PART_SIZE, backoff_initial_s: float = 0.5,
                 backoff_max_s: float = 30.0, clock: Callable[[], datetime] = _utcnow) -> None:
        self._s3 = s3
        self.bucket = bucket
        self._kms_key_id = kms_key_id
        self._retention_days = retention_days
        self._multipart_threshold = multipart_threshold
        self._part_size = max(MIN_PART_SIZE, min(PART_SIZE, multipart_threshold))
        self._backoff = (backoff_initial_s, backoff_max_s)
        self._clock = clock
        self._closed = threading.Event()

    @property
    def retention_days(self) -> int | None:
        return self._retention_days

    @property
    def s3(self) -> Any:
        """The S3 client, for readers of what this store wrote (spill redrive, verify)."""
        return self._s3

    def close(self) -> None:
        self._closed.set()

    def check_encryption(self) -> None:
        """Without a key id, refuse a bucket whose default encryption is not SSE-KMS (a bucket without an
        encryption configuration included). Raises SinkConfigError naming `archive.kms_key_id`."""
        if self._kms_key_id:
            return  # every PUT names SSE-KMS with the key
        algorithm = self._default_encryption()
        if algorithm not in KMS_ALGORITHMS:
            raise SinkConfigError(
                f"archive.kms_key_id is not set and bucket {self.bucket!r} defaults to "
                f"{algorithm or 'no encryption configuration'}, not SSE-KMS, so objects would not be "
                f"encrypted with a KMS key. Set archive.kms_key_id to the archive key's ARN, or give the "
                f"bucket a default encryption of aws:kms (s3api put-bucket-encryption, SSEAlgorithm aws:kms, "
                f"KMSMasterKeyID)")

    def _default_encryption(self) -> str | None:
        try:
            reply = self._s3.get_bucket_encryption(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "ServerSideEncryptionConfigurationNotFoundError":
                return None
            raise SinkConfigError(
                f"cannot read the default encryption of bucket {self.bucket!r} ({code}); without "
                f"archive.kms_key_id the daemon needs s3:GetEncryptionConfiguration") from exc
        except BotoCoreError as exc:
            raise SinkConfigError(f"cannot reach S3 to check bucket {self.bucket!r}: {exc}") from exc
        rules = (reply.get("ServerSideEncryptionConfiguration") or {}).get("Rules") or [{}]
        return (rules[0].get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm")

    def put(self, key: str, body: bytes, content_type: str = "application/x-ndjson",
            content_encoding: str | None = "gzip", metadata: dict[str, str] | None = None, *,
            if_none_match: bool = False) -> StoredObject:
        digest = hashlib.sha256(body).digest()
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key, "ContentType": content_type,
                                  "Metadata": metadata or {}}
        if content_encoding:
            params["ContentEncoding"] = content_encoding
        if self._kms_key_id:
            # Without a key id, `aws:kms` would mean the AWS-managed aws/s3 key, not the bucket's default key:
            # name SSE-KMS only with our key, and otherwise let the bucket's default encryption apply.
            params["ServerSideEncryption"] = "aws:kms"
            params["SSEKMSKeyId"] = self._kms_key_id
        if self._retention_days:
            params["ObjectLockMode"] = "COMPLIANCE"
            params["ObjectLockRetainUntilDate"] = self._clock() + timedelta(days=self._retention_days)
        if len(body) > self._multipart_threshold:
            version = self._retry(lambda: self._put_multipart(params, body, if_none_match), key)
        else:
            params["ChecksumAlgorithm"] = "SHA256"
            params["ChecksumSHA256"] = base64.b64encode(digest).decode()
            if if_none_match:
                params["IfNoneMatch"] = "*"
            version = self._retry(lambda: self._s3.put_object(Body=body, **params).get("VersionId"), key)
        return StoredObject(key, digest.hex(), len(body), version)

    def _put_multipart(self, params: dict[str, Any], body: bytes, if_none_match: bool) -> str | None:
        upload = self._s3.create_multipart_upload(ChecksumAlgorithm="SHA256", **params)
        upload_id = upload["UploadId"]
        try:
            parts = []
            for number, start in enumerate(range(0, len(body), self._part_size), start=1):
                chunk = body[start:start + self._part_size]
                checksum = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
                reply = self._s3.upload_part(Bucket=params["Bucket"], Key=params["Key"], UploadId=upload_id,
                                             PartNumber=number, Body=chunk, ChecksumAlgorithm="SHA256",
                                             ChecksumSHA256=checksum)
                parts.append({"PartNumber": number, "ETag": reply["ETag"], "ChecksumSHA256": checksum})
            extra = {"IfNoneMatch": "*"} if if_none_match else {}
            done = self._s3.complete_multipart_upload(Bucket=params["Bucket"], Key=params["Key"],
                                                      UploadId=upload_id, MultipartUpload={"Parts": parts},
                                                      **extra)
            return done.get("VersionId")
        except BaseException:
            try:
                self._s3.abort_multipart_upload(Bucket=params["Bucket"], Key=params["Key"], UploadId=upload_id)
            except (BotoCoreError, ClientError):
                pass  # an orphaned upload is cleaned by the bucket's lifecycle rule; the retry starts afresh
            raise

    def _retry(self, call: Any, key: str) -> Any:
        attempt = 0
        while True:
            if self._closed.is_set():
                raise SinkClosed(f"store closed before s3://{self.bucket}/{key} was written")
            attempt += 1
            try:
                return call()
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                if code == "PreconditionFailed" or status == 412:
                    raise KeyExists(self.bucket, key) from exc
                if code in PERMANENT_CODES:
                    raise SinkError(f"S3 refused s3://{self.bucket}/{key}: {code}") from exc
                failure: Exception = exc
            except BotoCoreError as exc:
                failure = exc
            from sinks import events  # late: avoids an import cycle at package import

            events.s3_put_retried(self.bucket, key, attempt, failure)
            if self._closed.wait(full_jitter(attempt, *self._backoff)):
                raise SinkClosed(f"store closed while retrying s3://{self.bucket}/{key}")
