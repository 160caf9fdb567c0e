"""(e) End to end: corpus records put into kinesis-local, read by the real KCL MultiLangDaemon, through the
daemon (`consumer.runtime.App`) into a local search engine and the archive on moto.

The emulator may bound this figure (see the KCL notes: kinesis-local's PutRecords slows down as a stream
fills, GetRecords reads about 1,400 records/s, and a new lease table waits up to 30 s before its first shard
sync), so it is reported beside the emulator's read rate and the pipeline's own, never held to a target.
Records are put before the daemon starts, so it reads a backlog; the rate is timed from the first delivered
batch.
"""

from __future__ import annotations

import time

from consumer import corpus
from consumer.bench.report import EndToEnd

STREAM = "secstash-bench"
BUCKET = "secstash-bench-archive"


def run(events: int, seed: int, shards: int = 2, timeout_s: float = 900.0) -> EndToEnd:
    from consumer.runtime import App
    from consumer.sandbox import Sandbox, wait_for

    records = list(corpus.records(events, seed=seed, mix=corpus.BENCH_MIX))
    sandbox = Sandbox()
    sandbox.start()
    app: App | None = None
    try:
        sandbox.create_stream(STREAM, shards)
        key_id = sandbox.create_key()
        sandbox.create_bucket(BUCKET, object_lock=True, retention_days=1, kms_key_id=key_id)
        # Records are put before the daemon starts, so it reads a backlog, as the other stages do.
        started = time.monotonic()
        put = sandbox.put_records(STREAM, records)
        put_s = time.monotonic() - started
        app = App(sandbox.settings([{"name": STREAM, "detection": list(corpus.DETECTION)}], BUCKET, key_id))
        app.start()
        # Timed from the first delivered batch: KCL's start and its first shard sync (up to 30 s on a new
        # lease table) are not throughput.
        wait_for(lambda: app.totals.records > 0, timeout_s, interval=0.05, what="the first delivered batch")
        first = time.monotonic()
        wait_for(lambda: app.totals.records >= put, timeout_s, interval=0.1,
                 what=f"{put} records to be delivered (got {app.totals.records})")
        deliver_s = time.monotonic() - first
        search = sandbox.search
        assert search is not None
        search.request("POST", "/logs-*/_refresh")
        status, body = search.request("GET", "/logs-*/_count")
        indexed = int(body.get("count", 0)) if status == 200 and isinstance(body, dict) else 0
        delivered_events = app.totals.events
    finally:
        if app is not None:
            app.stop()
        sandbox.stop()
    return EndToEnd(delivered_events, put, put_s, deliver_s, indexed)
