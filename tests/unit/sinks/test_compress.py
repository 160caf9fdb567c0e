"""gzip bodies assembled from deflate segments written apart (a pool worker's) and text compressed where the
body is built: one standard gzip member, whatever the order and mix."""

from __future__ import annotations

import gzip
import pickle
import random
import zlib

import pytest

from sinks.batch import DocumentRun
from sinks.compress import Segments, SegmentWriter, inflate_segment
from sinks.search import request_builder as rb

from .search.fakes import group, items, run


def texts(seed: int, count: int) -> list[bytes]:
    rng = random.Random(seed)
    words = [b"create", b"_index", b"logs-aws.vpcflow-default", b"10.0.0.1", b"ACCEPT", b'"}}', b"\n", b"{"]
    return [b" ".join(rng.choice(words) for _ in range(rng.randrange(0, 3000))) + bytes(rng.randbytes(rng.randrange(50)))
            for _ in range(count)]


@pytest.mark.parametrize("level", [0, 1, 2, 3])
def test_segments_from_different_writers_and_text_make_one_gzip_member_of_their_concatenation(level: int) -> None:
    parts = texts(level, 12)
    writers = [SegmentWriter(level), SegmentWriter(3 - level)]  # each writer's segments stand alone
    body = Segments(level)
    for n, text in enumerate(parts):
        if n % 3 == 2:
            body.add_text(text)
        else:
            segment, crc = writers[n % 2].write(text)
            body.add_segment(segment, crc, len(text))
    data = body.finish()
    assert gzip.decompress(data) == b"".join(parts)  # gzip checks the trailer's CRC-32 and size too
    assert body.size == sum(map(len, parts))
    decoder = zlib.decompressobj(wbits=31)
    assert decoder.decompress(data) == b"".join(parts) and decoder.eof and decoder.unused_data == b""


def test_a_segment_stands_alone_whatever_its_writer_wrote_before() -> None:
    writer = SegmentWriter(1)
    first, second = b"abc" * 5000, b"abcabc" * 4000  # the second would refer back to the first, were it allowed
    writer.write(first)
    segment, crc = writer.write(second)
    assert inflate_segment(segment) == second and crc == zlib.crc32(second)
    assert gzip.decompress(_member([segment], crc, len(second))) == second


def test_an_empty_body_is_a_valid_gzip_member() -> None:
    assert gzip.decompress(Segments(1).finish()) == b""


def test_a_deflated_run_keeps_no_lines_and_gives_the_same_documents() -> None:
    plain, deflated = run(7, first=3), run(7, first=3, deflated=True)
    assert deflated.segment is not None and deflated.lines == b"" and len(deflated) == 7
    assert deflated.nbytes == plain.nbytes
    assert [(i.id, i.body, i.source) for i in deflated.items()] == [(i.id, i.body, i.source) for i in plain.items()]
    assert bytes(deflated.ndjson()) == bytes(plain.ndjson())


def test_a_deflated_run_crosses_a_pipe_as_its_segment_and_is_split_as_its_text() -> None:
    deflated = run(9, deflated=True)
    received = pickle.loads(pickle.dumps(deflated, protocol=pickle.HIGHEST_PROTOCOL))
    assert (received.segment, received.crc, received.lines) == (deflated.segment, deflated.crc, b"")
    head, tail = received.split(4)
    assert head.segment is None and tail.segment is None  # the segment holds all nine: neither piece is it
    assert bytes(head.ndjson()) + bytes(tail.ndjson()) == bytes(run(9).ndjson())


def test_a_piece_of_a_split_run_deflates_its_own_lines_only() -> None:
    whole = run(6, first=2)
    head, tail = whole.split(2)
    expected = [(i.id, i.body, i.source) for i in tail.items()]
    tail.deflate(SegmentWriter(1))
    assert tail.segment is not None and inflate_segment(tail.segment) == bytes(whole.split(2)[1].ndjson())
    assert [(i.id, i.body, i.source) for i in tail.items()] == expected and tail.nbytes == len(tail.ndjson())
    assert bytes(head.ndjson()) == bytes(whole.split(2)[0].ndjson())  # the piece it was cut from is untouched


def test_a_bulk_body_of_deflated_runs_items_and_pieces_is_the_ndjson_of_its_entries() -> None:
    head, tail = run(6, sequence="3000", deflated=True).split(2)
    entries: list[DocumentRun | object] = [
        run(5, deflated=True), *items(2), run(3, sequence="2001"), run(4, sequence="2002", deflated=True),
        run(2, sequence="2003", deflated=True), head, *items(1, start=2), tail]
    request = rb.build(entries, lambda e: e, compress=True, level=1)  # type: ignore[arg-type]
    expected = rb.ndjson(run(5).items() + items(2) + run(3, sequence="2001").items()  # type: ignore[arg-type]
                         + run(4, sequence="2002").items() + run(2, sequence="2003").items()
                         + run(6, sequence="3000").items()[:2] + items(1, start=2)
                         + run(6, sequence="3000").items()[2:])
    assert gzip.decompress(request.body) == expected and request.raw_bytes == len(expected)


def _member(segments: list[bytes], crc: int, size: int) -> bytes:
    body = Segments(1)
    for segment in segments:
        body.add_segment(segment, crc, size)
    return body.finish()


def test_runs_deflated_as_a_group_give_their_documents_back_in_order_from_one_segment() -> None:
    plain = [run(3, sequence="2001"), run(5, first=2, sequence="2002"), run(1, sequence="2003")]
    grouped = group(run(3, sequence="2001"), run(5, first=2, sequence="2002"), run(1, sequence="2003"))
    assert all(r.lines == b"" and r.segment is None for r in grouped.runs)
    assert len(grouped) == 9 and rb.entry_bytes(grouped) == sum(r.nbytes for r in plain)
    assert inflate_segment(grouped.segment) == b"".join(bytes(r.ndjson()) for r in plain)
    received = pickle.loads(pickle.dumps(grouped, protocol=pickle.HIGHEST_PROTOCOL))
    assert received.segment == grouped.segment and all(r.lines == b"" for r in received.runs)
    assert [(i.id, i.body, i.source, i.index, i.dataset) for i in received.items()] == \
           [(i.id, i.body, i.source, i.index, i.dataset) for r in plain for i in r.items()]
    assert received.ndjson() == rb.ndjson(plain)  # type: ignore[arg-type]


def test_a_bulk_body_joins_a_groups_segment_between_runs_and_items() -> None:
    entries = [run(2, sequence="2000", deflated=True), group(run(3, sequence="2001"), run(4, sequence="2002")),
               *items(2), group(run(1, sequence="2003"), run(2, sequence="2004"))]
    request = rb.build(entries, lambda e: e, compress=True, level=1)  # type: ignore[arg-type]
    expected = rb.ndjson([run(2, sequence="2000"), run(3, sequence="2001"), run(4, sequence="2002"), *items(2),
                          run(1, sequence="2003"), run(2, sequence="2004")])  # type: ignore[list-item]
    assert gzip.decompress(request.body) == expected and request.raw_bytes == len(expected)
    assert list(rb.fitted(entries, 2, 1 << 20))[1] is entries[1]  # a group is never cut: a worker made it to fit
