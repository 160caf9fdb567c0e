from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from sinks.archive import encode
from sinks.archive.manifest import parse_entry
from sinks.archive.verify import Report, Verifier, _histories
from tests.unit.sinks.archive.fakes import FakeKms, FakeS3, client_error
from tests.unit.sinks.archive.helpers import SHARD, T0, archive, archive_without_dedupe, batch, record


def verify(s3: FakeS3, kms: Any = None, **kwargs: Any) -> Report:
    return Verifier(s3, "tamper-bucket", kms=kms, workers=2, **kwargs).run()


def kinds(report: Report) -> list[str]:
    return sorted(f.kind for f in report.findings)


def intact() -> FakeS3:
    s3 = FakeS3(versioned=False, lock=None)
    archive(s3, batch(0, 10), batch(10, 20), batch(20, 30))
    return s3


def test_an_intact_archive_is_clean():
    report = verify(intact())
    assert report.clean and report.findings == []
    assert (report.manifests, report.objects) == (3, 3)


def test_a_removed_object_is_missing():
    s3 = intact()
    del s3.objects[s3.keys("archive/")[1]]
    assert kinds(verify(s3)) == ["missing"]


def test_an_altered_object_is_altered():
    s3 = intact()
    key = s3.keys("archive/")[2]
    records = encode.decode_object(s3.body(key), 1 << 20)
    forged = [encode.encode_line(r.stream, r.shard, r.raw()) for r in records]
    forged[0] = forged[0].replace(b'"pk-', b'"PK-')
    s3.objects[key][-1].body = gzip.compress(b"".join(forged))
    report = verify(s3)
    assert kinds(report) == ["altered"] and not report.clean


def test_an_added_object_no_manifest_lists_is_unlisted():
    s3 = intact()
    (obj,) = encode.plan_objects("archive", "logs", SHARD, [record(i) for i in range(40, 45)], 1 << 20)
    s3.put_object(Bucket="tamper-bucket", Key=obj.key, Body=obj.body)
    s3.put_object(Bucket="tamper-bucket", Key="archive/stream=logs/notes.txt", Body=b"hello")
    assert kinds(verify(s3)) == ["unlisted"]  # notes.txt sits outside any dt=/hour= partition: not listed


def test_a_removed_manifest_breaks_the_chain_and_leaves_its_object_unlisted():
    s3 = intact()
    del s3.objects[s3.keys("manifests/")[1]]
    assert kinds(verify(s3)) == ["chain_break", "unlisted"]


def test_a_removed_first_manifest_shows_when_verifying_from_its_successor():
    s3 = intact()
    removed = s3.keys("manifests/")[0]
    del s3.objects[removed]
    later = parse_entry(s3.body(s3.keys("manifests/")[0]))
    report = Verifier(s3, "tamper-bucket").run(since=later.first_arrival_ms)
    assert "chain_break" in kinds(report)


def test_an_edited_manifest_breaks_the_link_from_its_successor():
    s3 = intact()
    key = s3.keys("manifests/")[1]
    entry = parse_entry(s3.body(key))
    s3.objects[key][-1].body = s3.body(key).replace(entry.sha256.encode(), b"0" * 64)
    assert kinds(verify(s3)) == ["altered", "chain_break"]


def test_an_interrupted_write_whose_records_were_archived_again_is_a_notice():
    s3 = intact()
    # a crash after the object PUT, before its manifest entry: the records came back and were archived
    (orphan,) = encode.plan_objects("archive", "logs", SHARD, [record(i) for i in range(25, 30)], 1 << 20)
    s3.put_object(Bucket="tamper-bucket", Key=orphan.key, Body=orphan.body)
    report = verify(s3)
    assert report.clean and kinds(report) == ["interrupted_write"]
    assert report.duplicate_records == 5


def test_overlapping_listed_objects_are_reread_duplicates_not_tampering():
    s3 = FakeS3(versioned=False, lock=None)
    archive_without_dedupe(s3, batch(0, 10), batch(5, 15), batch(15, 20))
    report = verify(s3)
    assert report.clean, report.findings
    assert kinds(report) == ["reread_duplicate"] and report.duplicate_records == 5


def test_one_position_archived_twice_with_different_bytes_is_a_finding():
    s3 = FakeS3(versioned=False, lock=None)
    archive_without_dedupe(s3, batch(0, 10), batch(5, 15, payload=b"other"))
    assert kinds(verify(s3)) == ["conflicting_copy"]


def test_signatures_are_checked_and_a_forged_entry_is_refused():
    s3, kms = FakeS3(versioned=False, lock=None), FakeKms()
    archive(s3, batch(0, 5), batch(5, 10), kms=kms, signing_key_id="sign-1")
    assert verify(s3, kms=kms, require_signatures=True).clean
    key = s3.keys("manifests/")[1]
    s3.objects[key][-1].body = s3.body(key).replace(b'"records":5', b'"records":6')
    assert kinds(verify(s3, kms=kms)) == ["bad_signature"]


def test_unsigned_entries_are_findings_only_when_signatures_are_required():
    s3 = intact()
    assert verify(s3).clean
    assert set(kinds(verify(s3, require_signatures=True))) == {"bad_signature"}


def test_a_time_range_checks_only_its_hours():
    s3 = FakeS3(versioned=False, lock=None)
    archive(s3, batch(0, 5), batch(0, 5, t0=T0 + 3 * 3_600_000, shard="shardId-000000000009"))
    report = Verifier(s3, "tamper-bucket").run(since=T0 + 3 * 3_600_000)
    assert report.clean and report.manifests == 1 and report.objects == 1


def test_a_signature_removed_after_signed_entries_is_a_finding_without_a_signing_key():
    s3, kms = FakeS3(versioned=False, lock=None), FakeKms()
    archive(s3, batch(0, 5), batch(5, 10), kms=kms, signing_key_id="sign-1")
    key = s3.keys("manifests/")[1]
    s3.objects[key][-1].body = replace(parse_entry(s3.body(key)), signature=None).body()
    report = verify(s3, kms=kms)
    assert kinds(report) == ["bad_signature"] and "not signed" in report.findings[0].detail


def put_unlisted(s3: FakeS3, records: list[Any], key: str | None = None) -> str:
    body = encode.compress(b"".join(encode.encode_line("logs", SHARD, r) for r in records))
    key = key or encode.archive_key("archive", "logs", SHARD, records[0], records[-1])
    s3.put_object(Bucket="tamper-bucket", Key=key, Body=body)
    return key


@pytest.mark.parametrize("change", [
    lambda r: replace(r, arrival_ms=r.arrival_ms + 1),
    lambda r: replace(r, partition_key="other"),
    lambda r: replace(r, sequence="0" + r.sequence),  # the same number written differently: other document ids
], ids=["arrival_ms", "partition_key", "sequence_text"])
def test_an_unlisted_copy_of_listed_records_with_any_field_changed_is_unlisted(change):
    s3 = intact()
    copies = [change(record(i)) for i in range(25, 30)]
    put_unlisted(s3, copies)
    report = verify(s3)
    assert kinds(report) == ["unlisted"] and not report.clean
    assert "5 of its 5 records are in no listed object" in report.findings[0].detail


@pytest.mark.parametrize(("first", "last", "hour_shift"), [(25, 25, 0), (26, 29, 0), (25, 29, 1)])
def test_an_unlisted_copy_of_listed_records_under_another_key_is_unlisted(first, last, hour_shift):
    s3 = intact()
    key = encode.archive_key("archive", "logs", SHARD, record(first, t0=T0 + hour_shift * 3_600_000), record(last))
    put_unlisted(s3, [record(i) for i in range(25, 30)], key)
    report = verify(s3)
    assert kinds(report) == ["unlisted"] and "belong at" in report.findings[0].detail


def test_an_unlisted_copy_of_listed_records_out_of_order_is_unlisted():
    s3 = intact()
    shuffled = [record(i) for i in (25, 27, 26, 28, 29)]
    put_unlisted(s3, shuffled, encode.archive_key("archive", "logs", SHARD, record(25), record(29)))
    assert kinds(verify(s3)) == ["unlisted"]


def test_one_position_archived_twice_with_other_arrival_times_is_a_conflicting_copy():
    s3 = FakeS3(versioned=False, lock=None)
    archive_without_dedupe(s3, batch(0, 10), batch(5, 15, t0=T0 + 1))
    assert kinds(verify(s3)) == ["conflicting_copy"]


def test_an_unlisted_object_under_an_hour_that_is_no_time_is_a_finding_not_a_crash():
    s3 = intact()
    key = encode.archive_key("archive", "logs", SHARD, record(40), record(44)).replace("/hour=22/", "/hour=99/")
    put_unlisted(s3, [record(i) for i in range(40, 45)], key)
    report = verify(s3)
    assert kinds(report) == ["unlisted"] and report.findings[0].key == key


def test_a_stray_key_inside_a_partition_is_one_finding():
    s3 = intact()
    key = "archive/stream=logs/dt=2023-11-14/hour=22/shardId-000000000001/notes.txt"
    s3.put_object(Bucket="tamper-bucket", Key=key, Body=b"hi")
    assert [(f.kind, f.key) for f in verify(s3).findings] == [("unlisted", key)]


def test_an_unlisted_object_that_cannot_be_checked_is_a_finding_not_a_crash():
    s3 = intact()
    key = put_unlisted(s3, [record(i) for i in range(25, 30)])

    def deny(operation: str, params: dict[str, Any]) -> None:
        if operation == "get_object" and params["Key"] == key:
            raise client_error("AccessDenied", 403, "GetObject")

    s3.fail = deny
    report = verify(s3)
    assert kinds(report) == ["unlisted"] and "AccessDenied" in report.findings[0].detail


@pytest.fixture
def locked_s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """moto's S3: a versioned Object Lock bucket with real delete markers and ListObjectVersions."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="tamper-bucket", ObjectLockEnabledForBucket=True)
        s3.put_bucket_encryption(Bucket="tamper-bucket", ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]})
        yield s3


def listed_keys(s3: Any, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket="tamper-bucket", Prefix=prefix).get("Contents", []))


def test_delete_markers_hiding_the_newest_entry_and_object_are_findings(locked_s3):
    archive(locked_s3, batch(0, 10), batch(10, 20), batch(20, 30))
    assert verify(locked_s3).clean
    newest = [listed_keys(locked_s3, "manifests/")[-1], listed_keys(locked_s3, "archive/")[-1]]
    for key in newest:  # no version id: a delete marker, which COMPLIANCE retention allows
        assert locked_s3.delete_object(Bucket="tamper-bucket", Key=key)["DeleteMarker"]
    report = verify(locked_s3)
    assert not report.clean and report.manifests == 2
    assert [(f.kind, f.key) for f in report.findings] == [("delete_marker", key) for key in newest]
    assert "the newest version is a delete marker (version" in report.findings[0].detail


def test_a_delete_marker_outside_the_range_is_not_reported(locked_s3):
    archive(locked_s3, batch(0, 5), batch(0, 5, t0=T0 + 3 * 3_600_000, shard="shardId-000000000009"))
    locked_s3.delete_object(Bucket="tamper-bucket", Key=listed_keys(locked_s3, "manifests/")[0])
    report = Verifier(locked_s3, "tamper-bucket").run(since=T0 + 3 * 3_600_000)
    assert report.clean and report.findings == []


def test_a_second_version_of_a_manifest_entry_is_a_finding():
    s3 = FakeS3(versioned=True, lock=None)
    archive(s3, batch(0, 10), batch(10, 20))
    key = s3.keys("manifests/")[1]
    s3.put_object(Bucket="tamper-bucket", Key=key, Body=s3.body(key))  # the same bytes again, as a new version
    report = verify(s3)
    assert kinds(report) == ["manifest_rewritten"] and report.findings[0].key == key


class PagedVersions:
    """ListObjectVersions two versions a page, as S3 pages (MaxKeys), markers and versions apart."""

    def __init__(self, versions: list[tuple[str, str, bool, bool]]) -> None:
        self.versions = versions
        self.markers: list[dict[str, Any]] = []

    def list_object_versions(self, **params: Any) -> dict[str, Any]:
        start = int(params.get("VersionIdMarker", "0"))
        page = self.versions[start:start + 2]
        self.markers.append(params)
        more = start + 2 < len(self.versions)
        return {"Versions": [{"Key": k, "VersionId": v, "IsLatest": latest} for k, v, marker, latest in page
                             if not marker],
                "DeleteMarkers": [{"Key": k, "VersionId": v, "IsLatest": latest} for k, v, marker, latest in page
                                  if marker],
                "IsTruncated": more, "NextKeyMarker": page[-1][0], "NextVersionIdMarker": str(start + 2)}


def test_a_key_whose_versions_span_pages_is_one_history():
    s3 = PagedVersions([("a", "m1", True, True), ("a", "v2", False, False), ("a", "v1", False, False),
                        ("b", "v3", False, True)])
    histories = list(_histories(s3, "tamper-bucket", ""))
    assert [(h.key, h.versions, h.delete_markers, h.hidden) for h in histories] == [
        ("a", ["v2", "v1"], 1, True), ("b", ["v3"], 0, False)]
    assert [p.get("KeyMarker") for p in s3.markers] == [None, "a"]
