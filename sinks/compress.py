"""gzip for everything the sinks write (archive objects, bulk bodies, dead letters, spill batches).

ISA-L (the `isal` package) writes standard gzip about nine times faster than zlib at a ratio between zlib's
levels 1 and 6 (measured on the mixed corpus: 386 MB/s at ratio 1.87, against zlib's 41 MB/s at 1.93 for
level 6), which is most of what the pipeline process spends beside parsing. Levels are ISA-L's, 0 to 3.
mtime is 0, so equal input gives equal bytes: a retried archive batch writes the same object again.

Bulk bodies are gzip members assembled from deflate *segments* (`Segments`): raw deflate that ends with a
full flush, so it starts and ends on a byte boundary and refers to nothing before it. Segments written
anywhere, in any order, concatenate into one valid deflate stream; the pool's workers write one per record's
documents (`deflate_segment`), and the pipeline process only joins them, adds the header and the trailer, and
combines their CRCs, instead of compressing every document itself (`secstash bench`, docs/performance.md).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

from isal import igzip, isal_zlib

LEVELS = range(0, 4)
DEFAULT_LEVEL = 2

# A gzip member's header with no name and mtime 0, and the end of its deflate stream: an empty last block
# (BFINAL set, fixed Huffman codes, the end-of-block code alone), then CRC-32 and size, little-endian.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
LAST_BLOCK = b"\x03\x00"
_TRAILER = struct.Struct("<II")


def gzip_bytes(data: bytes, level: int = DEFAULT_LEVEL) -> bytes:
    return igzip.compress(data, compresslevel=level, mtime=0)


class SegmentWriter:
    """Deflate segments, one per `write`, from one compressor: a full flush resets its history, so each
    segment stands alone, and the compressor's tables are set up once rather than once per segment."""

    __slots__ = ("_compressor",)

    def __init__(self, level: int) -> None:
        self._compressor = isal_zlib.compressobj(level, isal_zlib.DEFLATED, -15)

    def write(self, data: bytes | memoryview) -> tuple[bytes, int]:
        """`data` as a segment, and its CRC-32."""
        segment, crc, _ = self.write_parts((data,))
        return segment, crc

    def write_parts(self, parts: Iterable[bytes | memoryview]) -> tuple[bytes, int, int]:
        """`parts`, one after the other, as one segment; its CRC-32 and how many bytes it holds. Above level 0
        each flush ends a block whose Huffman codes ISA-L builds for it: ~13 µs per block on a 2-core EPYC,
        which one segment per ~27 KB record's lines paid on top of ~45 µs of compressing them."""
        compressor, crc, size = self._compressor, 0, 0
        out = []
        for part in parts:
            out.append(compressor.compress(part))
            crc = isal_zlib.crc32(part, crc)
            size += len(part)
        out.append(compressor.flush(isal_zlib.Z_FULL_FLUSH))
        return b"".join(out), crc, size


def inflate_segment(segment: bytes) -> bytes:
    """What a segment holds (a segment has no last block: one is added, so the stream is complete)."""
    return isal_zlib.decompress(segment + LAST_BLOCK, -15)


class Segments:
    """One gzip member, built from segments written elsewhere (`add_segment`) and from text compressed here
    (`add_text`, a segment of its own each), in the order they are added."""

    __slots__ = ("_crc", "_level", "_parts", "_writer", "size")

    def __init__(self, level: int) -> None:
        self._level = level
        self._writer: SegmentWriter | None = None  # made for the first text: most bodies are segments only
        self._parts: list[bytes] = [GZIP_HEADER]
        self._crc = 0
        self.size = 0  # uncompressed bytes so far

    def add_segment(self, segment: bytes, crc: int, size: int) -> None:
        self._parts.append(segment)
        self._crc = isal_zlib.crc32_combine(self._crc, crc, size)
        self.size += size

    def add_text(self, data: bytes | memoryview) -> None:
        if self._writer is None:
            self._writer = SegmentWriter(self._level)
        segment, crc = self._writer.write(data)
        self.add_segment(segment, crc, len(data))

    def finish(self) -> bytes:
        self._parts.append(LAST_BLOCK + _TRAILER.pack(self._crc, self.size & 0xFFFFFFFF))
        return b"".join(self._parts)
