"""Gzip, as CloudWatch Logs subscriptions (and some forwarders) compress Kinesis records.

Detected by its magic bytes, never by a flag: the same stream can carry compressed and plain records.
Decompression stops one byte past the cap, so a gzip bomb costs at most the cap in memory and time.
Concatenated members are decompressed one after the other in time linear in the input, and at most
`MAX_MEMBERS` of them: empty members (20 bytes each, nothing out) would otherwise cost time without ever
reaching the byte cap.
"""

from __future__ import annotations

from isal import isal_zlib

from parsers.errors import EnvelopeError, PayloadTooLarge

MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + isal_zlib.MAX_WBITS  # gzip header and trailer, not a raw or zlib stream

# At most this many concatenated gzip members in one input. The log files AWS writes to S3 (ALB, CloudTrail,
# VPC Flow Logs, CloudFront, S3 access logs) are one member each; concatenated files (`cat a.gz b.gz`, a
# forwarder appending a member per batch) have one per batch, a few KB to MB each, so a few thousand at
# most in an object of 64 MiB (the default pipeline.max_decompressed_bytes). 100,000 members average 670
# bytes in 64 MiB; each costs ~1.5 µs here (a decompressor and one call per window), so the limit bounds a
# worker's time on members that decompress to nothing to ~0.15 s instead of ~5 s for 64 MiB of empty ones.
MAX_MEMBERS = 100_000
# At the end of a member the decompressor copies the input it was given past the member (`unused_data`), so
# giving every member the whole rest would copy O(members x size) bytes. The first member is given the whole
# input (one call, its output built once: the usual single-member file costs what it always did); later
# members get windows that start at this size and double while the member goes on, so a member of n bytes
# costs O(n + _FIRST_WINDOW) copied bytes and O(log n) calls.
_FIRST_WINDOW = 1024


def is_gzip(data: bytes) -> bool:
    return data[:2] == MAGIC


def decompress(data: bytes, limit: int, max_members: int = MAX_MEMBERS) -> bytes:
    """The decompressed bytes of one or more concatenated gzip members, at most `limit` bytes in all.

    Raises PayloadTooLarge past the limit, EnvelopeError(reason="bad_gzip") for anything but whole members
    and for more than `max_members` members.
    """
    parts: list[bytes] = []
    members = 0
    total = 0
    view = memoryview(data)
    size = len(data)
    offset = 0  # where the next member starts
    while True:
        if data[offset:offset + 2] != MAGIC:
            raise EnvelopeError("not a gzip member (bad magic bytes or trailing data)", reason="bad_gzip")
        if members >= max_members:
            raise EnvelopeError(f"more than {max_members} gzip members", reason="bad_gzip")
        # ISA-L inflates about twice as fast as zlib, with zlib's interface and limits.
        inflater = isal_zlib.decompressobj(_GZIP_WBITS)
        members += 1
        start, width = offset, (size if members == 1 else _FIRST_WINDOW)
        while True:
            window = view[start:start + width]
            try:
                # Below max_length, zlib consumes all the input it is given: a short read means the window
                # is used up (or the member ended in it).
                chunk = inflater.decompress(window, limit - total + 1)
            except isal_zlib.error as exc:
                raise EnvelopeError(f"corrupt gzip data: {exc}", reason="bad_gzip") from None
            total += len(chunk)
            if total > limit:
                raise PayloadTooLarge(f"decompressed size over the {limit}-byte cap")
            if chunk:
                parts.append(chunk)
            start += len(window)
            if inflater.eof:
                offset = start - len(inflater.unused_data)
                break
            if start >= size:
                raise EnvelopeError("truncated gzip data", reason="bad_gzip")
            width *= 2
        if offset >= size:
            return parts[0] if len(parts) == 1 else b"".join(parts)
