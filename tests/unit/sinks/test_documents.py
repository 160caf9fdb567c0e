from __future__ import annotations

import re
import tracemalloc

import orjson

from parsers import ParseOptions
from parsers.outcome import Failure, ParsedDocument, RecordOutcome
from parsers.record import parse_record
from parsers.rules import StreamParsing
from sinks.batch import RawRecord
from sinks.documents import BulkItemBuilder, build_bulk_items, dead_letters_for, document_id

RECORD = RawRecord("49650000000000000000000000000000000000000000000000000010", 3, 1_700_000_000_123, "pk", "e30=")


def test_document_id_is_20_url_safe_characters_fixed_by_the_position():
    first = document_id("logs", "shardId-000000000001", "4965", 0, 1, 0)
    assert re.fullmatch(r"[A-Za-z0-9_-]{20}", first)
    assert first == document_id("logs", "shardId-000000000001", "4965", 0, 1, 0)
    others = {document_id("logs", "shardId-000000000001", "4965", 0, 1, 1),
              document_id("logs", "shardId-000000000001", "4965", 0, 2, 0),
              document_id("logs", "shardId-000000000001", "4965", 1, 1, 0),
              document_id("logs", "shardId-000000000002", "4965", 0, 1, 0),
              document_id("other", "shardId-000000000001", "4965", 0, 1, 0)}
    assert first not in others and len(others) == 5


def test_bulk_items_carry_arrival_time_as_event_ingested_and_go_to_the_named_index():
    doc = {"@timestamp": "2023-11-14T22:00:00.000Z", "event": {"action": "x"},
           "data_stream": {"type": "logs", "dataset": "aws.cloudtrail", "namespace": "prod"}}
    outcome = RecordOutcome(documents=[ParsedDocument("cloudtrail", "aws.cloudtrail", doc, 2, 1)])
    calls = []

    def index_for(event_dataset: str, namespace: str, timestamp: str | None = None) -> str:
        calls.append((event_dataset, namespace))
        return f"logs-{event_dataset}-{namespace}"

    (item,) = build_bulk_items("logs", "shardId-1", RECORD, outcome, index_for)
    assert calls == [("aws.cloudtrail", "prod")] and item.index == "logs-aws.cloudtrail-prod"
    assert orjson.loads(item.body)["event"] == {"action": "x", "ingested": "2023-11-14T22:13:20.123Z"}
    assert item.id == document_id("logs", "shardId-1", RECORD.sequence, 3, 2, 1)
    assert (item.dataset, item.source.ordinal, item.source.sub_sequence) == ("cloudtrail", 2, 3)


def parsed_bodies(data: bytes) -> list[dict]:
    """Documents of one raw record as the pipeline builds them: parsed, then through BulkItemBuilder."""
    builder = BulkItemBuilder("s", "shardId-1", RECORD, lambda dataset, namespace, _=None: f"logs-{dataset}-{namespace}")
    outcome = parse_record(data, StreamParsing(stream="s"), ParseOptions(), None, builder.add)
    assert not outcome.failures and not builder.failures
    return [orjson.loads(item.body) for item in builder.items]


def test_a_document_without_a_time_of_its_own_gets_the_arrival_time_as_timestamp():
    # Data streams refuse documents without @timestamp: a raw audit event (no CloudWatch envelope) and a
    # CloudTrail record whose eventTime does not parse give none from their parser.
    audit = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "a-1",
             "stage": "ResponseComplete", "requestURI": "/api/v1/pods", "verb": "list",
             "user": {"username": "admin"}, "sourceIPs": ["10.0.0.1"], "objectRef": {"resource": "pods"}}
    trail = {"Records": [{"eventVersion": "1.08", "eventTime": "not-a-date", "eventSource": "sts.amazonaws.com",
                          "eventName": "GetCallerIdentity", "awsRegion": "us-east-1",
                          "sourceIPAddress": "1.2.3.4", "userIdentity": {"type": "IAMUser"}}]}
    for raw, dataset in ((audit, "kubernetes.audit_logs"), (trail, "aws.cloudtrail")):
        (doc,) = parsed_bodies(orjson.dumps(raw))
        assert doc["event"]["dataset"] == dataset
        assert doc["@timestamp"] == doc["event"]["ingested"] == "2023-11-14T22:13:20.123Z"


def test_a_parsed_timestamp_is_kept():
    trail = {"Records": [{"eventVersion": "1.08", "eventTime": "2020-01-02T03:04:05Z",
                          "eventSource": "sts.amazonaws.com", "eventName": "GetCallerIdentity",
                          "awsRegion": "us-east-1", "sourceIPAddress": "1.2.3.4", "userIdentity": {"type": "IAMUser"}}]}
    (doc,) = parsed_bodies(orjson.dumps(trail))
    assert doc["@timestamp"].startswith("2020-01-02T03:04:05") and doc["event"]["ingested"] == "2023-11-14T22:13:20.123Z"


def test_the_same_outcome_gives_byte_identical_items():
    def outcome() -> RecordOutcome:
        return RecordOutcome(documents=[ParsedDocument("vpcflow", "aws.vpcflow", {"b": 1, "a": [1, 2]}, 0)])

    def index_for(dataset: str, namespace: str, timestamp: str | None = None) -> str:
        return f"logs-{dataset}-{namespace}"

    assert build_bulk_items("s", "h", RECORD, outcome(), index_for) == build_bulk_items("s", "h", RECORD, outcome(),
                                                                                        index_for)


def test_each_failure_becomes_a_parse_dead_letter_with_its_source():
    outcome = RecordOutcome(failures=[Failure("invalid_json", "not JSON", 4, "cloudtrail", "{oops")])
    (letter,) = dead_letters_for("logs", "shardId-1", RECORD, outcome)
    assert (letter.stage, letter.reason, letter.raw, letter.dataset) == ("parse", "invalid_json", "{oops", "cloudtrail")
    assert (letter.source.sequence, letter.source.sub_sequence, letter.source.ordinal) == (RECORD.sequence, 3, 4)


def test_bodies_hold_no_more_memory_than_their_bytes():
    # orjson keeps its growth buffer (several times the text) behind what dumps returns; a chunk holds
    # thousands of bodies, a large log object's round tens of thousands.
    doc = {"event": {"action": "x"}, "message": "m" * 2_000, "related": {"ip": ["10.0.0.1"] * 50}}
    outcome = RecordOutcome(documents=[ParsedDocument("cloudtrail", "aws.cloudtrail", dict(doc), n)
                                       for n in range(200)])
    tracemalloc.start()
    try:
        items = build_bulk_items("logs", "shardId-1", RECORD, outcome, lambda *_: "logs-x")
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    body_bytes = sum(len(item.body) for item in items)
    assert held < 2 * body_bytes, (held, body_bytes)


def builder_with(*parsed: ParsedDocument) -> BulkItemBuilder:
    builder = BulkItemBuilder("s", "shardId-1", RECORD, lambda dataset, namespace, _=None: f"logs-{dataset}-{namespace}")
    for document in parsed:
        builder.add(document)
    return builder


def doc(n: int, namespace: str = "default") -> dict:
    return {"@timestamp": "2023-11-14T22:00:00.000Z", "n": n, "message": "é\n\"",
            "data_stream": {"type": "logs", "dataset": "aws.vpcflow", "namespace": namespace}}


def test_documents_of_consecutive_events_of_one_index_are_written_into_one_run_of_bulk_lines():
    builder = builder_with(*(ParsedDocument("vpcflow", "aws.vpcflow", doc(n), n, 0) for n in range(4, 9)))
    [run] = builder.finish()
    assert (run.first, len(run), run.index, run.dataset) == (4, 5, "logs-aws.vpcflow-default", "vpcflow")
    assert builder.count == 5 and builder.produced == ["aws.vpcflow"] * 5
    lines = bytes(run.ndjson()).split(b"\n")
    assert lines[-1] == b"" and len(lines) == 11
    for k, n in enumerate(range(4, 9)):
        action, body = orjson.loads(lines[2 * k]), orjson.loads(lines[2 * k + 1])
        assert action == {"create": {"_index": "logs-aws.vpcflow-default",
                                     "_id": document_id("s", "shardId-1", RECORD.sequence, 3, n, 0)}}
        assert body["n"] == n and body["message"] == "é\n\"" and body["event"]["ingested"] == "2023-11-14T22:13:20.123Z"


def test_a_gap_a_second_part_another_index_or_dataset_starts_another_run_and_items_give_each_document_back():
    parsed = [ParsedDocument("vpcflow", "aws.vpcflow", doc(0), 0, 0), ParsedDocument("vpcflow", "aws.vpcflow", doc(1), 1, 0),
              ParsedDocument("vpcflow", "aws.vpcflow", doc(3), 3, 0),  # a gap: event 2 made no document
              ParsedDocument("vpcflow", "aws.vpcflow", doc(3), 3, 1),  # a second document of event 3
              ParsedDocument("vpcflow", "aws.vpcflow", doc(4, "prod"), 4, 0),  # another index
              ParsedDocument("other", "aws.vpcflow", doc(5, "prod"), 5, 0),  # another dataset
              ParsedDocument("other", "aws.vpcflow", doc(6, "prod"), 6, 0)]
    builder = builder_with(*parsed)
    assert [(run.first, len(run)) for run in builder.finish()] == [(0, 2), (3, 1), (3, 1), (4, 1), (5, 2)]
    items = builder.items
    assert [(i.source.ordinal, i.id, i.index, i.dataset) for i in items] == [
        (p.ordinal, document_id("s", "shardId-1", RECORD.sequence, 3, p.ordinal, p.part),
         f"logs-aws.vpcflow-{p.doc['data_stream']['namespace']}", p.dataset) for p in parsed]
    assert [orjson.loads(i.body)["n"] for i in items] == [0, 1, 3, 3, 4, 5, 6]
    assert builder.count == 7


def test_a_document_json_cannot_hold_is_a_failure_and_the_run_goes_on_around_it():
    too_big = {"n": 2**64}
    builder = builder_with(ParsedDocument("vpcflow", "aws.vpcflow", doc(0), 0, 0),
                           ParsedDocument("vpcflow", "aws.vpcflow", too_big, 1, 0),
                           ParsedDocument("vpcflow", "aws.vpcflow", doc(2), 2, 0))
    assert [f.reason for f in builder.failures] == ["unserialisable_document"] and builder.count == 2
    assert [(run.first, len(run)) for run in builder.finish()] == [(0, 1), (2, 1)]
