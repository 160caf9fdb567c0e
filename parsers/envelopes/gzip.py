"""Gzip, as CloudWatch Logs subscriptions (and some forwarders) compress Kinesis records.

Detected by its magic bytes, never by a flag: the same stream can carry compressed and plain records.
Decompression stops one byte past the cap, so a gzip bomb costs at most the cap in memory and time.
"""

from __future__ import annotations

from isal import isal_zlib

from parsers.errors import EnvelopeError, PayloadTooLarge

MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + isal_zlib.MAX_WBITS  # gzip header and trailer, not a raw or zlib stream


def is_gzip(data: bytes) -> bool:
    return data[:2] == MAGIC


def decompress(data: bytes, limit: int) -> bytes:
    """The decompressed bytes of one or more concatenated gzip members, at most `limit` bytes in all.

    Raises PayloadTooLarge past the limit, EnvelopeError(reason="bad_gzip") for anything but whole members.
    """
    parts: list[bytes] = []
    total = 0
    rest = data
    while True:
        if not is_gzip(rest):
            raise EnvelopeError("not a gzip member (bad magic bytes or trailing data)", reason="bad_gzip")
        # ISA-L inflates about twice as fast as zlib, with zlib's interface and limits.
        inflater = isal_zlib.decompressobj(_GZIP_WBITS)
        try:
            # Below max_length, zlib consumes all input: one call per member, and a short read means the end.
            chunk = inflater.decompress(rest, limit - total + 1)
        except isal_zlib.error as exc:
            raise EnvelopeError(f"corrupt gzip data: {exc}", reason="bad_gzip") from None
        total += len(chunk)
        if total > limit:
            raise PayloadTooLarge(f"decompressed size over the {limit}-byte cap")
        if not inflater.eof:
            raise EnvelopeError("truncated gzip data", reason="bad_gzip")
        parts.append(chunk)
        rest = inflater.unused_data
        if not rest:
            return parts[0] if len(parts) == 1 else b"".join(parts)
