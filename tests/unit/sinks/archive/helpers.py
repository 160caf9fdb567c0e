from __future__ import annotations

import base64
from typing import Any

from sinks.archive.config import ArchiveSettings
from sinks.archive.service import ArchiveSink
from sinks.batch import RawRecord, RecordBatch
from sinks.s3store import LockedObjectStore
from tests.unit.sinks.archive.fakes import FakeS3

BASE_SEQUENCE = 49_650_000_000_000_000_000_000_000_000_000_000_000_000_000_000
T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
SHARD = "shardId-000000000001"


def record(i: int, *, t0: int = T0, step_ms: int = 100, payload: bytes | None = None, sub: int = 0) -> RawRecord:
    data = payload if payload is not None else b'{"eventName":"Get%d","n":%d}' % (i, i)
    return RawRecord(str(BASE_SEQUENCE + i * 10), sub, t0 + i * step_ms, f"pk-{i % 3}",
                     base64.b64encode(data).decode())


def batch(start: int, stop: int, *, stream: str = "logs", shard: str = SHARD, **kwargs: object) -> RecordBatch:
    return RecordBatch(stream, shard, tuple(record(i, **kwargs) for i in range(start, stop)))  # type: ignore[arg-type]


def archive(s3: FakeS3, *batches: Any, kms: Any = None, **settings: Any) -> None:
    config = ArchiveSettings(bucket="tamper-bucket", require_object_lock=False, **settings)
    store = LockedObjectStore(s3, config.bucket, kms_key_id=None, retention_days=None, backoff_initial_s=0)
    sink = ArchiveSink(config, store, s3, kms=kms)
    sink.start()
    for b in batches:
        sink.deliver(b).result(5)
    sink.close(1)


class _NoDedupe(ArchiveSink):
    """A writer that archives whatever it is handed, as one that lost its chain head would."""

    def _not_yet_archived(self, lane: Any, records: Any) -> Any:
        return records


def archive_without_dedupe(s3: FakeS3, *batches: Any) -> None:
    config = ArchiveSettings(bucket="tamper-bucket", require_object_lock=False)
    sink = _NoDedupe(config, LockedObjectStore(s3, config.bucket, kms_key_id=None, retention_days=None), s3)
    sink.start()
    for b in batches:
        sink.deliver(b).result(5)
    sink.close(1)
