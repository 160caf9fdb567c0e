"""Settings of the S3 archive (the `archive:` section): the bucket, its prefixes, keys and limits.

There is no batch-age setting: the KCL record processor blocks on every batch until each sink holds it, so
the archive writes one object (or a few, see `max_object_bytes`) per delivered batch, and a batch's age is
bounded by the KCL read interval (`kcl.idle_time_between_reads_ms`) and size by `kcl.max_records`. Holding a
batch back to fill a bigger object would hold back the shard's checkpoint, and the next batch with it.
Fewer, larger objects come from reading less often: see docs/archive.md, "Object count and cost".
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MiB = 1024 * 1024
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()=-]+)*$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ArchiveSettings(Strict):
    bucket: str = Field(..., min_length=3, max_length=63, description="the archive bucket (Object Lock enabled)")
    prefix: str = Field("archive", description="where raw-record objects go")
    dead_letter_prefix: str = Field("dead-letter", description="where parse and index rejects go")
    spill_prefix: str = Field("spill", description="where documents go when the search cluster is unreachable")
    manifest_prefix: str = Field("manifests", description="where the hash-chained manifest entries go")
    kms_key_id: str | None = Field(
        None, description="SSE-KMS key id/ARN/alias; None: the bucket's default encryption, which must be SSE-KMS "
                          "(start refuses a bucket defaulting to SSE-S3 or to nothing)")
    retention_days: int | None = Field(
        None, ge=1, le=36500,
        description="COMPLIANCE retention set on every PUT; None: rely on the bucket's default retention rule")
    require_object_lock: bool = Field(
        True, description="refuse to start when the bucket has no Object Lock (or, without retention_days, "
                          "no default retention)")
    max_object_bytes: int = Field(
        64 * MiB, ge=64 * 1024,
        description="uncompressed NDJSON bytes per archive object; a bigger batch is split into several")
    multipart_threshold_bytes: int = Field(16 * MiB, ge=5 * MiB,
                                           description="compressed objects larger than this use multipart")
    compression_level: int = Field(2, ge=0, le=3, description="gzip level of archive objects (ISA-L, 0-3)")
    upload_concurrency: int = Field(
        8, ge=1, le=256,
        description="batches written at once across shards; one shard's batches are always written in order")
    head_refresh_s: float = Field(
        10.0, ge=0,
        description="re-read a shard's chain head from S3 when its previous batch is older than this "
                    "(the lease may have been elsewhere meanwhile); 0: before every batch")
    signing_key_id: str | None = Field(None, description="asymmetric KMS key (SIGN_VERIFY) to sign manifests")
    signing_algorithm: str | None = Field(
        None, description="e.g. ECDSA_SHA_256, RSASSA_PSS_SHA_256; None: the key's first supported algorithm")

    @field_validator("prefix", "dead_letter_prefix", "spill_prefix", "manifest_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError("a prefix is one or more path segments without leading or trailing '/' "
                             "(letters, digits and !_.*'()=-)")
        return value

    @model_validator(mode="after")
    def _distinct_prefixes(self) -> ArchiveSettings:
        named = {"prefix": self.prefix, "dead_letter_prefix": self.dead_letter_prefix,
                 "spill_prefix": self.spill_prefix, "manifest_prefix": self.manifest_prefix}
        items = list(named.items())
        for i, (name_a, a) in enumerate(items):
            for name_b, b in items[i + 1:]:
                if a == b or a.startswith(b + "/") or b.startswith(a + "/"):
                    raise ValueError(f"`{name_a}` ({a!r}) and `{name_b}` ({b!r}) overlap; "
                                     "give each its own prefix")
        return self
