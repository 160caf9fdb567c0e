"""Items packed into DocumentRuns (`tests.support.runs.pack`) give back the same items and bulk lines."""

from __future__ import annotations

import orjson

from sinks.batch import BulkItem, DocumentRun, Source, as_items
from sinks.search.request_builder import action_prefix, ndjson
from tests.support.runs import pack


def item(ordinal: int | None, *, index: str = "logs-aws.cloudtrail-default", dataset: str = "cloudtrail",
         id_: str | None = None, body: bytes | None = None) -> BulkItem:
    return BulkItem(index, id_ or f"A{ordinal or 0:019d}", body or orjson.dumps({"n": ordinal, "s": "é\n"}),
                    dataset, Source("stream-a", "shardId-000000000001", "49650000000000000000000000001", 2, ordinal))


def kinds(entries: list) -> list[tuple[str, int]]:
    return [("run", len(e)) if isinstance(e, DocumentRun) else ("item", 1) for e in entries]


def test_consecutive_events_of_one_index_become_one_run_that_gives_the_items_back() -> None:
    items = [item(n) for n in range(3, 9)]
    packed = pack(items, action_prefix)
    assert kinds(packed) == [("run", 6)]
    assert as_items(packed) == items
    assert ndjson(packed) == ndjson(items)


def test_a_gap_another_index_or_dataset_or_an_id_json_would_escape_breaks_the_run() -> None:
    items = [item(0), item(1), item(3), item(4, index="logs-aws.vpcflow-default"), item(5, dataset="other"),
             item(6, id_='q"' + "x" * 18), item(7), item(8, body=b'{"n":8}\n'), item(None), item(9), item(9)]
    packed = pack(items, action_prefix)
    assert kinds(packed) == [("run", 2), ("run", 1), ("run", 1), ("run", 1), ("item", 1), ("run", 1), ("item", 1),
                             ("item", 1), ("run", 1), ("run", 1)]
    assert as_items(packed) == items
    assert ndjson(packed) == ndjson(items)


def test_a_run_pickled_across_the_pool_comes_back_equal_and_still_splits_and_gives_its_items() -> None:
    import pickle

    [run] = pack([item(n) for n in range(3, 9)], action_prefix)
    back = pickle.loads(pickle.dumps(run, protocol=4))
    assert back == run and back.first == 3 and back.lines == run.lines
    head, tail = back.split(2)
    assert as_items([head, tail]) == [item(n) for n in range(3, 9)]
