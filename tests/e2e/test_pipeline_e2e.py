"""The spine, end to end: kinesis-local → KCL MultiLangDaemon → record processors → parser pool →
S3 archive (moto) + Elasticsearch; checkpoints in DynamoDB (moto). Real servers, real daemon."""

from __future__ import annotations

import base64
import random
import time
from collections import Counter

import pytest

from consumer import corpus
from consumer.sandbox import wait_for
from tests.e2e.conftest import Case, wait_indexed

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EVENTS = 20_000
# CloudWatch Logs subscriptions pack many events per record; 100 keeps the stream at a few hundred records,
# which the emulator handles quickly (its PutRecords slows down as a stream fills).
MIXED = dict(total_events=EVENTS, seed=11, cwl_batch=100, line_batch=20)


def assert_archived_byte_for_byte(case: Case) -> None:
    archived = case.archived()
    by_position = {(a["shard"], a["sequence"], a.get("sub_sequence", 0)): a for a in archived}
    assert len(by_position) == len(case.put), "every record archived exactly once by position"
    for record, shard, sequence in case.put:
        line = by_position[(shard, sequence, 0)]
        assert base64.b64decode(line["data"]) == record.data


def assert_checkpointed_at_last_sequence(case: Case) -> None:
    expected = case.last_sequence_per_shard()

    def settled() -> bool:
        leases = {lease["leaseKey"]: lease for lease in case.leases()}
        return all(leases.get(shard, {}).get("checkpoint") == sequence for shard, sequence in expected.items())

    wait_for(settled, 60, what=f"checkpoints at the last sequences {expected} (leases: {case.leases()})")


def test_every_event_is_indexed_once_archived_and_checkpointed(case: Case) -> None:
    records = list(corpus.records(**MIXED))
    process = case.start()
    started = time.monotonic()
    case.put_records(records)
    wait_indexed(case, EVENTS, timeout=600, processes=[process])
    elapsed = time.monotonic() - started
    assert case.indexed() == EVENTS
    assert case.dead_letters() == 0
    assert_archived_byte_for_byte(case)
    assert_checkpointed_at_last_sequence(case)
    print(f"\ne2e: {EVENTS} events in {len(records)} records, {elapsed:.1f}s, {EVENTS / elapsed:.0f} events/s")


def test_kill_9_mid_stream_then_restart_loses_and_duplicates_nothing(case: Case) -> None:
    records = list(corpus.records(**MIXED))
    first = case.start()
    case.put_records(records)
    cut = random.Random().randint(EVENTS // 10, EVENTS // 2)
    wait_indexed(case, cut, timeout=600, processes=[first])
    first.kill_tree()
    at_kill = case.indexed()
    second = case.start()
    wait_indexed(case, EVENTS, timeout=600, processes=[second])
    # Give a wrongly re-indexed duplicate every chance to show up before counting.
    assert_checkpointed_at_last_sequence(case)
    assert case.indexed() == EVENTS
    assert_archived_byte_for_byte(case)
    print(f"\ncrash test: killed at {at_kill} indexed (target {cut}); after restart {case.indexed()} of {EVENTS}")


@pytest.mark.parametrize("case", [4], indirect=True)
def test_two_instances_share_the_shards_and_one_takes_over_after_kill_9(case: Case) -> None:
    records = list(corpus.records(**MIXED))
    one, two = case.start("worker-a"), case.start("worker-b")

    def owners() -> Counter:
        return Counter(lease.get("leaseOwner") for lease in case.leases() if lease.get("leaseOwner"))

    wait_for(lambda: len(owners()) == 2 and sum(owners().values()) == 4, 180,
             what=f"both instances holding leases (owners: {owners()})")
    case.put_records(records[: len(records) // 2])
    wait_indexed(case, 1, timeout=300, processes=[one, two])
    survivor_owner = None
    one.kill_tree()
    killed_at = time.monotonic()

    def taken_over() -> bool:
        nonlocal survivor_owner
        counts = owners()
        if len(counts) == 1 and sum(counts.values()) == 4:
            survivor_owner = next(iter(counts))
            return True
        return False

    wait_for(taken_over, 180, what=f"the survivor taking every lease (owners: {owners()})")
    failover_s = time.monotonic() - killed_at
    case.put_records(records[len(records) // 2:])
    wait_indexed(case, EVENTS, timeout=600, processes=[two])
    assert_checkpointed_at_last_sequence(case)
    assert case.indexed() == EVENTS
    assert_archived_byte_for_byte(case)
    print(f"\nfailover: all 4 leases held by the survivor {failover_s:.1f}s after kill -9")


def test_a_shard_split_mid_stream_delivers_everything_children_after_parent(case: Case) -> None:
    records = list(corpus.records(**MIXED))
    process = case.start()
    half = len(records) // 2
    case.put_records(records[:half])
    wait_indexed(case, 1, timeout=300, processes=[process])
    kinesis = case.sandbox.client("kinesis")
    parent = kinesis.list_shards(StreamName=case.name)["Shards"][0]
    low, high = int(parent["HashKeyRange"]["StartingHashKey"]), int(parent["HashKeyRange"]["EndingHashKey"])
    kinesis.split_shard(StreamName=case.name, ShardToSplit=parent["ShardId"], NewStartingHashKey=str((low + high) // 2))
    wait_for(lambda: kinesis.describe_stream_summary(StreamName=case.name)["StreamDescriptionSummary"]
             ["StreamStatus"] == "ACTIVE", 60, what="the stream to be ACTIVE after the split")
    case.put_records(records[half:])
    wait_indexed(case, EVENTS, timeout=600, processes=[process])
    assert case.indexed() == EVENTS
    assert_archived_byte_for_byte(case)
    leases = {lease["leaseKey"]: lease for lease in case.leases()}
    wait_for(lambda: {l["leaseKey"]: l for l in case.leases()}[parent["ShardId"]].get("checkpoint") == "SHARD_END",
             60, what="the parent shard checkpointed at SHARD_END")
    children = [s for s in kinesis.list_shards(StreamName=case.name)["Shards"]
                if s.get("ParentShardId") == parent["ShardId"]]
    assert len(children) == 2
    # Children are read only after their parent ended: everything archived from a child was written after
    # the last object of the parent.
    s3 = case.sandbox.client("s3")
    written: dict[str, list] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="e2e-archive", Prefix=f"{case.name}/archive/"):
        for item in page.get("Contents", []):
            shard = item["Key"].split("/")[-2]
            written.setdefault(shard, []).append(item["LastModified"])
    parent_done = max(written[parent["ShardId"]])
    for child in children:
        if child["ShardId"] in written:
            assert min(written[child["ShardId"]]) >= parent_done
    assert leases  # the lease table existed throughout
