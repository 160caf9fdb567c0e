"""The immutable, tamper-evident S3 archive of raw Kinesis records (see docs/archive.md).

    ArchiveSink(settings, store, s3, kms=None).start() / .deliver(RecordBatch) -> Future / .close(timeout)
    Verifier(s3, bucket, prefix, manifest_prefix, kms=...).run(stream, since, until) -> Report
    Replayer(s3, bucket, prefix, parse, target, ...).run(plan, since, until) -> ReplayReport

    config.py    ArchiveSettings, the `archive:` section
    encode.py    records <-> gzip NDJSON objects, key layout, splitting (pure)
    manifest.py  manifest entries and their keys, the hash chain's links (pure)
    signing.py   KMS signatures of manifest entries
    reader.py    listing and reading objects and entries by stream, shard and time
    service.py   ArchiveSink: the only writer
    verify.py    the checks behind `secstash verify`
    replay.py    the loop behind `secstash replay`
    events.py    logs and metrics
"""

from sinks.archive.config import ArchiveSettings
from sinks.archive.replay import Replayer, ReplayReport
from sinks.archive.service import ArchiveSink
from sinks.archive.verify import Finding, Report, Verifier

__all__ = ["ArchiveSettings", "ArchiveSink", "Finding", "ReplayReport", "Replayer", "Report", "Verifier"]
