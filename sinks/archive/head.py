"""Whether a chain head read back from S3 may decide which records are already archived. Pure: no I/O, no clock.

The writer drops records at or below its shard's chain head as re-reads (see service.py), and those records
are then checkpointed. A head is only read from the bucket, where anyone with `s3:PutObject` could plant an
entry; trusting a planted one would acknowledge records that were never archived. So a head read from S3 must
be what this writer would have written (`implausibility`), and every record it drops must lie where the chain
holds records (`uncovered`). The signature, when manifests are signed, is checked by the service with KMS.
"""

from __future__ import annotations

from sinks.archive.manifest import ManifestEntry
from sinks.batch import Position

# Arrival times are stamped by Kinesis and compared here with this host's clock; a few minutes of drift
# between the two is normal, an entry further ahead than that was not written by a writer fed by Kinesis.
MAX_CLOCK_SKEW_MS = 5 * 60_000


def implausibility(entry: ManifestEntry, manifest_key: str, manifest_prefix: str, stream: str, shard: str,
                   now_ms: int) -> str | None:
    """Why the entry stored at `manifest_key` cannot be the head of stream/shard; None when it can."""
    if (entry.stream, entry.shard) != (stream, shard):
        return f"names another shard ({entry.stream}/{entry.shard})"
    if entry.manifest_key(manifest_prefix) != manifest_key:
        return "is stored under a key that does not match its first position and arrival time"
    if entry.first > entry.last:
        return "ends before it starts"
    if entry.last_arrival_ms > now_ms + MAX_CLOCK_SKEW_MS:
        return (f"says its last record arrived at {entry.last_arrival_ms} ms since the epoch, more than "
                f"{MAX_CLOCK_SKEW_MS // 1000} s ahead of this host's clock")
    return None


def uncovered(head: ManifestEntry, position: Position) -> bool:
    """True when a record the head would drop as a re-read lies after the head's predecessor and before the
    head's own first record. The writer starts each object right after the previous one, so the chain holds
    nothing there: such a record was never archived, and a head that would drop it is not one the writer wrote."""
    after_previous = head.prev_last is None or position > head.prev_last
    return after_previous and position < head.first
