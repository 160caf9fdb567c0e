"""Check the archive against its manifests: every listed object present and unchanged, every object listed,
every shard's chain unbroken, every signature good.

Findings (any one makes `secstash verify` exit non-zero):

    missing            a manifest entry's object is gone (or hidden by a delete marker)
    delete_marker      a manifest entry or archive object has a delete marker: hidden from listings (Object
                       Lock allows a DeleteObject without a version id), which hides an entry and its object
                       at the end of a chain from every other check
    manifest_rewritten a manifest key with more than one version (entries are written once, If-None-Match)
    altered            an object's bytes no longer hash to its entry's SHA-256
    unlisted           an object no manifest lists that is no interrupted write (below), or cannot be checked
    chain_break        an entry does not name the shard's previous entry, or names one that is gone
    manifest_invalid   a manifest object that does not parse, or disagrees with its key or object key
    bad_signature      a signature that does not verify, or names another key than the archive's signing key;
                       an unsigned entry when signatures are required (a signing key given, or
                       require_signatures), or when an earlier entry of the shard is signed (a signature removed)
    conflicting_copy   one position archived twice, the copies differing in any field

Notices (reported, not findings):

    reread_duplicate   listed objects overlap: records archived twice after a crash or a lease hand-over
    interrupted_write  an unlisted object whose every record is, field for field (the sequence as written, the
                       arrival time, the partition key and the data), in listed objects, under the very key
                       the writer gives those records: the writer stopped between an object and its manifest
                       entry and the records were archived again

Reading: every listed object in the range is downloaded and hashed (the figure `verify s/GB` measures this);
objects are decoded only where duplicates need comparing, which is rare.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError

from sinks.archive import reader
from sinks.archive.encode import (
    ArchivedRecord,
    ArchiveFormatError,
    ArchiveKey,
    archive_key,
    decode_object,
    encode_line,
    parse_archive_key,
    position_text,
)
from sinks.archive.manifest import ManifestEntry, ManifestError, parse_entry, shard_prefix
from sinks.archive.signing import SignatureVerifier
from sinks.batch import Position
from sinks.errors import SinkConfigError

FindingKind = Literal["missing", "altered", "unlisted", "chain_break", "manifest_invalid", "bad_signature",
                      "conflicting_copy", "delete_marker", "manifest_rewritten", "reread_duplicate",
                      "interrupted_write"]
NOTICE_KINDS = frozenset({"reread_duplicate", "interrupted_write"})
MAX_DECODED_BYTES = 1024 * 1024 * 1024  # refuse to inflate a (tampered) object beyond 1 GiB
_PARTITION = re.compile(r"/dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})/")


@dataclass(frozen=True, slots=True)
class Finding:
    kind: FindingKind
    stream: str
    shard: str
    key: str
    detail: str

    @property
    def is_notice(self) -> bool:
        return self.kind in NOTICE_KINDS


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)
    manifests: int = 0
    objects: int = 0
    bytes_read: int = 0
    duplicate_records: int = 0
    signed: int = 0
    seconds: float = 0.0

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if not f.is_notice]

    @property
    def notices(self) -> list[Finding]:
        return [f for f in self.findings if f.is_notice]

    @property
    def clean(self) -> bool:
        return not self.problems

    def add(self, kind: FindingKind, stream: str, shard: str, key: str, detail: str) -> None:
        self.findings.append(Finding(kind, stream, shard, key, detail))


@dataclass(slots=True)
class _Listed:
    manifest_key: str
    entry: ManifestEntry


@dataclass(slots=True)
class _History:
    """A key's versions (ids, newest first) and delete markers."""

    key: str
    versions: list[str] = field(default_factory=list)
    delete_markers: int = 0
    hidden: bool = False  # the newest is a delete marker: the key looks deleted


@dataclass(slots=True)
class Verifier:
    s3: Any
    bucket: str
    prefix: str = "archive"
    manifest_prefix: str = "manifests"
    kms: Any = None
    require_signatures: bool = False
    signing_key: str | None = None  # the archive's signing key (id, ARN or alias): signatures must be by it
    workers: int = 8
    clock: Callable[[], float] = time.monotonic
    _signatures: SignatureVerifier | None = field(default=None, init=False)

    def run(self, stream: str | None = None, since: int | None = None, until: int | None = None) -> Report:
        started = self.clock()
        report = Report()
        if self.signing_key is not None and self.kms is None:
            raise SinkConfigError("checking signatures against a signing key needs a KMS client")
        if self.kms is not None:
            self._signatures = SignatureVerifier(self.kms, self.signing_key)
            self._signatures.start()
        listed = self._read_manifests(report, stream, since, until)
        objects = {o.key: o for o in reader.archive_objects(self.s3, self.bucket, self.prefix, stream, since, until)}
        report.objects = len(objects)
        by_key = {item.entry.key: item for items in listed.values() for item in items}
        self._check_objects(report, list(by_key.values()), objects)
        for (name, shard), items in sorted(listed.items()):
            self._check_chain(report, name, shard, items)
        unlisted = [o for key, o in sorted(objects.items()) if key not in by_key]
        self._check_unlisted(report, unlisted, listed)
        self._check_versions(report, stream, since, until)
        report.seconds = self.clock() - started
        return report

    # --- manifests ---------------------------------------------------------------------------------------

    def _read_manifests(self, report: Report, stream: str | None, since: int | None,
                        until: int | None) -> dict[tuple[str, str], list[_Listed]]:
        keys = list(reader.manifest_keys(self.s3, self.bucket, self.manifest_prefix, stream, since, until))
        report.manifests = len(keys)
        with ThreadPoolExecutor(self.workers) as pool:
            bodies = list(pool.map(lambda k: reader.get_bytes(self.s3, self.bucket, k[0]), keys))
        listed: dict[tuple[str, str], list[_Listed]] = defaultdict(list)
        for (key, name, shard), body in zip(keys, bodies, strict=True):
            if body is None:
                continue  # deleted between listing and reading: its absence shows as a chain break
            report.bytes_read += len(body)
            try:
                entry = parse_entry(body)
            except ManifestError as exc:
                report.add("manifest_invalid", name, shard, key, str(exc))
                continue
            expected = entry.manifest_key(self.manifest_prefix)
            parsed = parse_archive_key(self.prefix, entry.key)
            if expected != key or (entry.stream, entry.shard) != (name, shard):
                report.add("manifest_invalid", name, shard, key, f"entry belongs at {expected}")
                continue
            if parsed is None or (parsed.stream, parsed.shard, parsed.first, parsed.last) != (
                    entry.stream, entry.shard, entry.first, entry.last):
                report.add("manifest_invalid", name, shard, key, f"object key {entry.key} does not match the entry")
                continue
            self._check_signature(report, key, entry)
            listed[(name, shard)].append(_Listed(key, entry))
        for items in listed.values():
            items.sort(key=lambda item: (item.entry.first, item.entry.last))
        return listed

    @property
    def _signatures_required(self) -> bool:
        return self.require_signatures or self.signing_key is not None

    def _check_signature(self, report: Report, key: str, entry: ManifestEntry) -> None:
        if entry.signature is None:
            if self._signatures_required:
                report.add("bad_signature", entry.stream, entry.shard, key, "entry is not signed")
            return
        report.signed += 1
        if self._signatures is None:
            return  # no KMS client: signatures cannot be checked (the CLI always passes one)
        try:
            if not self._signatures.is_expected_key(entry.signature.key_id):
                report.add("bad_signature", entry.stream, entry.shard, key,
                           f"signed with {entry.signature.key_id}, not the archive's signing key "
                           f"{self._signatures.expected_arn}")
                return
            ok = self._signatures.valid(entry)
        except (ClientError, BotoCoreError) as exc:
            report.add("bad_signature", entry.stream, entry.shard, key, f"cannot verify with KMS: {exc}")
            return
        if not ok:
            report.add("bad_signature", entry.stream, entry.shard, key,
                       f"signature by {entry.signature.key_id} ({entry.signature.algorithm}) does not verify")

    # --- objects -----------------------------------------------------------------------------------------

    def _check_objects(self, report: Report, items: list[_Listed], objects: dict[str, reader.ListedObject]) -> None:
        def digest(item: _Listed) -> tuple[_Listed, str | None, int]:
            body = reader.get_bytes(self.s3, self.bucket, item.entry.key)
            if body is None:
                return item, None, 0
            return item, hashlib.sha256(body).hexdigest(), len(body)

        present = [i for i in items if i.entry.key in objects]
        for item in items:
            if item.entry.key not in objects:
                report.add("missing", item.entry.stream, item.entry.shard, item.entry.key,
                           self._missing_detail(item.entry))
        with ThreadPoolExecutor(self.workers) as pool:
            for item, sha, size in pool.map(digest, present):
                entry = item.entry
                report.bytes_read += size
                if sha is None:
                    report.add("missing", entry.stream, entry.shard, entry.key, self._missing_detail(entry))
                elif sha != entry.sha256 or size != entry.size:
                    report.add("altered", entry.stream, entry.shard, entry.key, self._altered_detail(entry, sha))

    def _missing_detail(self, entry: ManifestEntry) -> str:
        kept = self._version_intact(entry)
        if kept:
            return f"no current version (a delete marker?); the archived version {entry.version_id} is intact"
        return f"listed by its manifest entry (sha256 {entry.sha256[:16]}...) but not in the bucket"

    def _altered_detail(self, entry: ManifestEntry, sha: str) -> str:
        detail = f"sha256 {sha[:16]}... where the manifest says {entry.sha256[:16]}..."
        if self._version_intact(entry):
            detail += f"; a newer version covers it, the archived version {entry.version_id} is intact"
        return detail

    def _version_intact(self, entry: ManifestEntry) -> bool:
        if not entry.version_id or entry.version_id == "null":
            return False
        try:
            body = reader.get_bytes(self.s3, self.bucket, entry.key, entry.version_id)
        except ClientError:
            return False
        return body is not None and hashlib.sha256(body).hexdigest() == entry.sha256

    # --- chains ------------------------------------------------------------------------------------------

    def _check_chain(self, report: Report, stream: str, shard: str, items: list[_Listed]) -> None:
        first = items[0]
        predecessor = None
        if first.entry.prev_manifest is not None:
            predecessor = self._check_predecessor_outside(report, first)
        if not self._signatures_required:
            self._check_downgrade(report, items, predecessor is not None and predecessor.signature is not None)
        for previous, item in itertools.pairwise(items):
            entry = item.entry
            if not entry.follows(previous.entry, previous.manifest_key):
                named = entry.prev_manifest or "nothing (a new chain)"
                report.add("chain_break", stream, shard, item.manifest_key,
                           f"names {named} as its predecessor, but the shard's previous entry is "
                           f"{previous.manifest_key}")
            if entry.first <= previous.entry.last:
                self._compare_overlap(report, previous, item)

    def _check_downgrade(self, report: Report, items: list[_Listed], signed_before: bool) -> None:
        """Without a known signing key an unsigned entry may be fine (written before signing was switched on),
        but one after a signed entry of its shard looks exactly like an entry whose signature was removed."""
        for item in items:
            if item.entry.signature is not None:
                signed_before = True
            elif signed_before:
                report.add("bad_signature", item.entry.stream, item.entry.shard, item.manifest_key,
                           "entry is not signed, though an earlier entry of the shard is (signature removed?)")

    def _check_predecessor_outside(self, report: Report, item: _Listed) -> ManifestEntry | None:
        """The entry before the range, when it exists and is the one the range's first entry links to."""
        entry = item.entry
        assert entry.prev_manifest is not None
        try:
            body = reader.get_bytes(self.s3, self.bucket, entry.prev_manifest)
        except ClientError as exc:
            report.add("chain_break", entry.stream, entry.shard, item.manifest_key,
                       f"cannot read predecessor {entry.prev_manifest}: {exc}")
            return None
        if body is None:
            report.add("chain_break", entry.stream, entry.shard, item.manifest_key,
                       f"predecessor entry {entry.prev_manifest} is gone")
            return None
        try:
            previous = parse_entry(body)
        except ManifestError as exc:
            report.add("chain_break", entry.stream, entry.shard, item.manifest_key,
                       f"predecessor entry {entry.prev_manifest} is unreadable: {exc}")
            return None
        if not entry.follows(previous, entry.prev_manifest):
            report.add("chain_break", entry.stream, entry.shard, item.manifest_key,
                       f"predecessor entry {entry.prev_manifest} names object {previous.key} "
                       f"(sha256 {previous.sha256[:16]}...), not what this entry links to")
            return None
        return previous

    def _compare_overlap(self, report: Report, previous: _Listed, item: _Listed) -> None:
        older = self._records(previous.entry.key)
        newer = self._records(item.entry.key)
        if older is None or newer is None:
            return  # missing or unreadable: already a finding
        shared = older.keys() & newer.keys()
        report.duplicate_records += len(shared)
        differing = [p for p in shared if older[p] != newer[p]]
        if differing:
            report.add("conflicting_copy", item.entry.stream, item.entry.shard, item.entry.key,
                       f"{len(differing)} records also in {previous.entry.key} with different bytes, first at "
                       f"{position_text(min(differing))}")
        else:
            report.add("reread_duplicate", item.entry.stream, item.entry.shard, item.entry.key,
                       f"{len(shared)} records also in {previous.entry.key}")

    def _records(self, key: str) -> dict[Position, bytes] | None:
        body = reader.get_bytes(self.s3, self.bucket, key)
        if body is None:
            return None
        try:
            records = decode_object(body, MAX_DECODED_BYTES)
        except ArchiveFormatError:
            return None
        return {r.position: _fingerprint(r) for r in records}

    # --- versions ----------------------------------------------------------------------------------------

    def _check_versions(self, report: Report, stream: str | None, since: int | None, until: int | None) -> None:
        """What the current-version listings above cannot see. The whole prefix is listed, not only the range's
        hour partitions, because a partition whose every key has a delete marker is not listed at all."""
        below = f"stream={stream}/" if stream else ""
        for base, is_manifest in ((f"{self.manifest_prefix}/{below}", True), (f"{self.prefix}/{below}", False)):
            for history in _histories(self.s3, self.bucket, base):
                if _in_range(history.key, since, until):
                    self._check_history(report, history, is_manifest)

    def _check_history(self, report: Report, history: _History, is_manifest: bool) -> None:
        name, shard = self._stream_and_shard(history.key, is_manifest)
        if history.delete_markers:
            behind = f"version {history.versions[0]} is behind it" if history.versions else "no version is left"
            state = f"the newest version is a delete marker ({behind})" if history.hidden \
                else "a newer version is current"
            report.add("delete_marker", name, shard, history.key,
                       f"{history.delete_markers} delete marker(s); {state}")
        if not is_manifest and not history.hidden and _PARTITION.search(history.key) \
                and _partition_start(history.key) is None:
            # Under a partition the listings skip (hour=99): so do replay and the unlisted-object check above,
            # which sees the other partitions' stray keys. It cannot change what is replayed, but no writer of
            # ours put it there.
            report.add("unlisted", name, shard, history.key, "not a key the archive writes; listings skip it")
        if is_manifest and len(history.versions) > 1:
            report.add("manifest_rewritten", name, shard, history.key,
                       f"{len(history.versions)} versions of an entry written once; the first was "
                       f"{history.versions[-1]}, the current one is {history.versions[0]}")

    def _stream_and_shard(self, key: str, is_manifest: bool) -> tuple[str, str]:
        if is_manifest:
            parts = key[len(self.manifest_prefix) + 1:].split("/")
            if len(parts) > 2 and parts[0].startswith("stream="):
                return parts[0].removeprefix("stream="), parts[1]
            return "?", "?"
        parsed = parse_archive_key(self.prefix, key)
        return (parsed.stream, parsed.shard) if parsed else ("?", "?")

    # --- unlisted objects --------------------------------------------------------------------------------

    def _check_unlisted(self, report: Report, unlisted: Iterable[reader.ListedObject],
                        listed: dict[tuple[str, str], list[_Listed]]) -> None:
        for obj in unlisted:
            parsed = obj.parsed
            if parsed is None:
                report.add("unlisted", "?", "?", obj.key, "not a key the archive writes")
                continue
            try:
                self._check_unlisted_object(report, obj.key, parsed, listed)
            except Exception as exc:  # noqa: BLE001 - anyone may have written it: whatever it breaks is a finding
                report.add("unlisted", parsed.stream, parsed.shard, obj.key,
                           f"no manifest lists it, and checking it failed: {type(exc).__name__}: {exc}")

    def _check_unlisted_object(self, report: Report, key: str, parsed: ArchiveKey,
                               listed: dict[tuple[str, str], list[_Listed]]) -> None:
        body = reader.get_bytes(self.s3, self.bucket, key)
        if body is None:
            return
        report.bytes_read += len(body)
        try:
            records = decode_object(body, MAX_DECODED_BYTES)
        except ArchiveFormatError as exc:
            report.add("unlisted", parsed.stream, parsed.shard, key, f"no manifest lists it; {exc}")
            return
        misfit = _misfit(self.prefix, key, records)
        if misfit:
            report.add("unlisted", parsed.stream, parsed.shard, key, f"no manifest lists it; {misfit}")
            return
        uncovered = self._uncovered(records, listed.get((parsed.stream, parsed.shard), []))
        if uncovered:
            report.add("unlisted", parsed.stream, parsed.shard, key,
                       f"no manifest lists it; {uncovered} of its {len(records)} records are in no listed object, "
                       "field for field")
        else:
            report.duplicate_records += len(records)
            report.add("interrupted_write", parsed.stream, parsed.shard, key,
                       f"no manifest lists it, but all {len(records)} records are in listed objects")

    def _uncovered(self, records: list[ArchivedRecord], items: list[_Listed]) -> int:
        low = min(r.position for r in records)
        high = max(r.position for r in records)
        candidates = [i for i in items if i.entry.first <= high and i.entry.last >= low]
        candidates += self._neighbours(records[0], low, high, {i.entry.key for i in items})
        known: dict[Position, bytes] = {}
        for item in candidates:
            known.update(self._records(item.entry.key) or {})
        return sum(1 for r in records if known.get(r.position) != _fingerprint(r))

    def _neighbours(self, first: ArchivedRecord, low: Position, high: Position, seen: set[str]) -> list[_Listed]:
        """Listed objects just outside the verified range that may hold an unlisted object's records: the
        entries of the same shard in the hour of its first record's arrival (its key's hour) and the next one."""
        start = first.arrival_ms - first.arrival_ms % reader.HOUR_MS
        base = shard_prefix(self.manifest_prefix, first.stream, first.shard)
        found = []
        for hour in reader.hour_partitions(self.s3, self.bucket, base, start, start + 2 * reader.HOUR_MS):
            for key, _ in reader.list_objects(self.s3, self.bucket, hour):
                try:
                    entry = reader.read_entry(self.s3, self.bucket, key)
                except ManifestError:
                    continue
                if entry and entry.key not in seen and entry.first <= high and entry.last >= low:
                    found.append(_Listed(key, entry))
        return found


def _fingerprint(record: ArchivedRecord) -> bytes:
    """A digest of every field of a record as archived: two copies of a position agree only when replay would
    read the same record from both (the same document ids, arrival time and data)."""
    return hashlib.blake2b(encode_line(record.stream, record.shard, record.raw()), digest_size=16).digest()


def _misfit(prefix: str, key: str, records: list[ArchivedRecord]) -> str | None:
    """Why an object is not one the writer could have written under `key`, or None. The writer names an object
    after its records (stream, shard, first arrival hour, first and last positions as written) and keeps them in
    position order, so a copy of listed records anywhere else is no interrupted write."""
    if not records:
        return "it holds no records"
    if any((r.stream, r.shard) != (records[0].stream, records[0].shard) for r in records):
        return "its records belong to more than one shard"
    if any(later.position <= earlier.position for earlier, later in itertools.pairwise(records)):
        return "its records are not in position order"
    expected = archive_key(prefix, records[0].stream, records[0].shard, records[0].raw(), records[-1].raw())
    if expected != key:
        return f"its records belong at {expected}"
    return None


def _histories(s3: Any, bucket: str, prefix: str) -> Iterator[_History]:
    """Every key under `prefix` with its versions and delete markers. ListObjectVersions returns keys in order,
    so a key's history may continue on the next page but never interleaves with another key's."""
    current: _History | None = None
    for key, version_id, is_marker, is_latest in _versions(s3, bucket, prefix):
        if current is None or current.key != key:
            if current is not None:
                yield current
            current = _History(key)
        if is_marker:
            current.delete_markers += 1
            current.hidden = current.hidden or is_latest
        else:
            current.versions.append(version_id)
    if current is not None:
        yield current


def _versions(s3: Any, bucket: str, prefix: str) -> Iterator[tuple[str, str, bool, bool]]:
    """(key, version id, is a delete marker, is the newest) of every version under `prefix`, page by page."""
    params = {"Bucket": bucket, "Prefix": prefix}
    while True:
        page = s3.list_object_versions(**params)
        found = [(v["Key"], v["VersionId"], False, bool(v["IsLatest"])) for v in page.get("Versions", [])]
        found += [(m["Key"], m["VersionId"], True, bool(m["IsLatest"])) for m in page.get("DeleteMarkers", [])]
        yield from sorted(found, key=lambda version: version[0])  # stable: each list stays newest first
        if not page.get("IsTruncated"):
            return
        params["KeyMarker"] = page["NextKeyMarker"]
        if page.get("NextVersionIdMarker"):
            params["VersionIdMarker"] = page["NextVersionIdMarker"]


def _in_range(key: str, since: int | None, until: int | None) -> bool:
    """Whether the key's hour partition overlaps [since, until), as the listings choose partitions. Without a
    range every key counts; with one, a key outside any hour partition is outside the range."""
    if since is None and until is None:
        return True
    hour_ms = _partition_start(key)
    if hour_ms is None:
        return False
    low = None if since is None else since - since % reader.HOUR_MS
    return (low is None or hour_ms >= low) and (until is None or hour_ms < until)


def _partition_start(key: str) -> int | None:
    """Epoch ms of the hour partition the key sits in; None outside one, or in one the listings skip (an
    hour=99, a dt= that is no date)."""
    match = _PARTITION.search(key)
    if match is None:
        return None
    try:
        return int(datetime.strptime(f"{match[1]} {match[2]}", "%Y-%m-%d %H").replace(tzinfo=UTC)
                   .timestamp() * 1000)
    except ValueError:
        return None
