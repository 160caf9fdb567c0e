"""The search sink against real Elasticsearch 8.19 and OpenSearch 2.19 (integ-test zips, Java 17, 512 MB heap,
disk watermarks off) and moto server for S3: every fault the sink must survive without losing a document.

Servers start once per session (each fault test puts its documents in its own data stream namespace); tests
wait on conditions with deadlines, never on fixed sleeps. Counts printed with `-s` feed the closing report.
"""

from __future__ import annotations

import argparse
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
import yaml
from botocore.config import Config
from prometheus_client import REGISTRY

from consumer.commands import redrive
from consumer.embedded.moto_server import MotoServer
from consumer.embedded.process import wait_until
from consumer.embedded.search_engine import SearchEngine
from consumer.pool import IndexNaming
from parsers import ParseOptions
from parsers.record import parse_record
from parsers.rules import StreamParsing
from sinks.batch import BulkItem, DeadLetter, DocumentRun, Entry, RawRecord, RunGroup, Source
from sinks.compress import SegmentWriter
from sinks.deadletter import DeadLetterSink, iter_dead_letters
from sinks.documents import BulkItemBuilder
from sinks.errors import SinkConfigError
from sinks.s3store import LockedObjectStore
from sinks.search.config import SearchSettings
from sinks.search.request_builder import action_prefix
from sinks.search.service import SearchSink
from tests.support.runs import pack

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REGION = "us-east-1"
CREDENTIALS = {"aws_access_key_id": "AKIDSECSTASHTEST", "aws_secret_access_key": "secret"}
DATASET = "aws.cloudtrail"
LONG = 240.0  # deadline for waits that include a server restart on a 2-core machine


# --------------------------------------------------------------------------- servers (once per session)


@pytest.fixture(scope="session")
def es() -> Iterator[SearchEngine]:
    with SearchEngine("elasticsearch", heap_mb=512) as engine:
        yield engine


@pytest.fixture(scope="session")
def es_tiny_write_queue() -> Iterator[SearchEngine]:
    """One write thread and a queue of one: concurrent bulk requests get real 429s."""
    settings = {"thread_pool.write.size": 1, "thread_pool.write.queue_size": 1}
    with SearchEngine("elasticsearch", heap_mb=512, extra_settings=settings) as engine:
        yield engine


@pytest.fixture(scope="session")
def es_secure() -> Iterator[SearchEngine]:
    """x-pack security on: HTTPS with a trustme certificate, a file-realm user."""
    with SearchEngine("elasticsearch", heap_mb=512, security=True) as engine:
        yield engine


@pytest.fixture(scope="session")
def opensearch() -> Iterator[SearchEngine]:
    with SearchEngine("opensearch", heap_mb=512) as engine:
        yield engine


# --------------------------------------------------------------------------- helpers


def s3_client(endpoint: str) -> Any:
    return boto3.client("s3", endpoint_url=endpoint, region_name=REGION, config=Config(retries={"max_attempts": 2}),
                        **CREDENTIALS)


def document(n: int, namespace: str, dataset: str = DATASET, **extra: Any) -> dict[str, Any]:
    """A CloudTrail-shaped ECS document (~1 kB)."""
    return {
        "@timestamp": (datetime(2024, 5, 6, tzinfo=UTC) + timedelta(seconds=n)).isoformat(timespec="milliseconds"),
        "data_stream": {"type": "logs", "dataset": dataset, "namespace": namespace},
        "ecs": {"version": "8.11.0"},
        "event": {"dataset": dataset, "module": "aws", "kind": "event", "action": "AssumeRole",
                  "provider": "sts.amazonaws.com", "outcome": "success", "id": str(uuid.UUID(int=n)),
                  "category": ["authentication"], "type": ["info"]},
        "cloud": {"provider": "aws", "region": "eu-west-1", "account": {"id": "123456789012"}},
        "source": {"ip": "89.160.20.156", "address": "89.160.20.156", "port": 40000 + n % 20000,
                   "geo": {"country_iso_code": "SE", "location": {"lat": 58.4167, "lon": 15.6167}}},
        "user": {"name": f"user-{n % 97}", "id": f"AIDA{n:012d}"},
        "user_agent": {"original": "aws-cli/2.15.0 Python/3.11.6 Linux/6.1 exe/x86_64.amzn.2"},
        "related": {"ip": ["89.160.20.156"], "user": [f"user-{n % 97}"]},
        "aws": {"cloudtrail": {"event_version": "1.08", "event_type": "AwsApiCall", "read_only": True,
                               "request_parameters": "{roleArn=arn:aws:iam::123456789012:role/admin, "
                                                     f"roleSessionName=session-{n}}}",
                               "user_identity": {"type": "IAMUser", "arn": f"arn:aws:iam::123456789012:user/u{n}"},
                               "flattened": {"request_parameters": {"roleArn": "arn:aws:iam::123456789012:role/admin",
                                                                    "durationSeconds": 3600}}}},
        **extra,
    }


def bulk_items(count: int, namespace: str, start: int = 0, dataset: str = DATASET,
               override: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None) -> list[BulkItem]:
    out = []
    for n in range(start, start + count):
        doc = document(n, namespace, dataset)
        if override is not None:
            doc = override(n, doc)
        out.append(BulkItem(f"logs-{dataset}-{namespace}", f"{namespace}-{n:08d}", orjson.dumps(doc), dataset,
                            Source("security-logs", "shardId-000000000001", str(10_000_000 + n), 0, 0)))
    return out


def record_runs(namespace: str, k: int, per_record: int,
                override: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None, *,
                deflated: bool = False) -> list[Entry]:
    """Record k's documents as a pool worker hands them over: one run of bulk lines, or with `deflated` the run
    as a worker of a gzipping sink sends it (its lines as a deflate segment only)."""
    first, target = 1 + k * per_record, f"logs-{DATASET}-{namespace}"
    items = []
    for n in range(first, first + per_record):
        doc = document(n, namespace)
        items.append(BulkItem(target, f"r{n:019d}", orjson.dumps(override(n, doc) if override else doc), DATASET,
                              Source("security-logs", "shardId-000000000001", str(20_000_000 + k), 0, n - first)))
    entries = pack(items, action_prefix)
    if deflated:
        writer = SegmentWriter(1)
        for entry in entries:
            if isinstance(entry, DocumentRun):
                entry.deflate(writer)
    return entries


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def count(engine: SearchEngine, target: str) -> int:
    engine.request("POST", f"/{target}/_refresh")
    status, body = engine.request("GET", f"/{target}/_count")
    return int(body["count"]) if status == 200 else -1


def settle(futures: list[Future[None]], timeout: float) -> None:
    wait_until(lambda: all(f.done() for f in futures), timeout=timeout, interval=0.2, what="deliveries")
    for future in futures:
        future.result(0)


class Rig:
    """A SearchSink wired to one engine and a fresh Object-Locked, KMS-encrypted bucket on moto."""

    def __init__(self, engine: SearchEngine, moto: MotoServer, **overrides: Any) -> None:
        self.engine = engine
        self.s3 = s3_client(moto.endpoint)
        kms = boto3.client("kms", endpoint_url=moto.endpoint, region_name=REGION, **CREDENTIALS)
        self.kms_key = kms.create_key(Description="archive")["KeyMetadata"]["KeyId"]
        self.bucket = f"archive-{uuid.uuid4().hex[:12]}"
        self.s3.create_bucket(Bucket=self.bucket, ObjectLockEnabledForBucket=True)
        self.store = LockedObjectStore(self.s3, self.bucket, kms_key_id=self.kms_key, retention_days=1,
                                       backoff_initial_s=0.05, backoff_max_s=0.5)
        self.dead_letters = DeadLetterSink(self.store, "dead-letter")
        base: dict[str, Any] = {
            "kind": engine.kind, "hosts": [engine.url], "retry_initial_backoff_s": 0.05,
            "retry_max_backoff_s": 1.0, "health_interval_s": 0.5, "redrive_interval_s": 2.0,
            "start_timeout_s": 60,
        }
        if engine.basic_auth:
            base.update(username=engine.basic_auth[0], password=engine.basic_auth[1], ca_certs=str(engine.ca_certs))
        base.update(overrides)
        self.settings = SearchSettings(**base)
        self.sink = SearchSink(self.settings, self.dead_letters, self.store, "spill", s3=self.s3)

    def letters(self) -> list[DeadLetter]:
        return list(iter_dead_letters(self.s3, self.bucket, "dead-letter"))

    def keys(self, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def close(self) -> None:
        self.sink.close(30)
        self.dead_letters.close()


@pytest.fixture
def rig(moto_server: MotoServer) -> Iterator[Callable[..., Rig]]:
    made: list[Rig] = []

    def build(engine: SearchEngine, **overrides: Any) -> Rig:
        r = Rig(engine, moto_server, **overrides)
        made.append(r)
        return r

    yield build
    for r in made:
        r.close()


def deliver_in_background(sink: SearchSink, items: list[BulkItem], chunk: int) -> tuple[list[Future[None]],
                                                                                         threading.Thread]:
    """Deliver like the pipeline does: chunk after chunk, blocking on backpressure, from another thread."""
    futures: list[Future[None]] = []

    def run() -> None:
        for start in range(0, len(items), chunk):
            futures.append(sink.deliver(items[start:start + chunk]))

    thread = threading.Thread(target=run, name="producer", daemon=True)
    thread.start()
    return futures, thread


# --------------------------------------------------------------------------- acceptance


def test_elasticsearch_killed_mid_run_and_restarted_indexes_every_document_once(
        es: SearchEngine, rig: Callable[..., Rig]) -> None:
    namespace, total = "killed", 30_000
    r = rig(es, bulk_max_docs=500, max_in_flight_bytes=8 * 1024 * 1024)
    r.sink.start()
    items = bulk_items(total, namespace)
    futures, producer = deliver_in_background(r.sink, items, 250)
    target = f"logs-{DATASET}-{namespace}"
    wait_until(lambda: count(es, target) > 0, timeout=60, interval=0.2, what="first documents indexed")
    es.kill()  # SIGKILL: a crash in the middle of bulk requests
    wait_until(lambda: r.sink.stats().by_reason["connection"] > 0, timeout=60, what="retries against a dead node")
    assert sum(f.done() for f in futures) < total // 250  # the outage really cut the run
    es.start()
    producer.join(LONG)
    settle(futures, LONG)
    stats = r.sink.stats()
    print(f"\n[kill/restart] retried={stats.retried} by_reason={dict(stats.by_reason)} "
          f"duplicates={stats.duplicates} dead_lettered={stats.dead_lettered} spilled={stats.spilled}")
    assert count(es, target) == total
    assert r.letters() == [] and stats.dead_lettered == 0 and stats.spilled == 0


def test_real_429s_from_a_tiny_write_queue_are_retried_to_an_exact_count(
        es_tiny_write_queue: SearchEngine, rig: Callable[..., Rig]) -> None:
    namespace, total = "throttled", 20_000
    before = metric("secstash_search_retried_documents_total", dataset=DATASET, reason="too_many_requests")
    r = rig(es_tiny_write_queue, concurrent_requests=8, bulk_max_docs=100)
    r.sink.start()
    futures, producer = deliver_in_background(r.sink, bulk_items(total, namespace), 100)
    producer.join(LONG)
    settle(futures, LONG)
    retried = metric("secstash_search_retried_documents_total", dataset=DATASET, reason="too_many_requests") - before
    print(f"\n[429] retried documents (too_many_requests) = {retried:.0f}, "
          f"bulk requests = {r.sink.stats().bulk_requests}")
    assert retried > 0
    assert count(es_tiny_write_queue, f"logs-{DATASET}-{namespace}") == total
    assert r.letters() == []


def test_mapping_conflict_is_dead_lettered_with_its_error_and_redriven_once_the_mapping_is_fixed(
        es: SearchEngine, rig: Callable[..., Rig], moto_server: MotoServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    namespace, total, bad = "conflict", 401, 123
    target = f"logs-{DATASET}-{namespace}"
    # `redrive.run` sets up the process's logging (cached loggers, stderr) as the command does; in a test
    # session that would outlive this test.
    monkeypatch.setattr("consumer.logs.configure", lambda *args, **kwargs: None)

    def conflicting(n: int, doc: dict[str, Any]) -> dict[str, Any]:
        # Not in our templates: the first documents map it dynamically as a long; one sends text.
        doc["aws"]["cloudtrail"]["session_duration"] = "one hour" if n == bad else 3600
        return doc

    # ignore_malformed (on by default) would index it without the field: this is about the dead-letter path.
    r = rig(es, concurrent_requests=1, ignore_malformed=False)
    r.sink.start()
    r.sink.deliver(bulk_items(1, namespace, override=conflicting)).result(60)  # fixes the dynamic type: long
    futures = [r.sink.deliver(bulk_items(100, namespace, start=s, override=conflicting)) for s in range(1, total, 100)]
    settle(futures, 120)
    [letter] = r.letters()
    assert (letter.stage, letter.reason, letter.index, letter.id) == ("index", "parsing", target,
                                                                      f"{namespace}-{bad:08d}")
    assert "session_duration" in letter.message and "one hour" in letter.raw
    assert letter.source.sequence == str(10_000_000 + bad)
    assert count(es, target) == total - 1  # every other document is indexed

    # The fix: map the field as a keyword and roll the data stream over onto the fixed mapping.
    name = "secstash-aws.cloudtrail@mappings"
    _, current = es.request("GET", f"/_component_template/{name}")
    body = current["component_templates"][0]["component_template"]
    body["template"]["mappings"]["properties"]["aws"]["properties"]["cloudtrail"]["properties"][
        "session_duration"] = {"type": "keyword"}
    assert es.request("PUT", f"/_component_template/{name}", body)[0] == 200
    assert es.request("POST", f"/{target}/_rollover")[0] == 200

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["aws_secret_access_key"])
    config = tmp_path / "secstash.yml"
    config.write_text(yaml.safe_dump({
        "aws": {"region": REGION, "endpoint_url": moto_server.endpoint},
        "streams": [{"name": "security-logs"}],
        "archive": {"bucket": r.bucket, "kms_key_id": r.kms_key, "retention_days": 1},
        "search": {"hosts": [es.url], "install_templates": False},
    }))
    args = argparse.Namespace(config=str(config), dead_letter=True, parse=False, spill=False, since=None, workers=0)
    assert redrive.run(args) == 0
    assert count(es, target) == total
    _, hits = es.request("GET", f"/{target}/_search?q=_id:{namespace}-{bad:08d}")
    assert hits["hits"]["hits"][0]["_source"]["aws"]["cloudtrail"]["session_duration"] == "one hour"
    # Running it again changes nothing: the document is there (409, delivered).
    assert redrive.run(args) == 0
    assert count(es, target) == total


def test_runs_of_bulk_lines_are_indexed_whole_and_their_one_rejected_document_dead_lettered_alone(
        es: SearchEngine, rig: Callable[..., Rig]) -> None:
    """What the pool's workers hand the sink (`sinks.documents.BulkItemBuilder`'s runs, and the compiled path's): a record's
    documents as bulk lines, which a real cluster must index as it does items, one refusal among them going
    to the dead letters with its own event's source."""
    namespace, bad, per_record = "runs", 57, 25
    target = f"logs-{DATASET}-{namespace}"

    def conflicting(n: int, doc: dict[str, Any]) -> dict[str, Any]:
        doc["aws"]["cloudtrail"]["session_duration"] = "one hour" if n == bad else 3600
        return doc

    r = rig(es, concurrent_requests=1, ignore_malformed=False)
    r.sink.start()
    r.sink.deliver(bulk_items(1, namespace, override=conflicting)).result(60)  # session_duration maps as long
    # As a worker sends them to a sink that gzips: record 0 a deflate segment of its own, records 2 and 3 one
    # segment for both (a RunGroup; the rejected document is in record 2); record 1 as bulk lines. One body
    # holds all three kinds.
    runs = [record_runs(namespace, k, per_record, conflicting, deflated=k == 0) for k in range(4)]
    assert all(len(entries) == 1 and isinstance(entries[0], DocumentRun) for entries in runs)
    assert [entries[0].segment is not None for entries in runs] == [True, False, False, False]
    deliveries: list[list[Entry]] = [runs[0], runs[1], [RunGroup.deflated([runs[2][0], runs[3][0]], SegmentWriter(1))]]
    settle([r.sink.deliver(entries) for entries in deliveries], 120)
    [letter] = r.letters()
    assert (letter.reason, letter.id, letter.source.sequence, letter.source.ordinal) == (
        "parsing", f"r{bad:019d}", str(20_000_000 + (bad - 1) // per_record), (bad - 1) % per_record)
    assert "one hour" in letter.raw
    assert count(es, target) == 100
    duplicates = r.sink.stats().duplicates
    settle([r.sink.deliver(entries) for entries in deliveries], 120)  # a replay: nothing twice
    assert r.sink.stats().duplicates - duplicates == 99 and count(es, target) == 100


def test_write_blocked_index_keeps_documents_until_unblocked_and_loses_none(
        es: SearchEngine, rig: Callable[..., Rig]) -> None:
    namespace, total = "readonly", 3000
    target = f"logs-{DATASET}-{namespace}"
    before = metric("secstash_search_blocked_documents_total", dataset=DATASET)
    r = rig(es, bulk_max_docs=500)
    r.sink.start()
    r.sink.deliver(bulk_items(10, namespace)).result(60)  # the data stream exists
    assert es.request("PUT", f"/{target}/_settings", {"index.blocks.write": True})[0] == 200
    futures, producer = deliver_in_background(r.sink, bulk_items(total, namespace, start=10), 250)
    wait_until(lambda: metric("secstash_search_blocked_documents_total", dataset=DATASET) - before >= 2 * total,
               timeout=120, what="documents piling up against the block")
    assert metric("secstash_search_index_blocked") == 1
    assert not any(f.done() for f in futures)
    blocked = metric("secstash_search_blocked_documents_total", dataset=DATASET) - before
    assert es.request("PUT", f"/{target}/_settings", {"index.blocks.write": False})[0] == 200
    producer.join(LONG)
    settle(futures, 120)
    print(f"\n[read-only] blocked retries = {blocked:.0f} (metric secstash_search_blocked_documents_total)")
    assert count(es, target) == total + 10
    assert metric("secstash_search_index_blocked") == 0 and r.letters() == []


def test_cluster_down_past_spill_after_spills_keeps_checkpoints_moving_then_indexes_exactly_once(
        es: SearchEngine, rig: Callable[..., Rig]) -> None:
    namespace, total = "spilled", 5000
    target = f"logs-{DATASET}-{namespace}"
    r = rig(es, spill_after_s=3, bulk_max_docs=1000)
    r.sink.start()
    r.sink.deliver(bulk_items(100, namespace)).result(60)
    es.stop()
    before = metric("secstash_search_spilled_documents_total", dataset=DATASET)
    futures, producer = deliver_in_background(r.sink, bulk_items(total, namespace, start=100), 500)
    producer.join(120)
    settle(futures, 120)  # delivered (spilled) while the cluster is down: the caller may checkpoint
    assert not es.is_running
    spilled = r.keys("spill/data/")
    assert spilled and r.sink.stats().spilled == total
    assert metric("secstash_search_spilled_documents_total", dataset=DATASET) - before == total
    redriven_before = metric("secstash_search_redriven_documents_total", origin="spill")
    es.start()
    wait_until(lambda: count(es, target) == total + 100, timeout=LONG, interval=0.5, what="spill redriven")
    wait_until(lambda: len(r.keys("spill/done/")) == len(spilled), timeout=60, what="redrive markers")
    redriven = metric("secstash_search_redriven_documents_total", origin="spill") - redriven_before
    print(f"\n[spill] spilled documents = {total} in {len(spilled)} objects, redriven = {redriven:.0f}")
    assert redriven == total
    assert count(es, target) == total + 100  # exactly once: nothing doubled by the redrive
    assert r.letters() == []


@pytest.mark.parametrize("kind", ["es", "opensearch"])
def test_the_cluster_shard_limit_keeps_documents_waiting_not_dead_lettered_until_it_is_raised(
        kind: str, request: pytest.FixtureRequest, rig: Callable[..., Rig]) -> None:
    """A new data stream cannot be created at cluster.max_shards_per_node (400 `validation_exception`, "this
    action would add [2] shards ... maximum shards open"): its documents are retried, never dead-lettered, and
    indexed once an operator raises the limit."""
    engine: SearchEngine = request.getfixturevalue(kind)
    namespace, total = f"shardlimit_{kind}", 300
    target = f"logs-{DATASET}-{namespace}"
    before = metric("secstash_search_retried_documents_total", dataset=DATASET, reason="cluster_limit")
    r = rig(engine, bulk_max_docs=100)
    r.sink.start()
    assert engine.request("PUT", f"/anchor-{namespace}",
                          {"settings": {"number_of_shards": 1, "number_of_replicas": 0}})[0] == 200
    limit = {"persistent": {"cluster.max_shards_per_node": 1}}
    assert engine.request("PUT", "/_cluster/settings", limit)[0] == 200
    try:
        futures = [r.sink.deliver(bulk_items(100, namespace, start=s)) for s in range(0, total, 100)]
        wait_until(lambda: metric("secstash_search_retried_documents_total", dataset=DATASET,
                                  reason="cluster_limit") - before >= 2 * total,
                   timeout=120, what="documents retried against the shard limit")
        assert not any(f.done() for f in futures) and r.sink.stats().dead_lettered == 0
    finally:
        engine.request("PUT", "/_cluster/settings", {"persistent": {"cluster.max_shards_per_node": None}})
    settle(futures, 120)
    retried = metric("secstash_search_retried_documents_total", dataset=DATASET, reason="cluster_limit") - before
    print(f"\n[shard limit, {kind}] retried documents (cluster_limit) = {retried:.0f}")
    assert count(engine, target) == total
    assert r.letters() == []


def test_tls_with_a_custom_ca_and_basic_auth_against_elasticsearch_security(
        es_secure: SearchEngine, rig: Callable[..., Rig]) -> None:
    namespace = "tls"
    assert es_secure.url.startswith("https://")
    r = rig(es_secure)
    r.sink.start()
    r.sink.deliver(bulk_items(500, namespace)).result(60)
    assert count(es_secure, f"logs-{DATASET}-{namespace}") == 500

    wrong = rig(es_secure, password="not-the-password")
    with pytest.raises(SinkConfigError, match="credentials"):
        wrong.sink.start()
    untrusted = rig(es_secure, ca_certs=None)
    with pytest.raises(SinkConfigError, match="TLS"):
        untrusted.sink.start()


@pytest.mark.parametrize("signed", [False, True], ids=["plain", "sigv4"])
def test_opensearch_data_streams_are_created_from_our_templates_and_written(
        opensearch: SearchEngine, rig: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch, signed: bool) -> None:
    namespace = f"os_{'signed' if signed else 'plain'}"
    overrides: dict[str, Any] = {}
    if signed:  # the integ-test zip has no security plugin: it ignores the signature, but the request must pass
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
        overrides = {"aws_sigv4": True, "aws_region": REGION}
    r = rig(opensearch, **overrides)
    r.sink.start()
    futures = [r.sink.deliver(bulk_items(1000, namespace, dataset=ds)) for ds in (DATASET, "aws.vpcflow")]
    settle(futures, 120)
    # Records' runs as the pool's workers send them to a sink that gzips: bodies joined from deflate segments,
    # a segment per record and one for four records (a RunGroup).
    settle([r.sink.deliver(record_runs(namespace, k, 50, deflated=True)) for k in range(4)], 120)
    grouped = [entry for k in range(4, 8) for entry in record_runs(namespace, k, 50)]
    settle([r.sink.deliver([RunGroup.deflated(grouped, SegmentWriter(1))])], 120)  # type: ignore[arg-type]
    for ds in (DATASET, "aws.vpcflow"):
        stream = f"logs-{ds}-{namespace}"
        status, body = opensearch.request("GET", f"/_data_stream/{stream}")
        assert status == 200 and body["data_streams"][0]["template"] == f"secstash-logs-{ds}"
        assert count(opensearch, stream) == (1400 if ds == DATASET else 1000)
    _, mapping = opensearch.request("GET", f"/logs-{DATASET}-{namespace}/_mapping/field/source.ip,source.port")
    fields = next(iter(mapping.values()))["mappings"]
    assert fields["source.ip"]["mapping"]["ip"]["type"] == "ip"
    assert fields["source.port"]["mapping"]["port"]["type"] == "long"
    assert r.sink.setup is not None and "flattened" in r.sink.setup.refused_types


def test_plain_daily_indices_for_clusters_without_data_streams(es: SearchEngine, rig: Callable[..., Rig]) -> None:
    r = rig(es, data_streams=False, index_pattern="secstash-{dataset}-{namespace}-{date}")
    r.sink.start()
    items = [BulkItem(r.settings.target(DATASET, "daily", datetime(2024, 5, 6, tzinfo=UTC)), i.id, i.body,
                      i.dataset, i.source) for i in bulk_items(50, "daily")]
    r.sink.deliver(items).result(60)
    index = "secstash-aws.cloudtrail-daily-2024.05.06"
    assert count(es, index) == 50
    _, mapping = es.request("GET", f"/{index}/_mapping/field/source.ip")
    assert mapping[index]["mappings"]["source.ip"]["mapping"]["ip"]["type"] == "ip"


# --------------------------------------------------------------------------- what Elastic's content reads


def audit_items(namespace: str, target_ports: list[Any]) -> list[BulkItem]:
    """Raw Kubernetes audit events (no CloudWatch envelope: no @timestamp from the parser) creating Services,
    parsed and built into bulk items exactly as the pipeline does."""
    out: list[BulkItem] = []
    for n, port in enumerate(target_ports):
        event = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse", "auditID": f"a-{n}",
                 "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/default/services", "verb": "create",
                 "user": {"username": "admin"}, "sourceIPs": ["10.0.0.1"], "objectRef": {"resource": "services"},
                 "requestObject": {"kind": "Service", "apiVersion": "v1", "spec": {
                     "type": "ClusterIP", "ports": [{"port": 80, "targetPort": port}]}}}
        record = RawRecord(str(20_000_000 + n), 0, 1_700_000_000_000 + n, "pk", "")
        builder = BulkItemBuilder("security-logs", "shardId-000000000002", record, IndexNaming())
        outcome = parse_record(orjson.dumps(event), StreamParsing(stream="security-logs", namespace=namespace),
                               ParseOptions(), None, builder.add)
        assert not outcome.failures and len(builder.items) == 1
        out.extend(builder.items)
    return out


@pytest.mark.parametrize("engine", ["es", "opensearch"])
def test_audit_objects_of_either_int_or_string_form_and_without_timestamp_are_indexed(
        engine: str, request: pytest.FixtureRequest, rig: Callable[..., Rig]) -> None:
    server: SearchEngine = request.getfixturevalue(engine)
    namespace = f"k8s_{engine}"
    r = rig(server)
    r.sink.start()
    items = audit_items(namespace, [8080, "http"])
    r.sink.deliver(items).result(60)
    stream = f"logs-kubernetes.audit_logs-{namespace}"
    assert {i.index for i in items} == {stream}
    assert count(server, stream) == 2 and r.letters() == []
    _, body = server.request("POST", f"/{stream}/_search", body={"sort": [{"@timestamp": "asc"}]})
    assert [h["_source"]["@timestamp"] for h in body["hits"]["hits"]] == [
        "2023-11-14T22:13:20.000Z", "2023-11-14T22:13:20.001Z"]  # the records' arrival times
    _, mapping = server.request("GET", f"/{stream}/_mapping")
    request_object = next(iter(mapping.values()))["mappings"]["properties"]["kubernetes"]["properties"]["audit"][
        "properties"]["requestObject"]
    assert "ports" not in request_object["properties"]["spec"]["properties"]  # kept in _source, unmapped


@pytest.mark.parametrize("engine", ["es", "opensearch"])
def test_url_original_can_be_aggregated(engine: str, request: pytest.FixtureRequest,
                                        rig: Callable[..., Rig]) -> None:
    server: SearchEngine = request.getfixturevalue(engine)
    namespace = f"urls_{engine}"
    r = rig(server)
    r.sink.start()

    def with_url(n: int, doc: dict[str, Any]) -> dict[str, Any]:
        return {**doc, "url": {"original": f"/bucket/key-{n % 3}?x=1", "path": f"/bucket/key-{n % 3}"}}

    r.sink.deliver(bulk_items(30, namespace, override=with_url)).result(60)
    stream = f"logs-{DATASET}-{namespace}"
    assert count(server, stream) == 30
    for query in ({"size": 0}, {"size": 1, "sort": [{"url.original": "asc"}]}):
        status, body = server.request("POST", f"/{stream}/_search", body={
            **query, "aggs": {"top": {"terms": {"field": "url.original"}}, "paths": {"terms": {"field": "url.path"}}}})
        assert status == 200, body
        assert {b["key"]: b["doc_count"] for b in body["aggregations"]["top"]["buckets"]} == {
            f"/bucket/key-{k}?x=1": 10 for k in range(3)}
        assert len(body["aggregations"]["paths"]["buckets"]) == 3


def test_plain_logs_indices_are_set_up_beside_the_data_stream_templates(es: SearchEngine,
                                                                         rig: Callable[..., Rig]) -> None:
    rig(es).sink.start()  # the data-stream templates: logs-aws.cloudtrail-* at template_priority
    r = rig(es, data_streams=False, index_pattern="logs-{dataset}-{namespace}-{date}")
    r.sink.start()  # logs-aws.cloudtrail-*-* overlaps them: refused at an equal priority
    assert r.sink.setup is not None and "secstash-index-aws.cloudtrail" in r.sink.setup.index_templates
    items = [BulkItem(r.settings.target(DATASET, "plainlogs", datetime(2024, 5, 6, tzinfo=UTC)), i.id, i.body,
                      i.dataset, i.source) for i in bulk_items(20, "plainlogs")]
    r.sink.deliver(items).result(60)
    index = "logs-aws.cloudtrail-plainlogs-2024.05.06"
    assert count(es, index) == 20
    _, mapping = es.request("GET", f"/{index}/_mapping")
    assert list(mapping) == [index]  # a plain index, not a data stream's .ds- backing index


# --------------------------------------------------------------------------- what log content cannot break

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "elastic-aws"


def fixture(path: str) -> dict[str, Any]:
    """The first event of one of Elastic's test cases; the test is skipped (not failed) where ../shared is absent,
    as the other tests that read it are."""
    if not (FIXTURES / path).is_file():
        pytest.skip(f"Elastic's test case {path} not found beside the repository")
    return dict(orjson.loads((FIXTURES / path).read_text().splitlines()[0]))


def parsed_items(namespace: str, events: list[dict[str, Any]], start: int) -> list[BulkItem]:
    """Raw events (the dataset from their shape) parsed and built into bulk items as the pipeline does."""
    out: list[BulkItem] = []
    for n, event in enumerate(events, start=start):
        record = RawRecord(str(30_000_000 + n), 0, 1_714_644_000_000 + n, "pk", "")
        builder = BulkItemBuilder("security-logs", "shardId-000000000003", record, IndexNaming())
        outcome = parse_record(orjson.dumps(event), StreamParsing(stream="security-logs", namespace=namespace),
                               ParseOptions(), None, builder.add)
        assert not outcome.failures and len(builder.items) == 1, outcome.failures
        out.extend(builder.items)
    return out


def hits(server: SearchEngine, target: str, query: dict[str, Any]) -> int:
    server.request("POST", f"/{target}/_refresh")
    status, body = server.request("POST", f"/{target}/_count", body={"query": query})
    assert status == 200, body
    return int(body["count"])


def nest(levels: int) -> Any:
    value: Any = "leaf"
    for i in range(levels):
        value = {f"k{i}": value}
    return value


@pytest.mark.parametrize("engine", ["es", "opensearch"])
def test_an_odd_first_event_of_a_backing_index_fixes_no_type_that_refuses_the_real_events(
        engine: str, request: pytest.FixtureRequest, rig: Callable[..., Rig]) -> None:
    server: SearchEngine = request.getfixturevalue(engine)
    namespace = f"firstdoc_{engine}"
    r = rig(server)
    r.sink.start()
    audit = fixture("kubernetes_audit_logs/current/test-audit.log")
    forbidden = {**audit, "verb": "create", "responseStatus": {
        "metadata": {}, "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": "secrets is forbidden: User \"mallory\" cannot create", "details": {"kind": "secrets"}}}
    odd_audit = {**forbidden, "responseStatus": {"status": 1, "reason": 5, "message": 7, "code": "x",
                                                 "details": {"kind": 1, "causes": [{"x": 1}]}}}
    waf = fixture("waf/aws-1.45.3/test-waf.log")
    blocked = {**waf, "action": "BLOCK", "terminatingRuleMatchDetails": [
        {"conditionType": "SQL_INJECTION", "location": "UNKNOWN", "matchedData": ["10", "AND", "1"]}]}
    odd_waf = {**blocked, "terminatingRuleMatchDetails": [{"location": 5, "matchedData": [1, 2]}]}
    # The odd ones first, alone: each creates its backing index and would fix the dynamic types.
    r.sink.deliver(parsed_items(namespace, [odd_audit, odd_waf], 0)).result(60)
    r.sink.deliver(parsed_items(namespace, [forbidden, blocked], 2)).result(60)
    assert r.letters() == []
    audit_stream, waf_stream = f"logs-kubernetes.audit_logs-{namespace}", f"logs-aws.waf-{namespace}"
    assert count(server, audit_stream) == 2 and count(server, waf_stream) == 2
    assert hits(server, audit_stream, {"term": {"kubernetes.audit.responseStatus.status": "Failure"}}) == 1
    assert hits(server, waf_stream, {"nested": {"path": "aws.waf.terminating_rule_match_details", "query": {
        "term": {"aws.waf.terminating_rule_match_details.location": "UNKNOWN"}}}}) == 1
    # ignore_malformed: the odd event's `code: "x"` is left out of the index, not the whole event.
    assert hits(server, audit_stream, {"term": {"_ignored": "kubernetes.audit.responseStatus.code"}}) == 1
    assert hits(server, audit_stream, {"term": {"kubernetes.audit.responseStatus.code": 403}}) == 1


@pytest.mark.parametrize("engine", ["es", "opensearch"])
def test_oversized_and_deeply_nested_free_form_values_are_indexed_not_dead_lettered(
        engine: str, request: pytest.FixtureRequest, rig: Callable[..., Rig]) -> None:
    server: SearchEngine = request.getfixturevalue(engine)
    namespace = f"sizes_{engine}"
    r = rig(server)
    r.sink.start()
    trail = fixture("cloudtrail/current/test-attach-user-policy-json.log")
    waf = fixture("waf/aws-1.45.3/test-waf.log")
    waf["httpRequest"] = {**waf["httpRequest"], "headers": [
        *waf["httpRequest"]["headers"], {"name": "X-Pad", "value": "\u00e9" * 16400}]}  # 32 800 UTF-8 bytes
    config = fixture("config/current/test-event.log")
    rule = config.setdefault("ConfigRuleInfo", {})
    events = [
        {**trail, "requestParameters": {"policyDocument": "\u20ac" * 12000}},  # 12 000 characters, 36 000 bytes
        {**trail, "requestParameters": nest(21)},  # Elasticsearch's default depth_limit is 20
        {**trail, "requestParameters": nest(150)},
        waf,
        {**config, "ConfigRuleInfo": {**rule, "InputParameters": orjson.dumps({"p": "x" * 33000}).decode()}},
        {**config, "ConfigRuleInfo": {**rule, "InputParameters": orjson.dumps(nest(21)).decode()}},
    ]
    r.sink.deliver(parsed_items(namespace, events, 0)).result(60)
    assert r.letters() == []
    trail_stream = f"logs-aws.cloudtrail-{namespace}"
    assert count(server, trail_stream) == 3
    assert count(server, f"logs-aws.waf-{namespace}") == 1 and count(server, f"logs-aws.config-{namespace}") == 2
    deep = ".".join(f"k{i}" for i in reversed(range(21)))
    assert hits(server, trail_stream, {"term": {f"aws.cloudtrail.flattened.request_parameters.{deep}": "leaf"}}) == 1
    if engine == "es":
        # ignore_above on the mapping: a leaf the parser did not cut is left out of the index, not refused.
        doc = document(0, namespace)
        doc["aws"]["cloudtrail"]["flattened"]["request_parameters"] = {"policy": "\u20ac" * 12000}
        status, body = server.request("POST", f"/{trail_stream}/_create/direct?refresh=true", body=doc)
        assert status == 201, body


@pytest.mark.parametrize("engine", ["es", "opensearch"])
def test_attacker_chosen_audit_keys_index_as_one_field_each(
        engine: str, request: pytest.FixtureRequest, rig: Callable[..., Rig]) -> None:
    server: SearchEngine = request.getfixturevalue(engine)
    namespace = f"extra_{engine}"
    r = rig(server)
    r.sink.start()
    audit = fixture("kubernetes_audit_logs/current/test-audit.log")
    events = [
        {**audit, "impersonatedUser": {"username": "admin", "extra": {"a": ["x"], "a.b": ["y"]}}},
        {**audit, "user": {"username": "u", "extra": {f"k{i}": ["v"] for i in range(12_000)}}},
        {**audit, "annotations": {f"example.com/key-{i}": "v" for i in range(12_000)}},
    ]
    r.sink.deliver(parsed_items(namespace, events, 0)).result(120)
    assert r.letters() == []
    stream = f"logs-kubernetes.audit_logs-{namespace}"
    assert count(server, stream) == 3
    assert hits(server, stream, {"term": {"kubernetes.audit.impersonatedUser.extra.a.b": "y"}}) == 1
    assert hits(server, stream, {"term": {"kubernetes.audit.user.extra.k11999": "v"}}) == 1
    _, mapping = server.request("GET", f"/{stream}/_mapping")
    audit_mapping = next(iter(mapping.values()))["mappings"]["properties"]["kubernetes"]["properties"]["audit"][
        "properties"]
    assert "properties" not in audit_mapping["annotations"] and "properties" not in audit_mapping["user"][
        "properties"]["extra"]


def test_redrive_parse_indexes_what_an_unreadable_log_object_left_out_once_it_is_there(
        es: SearchEngine, rig: Callable[..., Rig], moto_server: MotoServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The live path reads two of three log objects (the third is missing: one `s3_object_unavailable` dead
    letter); once it is there, `redrive --parse` parses the archived record again: the third object's
    documents are created under the ids the live path would have given them, the others answer 409."""
    import base64
    import gzip

    from consumer import settings as settings_module
    from consumer.pipeline import ByteBudget, Pipeline
    from consumer.pool import parse_chunk
    from consumer.runtime import worker_config
    from sinks.archive.config import ArchiveSettings
    from sinks.archive.service import ArchiveSink
    from tests.unit.parsers.test_s3_objects import ALB_KEY, ALB_LINE, created, notification

    monkeypatch.setattr("consumer.logs.configure", lambda *args, **kwargs: None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CREDENTIALS["aws_secret_access_key"])
    r = rig(es)
    logs_bucket = f"lb-logs-{uuid.uuid4().hex[:8]}"
    r.s3.create_bucket(Bucket=logs_bucket)
    keys = [ALB_KEY.replace("_x.log.gz", f"_{n}.log.gz") for n in range(3)]

    def lines(n: int, count: int) -> bytes:
        return gzip.compress("".join(ALB_LINE.replace(":2817", f":{1024 + 10 * n + i}") + "\n"
                                     for i in range(count)).encode())

    for n in (0, 1):
        r.s3.put_object(Bucket=logs_bucket, Key=keys[n], Body=lines(n, 5))
    config = tmp_path / "secstash.yml"
    config.write_text(yaml.safe_dump({
        "aws": {"region": REGION, "endpoint_url": moto_server.endpoint},
        "streams": [{"name": "security-logs", "namespace": "reparse"}],
        "archive": {"bucket": r.bucket, "kms_key_id": r.kms_key, "retention_days": 1},
        "search": {"hosts": [es.url]},
    }))
    settings = settings_module.load(str(config))
    monkeypatch.setattr("consumer.pool._READERS", {})  # a reader per test: its clients name this moto
    workers = worker_config(settings)

    class Parser:
        def parse(self, stream: str, shard: str, records: Any) -> Any:
            return parse_chunk(stream, shard, records, workers)

    archive = ArchiveSink(ArchiveSettings(bucket=r.bucket, kms_key_id=r.kms_key, retention_days=1), r.store, r.s3)
    archive.start()
    r.sink.start()
    record = notification(*(created(key, bucket=logs_bucket, region=REGION) for key in keys))
    wire = [["49650000000000000000000000000000000000000000000000000010", 0, 1_714_521_600_000, "pk",
             base64.b64encode(record).decode()]]
    Pipeline(Parser(), archive, r.sink, r.dead_letters, ByteBudget(1 << 20)).deliver("security-logs", "shardId-0", wire)
    archive.close(30)
    [letter] = r.letters()
    assert (letter.stage, letter.reason) == ("parse", "s3_object_unavailable") and keys[2] in letter.raw
    target = "logs-aws.elb_logs-reparse"
    assert count(es, target) == 10

    r.s3.put_object(Bucket=logs_bucket, Key=keys[2], Body=lines(2, 5))
    args = argparse.Namespace(config=str(config), dead_letter=False, parse=True, spill=False, since=None, workers=0)
    assert redrive.run(args) == 0
    assert count(es, target) == 15
    # The ids the live path gives the record now that every object is there.
    expected = sorted(item.id for item in parse_chunk("security-logs", "shardId-0", wire, workers).items)
    _, found = es.request("POST", f"/{target}/_search", {"query": {"ids": {"values": expected}}, "size": 100})
    assert len(expected) == 15 and len(found["hits"]["hits"]) == 15
    assert redrive.run(args) == 0  # again: every document is there (409)
    assert count(es, target) == 15
