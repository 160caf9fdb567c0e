"""Bulk bodies: create actions with ids, bounded by count and bytes, gzip, request parameters."""

from __future__ import annotations

import gzip

import orjson

from sinks.batch import DocumentRun, documents_in
from sinks.search import request_builder as rb

from .fakes import item, items, run


def test_body_is_a_create_action_with_index_and_id_then_the_document_verbatim() -> None:
    body = rb.ndjson(items(2))
    lines = body.splitlines()
    assert orjson.loads(lines[0]) == {"create": {"_index": "logs-aws.cloudtrail-default", "_id": "id-000000"}}
    assert lines[1] == item(0).body and body.endswith(b"\n") and len(lines) == 4


def test_item_bytes_is_exactly_what_the_item_adds_to_a_body() -> None:
    for entry in (item(1), item(2, size=1000), item(3, index="secstash-aws.vpcflow-prod")):
        assert rb.item_bytes(entry) == len(rb.ndjson([entry]))


def test_chunks_respect_document_count_and_byte_bounds_and_keep_order() -> None:
    entries = items(23, size=100)
    chunks = list(rb.chunks(entries, rb.item_bytes, max_docs=5, max_bytes=10_000))
    assert [e for c in chunks for e in c] == entries
    assert all(len(c) <= 5 for c in chunks)
    chunks = list(rb.chunks(entries, rb.item_bytes, max_docs=100, max_bytes=700))
    assert all(sum(map(rb.item_bytes, c)) <= 700 for c in chunks) and len(chunks) > 1


def test_a_document_larger_than_the_byte_bound_goes_alone() -> None:
    entries = [item(0), item(1, size=5000), item(2)]
    assert [len(c) for c in rb.chunks(entries, rb.item_bytes, max_docs=10, max_bytes=1000)] == [1, 1, 1]


def test_compressed_request_is_gzip_and_counts_raw_bytes_before_compression() -> None:
    entries = items(50, size=200)
    request = rb.build(entries, lambda e: e, compress=True, level=1)
    assert gzip.decompress(request.body) == rb.ndjson(entries)
    assert request.raw_bytes == len(rb.ndjson(entries)) > len(request.body)
    assert request.headers["content-encoding"] == "gzip"
    plain = rb.build(entries, lambda e: e, compress=False)
    assert plain.body == rb.ndjson(entries) and "content-encoding" not in plain.headers


def test_params_name_the_pipeline_and_filter_the_reply() -> None:
    assert rb.params("_none") == {"filter_path": "errors,items.*.status,items.*.error", "pipeline": "_none"}
    assert "pipeline" not in rb.params(None)


def test_a_run_is_its_own_bulk_lines_and_as_many_bytes_as_its_items_would_make() -> None:
    whole = run(5, first=3)
    assert rb.ndjson([item(0), whole, item(1)]) == rb.ndjson([item(0), *whole.items(), item(1)])
    assert rb.entry_bytes(whole) == sum(rb.item_bytes(i) for i in whole.items()) == len(whole.ndjson())
    assert [i.source.ordinal for i in whole.items()] == [3, 4, 5, 6, 7]


def test_fitted_cuts_runs_to_the_bounds_and_keeps_every_document_in_order() -> None:
    one = len(run(1).ndjson())
    entries = [item(0), run(23), item(1), run(2, sequence="2001")]
    for max_docs, max_bytes in ((5, 10**6), (100, 3 * one), (4, 2 * one + 1), (1, 1)):
        pieces = list(rb.fitted(entries, max_docs, max_bytes))
        assert rb.ndjson(pieces) == rb.ndjson(entries)
        runs = [p for p in pieces if isinstance(p, DocumentRun)]
        assert all(len(p) <= max_docs and (len(p) == 1 or p.nbytes <= max_bytes) for p in runs)
        chunks = list(rb.chunks(pieces, rb.entry_bytes, max_docs, max(max_bytes, one), documents_in))
        assert all(sum(documents_in(e) for e in c) <= max_docs for c in chunks)
