"""Signature checks against KMS (moto's in-process KMS: real key ARNs, aliases and DescribeKey)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sinks.archive import encode
from sinks.archive.manifest import ManifestEntry, parse_entry
from sinks.archive.signing import ManifestSigner, SignatureVerifier
from sinks.archive.verify import Report, Verifier
from sinks.errors import SinkConfigError
from tests.unit.sinks.archive.fakes import FakeS3
from tests.unit.sinks.archive.helpers import archive, batch


@pytest.fixture
def kms(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with mock_aws():
        yield boto3.client("kms", region_name="us-east-1")


def signing_key(kms: Any, alias: str | None = None) -> dict[str, Any]:
    metadata = kms.create_key(KeyUsage="SIGN_VERIFY", KeySpec="ECC_NIST_P256")["KeyMetadata"]
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=metadata["KeyId"])
    return metadata


def signed_archive(kms: Any, key_id: str) -> FakeS3:
    s3 = FakeS3(versioned=False, lock=None)
    archive(s3, batch(0, 5), batch(5, 10), kms=kms, signing_key_id=key_id)
    return s3


def rewrite_newest(s3: FakeS3) -> tuple[str, ManifestEntry]:
    """Replace the newest object's records and point its entry at the new bytes, signature dropped."""
    object_key, manifest_key = s3.keys("archive/")[-1], s3.keys("manifests/")[-1]
    records = encode.decode_object(s3.body(object_key), 1 << 20)
    body = encode.compress(b"".join(encode.encode_line(r.stream, r.shard, replace(r.raw(), data_b64="ZXZpbA=="))
                                    for r in records))
    s3.objects[object_key][-1].body = body
    entry = replace(parse_entry(s3.body(manifest_key)), sha256=hashlib.sha256(body).hexdigest(), size=len(body),
                    signature=None)
    return manifest_key, entry


def verify(s3: FakeS3, kms: Any, **kwargs: Any) -> Report:
    return Verifier(s3, "tamper-bucket", kms=kms, workers=1, **kwargs).run()


def test_an_entry_re_signed_with_another_key_is_refused_when_the_signing_key_is_pinned(kms):
    ours, theirs = signing_key(kms), signing_key(kms)
    s3 = signed_archive(kms, ours["KeyId"])
    manifest_key, entry = rewrite_newest(s3)
    s3.objects[manifest_key][-1].body = ManifestSigner(kms, theirs["KeyId"]).sign(entry).body()

    report = verify(s3, kms, signing_key=ours["KeyId"])

    assert [f.kind for f in report.findings] == ["bad_signature"]
    assert f"not the archive's signing key {ours['Arn']}" in report.findings[0].detail


def test_a_pinned_verifier_refuses_a_good_signature_by_another_key(kms):
    ours, theirs = signing_key(kms), signing_key(kms)
    s3 = signed_archive(kms, theirs["KeyId"])
    entry = parse_entry(s3.body(s3.keys("manifests/")[0]))
    pinned = SignatureVerifier(kms, ours["KeyId"])
    pinned.start()
    assert SignatureVerifier(kms).valid(entry)
    assert not pinned.is_expected_key(entry.signature.key_id) and not pinned.valid(entry)


@pytest.mark.parametrize("named_by", ["KeyId", "Arn", "alias"])
def test_the_signing_key_may_be_named_by_id_arn_or_alias(kms, named_by):
    ours = signing_key(kms, alias="alias/archive-signing")
    s3 = signed_archive(kms, "alias/archive-signing")
    pinned = "alias/archive-signing" if named_by == "alias" else ours[named_by]
    report = verify(s3, kms, signing_key=pinned)
    assert report.clean and report.findings == [] and report.signed == 2


def test_an_unsigned_entry_is_a_finding_when_the_signing_key_is_pinned(kms):
    ours = signing_key(kms)
    s3 = FakeS3(versioned=False, lock=None)
    archive(s3, batch(0, 5), batch(5, 10))  # written without signing
    report = verify(s3, kms, signing_key=ours["Arn"])
    assert [f.kind for f in report.findings] == ["bad_signature", "bad_signature"]
    assert not report.clean


def test_a_signing_key_that_cannot_be_described_refuses_the_check(kms):
    s3 = signed_archive(kms, signing_key(kms)["KeyId"])
    with pytest.raises(SinkConfigError, match="alias/nobody"):
        verify(s3, kms, signing_key="alias/nobody")
