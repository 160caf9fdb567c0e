from __future__ import annotations

import itertools
import threading
from dataclasses import replace
from typing import Any

import pytest

from sinks.archive import events, reader
from sinks.archive.config import ArchiveSettings
from sinks.archive.manifest import parse_entry
from sinks.archive.service import ArchiveSink
from sinks.archive.signing import ManifestSigner
from sinks.archive.verify import Verifier
from sinks.batch import Position
from sinks.errors import ChainHeadRejected, ObjectLockMissing, SinkClosed, SinkConfigError, SinkError
from sinks.s3store import LockedObjectStore
from tests.unit.sinks.archive.fakes import FakeKms, FakeS3, client_error
from tests.unit.sinks.archive.helpers import SHARD, batch


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(s3: FakeS3, clock: Clock | None = None, kms: Any = None, **settings: Any) -> ArchiveSink:
    config = ArchiveSettings(**{"bucket": "archive-bucket", "retention_days": 30, "upload_concurrency": 2,
                                **settings})
    store = LockedObjectStore(s3, config.bucket, kms_key_id="kms-1", retention_days=config.retention_days,
                              backoff_initial_s=0, backoff_max_s=0)
    sink = ArchiveSink(config, store, s3, kms=kms, monotonic=clock or Clock(), writer="test:1")
    sink.start()
    return sink


def chain(s3: FakeS3) -> list[Any]:
    entries = [parse_entry(s3.body(k)) for k in s3.keys("manifests/")]
    return sorted(entries, key=lambda e: e.first)


def assert_linked(entries: list[Any]) -> None:
    assert entries[0].prev_sha256 is None
    for previous, entry in itertools.pairwise(entries):
        assert entry.follows(previous, previous.manifest_key("manifests")), (previous.key, entry.key)
        assert entry.first > previous.last


def test_a_batch_is_delivered_as_an_object_and_a_manifest_entry_naming_it():
    s3 = FakeS3()
    sink = make(s3)
    sink.deliver(batch(0, 5)).result(5)
    (key,) = s3.keys("archive/")
    (entry,) = chain(s3)
    assert entry.key == key and entry.records == 5 and entry.size == len(s3.body(key))
    assert entry.version_id == s3.objects[key][-1].version_id
    put = s3.objects[entry.manifest_key("manifests")][-1].params
    assert put["IfNoneMatch"] == "*" and put["ObjectLockMode"] == "COMPLIANCE"
    sink.close(1)


def test_consecutive_batches_and_split_objects_form_one_chain_per_shard():
    s3 = FakeS3()
    sink = make(s3, max_object_bytes=64 * 1024)
    sink.deliver(batch(0, 10)).result(5)
    sink.deliver(batch(10, 3000)).result(5)  # ~150 KB of NDJSON: three objects
    sink.deliver(batch(0, 4, shard="shardId-000000000002")).result(5)
    sink.close(1)
    entries = [e for e in chain(s3) if e.shard == SHARD]
    assert len(entries) >= 4 and sum(e.records for e in entries) == 3000
    assert_linked(entries)
    other = [e for e in chain(s3) if e.shard != SHARD]
    assert len(other) == 1 and other[0].prev_sha256 is None


def test_records_the_chain_already_holds_are_not_archived_again():
    s3 = FakeS3()
    sink = make(s3)
    sink.deliver(batch(0, 10)).result(5)
    sink.deliver(batch(5, 15)).result(5)  # a re-read after a crash, cut differently
    sink.deliver(batch(0, 15)).result(5)  # everything held: nothing written
    sink.close(1)
    entries = chain(s3)
    assert [(e.first.sequence, e.records) for e in entries] == [(entries[0].first.sequence, 10),
                                                                (entries[1].first.sequence, 5)]
    assert_linked(entries)


def test_a_lower_position_that_arrived_later_is_archived_not_dropped():
    s3 = FakeS3()
    sink = make(s3)
    sink.deliver(batch(10, 20)).result(5)
    recreated = batch(0, 5, t0=1_800_000_000_000)  # same stream name, new stream: lower sequence, later arrival
    sink.deliver(recreated).result(5)
    sink.close(1)
    assert sum(e.records for e in chain(s3)) == 15


def test_another_instance_continues_the_chain_from_s3_after_a_lease_hand_over():
    s3 = FakeS3()
    first = make(s3)
    first.deliver(batch(0, 10)).result(5)
    first.close(1)
    second = make(s3)
    second.deliver(batch(5, 20)).result(5)  # restarts from an older checkpoint
    second.close(1)
    entries = chain(s3)
    assert [e.records for e in entries] == [10, 10]
    assert_linked(entries)


def test_two_writers_of_one_shard_do_not_fork_the_chain():
    s3 = FakeS3()
    clock = Clock()
    old_owner = make(s3, clock)
    new_owner = make(s3, clock)
    old_owner.deliver(batch(0, 10)).result(5)
    new_owner.deliver(batch(10, 20)).result(5)  # takes the lease, reads head = old owner's entry
    # the old owner still holds a stale head and writes its in-flight batch (cut differently)
    old_owner.deliver(batch(10, 25)).result(5)
    old_owner.close(1)
    new_owner.close(1)
    entries = chain(s3)
    assert_linked(entries)
    assert sum(e.records for e in entries) == 25
    # the old owner's object for 10..24 was stored before its entry was refused: an unlisted duplicate
    listed = {e.key for e in entries}
    assert len([k for k in s3.keys("archive/") if k not in listed]) == 1


def test_a_stale_head_is_read_again_after_head_refresh_s():
    s3 = FakeS3()
    clock = Clock()
    a, b = make(s3, clock, head_refresh_s=10), make(s3, clock, head_refresh_s=10)
    a.deliver(batch(0, 10)).result(5)
    b.deliver(batch(10, 20)).result(5)  # the lease went to b ...
    clock.now += 11
    a.deliver(batch(20, 30)).result(5)  # ... and came back: a must link to b's entry, not its own
    a.close(1)
    b.close(1)
    assert_linked(chain(s3))


def test_a_retry_after_a_lost_reply_reuses_the_stored_entry():
    s3 = FakeS3()
    lost = {"done": False}

    def lose_first_manifest_reply(operation: str, params: dict[str, Any]) -> None:
        if operation == "put_object" and params["Key"].startswith("manifests/") and not lost["done"]:
            lost["done"] = True
            s3._store(params["Key"], params["Body"], dict(params))  # S3 stored it, the reply never came
            raise client_error("RequestTimeout", 500)

    s3.fail = lose_first_manifest_reply
    sink = make(s3)
    sink.deliver(batch(0, 5)).result(5)
    sink.deliver(batch(5, 10)).result(5)
    sink.close(1)
    assert_linked(chain(s3))


def test_manifests_are_signed_when_a_signing_key_is_set():
    s3, kms = FakeS3(), FakeKms()
    sink = make(s3, kms=kms, signing_key_id="sign-1")
    sink.deliver(batch(0, 5)).result(5)
    sink.close(1)
    (entry,) = chain(s3)
    assert entry.signature is not None and entry.signature.algorithm == "ECDSA_SHA_256"


def test_a_permanent_s3_error_fails_the_future_with_a_sink_error():
    def refuse(operation: str, params: dict[str, Any]) -> None:
        if operation == "put_object":
            raise client_error("InvalidArgument")

    s3 = FakeS3(fail=refuse)
    sink = make(s3)
    with pytest.raises(SinkError, match="InvalidArgument"):
        sink.deliver(batch(0, 5)).result(5)
    sink.close(1)


def test_start_refuses_a_bucket_without_object_lock():
    with pytest.raises(ObjectLockMissing, match="archive-bucket.*no Object Lock"):
        make(FakeS3(lock=None))


def test_start_refuses_a_lock_without_any_retention():
    with pytest.raises(ObjectLockMissing, match="no default retention"):
        make(FakeS3(), retention_days=None)


def test_start_refuses_governance_default_retention_without_retention_days():
    lock = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}
    with pytest.raises(ObjectLockMissing, match="GOVERNANCE"):
        make(FakeS3(lock=lock), retention_days=None)


def test_start_accepts_a_compliance_default_and_an_unlocked_bucket_when_not_required():
    lock = {"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 1}}}
    make(FakeS3(lock=lock), retention_days=None).close(1)
    make(FakeS3(lock=None, versioned=False), require_object_lock=False).close(1)


def test_close_fails_what_is_queued_and_refuses_more():
    gate = threading.Event()

    def hold(operation: str, params: dict[str, Any]) -> None:
        if operation == "put_object":
            gate.wait(5)

    s3 = FakeS3(fail=hold)
    sink = make(s3)
    in_flight = sink.deliver(batch(0, 5))
    queued = sink.deliver(batch(5, 10))
    closer = threading.Thread(target=sink.close, args=(0.2,))
    closer.start()
    closer.join(5)
    gate.set()
    with pytest.raises(SinkClosed):
        queued.result(5)
    with pytest.raises(SinkError):
        in_flight.result(5)  # the store closed under it: its manifest entry was never written
    with pytest.raises(SinkClosed):
        sink.deliver(batch(10, 11)).result(1)


def test_head_lookup_costs_a_few_requests_whatever_the_history():
    s3 = FakeS3()
    sink = make(s3)
    for start in range(0, 200, 10):
        sink.deliver(batch(start, start + 10, step_ms=60_000)).result(5)  # 10 minutes a batch: many hours
    sink.close(1)
    s3.calls.clear()
    found = reader.latest_entry(s3, "archive-bucket", "manifests", "logs", SHARD)
    assert found is not None and found[1].last == chain(s3)[-1].last
    assert len(s3.calls) <= 8


# --- a chain head read back from S3 ------------------------------------------------------------------------


def first_batch_archived(s3: FakeS3, kms: Any = None, **settings: Any) -> Any:
    """Records 0..9 archived by a writer that then stops; its one manifest entry, the chain head."""
    first = make(s3, kms=kms, **settings)
    first.deliver(batch(0, 10)).result(5)
    first.close(1)
    (head,) = chain(s3)
    return head


def plant(s3: FakeS3, entry: Any) -> str:
    """What someone with s3:PutObject on the bucket, but neither the daemon nor the signing key, can do."""
    key = entry.manifest_key("manifests")
    s3.put_object(Bucket="archive-bucket", Key=key, Body=entry.body())
    return key


def test_a_planted_head_from_the_future_fails_the_batch_instead_of_dropping_its_records():
    s3 = FakeS3()
    real = first_batch_archived(s3)
    huge = Position(10**60, 0)
    plant(s3, replace(real, first=huge, last=huge, first_arrival_ms=253402300799000,
                      last_arrival_ms=253402300799000, prev_last=real.last, writer="forger"))
    failures = events.ERRORS.labels("logs", "ChainHeadRejected")._value.get()
    second = make(s3)
    refused = r"dt=9999-12-31.*ahead of this host's clock.*neither archived nor checkpointed"
    with pytest.raises(ChainHeadRejected, match=refused):
        second.deliver(batch(10, 20)).result(5)
    second.close(1)
    assert len(s3.keys("archive/")) == 1  # records 10..19 were neither written nor acknowledged
    assert events.ERRORS.labels("logs", "ChainHeadRejected")._value.get() == failures + 1


def test_a_planted_head_that_would_drop_records_the_chain_never_held_fails_the_batch():
    s3 = FakeS3()
    real = first_batch_archived(s3)
    huge = Position(10**60, 0)
    # plausible arrival times, linked to the real head, but its first record lies far beyond records 10..19
    plant(s3, replace(real, first=huge, last=huge, last_arrival_ms=real.last_arrival_ms + 60_000,
                      prev_last=real.last, prev_key=real.key, prev_manifest=real.manifest_key("manifests"),
                      writer="forger"))
    second = make(s3)
    with pytest.raises(ChainHeadRejected, match="would have record .* dropped as a re-read"):
        second.deliver(batch(10, 20)).result(5)
    second.close(1)
    assert len(s3.keys("archive/")) == 1


def test_a_garbage_head_fails_the_batch_with_an_error_naming_its_key():
    s3 = FakeS3()
    garbage = first_batch_archived(s3).manifest_key("manifests").replace(".0.json", "9.0.json")  # a higher position
    s3.put_object(Bucket="archive-bucket", Key=garbage, Body=b'{"format": 1, "stream": "logs"}')
    second = make(s3)
    with pytest.raises(ChainHeadRejected, match=f"{garbage}: not a manifest entry"):
        second.deliver(batch(10, 20)).result(5)
    second.close(1)


def test_with_signed_manifests_a_forged_head_fails_the_batch_and_an_unsigned_one_is_trusted_with_nothing():
    s3, kms = FakeS3(), FakeKms()
    real = first_batch_archived(s3, kms=kms, signing_key_id="sign-1")
    ahead = replace(real, last=batch(0, 30).records[-1].position, writer="forger")  # claims records 10..29
    # signed with a key of the forger's own, named in the entry: checked with the configured key regardless
    forger = FakeKms()
    planted = plant(s3, ahead)
    s3.put_object(Bucket="archive-bucket", Key=planted,
                  Body=ManifestSigner(forger, "forger-key").sign(ahead).body())
    with pytest.raises(ChainHeadRejected, match="does not verify with archive.signing_key_id 'sign-1'"):
        make(s3, kms=kms, signing_key_id="sign-1").deliver(batch(10, 20)).result(5)
    assert len(s3.keys("archive/")) == 1
    # Unsigned (as every head is when signing is first turned on): the batch is archived whole, not dropped.
    plant(s3, replace(ahead, signature=None))
    second = make(s3, kms=kms, signing_key_id="sign-1")
    second.deliver(batch(10, 20)).result(5)
    second.close(1)
    assert len(s3.keys("archive/")) == 2
    assert chain(s3)[-1].records == 10 and chain(s3)[-1].signature is not None


def test_turning_signing_on_continues_an_unsigned_chain_and_re_read_records_are_archived_again():
    s3, kms = FakeS3(), FakeKms()
    unsigned = make(s3)
    unsigned.deliver(batch(0, 10)).result(5)
    unsigned.close(1)
    signed = make(s3, kms=kms, signing_key_id="sign-1")
    signed.deliver(batch(5, 20)).result(5)  # from an older checkpoint: 5..9 were archived unsigned
    signed.deliver(batch(20, 30)).result(5)  # the signed head written above is trusted again
    signed.close(1)
    entries = chain(s3)
    assert [e.records for e in entries] == [10, 15, 10]
    assert [e.signature is not None for e in entries] == [False, True, True]
    for previous, entry in itertools.pairwise(entries):  # one chain, the re-read 5..9 held twice
        assert entry.follows(previous, previous.manifest_key("manifests"))
    report = Verifier(s3, "archive-bucket", kms=kms).run()
    assert report.clean and [f.kind for f in report.findings] == ["reread_duplicate"]


def test_a_signed_head_that_verifies_is_continued_and_its_re_read_records_dropped():
    s3, kms = FakeS3(), FakeKms()
    first = make(s3, kms=kms, signing_key_id="sign-1")
    first.deliver(batch(0, 10)).result(5)
    first.close(1)
    second = make(s3, kms=kms, signing_key_id="sign-1")
    second.deliver(batch(5, 20)).result(5)  # restarts from an older checkpoint
    second.close(1)
    entries = chain(s3)
    assert [e.records for e in entries] == [10, 10]
    assert_linked(entries)


# --- encryption ------------------------------------------------------------------------------------------


def bucket_default_sink(s3: FakeS3) -> ArchiveSink:
    """A sink without archive.kms_key_id: its objects take the bucket's default encryption."""
    config = ArchiveSettings(bucket="archive-bucket", retention_days=1)
    return ArchiveSink(config, LockedObjectStore(s3, config.bucket, kms_key_id=None, retention_days=1), s3)


@pytest.mark.parametrize(("default", "named"), [("AES256", "AES256"), (None, "no encryption configuration")])
def test_without_a_kms_key_id_start_refuses_a_bucket_that_does_not_default_to_sse_kms(default, named):
    sink = bucket_default_sink(FakeS3(encryption=default))
    refused = f"archive.kms_key_id is not set.*defaults to {named}, not SSE-KMS"
    with pytest.raises(SinkConfigError, match=refused):
        sink.start()
    sink.close(1)


@pytest.mark.parametrize("default", ["aws:kms", "aws:kms:dsse"])
def test_without_a_kms_key_id_start_accepts_a_bucket_defaulting_to_sse_kms(default):
    s3 = FakeS3(encryption=default)
    sink = bucket_default_sink(s3)
    sink.start()
    sink.deliver(batch(0, 5)).result(5)
    sink.close(1)
    assert "ServerSideEncryption" not in s3.objects[s3.keys("archive/")[0]][-1].params  # the default applies


def test_with_a_kms_key_id_every_put_names_it_and_the_bucket_default_is_not_needed():
    s3 = FakeS3(encryption="AES256")
    sink = make(s3)  # its store names kms-1
    sink.deliver(batch(0, 5)).result(5)
    sink.close(1)
    assert all(v[-1].params["ServerSideEncryption"] == "aws:kms" and v[-1].params["SSEKMSKeyId"] == "kms-1"
               for v in s3.objects.values())
    assert "get_bucket_encryption" not in [operation for operation, _ in s3.calls]
