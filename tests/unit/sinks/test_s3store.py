from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sinks.errors import SinkClosed, SinkError
from sinks.s3store import KeyExists, LockedObjectStore
from tests.unit.sinks.archive.fakes import FakeS3, client_error

NOW = datetime(2024, 5, 1, tzinfo=UTC)


def store(s3: FakeS3, **kwargs: Any) -> LockedObjectStore:
    return LockedObjectStore(s3, "archive-bucket", kms_key_id="kms-1", retention_days=30, backoff_initial_s=0,
                             backoff_max_s=0, clock=lambda: NOW, **kwargs)


def test_every_put_names_sha256_sends_the_digest_and_locks_in_compliance_mode():
    s3 = FakeS3()
    stored = store(s3).put("k", b"body")
    params = s3.objects["k"][-1].params
    assert params["ChecksumAlgorithm"] == "SHA256"  # S3 refuses locked PUTs without it (or Content-MD5)
    assert params["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(b"body").digest()).decode()
    assert (params["ServerSideEncryption"], params["SSEKMSKeyId"]) == ("aws:kms", "kms-1")
    assert (params["ObjectLockMode"], params["ObjectLockRetainUntilDate"]) == ("COMPLIANCE", NOW + timedelta(days=30))
    assert stored.sha256_hex == hashlib.sha256(b"body").hexdigest() and stored.version_id == "v0"


def test_big_bodies_go_multipart_with_a_checksum_per_part():
    s3 = FakeS3()
    body = bytes(range(256)) * (48 * 1024)  # 12 MiB, threshold 5 MiB
    stored = store(s3, multipart_threshold=5 * 1024 * 1024).put("big", body)
    assert s3.body("big") == body and stored.size == len(body)
    parts = [p for op, p in s3.calls if op == "upload_part"]
    assert len(parts) == 3 and all(p["ChecksumAlgorithm"] == "SHA256" for p in parts)
    create = next(p for op, p in s3.calls if op == "create_multipart_upload")
    assert create["ChecksumAlgorithm"] == "SHA256" and create["ObjectLockMode"] == "COMPLIANCE"


def test_a_conditional_put_on_a_taken_key_raises_key_exists():
    s3 = FakeS3()
    s = store(s3)
    s.put("k", b"one", if_none_match=True)
    with pytest.raises(KeyExists):
        s.put("k", b"two", if_none_match=True)
    assert s3.body("k") == b"one"


def test_transient_errors_are_retried_and_permanent_ones_are_not():
    failures = [client_error("SlowDown", 503), client_error("InternalError", 500)]

    def flaky(operation: str, params: dict[str, Any]) -> None:
        if failures:
            raise failures.pop(0)

    s3 = FakeS3(fail=flaky)
    store(s3).put("k", b"x")
    assert s3.body("k") == b"x"

    def broken(operation: str, params: dict[str, Any]) -> None:
        raise client_error("InvalidArgument")

    with pytest.raises(SinkError, match="InvalidArgument"):
        store(FakeS3(fail=broken)).put("k", b"x")


def test_a_closed_store_stops_retrying():
    s3 = FakeS3(fail=lambda op, p: (_ for _ in ()).throw(client_error("SlowDown", 503)))
    s = store(s3)
    s.close()
    with pytest.raises(SinkClosed):
        s.put("k", b"x")
