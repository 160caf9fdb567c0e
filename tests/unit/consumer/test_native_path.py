"""The compiled record path (`consumer.native_path`, `native/`) against the Python parsers it stands in for:
for every record, the bulk items (index, id, body, dataset, source) and the counters are the same byte for
byte whichever path parses it, and records it does not cover are left to the Python path.

The records are generated: the benchmark's corpus, Elastic's VPC Flow test cases wrapped in CloudWatch Logs
records, and seeded random records whose every field is drawn from values each conversion treats
differently (absent, signed, out of range, not an address, escaped in JSON, ...).
"""

from __future__ import annotations

import base64
import gzip
import os
import pickle
import random
from pathlib import Path

import orjson
import pytest

from consumer import corpus, native_path
from consumer.pool import IndexNaming, Parsed, WorkerConfig, parse_chunk, parse_in_worker
from parsers.options import ParseOptions
from parsers.rules import DetectionRule, FilterRule, StreamParsing
from sinks.batch import as_items
from sinks.search.request_builder import ndjson

if not native_path.available() and not os.environ.get("SECSTASH_NATIVE_OPTIONAL"):
    pytest.fail("secstash_native is not installed: run scripts/setup.sh (or set SECSTASH_NATIVE_OPTIONAL=1 to "
                "run without the compiled record path)", pytrace=False)
pytestmark = pytest.mark.skipif(not native_path.available(), reason="secstash_native is not installed")

SHARED = Path(__file__).resolve().parents[4] / "shared"
GEOIP = SHARED / "reference" / "geoip"
FIXTURES = SHARED / "fixtures" / "elastic-aws" / "vpcflow"
needs_geoip = pytest.mark.skipif(not (GEOIP / "GeoLite2-City-Test.mmdb").is_file(), reason="no MaxMind test databases")

GROUP = "/vpc/flow-logs/prod"
STREAM = "security"
SHARD = "shardId-000000000007"
def names(text: str) -> list[str]:
    return text.split(" ")


V2 = names("version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action "
      "log-status")
V5 = V2 + names("vpc-id subnet-id instance-id tcp-flags type pkt-srcaddr pkt-dstaddr region az-id sublocation-type "
           "sublocation-id pkt-src-aws-service pkt-dst-aws-service flow-direction traffic-path")
V7 = V5 + names("ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id ecs-container-id "
           "ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id")
V8 = V7 + ["reject-reason"]
TGW = names("version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id "
       "tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id "
       "tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end "
       "log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded "
       "packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service")
CUSTOM = ["srcaddr", "dstaddr", "protocol", "ecs-service-name", "flow-direction", "reject-reason", "start", "end",
          "action", "srcport", "dstport", "region", "tcp-flags", "sublocation-id"]

ADDRESSES = ["10.0.0.1", "89.160.20.128", "89.160.20.156", "2.125.160.216", "216.160.83.56", "81.2.69.160",
             "2001:218::1", "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "::ffff:89.160.20.128", "::ffff:10.0.0.1",
             "::", "0.0.0.0", "255.255.255.255", "1.2.3", "01.2.3.4", "fe80::1%eth0", "1::2::3", "not-an-ip",
             "-", "", "172.31.16.139", "2600:1f18:abcd::1", "1.128.0.0"]
PORTS = ["0", "22", "443", "65535", "65536", "-1", "+5", "007", "2147483647", "2147483648", "abc", "-", ""]
PROTOCOLS = ["1", "6", "17", "58", "132", "0", "47", "254", "255", "256", "-1", "+6", "abc", "-", ""]
COUNTS = ["0", "1", "9223372036854775807", "9223372036854775808", "-9223372036854775808", "-5", "+5", "1e3",
          "12345678901234567890123", "-", ""]
EPOCHS = ["1431280876", "1477913820", "0", "000000000012", "253402300799", "253402300800", "1431280876.5",
          "-5", "-", "", "abc", "99999999999999", "1e9"]
FLAGS = ["0", "2", "18", "19", "63", "4294967295", "4294967296", "-1", "abc", "-"]
WORDS = ["ACCEPT", "REJECT", "OK", "NODATA", "SKIPDATA", "-", "", "x", "eni-1235b8ca123456789", "vpc-0a1b",
         "i-0abc", "us-east-1", "use1-az5", "ingress", "egress", "AMAZON", "arn:aws:ecs:us-east-1:1:cluster/c",
         'quo"te', "back\\slash", "tab\there", "ctl\x01\x1f", "é", "日本", "\u2028", "123456789012"]
VALUES = {"srcaddr": ADDRESSES, "dstaddr": ADDRESSES, "pkt-srcaddr": ADDRESSES, "pkt-dstaddr": ADDRESSES,
          "srcport": PORTS, "dstport": PORTS, "protocol": PROTOCOLS, "packets": COUNTS, "bytes": COUNTS,
          "start": EPOCHS, "end": EPOCHS, "tcp-flags": FLAGS, "action": ["ACCEPT", "REJECT", "-", "weird", ""]}


def cwl_record(messages: list[str], rng: random.Random | None = None, *, group: str = GROUP, owner: object = "123456789012",
               stream: str = "eni-0a1b2c3d-all") -> bytes:
    """A CloudWatch Logs subscription record, varied (when `rng` is given) where Python and the compiled path
    read the envelope differently if at all: ids, timestamps, owners, escapes."""
    events = []
    for n, message in enumerate(messages):
        event: dict[str, object] = {"id": f"3{n:035d}", "timestamp": 1_793_491_206_474, "message": message}
        if rng is not None:
            event["id"] = rng.choice([event["id"], "", None, "idé\"", f"{n}"])
            event["timestamp"] = rng.choice([1_793_491_206_474, 0, None, 3_999_999_999_999, 4_000_000_000_001,
                                             253_402_300_799_999])
            if event["id"] is None and rng.random() < 0.5:
                del event["id"]
        events.append(event)
    envelope: dict[str, object] = {"messageType": "DATA_MESSAGE", "owner": owner, "logGroup": group,
                                   "logStream": stream, "subscriptionFilters": ["secstash"], "logEvents": events}
    if rng is not None and rng.random() < 0.1:
        del envelope["owner"]
    text = orjson.dumps(envelope)
    if rng is not None and rng.random() < 0.3:
        text = text.replace(b"/", b"\\/")  # the same JSON with escapes: the strings are no longer spans
    return gzip.compress(text, mtime=0)


def wire(data: bytes, number: int = 0, arrival_ms: int = 1_793_491_200_000) -> list:
    return [str(49_650_000_000_000_000_000_000_000_000_000_000_000_000_000 + number), number % 3, arrival_ms,
            "pk", base64.b64encode(data).decode("ascii")]


def parsing(**overrides: object) -> StreamParsing:
    values: dict[str, object] = {"stream": STREAM, "detection": (DetectionRule("vpcflow", log_group="/vpc/flow-logs/*"),)}
    values.update(overrides)
    return StreamParsing(**values)  # type: ignore[arg-type]


def both(records: list[list], stream_parsing: StreamParsing, options: ParseOptions | None = None,
         naming: IndexNaming | None = None) -> tuple[Parsed, Parsed]:
    """The records through the Python parsers, and through a worker with the compiled path and the pipe."""
    options, naming = options or ParseOptions(), naming or IndexNaming()
    python = WorkerConfig({STREAM: stream_parsing}, options, naming, native_records=False)
    native = WorkerConfig({STREAM: stream_parsing}, options, naming)
    via_worker = pickle.loads(pickle.dumps(parse_in_worker(STREAM, SHARD, records, native)))
    by_python = parse_chunk(STREAM, SHARD, records, python)
    # What reaches the search sink: the runs whole. Its bulk body must be the Python path's, byte for byte, and
    # so must the items a retry or a dead letter makes from them (which the tests compare).
    entries = via_worker.take_entries()
    assert ndjson(entries) == ndjson(by_python.items)
    via_worker.items = as_items(entries)
    return by_python, via_worker


def assert_same(python: Parsed, native: Parsed) -> None:
    def items(parsed: Parsed) -> list[tuple]:
        return [(i.index, i.id, i.body, i.dataset, i.source) for i in parsed.items]

    assert not native.runs
    for a, b in zip(items(python), items(native)):
        assert a == b  # the first difference, whole
    assert items(python) == items(native)
    assert [(d.reason, d.raw, d.source) for d in python.dead_letters] == \
           [(d.reason, d.raw, d.source) for d in native.dead_letters]
    assert (python.events, python.documents, python.dropped, python.failures, python.event_count) == \
           (native.events, native.documents, native.dropped, native.failures, native.event_count)


def random_line(rng: random.Random, names: list[str]) -> str:
    """Mostly the first (usual) values of each field's list, else any: one odd field is enough to make a whole
    record the Python path's, and the compiled path must see many records too."""
    def value(name: str) -> str:
        values = VALUES.get(name, WORDS)
        return rng.choice(values[:4] if rng.random() < 0.85 else values)
    return " ".join(value(name) for name in names)


def test_the_corpus_takes_the_compiled_path_and_makes_the_same_items() -> None:
    load = list(corpus.records(3_000, seed=5, mix=corpus.BENCH_MIX))
    records = [wire(r.data, n, 1_793_491_200_000 + n) for n, r in enumerate(load)]
    python, native = both(records, corpus.stream_parsing(STREAM))
    covered = [r.dataset for r in load if r.dataset in (*native_path.COVERED, native_path.ELB)]
    assert native.native_records == len(covered)
    assert all(covered.count(dataset) > 20 for dataset in ("vpcflow", "cloudtrail", "elb_logs"))
    assert python.native_records == 0
    assert_same(python, native)


@needs_geoip
def test_geoip_fields_are_the_same_including_networks_the_cache_already_holds() -> None:
    rng = random.Random(11)
    lines = []
    for _ in range(3_000):  # addresses of few networks, so most lookups are answered from the cache
        a = f"{rng.choice([2, 81, 89, 175, 216])}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        b = rng.choice(ADDRESSES[:12]) if rng.random() < 0.3 else f"2001:{rng.randrange(0x200, 0x230):x}::{rng.randrange(1, 9)}"
        lines.append(f"2 123456789012 eni-1 {a} {b} 443 {rng.randrange(1, 65535)} 6 10 840 1431280876 1431280934 ACCEPT OK")
    records = [wire(cwl_record(lines[i:i + 50]), i) for i in range(0, len(lines), 50)]
    python, native = both(records, parsing(), ParseOptions(geoip_dir=str(GEOIP)))
    assert native.native_records == len(records)
    assert sum(b'"geo":' in item.body for item in native.items) > 100
    assert_same(python, native)


@pytest.mark.parametrize("geoip", [False, pytest.param(True, marks=needs_geoip)])
def test_elastic_test_cases_in_cloudwatch_logs_records(geoip: bool) -> None:
    lines = [line for path in sorted(FIXTURES.glob("*/test-*.log")) for line in path.read_text().splitlines() if line]
    if not lines:
        pytest.skip("Elastic's VPC Flow test cases not found")
    records = [wire(cwl_record([line]), n) for n, line in enumerate(lines)]
    python, native = both(records, parsing(), ParseOptions(geoip_dir=str(GEOIP) if geoip else None))
    assert native.native_records >= len(lines) - 2  # all but the JSON-wrapped line (and a header, if any)
    assert_same(python, native)


@pytest.mark.parametrize("names", [V2, V5, V7, V8, TGW], ids=["v2", "v5", "v7", "v8", "tgw"])
def test_random_fields_in_every_built_in_format(names: list[str]) -> None:
    rng = random.Random(len(names))
    records = [wire(cwl_record([random_line(rng, names) for _ in range(rng.randrange(1, 6))], rng), n)
               for n in range(300)]
    python, native = both(records, parsing(), ParseOptions(keep_original=len(names) % 2 == 0))
    assert native.native_records > 30  # the generator reaches the compiled path, not only the fallback
    assert_same(python, native)


def test_a_rules_custom_format_with_renamed_and_nested_fields() -> None:
    rng = random.Random(3)
    fmt = " ".join(f"${{{name}}}" for name in CUSTOM)
    stream_parsing = parsing(detection=(DetectionRule("vpcflow", log_group="/vpc/flow-logs/*", vpcflow_format=fmt),),
                             labels=(("env", "prod"), ("team", "sec\"ops")), namespace="prod")
    records = [wire(cwl_record([random_line(rng, CUSTOM) for _ in range(4)], rng), n) for n in range(300)]
    records.append(wire(cwl_record([" ".join(CUSTOM)] + [random_line(rng, CUSTOM)]), 301))  # its header line
    python, native = both(records, stream_parsing)
    assert native.native_records > 30
    assert_same(python, native)


@pytest.mark.parametrize("fmt", ["${srcaddr} ${srcaddr} ${dstaddr}", "${} ${srcaddr}", "${srcaddr}\t${dstaddr}", "",
                                 "${version} ${account-id} ${interface-id}"])
def test_format_strings_the_compiled_path_does_not_read_the_same_are_left_to_python(fmt: str) -> None:
    rng = random.Random(7)
    stream_parsing = parsing(vpcflow_format=fmt)
    records = [wire(cwl_record([random_line(rng, rng.choice([V2, V5, V2[:3], V2[:2]])) for _ in range(3)]), n)
               for n in range(60)]
    assert_same(*both(records, stream_parsing))


@pytest.mark.parametrize("case", ["header", "wrapped", "unknown_format", "control", "plain_json", "two_members",
                                  "trailing", "foreign_key", "too_many_events", "over_cap", "not_claimed",
                                  "empty", "late_arrival"])
def test_records_it_does_not_cover_take_the_python_path(case: str) -> None:
    line = "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 1000 6 10 840 1431280876 1431280934 ACCEPT OK"
    options, arrival = ParseOptions(), 1_793_491_200_000
    data = cwl_record([line, line])
    if case == "header":
        data = cwl_record([" ".join(V2), line])
    elif case == "wrapped":
        data = cwl_record([orjson.dumps({"message": line}).decode(), line])
    elif case == "unknown_format":
        data = cwl_record([line + " extra", line])
    elif case == "control":
        data = gzip.compress(orjson.dumps({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs",
                                           "logGroup": "", "logStream": "", "logEvents": []}))
    elif case == "plain_json":
        data = gzip.decompress(data)
    elif case == "two_members":
        data = data + cwl_record([line])
    elif case == "trailing":
        data = data + b"\x00"
    elif case == "foreign_key":
        envelope = orjson.loads(gzip.decompress(data))
        data = gzip.compress(orjson.dumps({**envelope, "Type": "Notification", "TopicArn": "arn:aws:sns:x"}))
    elif case == "too_many_events":
        data, options = cwl_record([line] * 1_001), ParseOptions(max_events_per_object=1_000)
    elif case == "over_cap":
        options = ParseOptions(max_decompressed_bytes=len(gzip.decompress(data)) - 1)
    elif case == "not_claimed":
        data = cwl_record([line], group="/other/group")
    elif case == "empty":
        data = cwl_record([])
    elif case == "late_arrival":
        arrival = 4_000_000_000_000  # event.ingested past what the compiled path renders
    records = [wire(data, 0, arrival)]
    python, native = both(records, parsing(), options)
    assert native.native_records == 0
    assert_same(python, native)


@pytest.mark.parametrize("overrides", [
    {"filters": (FilterRule("drop", conditions=()),)},
    {"dataset": "cloudwatch_logs"},
    {"detection": ()},
    {"detection": (DetectionRule("eventbridge", log_group="/vpc/flow-logs/*"),)},
], ids=["filters", "another_forced_dataset", "no_rule", "eventbridge_rule"])
def test_streams_whose_settings_it_does_not_cover_take_the_python_path(overrides: dict) -> None:
    line = "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 1000 6 10 840 1431280876 1431280934 ACCEPT OK"
    python, native = both([wire(cwl_record([line]))], parsing(**overrides))
    assert native.native_records == 0
    assert_same(python, native)


def test_a_stream_forced_to_vpcflow_takes_it_whatever_the_group() -> None:
    line = "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 1000 6 10 840 1431280876 1431280934 ACCEPT OK"
    python, native = both([wire(cwl_record([line], group="anything"))], parsing(dataset="vpcflow", detection=()))
    assert native.native_records == 1
    assert_same(python, native)


def test_dated_indices_take_the_python_path() -> None:
    line = "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 1000 6 10 840 1431280876 1431280934 ACCEPT OK"
    python, native = both([wire(cwl_record([line]))], parsing(), naming=IndexNaming("secstash-{dataset}-{date}"))
    assert native.native_records == 0
    assert_same(python, native)


def test_turned_off_every_record_takes_the_python_path() -> None:
    line = "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 1000 6 10 840 1431280876 1431280934 ACCEPT OK"
    config = WorkerConfig({STREAM: parsing()}, ParseOptions(), native_records=False)
    assert parse_in_worker(STREAM, SHARD, [wire(cwl_record([line]))], config).native_records == 0


def test_items_keep_record_order_across_both_paths_and_merges() -> None:
    flow = "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 1000 6 10 840 1431280876 1431280934 ACCEPT OK"
    other = cwl_record(["{}"], group="/other/group")
    records = [wire(data, n) for n, data in enumerate([cwl_record([flow] * 3), other, cwl_record([flow]), other])]
    config = WorkerConfig({STREAM: parsing()}, ParseOptions())
    first, second = parse_in_worker(STREAM, SHARD, records[:2], config), parse_in_worker(STREAM, SHARD, records[2:], config)
    assert first.held() == 4 and second.held() == 2
    first.merge(second)
    first.expand_runs()
    assert [(i.source.sequence, i.source.ordinal, i.dataset) for i in first.items] == [
        (records[0][0], 0, "vpcflow"), (records[0][0], 1, "vpcflow"), (records[0][0], 2, "vpcflow"),
        (records[1][0], 0, "cloudwatch_logs"), (records[2][0], 0, "vpcflow"), (records[3][0], 0, "cloudwatch_logs")]


def test_a_chunk_stops_at_its_document_bound_counting_rendered_records() -> None:
    flow = "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 1000 6 10 840 1431280876 1431280934 ACCEPT OK"
    records = [wire(cwl_record([flow] * 60), n) for n in range(4)]
    config = WorkerConfig({STREAM: parsing()}, ParseOptions(), max_chunk_documents=100)
    parsed = parse_in_worker(STREAM, SHARD, records, config)
    assert (parsed.native_records, parsed.held(), len(parsed.deferred)) == (2, 120, 2)


def test_record_data_is_what_binascii_decodes_and_the_compiled_decoder_refuses_what_it_reads_otherwise() -> None:
    import binascii

    import secstash_native

    rng = random.Random(5)
    texts = [base64.b64encode(rng.randbytes(n)).decode("ascii") for n in (0, 1, 2, 3, 4, 57, 58, 59, 5000)]
    for text in texts:  # strict standard base64, as the KCL daemon sends it: the compiled decoder's
        assert secstash_native.record_data(text) == binascii.a2b_base64(text) == native_path.record_data(text)
    lenient = ["QR==", "QQ", "QQ=", "Q Q==", "QQ==\n", "QQ==QQ==", "-_8=", "QQ==" + "é", "====", "Q"]
    for text in lenient:  # what only the lenient decoder reads (or refuses) is left to it
        assert secstash_native.record_data(text) is None
        try:
            expected: bytes | type[Exception] = binascii.a2b_base64(text)
        except (binascii.Error, ValueError) as exc:
            expected = type(exc)
        if isinstance(expected, bytes):
            assert native_path.record_data(text) == expected
        else:
            with pytest.raises(expected):
                native_path.record_data(text)
    for _ in range(300):  # and any mix of the two: the same bytes whenever the compiled one accepts
        text = "".join(rng.choice("AQgw+/=\n -_Zz09") for _ in range(rng.randrange(0, 24)))
        fast = secstash_native.record_data(text)
        if fast is not None:
            assert fast == binascii.a2b_base64(text)
