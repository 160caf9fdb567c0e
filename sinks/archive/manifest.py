"""Manifest entries: one small locked JSON object per archive object, linked into a hash chain per shard.

    <manifest_prefix>/stream=<name>/<shard>/dt=YYYY-MM-DD/hour=HH/<first-seq>.<sub>.json

An entry names its archive object (key, S3 version, SHA-256, size, record count, first and last positions
and arrival times) and the shard's previous object (`prev_sha256`, `prev_key`, `prev_manifest`,
`prev_last`; all None for the first object of a shard). Changing, removing or slipping in an object or an
entry therefore breaks either a digest or a link, which `verify` finds. With a signing key, each entry also
carries a KMS signature over its canonical JSON, so a forged entry is refused too.

Why one entry per object rather than a manifest per hour or per N objects: an entry is written right after
its object, inside the same delivery, so a batch is acknowledged only when both are in S3; nothing waits in
memory for a later manifest that a crash would lose. The cost is one extra small PUT per object.

Why the key is the first record's position: after the writer drops records the chain already holds, the
next object of a shard always starts at the record right after the chain's head, whichever instance writes
it. Entries are written with `If-None-Match: *`, so when two instances continue one shard at once (a lease
hand-over), exactly one claims that key and the other re-reads the head instead of forking the chain.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Any

import orjson

from sinks.archive.encode import parse_position, partition, position_text
from sinks.batch import Position

FORMAT = 1
RAW_MESSAGE_LIMIT = 4096  # KMS Sign/Verify take at most this many bytes as a RAW message
PREFERRED_ALGORITHMS = ("ECDSA_SHA_256", "ECDSA_SHA_384", "ECDSA_SHA_512", "RSASSA_PSS_SHA_256",
                        "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256")


class ManifestError(ValueError):
    """A manifest object that does not parse as an entry."""


@dataclass(frozen=True, slots=True)
class Signature:
    key_id: str
    algorithm: str
    message_type: str  # RAW: the canonical entry; DIGEST: its SHA-256 (entries over 4 KiB)
    value: str  # base64


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    stream: str
    shard: str
    key: str
    version_id: str | None
    sha256: str
    size: int
    records: int
    ndjson_bytes: int
    first: Position
    last: Position
    first_arrival_ms: int
    last_arrival_ms: int
    prev_sha256: str | None
    prev_key: str | None
    prev_manifest: str | None
    prev_last: Position | None
    written_at: str
    writer: str
    signature: Signature | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["format"] = FORMAT
        data["first"] = position_text(self.first)
        data["last"] = position_text(self.last)
        data["prev_last"] = position_text(self.prev_last) if self.prev_last else None
        if self.signature is None:
            del data["signature"]
        return data

    def canonical(self) -> bytes:
        """What a signature covers: the entry without its signature, keys sorted, no whitespace."""
        return orjson.dumps(replace(self, signature=None).to_dict(), option=orjson.OPT_SORT_KEYS)

    def body(self) -> bytes:
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SORT_KEYS) + b"\n"

    def manifest_key(self, manifest_prefix: str) -> str:
        return manifest_key(manifest_prefix, self.stream, self.shard, self.first, self.first_arrival_ms)

    def follows(self, previous: ManifestEntry, previous_manifest_key: str) -> bool:
        """True when this entry names `previous` as the shard's object before it."""
        return (self.prev_sha256 == previous.sha256 and self.prev_key == previous.key
                and self.prev_manifest == previous_manifest_key)


def manifest_key(manifest_prefix: str, stream: str, shard: str, first: Position, first_arrival_ms: int) -> str:
    dt, hour = partition(first_arrival_ms)
    return f"{shard_prefix(manifest_prefix, stream, shard)}dt={dt}/hour={hour}/{position_text(first)}.json"


def shard_prefix(manifest_prefix: str, stream: str, shard: str) -> str:
    return f"{manifest_prefix}/stream={stream}/{shard}/"


def position_of_manifest_key(key: str) -> Position | None:
    name = key.rsplit("/", 1)[-1]
    if not name.endswith(".json"):
        return None
    try:
        return parse_position(name[:-5])
    except ValueError:
        return None


def parse_entry(body: bytes) -> ManifestEntry:
    try:
        data = orjson.loads(body)
        if data.get("format") != FORMAT:
            raise ManifestError(f"unknown manifest format {data.get('format')!r}")
        sig = data.get("signature")
        return ManifestEntry(
            stream=str(data["stream"]), shard=str(data["shard"]), key=str(data["key"]),
            version_id=data.get("version_id"), sha256=str(data["sha256"]), size=int(data["size"]),
            records=int(data["records"]), ndjson_bytes=int(data["ndjson_bytes"]),
            first=parse_position(data["first"]), last=parse_position(data["last"]),
            first_arrival_ms=int(data["first_arrival_ms"]), last_arrival_ms=int(data["last_arrival_ms"]),
            prev_sha256=data.get("prev_sha256"), prev_key=data.get("prev_key"),
            prev_manifest=data.get("prev_manifest"),
            prev_last=parse_position(data["prev_last"]) if data.get("prev_last") else None,
            written_at=str(data["written_at"]), writer=str(data["writer"]),
            signature=Signature(str(sig["key_id"]), str(sig["algorithm"]), str(sig["message_type"]),
                                str(sig["value"])) if sig else None,
        )
    except ManifestError:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ManifestError(f"not a manifest entry ({type(exc).__name__}: {exc})") from None


def signing_message(entry: ManifestEntry) -> tuple[bytes, str]:
    """(message, MessageType) for KMS: the canonical entry itself when small enough, else its SHA-256."""
    canonical = entry.canonical()
    if len(canonical) <= RAW_MESSAGE_LIMIT:
        return canonical, "RAW"
    return hashlib.sha256(canonical).digest(), "DIGEST"


def choose_algorithm(supported: list[str], wanted: str | None) -> str:
    if wanted:
        if supported and wanted not in supported:
            raise ValueError(f"signing key does not support {wanted}; it supports {', '.join(supported)}")
        return wanted
    for algorithm in PREFERRED_ALGORITHMS:
        if algorithm in supported:
            return algorithm
    if supported:
        return supported[0]
    raise ValueError("signing key supports no signing algorithm (is it a SIGN_VERIFY key?)")
