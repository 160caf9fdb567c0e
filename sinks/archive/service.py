"""The archive sink: raw records to locked S3 objects plus a hash-chained manifest entry for each.

`deliver(batch)` returns a Future that resolves once every object of the batch and its manifest entry are
in S3. Batches of one shard are written one after another, in order; shards are written in parallel
(`upload_concurrency`). Per object, in this order:

  1. PUT the gzip NDJSON object (SSE-KMS, SHA-256 checksum, COMPLIANCE retention, via LockedObjectStore);
  2. PUT its manifest entry with `If-None-Match: *`, naming the shard's previous object as `prev_*`.

A crash between 1 and 2 leaves an object no manifest lists; its records were not acknowledged, so they are
read again and archived again, and `verify` reports such an object as an interrupted write whose records all
appear in listed objects, not as tampering. A crash after 2 but before the checkpoint makes the KCL hand the
same records over again: they are at or below the chain head, so they are dropped here, not archived twice.

The chain head of each shard (its latest entry) is kept in memory and read again from S3 when the shard is
new to this process, when its previous batch is older than `head_refresh_s`, after `shard_started()`, and
when the conditional PUT of an entry finds the key taken: then another instance is continuing the shard (a
lease hand-over), and this writer drops what that one stored and links onto its entry instead.

A head read from S3 decides which records are acknowledged without being written, so it is checked first
(see head.py): with a signing key a signature on it must verify with that key, it must be plausible, and
every record it would drop must lie where the chain holds records. Otherwise the batch fails with
ChainHeadRejected (counted in secstash_archive_errors_total) and is not checkpointed: no record is dropped
on the strength of a head the writer cannot trust. An unsigned head while signing is on (written before
signing was turned on, or planted) is continued but trusted with nothing: the batch is archived whole, so a
re-read costs a duplicate copy, never a record.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from parsers.ecs import epoch_ms_to_iso
from sinks.archive import events, head, reader
from sinks.archive.config import ArchiveSettings
from sinks.archive.encode import PlannedObject, plan_objects, position_text
from sinks.archive.manifest import ManifestEntry, ManifestError
from sinks.archive.signing import ManifestSigner, SignatureVerifier
from sinks.batch import RawRecord, RecordBatch
from sinks.errors import ChainHeadRejected, ObjectLockMissing, SinkClosed, SinkConfigError, SinkError
from sinks.s3store import KeyExists, LockedObjectStore

MAX_CHAIN_CONFLICTS = 8  # in a row for one batch; more means something other than a hand-over is going on


class _ChainConflict(Exception):
    pass


@dataclass(slots=True)
class _Head:
    manifest_key: str
    entry: ManifestEntry
    # False for an unsigned head read back while manifests are signed: one written before signing was turned
    # on, or planted. The chain continues after it, but no record is dropped as already archived on its word.
    trusted: bool = True


@dataclass(slots=True)
class _Lane:
    """One shard: its queue of batches and what this process knows of its chain."""

    stream: str
    shard: str
    queue: deque[tuple[RecordBatch, Future[None], float]] = field(default_factory=deque)
    running: bool = False
    loaded: bool = False
    head: _Head | None = None
    last_write: float = 0.0


class ArchiveSink:
    def __init__(self, settings: ArchiveSettings, store: LockedObjectStore, s3: Any, kms: Any = None,
                 clock: Callable[[], float] = time.time, monotonic: Callable[[], float] = time.monotonic,
                 writer: str | None = None) -> None:
        self._settings = settings
        self._store = store
        self._s3 = s3
        self._clock = clock
        self._monotonic = monotonic
        self._writer = writer or f"{socket.gethostname()}:{os.getpid()}"
        self._signer = ManifestSigner(kms, settings.signing_key_id, settings.signing_algorithm) \
            if settings.signing_key_id else None
        if self._signer and kms is None:
            raise SinkConfigError("archive.signing_key_id is set but no KMS client was given")
        self._verifier = SignatureVerifier(kms) if self._signer else None
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._lock = threading.Condition()
        self._pending = 0
        self._started = False
        self._closed = False
        self._executor = ThreadPoolExecutor(settings.upload_concurrency, thread_name_prefix="archive")

    # --- lifecycle ---------------------------------------------------------------------------------------

    def start(self) -> None:
        """Check the bucket before any record is read: Object Lock (and a retention that applies), SSE-KMS
        (the bucket's default when archive.kms_key_id is unset), and the signing key. Raises ObjectLockMissing
        or SinkConfigError with what to change."""
        self._check_object_lock()
        self._store.check_encryption()
        if self._signer:
            self._signer.start()
        self._started = True

    def healthy(self) -> bool:
        return self._started and not self._closed

    def shard_started(self, stream: str, shard: str) -> None:
        """This process (again) holds the shard's lease: read its chain head from S3 before the next write."""
        with self._lock:
            lane = self._lanes.get((stream, shard))
            if lane is not None:
                lane.loaded = False

    def close(self, timeout: float = 30.0) -> None:
        """Take nothing more; wait up to `timeout` s for batches in hand, then fail what is left."""
        with self._lock:
            self._closed = True
            drained = self._lock.wait_for(lambda: self._pending == 0, timeout=timeout)
            leftovers = [item for lane in self._lanes.values() for item in lane.queue]
            for lane in self._lanes.values():
                lane.queue.clear()
        if not drained:
            self._store.close()  # ends retry loops still waiting on S3; their batches fail below or in flight
        for _, future, _ in leftovers:
            if future.set_running_or_notify_cancel():
                future.set_exception(SinkClosed("archive closed before the batch was written"))
        self._executor.shutdown(wait=drained, cancel_futures=True)

    # --- delivery ----------------------------------------------------------------------------------------

    def deliver(self, batch: RecordBatch) -> Future[None]:
        future: Future[None] = Future()
        if not batch.records:
            future.set_result(None)
            return future
        with self._lock:
            if self._closed:
                future.set_exception(SinkClosed("archive is closed"))
                return future
            key = (batch.stream, batch.shard)
            lane = self._lanes.get(key)
            if lane is None:
                lane = self._lanes[key] = _Lane(batch.stream, batch.shard)
            lane.queue.append((batch, future, self._monotonic()))
            self._pending += 1
            if not lane.running:
                lane.running = True
                self._executor.submit(self._drain, lane)
        return future

    def _drain(self, lane: _Lane) -> None:
        while True:
            with self._lock:
                if not lane.queue:
                    lane.running = False
                    return
                batch, future, queued_at = lane.queue.popleft()
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        written = self._write(lane, batch.records)
                    except BaseException as exc:  # noqa: BLE001 - every failure goes to the caller's future
                        error = exc if isinstance(exc, SinkError) else SinkError(
                            f"archive of {batch.stream}/{batch.shard} failed: {type(exc).__name__}: {exc}")
                        if error is not exc:
                            error.__cause__ = exc
                        events.batch_failed(batch.stream, batch.shard, error)
                        future.set_exception(error)
                    else:
                        records = tuple(r for obj in written for r in obj.records)
                        events.batch_archived(batch.stream, batch.shard, len(records),
                                              RecordBatch(batch.stream, batch.shard, records).raw_bytes,
                                              len(written), self._monotonic() - queued_at)
                        future.set_result(None)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify_all()

    def _write(self, lane: _Lane, records: Sequence[RawRecord]) -> list[PlannedObject]:
        """Archive what the chain does not hold yet; returns the objects written."""
        now = self._monotonic()
        if not lane.loaded or now - lane.last_write > self._settings.head_refresh_s:
            self._load_head(lane)
        written: list[PlannedObject] = []
        conflicts = 0
        remaining = self._not_yet_archived(lane, records)
        while remaining:
            planned = plan_objects(self._settings.prefix, lane.stream, lane.shard, remaining,
                                   self._settings.max_object_bytes, self._settings.compression_level)
            try:
                for obj in planned:
                    self._write_object(lane, obj)
                    remaining = remaining[len(obj.records):]
                    written.append(obj)
            except _ChainConflict:
                conflicts += 1
                if conflicts > MAX_CHAIN_CONFLICTS:
                    raise SinkError(f"archive chain of {lane.stream}/{lane.shard}: manifest keys taken "
                                    f"{conflicts} times in a row; is another writer misconfigured?") from None
                self._load_head(lane)
                remaining = self._not_yet_archived(lane, remaining)
        lane.last_write = self._monotonic()
        return written

    def _not_yet_archived(self, lane: _Lane, records: Sequence[RawRecord]) -> Sequence[RawRecord]:
        """Drop the leading records the chain already holds (a re-read after a crash or a hand-over).

        A record counts as held only if it is at or below the head's last position *and* arrived no later
        than the head's last record: a lower position arriving later is not a re-read (a stream deleted and
        created again under the same name), and is archived rather than silently dropped.
        """
        if lane.head is None or not lane.head.trusted:
            return records
        entry = lane.head.entry
        skip = 0
        for record in records:
            if record.position > entry.last or record.arrival_ms > entry.last_arrival_ms:
                break
            if head.uncovered(entry, record.position):
                raise self._uncovered(lane, lane.head, record)
            skip += 1
        if skip:
            events.duplicates_skipped(lane.stream, lane.shard, skip, position_text(entry.last))
        return records[skip:]

    def _write_object(self, lane: _Lane, obj: PlannedObject) -> None:
        stored = self._store.put(obj.key, obj.body)
        events.object_stored(lane.stream, lane.shard, "data", obj.key, stored.size)
        previous = lane.head
        entry = ManifestEntry(
            stream=lane.stream, shard=lane.shard, key=obj.key, version_id=stored.version_id,
            sha256=stored.sha256_hex, size=stored.size, records=len(obj.records), ndjson_bytes=obj.ndjson_bytes,
            first=obj.first, last=obj.last, first_arrival_ms=obj.records[0].arrival_ms,
            last_arrival_ms=obj.records[-1].arrival_ms,
            prev_sha256=previous.entry.sha256 if previous else None,
            prev_key=previous.entry.key if previous else None,
            prev_manifest=previous.manifest_key if previous else None,
            prev_last=previous.entry.last if previous else None,
            written_at=epoch_ms_to_iso(int(self._clock() * 1000)), writer=self._writer)
        if self._signer:
            entry = self._signer.sign(entry)
        key = entry.manifest_key(self._settings.manifest_prefix)
        body = entry.body()
        try:
            self._store.put(key, body, content_type="application/json", content_encoding=None,
                            if_none_match=True)
        except KeyExists:
            existing = self._read_entry(key)
            if existing is None or existing.sha256 != entry.sha256 or existing.key != entry.key:
                events.chain_conflict(lane.stream, lane.shard, key)
                raise _ChainConflict from None
            entry = existing  # stored by our own earlier attempt, or the same object by another writer
        else:
            events.object_stored(lane.stream, lane.shard, "manifest", key, len(body))
        lane.head = _Head(key, entry)

    def _load_head(self, lane: _Lane) -> None:
        try:
            found = reader.latest_entry(self._s3, self._store.bucket, self._settings.manifest_prefix,
                                        lane.stream, lane.shard)
        except ManifestError as exc:
            raise self._rejected(lane, str(exc)) from None
        except (ClientError, BotoCoreError, ValueError) as exc:
            raise SinkError(f"cannot read the chain head of {lane.stream}/{lane.shard}: {exc}") from exc
        if found is None:
            lane.head = None
            events.chain_loaded(lane.stream, lane.shard, None, None, 1)
        else:
            key, entry, requests = found
            now_ms = int(self._clock() * 1000)
            problem = self._signature_problem(entry) or head.implausibility(
                entry, key, self._settings.manifest_prefix, lane.stream, lane.shard, now_ms)
            if problem:
                raise self._rejected(lane, f"s3://{self._store.bucket}/{key} {problem}")
            trusted = self._signer is None or entry.signature is not None
            lane.head = _Head(key, entry, trusted)
            events.chain_loaded(lane.stream, lane.shard, key, position_text(entry.last), requests)
            if not trusted:
                events.unsigned_head(lane.stream, lane.shard, key)
        lane.loaded = True

    def _signature_problem(self, entry: ManifestEntry) -> str | None:
        """Checked with the configured key whatever key the entry names: a forger can sign with a key of
        their own."""
        if self._signer is None or self._verifier is None or entry.signature is None:
            return None  # unsigned: continued but not trusted (see _Head.trusted)
        ours = replace(entry, signature=replace(entry.signature, key_id=self._signer.key_id))
        try:
            if self._verifier.valid(ours):
                return None
        except (ClientError, BotoCoreError) as exc:
            raise SinkError(f"cannot check the signature of the chain head of {entry.stream}/{entry.shard} "
                            f"with KMS: {exc}") from exc
        return f"has a signature that does not verify with archive.signing_key_id {self._signer.key_id!r}"

    def _uncovered(self, lane: _Lane, chain_head: _Head, record: RawRecord) -> ChainHeadRejected:
        entry = chain_head.entry
        start = position_text(entry.prev_last) if entry.prev_last else "the start of the shard"
        return self._rejected(lane, (
            f"s3://{self._store.bucket}/{chain_head.manifest_key} would have record "
            f"{position_text(record.position)} dropped as a re-read, but the chain holds nothing between "
            f"{start} and {position_text(entry.first)}"))

    @staticmethod
    def _rejected(lane: _Lane, what: str) -> ChainHeadRejected:
        return ChainHeadRejected(
            f"archive chain head of {lane.stream}/{lane.shard} refused: {what}. The batch is neither "
            f"archived nor checkpointed; run `secstash verify --stream {lane.stream}` to see how the "
            f"manifests were changed")

    def _read_entry(self, key: str) -> ManifestEntry | None:
        try:
            return reader.read_entry(self._s3, self._store.bucket, key)
        except (ClientError, BotoCoreError, ValueError) as exc:
            raise SinkError(f"cannot read manifest s3://{self._store.bucket}/{key}: {exc}") from exc

    # --- start-up checks ---------------------------------------------------------------------------------

    def _check_object_lock(self) -> None:
        bucket = self._store.bucket
        retention_days = self._store.retention_days
        try:
            config = self._s3.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration") or {}
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code == "NoSuchBucket":
                raise SinkConfigError(f"archive bucket {bucket!r} does not exist") from None
            if code != "ObjectLockConfigurationNotFoundError":
                raise SinkConfigError(f"cannot read the Object Lock configuration of archive bucket {bucket!r} "
                                      f"({code}); the daemon needs s3:GetBucketObjectLockConfiguration") from exc
            config = {}
        except BotoCoreError as exc:
            raise SinkConfigError(f"cannot reach S3 to check archive bucket {bucket!r}: {exc}") from exc
        enabled = config.get("ObjectLockEnabled") == "Enabled"
        default = (config.get("Rule") or {}).get("DefaultRetention") or {}
        events.object_lock_checked(bucket, default.get("Mode"), default.get("Days"), default.get("Years"),
                                   retention_days)
        if not self._settings.require_object_lock:
            return
        if not enabled:
            raise ObjectLockMissing(
                f"archive bucket {bucket!r} has no Object Lock, so archived records could be deleted or "
                f"overwritten. Use a bucket created with Object Lock enabled (create-bucket "
                f"--object-lock-enabled-for-bucket), or set archive.require_object_lock: false where an "
                f"unlocked archive is acceptable (tests)")
        if retention_days is None and not default:
            raise ObjectLockMissing(
                f"archive bucket {bucket!r} has Object Lock but no default retention, and "
                f"archive.retention_days is not set: objects would not be locked. Set archive.retention_days "
                f"or give the bucket a COMPLIANCE default retention")
        if retention_days is None and default.get("Mode") != "COMPLIANCE":
            raise ObjectLockMissing(
                f"archive bucket {bucket!r} defaults to {default.get('Mode')} retention, which privileged "
                f"users can lift; set archive.retention_days (COMPLIANCE on every PUT) or make the bucket's "
                f"default COMPLIANCE")
        try:
            status = self._s3.get_bucket_versioning(Bucket=bucket).get("Status")
        except (ClientError, BotoCoreError) as exc:
            raise SinkConfigError(f"cannot read the versioning of archive bucket {bucket!r}: {exc}") from exc
        if status != "Enabled":
            raise ObjectLockMissing(f"archive bucket {bucket!r} has Object Lock but versioning is {status!r}")
