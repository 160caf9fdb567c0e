"""Spilled batches: format, layout under the prefix, progress markers, redrive in order."""

from __future__ import annotations

import gzip
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta

import pytest

from sinks.s3store import LockedObjectStore
from sinks.search.spill import Redriver, SpillStore, decode, encode
from tests.unit.sinks.archive.fakes import FakeS3

from .fakes import item, items


class Wall:
    def __init__(self) -> None:
        self.now = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def spill_store(s3: FakeS3, wall: Wall) -> SpillStore:
    store = LockedObjectStore(s3, "archive", kms_key_id="alias/archive", retention_days=None)
    return SpillStore(store, "spill", s3, wall=wall)


def done(_: list) -> Future[None]:
    future: Future[None] = Future()
    future.set_result(None)
    return future


def test_format_round_trips_documents_byte_for_byte_with_their_source() -> None:
    batch = [item(1), item(2, size=50), item(3, dataset="aws.vpcflow")]
    assert decode(encode(batch)) == batch


def test_truncated_objects_are_refused() -> None:
    with pytest.raises(ValueError, match="odd"):
        decode(encode(items(2)).rsplit(b"\n", 2)[0] + b"\n")


def test_batches_are_written_through_the_locked_store_under_a_dated_key() -> None:
    s3, wall = FakeS3(), Wall()
    key, raw = spill_store(s3, wall).write(items(3))
    assert key.startswith("spill/data/2024/05/06/20240506T070809.123456Z-") and key.endswith("-000001.ndjson.gz")
    stored = s3.objects[key][-1]
    assert stored.params["ServerSideEncryption"] == "aws:kms" and "ChecksumSHA256" in stored.params
    assert decode(gzip.decompress(stored.body)) == items(3) and raw == len(encode(items(3)))


def test_pending_lists_unmarked_batches_oldest_first_and_honours_since() -> None:
    s3, wall = FakeS3(), Wall()
    first, second = spill_store(s3, wall), spill_store(s3, wall)  # two writers (two daemons)
    key_b, _ = second.write(items(1, start=10))
    wall.now -= timedelta(minutes=5)
    key_a, _ = first.write(items(1))
    wall.now += timedelta(minutes=10)
    key_c, _ = first.write(items(1, start=20))
    assert first.pending() == [key_a, key_b, key_c]
    first.mark_done(key_a, 1)
    assert first.pending() == [key_b, key_c]
    assert first.pending(since=wall.now - timedelta(minutes=1)) == [key_c]


def test_redrive_submits_batches_in_order_and_marks_each_done() -> None:
    s3, wall = FakeS3(), Wall()
    store = spill_store(s3, wall)
    keys = []
    for n in range(3):
        wall.now += timedelta(seconds=1)
        keys.append(store.write(items(2, start=n * 10))[0])
    seen: list[list[str]] = []

    def submit(batch: list) -> Future[None]:
        seen.append([i.id for i in batch])
        return done(batch)

    result = Redriver(store, submit, lambda: True, 60).run_once()
    assert (result.objects, result.documents, result.failed) == (3, 6, 0)
    assert seen == [["id-000000", "id-000001"], ["id-000010", "id-000011"], ["id-000020", "id-000021"]]
    assert store.pending() == [] and len(s3.keys("spill/done/")) == 3


def test_a_failed_batch_stops_the_pass_and_keeps_the_order_for_next_time() -> None:
    s3, wall = FakeS3(), Wall()
    store = spill_store(s3, wall)
    for n in range(3):
        wall.now += timedelta(seconds=1)
        store.write(items(1, start=n))
    calls = {"n": 0}

    def flaky(batch: list) -> Future[None]:
        calls["n"] += 1
        future: Future[None] = Future()
        if calls["n"] == 2:
            future.set_exception(RuntimeError("cluster went away"))
        else:
            future.set_result(None)
        return future

    result = Redriver(store, flaky, lambda: True, 60).run_once()
    assert (result.objects, result.failed) == (1, 1) and len(store.pending()) == 2
    assert Redriver(store, flaky, lambda: True, 60).run_once().objects == 2


def test_nothing_is_redriven_while_the_cluster_is_not_ready() -> None:
    s3, wall = FakeS3(), Wall()
    store = spill_store(s3, wall)
    store.write(items(1))
    assert Redriver(store, done, lambda: False, 60).run_once().objects == 0
