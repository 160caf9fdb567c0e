"""The compiled record path for CloudTrail (`native/src/cloudtrail.rs`) against the Python parser it stands in
for: for every record, the bulk items (index, id, body, dataset, source) and the counters are the same byte
for byte whichever path parses it, and what it does not cover is left to the Python path whole.

The records: the benchmark corpus's CloudTrail records, Elastic's CloudTrail test cases wrapped in CloudWatch
Logs records, and seeded random records whose fields take values each step treats differently (absent,
null, empty, another type, nested, escaped, dates and addresses in every form). Each test also counts the
records the compiled path took, so that none passes by refusing everything.
"""

from __future__ import annotations

import base64
import copy
import gzip
import os
import random
from pathlib import Path
from typing import Any

import orjson
import pytest

from consumer import corpus, native_path
from parsers.cloudtrail_categories import CATEGORIES
from parsers.options import ParseOptions
from parsers.rules import DetectionRule, StreamParsing
from tests.unit.consumer.test_native_path import assert_same, both

if not native_path.available() and not os.environ.get("SECSTASH_NATIVE_OPTIONAL"):
    pytest.fail("secstash_native is not installed: run scripts/setup.sh (or set SECSTASH_NATIVE_OPTIONAL=1 to "
                "run without the compiled record path)", pytrace=False)
pytestmark = pytest.mark.skipif(not native_path.available(), reason="secstash_native is not installed")

SHARED = Path(__file__).resolve().parents[4] / "shared"
GEOIP = SHARED / "reference" / "geoip"
FIXTURES = SHARED / "fixtures" / "elastic-aws" / "cloudtrail"
needs_geoip = pytest.mark.skipif(not (GEOIP / "GeoLite2-City-Test.mmdb").is_file(), reason="no MaxMind test databases")

GROUP = "aws-cloudtrail-logs-123456789012-org"  # a default rule gives it to cloudtrail
STREAM = "security"


def cwl_record(messages: list[str], rng: random.Random | None = None, *, group: str = GROUP,
               owner: object = "123456789012", stream: str = "123456789012_CloudTrail_us-east-1") -> bytes:
    events = []
    for n, message in enumerate(messages):
        event: dict[str, object] = {"id": f"3{n:035d}", "timestamp": 1_793_491_206_474, "message": message}
        if rng is not None:
            event["id"] = rng.choice([event["id"], "", None, "idé\""])
            event["timestamp"] = rng.choice([1_793_491_206_474, 1_793_491_206_474, 0, None, 3_999_999_999_999,
                                             4_000_000_000_001])
            if event["timestamp"] is None and rng.random() < 0.5:
                del event["timestamp"]
        events.append(event)
    envelope: dict[str, object] = {"messageType": "DATA_MESSAGE", "owner": owner, "logGroup": group,
                                   "logStream": stream, "subscriptionFilters": ["secstash"], "logEvents": events}
    if rng is not None and rng.random() < 0.1:
        envelope["owner"] = rng.choice(["", None, "999999999999"])
    text = orjson.dumps(envelope)
    if rng is not None and rng.random() < 0.3:
        text = text.replace(b"/", b"\\/")  # escapes: the strings are no longer spans of the record
    return gzip.compress(text, mtime=0)


def wire(data: bytes, number: int = 0, arrival_ms: int = 1_793_491_200_000) -> list:
    return [str(49_650_000_000_000_000_000_000_000_000_000_000_000_000_000 + number), number % 3, arrival_ms,
            "pk", base64.b64encode(data).decode("ascii")]


def parsing(**overrides: object) -> StreamParsing:
    values: dict[str, object] = {"stream": STREAM}
    values.update(overrides)
    return StreamParsing(**values)  # type: ignore[arg-type]


def corpus_events(count: int, seed: int) -> list[dict[str, Any]]:
    gen = corpus.Generator(seed)
    return [gen.cloudtrail() for _ in range(count)]


def message(event: dict[str, Any]) -> str:
    return orjson.dumps(event).decode()


def test_the_categories_table_is_pythons() -> None:
    import secstash_native

    compiled = {name: (tuple(category), tuple(types)) for name, category, types in secstash_native.cloudtrail_categories()}
    assert compiled == CATEGORIES


@pytest.mark.parametrize("geoip", [False, pytest.param(True, marks=needs_geoip)])
def test_corpus_cloudtrail_records_with_user_agents_and_geoip(geoip: bool) -> None:
    events = corpus_events(1_200, seed=21)
    rng = random.Random(21)
    for event in events:  # addresses of the networks MaxMind's test databases know, and some others
        if "." in event["sourceIPAddress"] and rng.random() < 0.8:
            network = rng.choice(["89.160.20", "81.2.69", "216.160.83", "2.125.160", "175.16.199", "10.1.2"])
            event["sourceIPAddress"] = f"{network}.{rng.randrange(1, 255)}"
    records = [wire(cwl_record([message(e) for e in events[i:i + 6]]), i) for i in range(0, len(events), 6)]
    options = ParseOptions(geoip_dir=str(GEOIP) if geoip else None, keep_original=geoip)
    python, native = both(records, parsing(), options)
    assert native.native_records == len(records)
    if geoip:
        assert sum(b'"geo":' in item.body for item in native.items) > 100
    assert_same(python, native)


def fixture_lines() -> list[str]:
    return [line for path in sorted(FIXTURES.glob("*/test-*.log")) for line in path.read_text().splitlines()
            if line.strip()]


@pytest.mark.parametrize("geoip", [False, pytest.param(True, marks=needs_geoip)])
def test_elastic_test_cases_in_cloudwatch_logs_records(geoip: bool) -> None:
    lines = fixture_lines()
    if not lines:
        pytest.skip("Elastic's CloudTrail test cases not found")
    records = [wire(cwl_record([line]), n) for n, line in enumerate(lines)]
    python, native = both(records, parsing(), ParseOptions(geoip_dir=str(GEOIP) if geoip else None))
    refused = sum(1 for line in lines if any(key in line for key in ('"digestS3Object"', '"insightDetails"',
                                                                     '"preview"')) or "." in _numbers(line))
    assert native.native_records >= len(lines) - refused - 2
    assert_same(python, native)


def _numbers(line: str) -> str:
    """The record's float renderings, if any (the compiled path refuses floats)."""
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, float):
            found.append(repr(value))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(orjson.loads(line))
    return "".join(found)


# Values each step reads its own way: absent, null, empty, other types, nesting, escapes, non-ASCII.
ODD = [None, "", {}, [], [None, ""], {"a": None}, 0, -1, 9_223_372_036_854_775_807, 18_446_744_073_709_551_615, True,
       False, "x", 'quo"te', "back\\slash", "ctl\x01", "é", "日本", "\u2028", "No", "Yes", "ConsoleLogin",
       ["a", "b"], {"k": "v", "n": 1}, {"k": {"deep": [1, {"x": "y"}]}}, [{"a": 1}, {"a": 1}], 1.5]
DATES = ["2024-10-30T20:01:59Z", "2024-10-30T20:01:59.123456Z", "2024-10-30T20:01:59,5+05:30", "2024-10-30",
         "2024-10-30T20", "2024-10-30T20:01", "2024-02-30T00:00:00Z", "2024-10-30T24:00:00Z", "20241030T200159Z",
         "2024-10-30T20:01:59.1234567891Z", "2024-10-30T20:01:59-0800", "2024-10-30T20:01:59+99:99",
         "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "1969-12-31T23:59:59Z", "", None, 5]
ADDRESSES = ["89.160.20.128", "81.2.69.160", "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "::ffff:89.160.20.128",
             "10.0.0.1", "ssm.amazonaws.com", "AWS Internal", "1.2.3", "01.2.3.4", "fe80::1%eth0", "", None, 5,
             "cafe", "::", "1::2::3"]
AGENTS = ["aws-cli/2.13.0 Python/3.11.4 Linux/5.15 exe/x86_64.amzn.2", "console.amazonaws.com",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
          "", None, 5, {"a": 1}, "x" * 2_000]
NAMES = ["ConsoleLogin", "UserAuthentication", "CreateUser", "AssumeRole", "Converse", "GetObject", "", None, 7,
         ["ConsoleLogin"], {"n": "ConsoleLogin"}]
IDENTITY_TYPES = ["IAMUser", "AssumedRole", "Root", "AWSService", "IdentityCenterUser", "FederatedUser", "", None]
PATHS = [
    ("eventTime",), ("eventName",), ("eventSource",), ("eventID",), ("awsRegion",), ("sourceIPAddress",),
    ("userAgent",), ("errorCode",), ("errorMessage",), ("eventVersion",), ("eventCategory",), ("readOnly",),
    ("requestID",), ("sharedEventId",), ("vpcEndpointId",), ("sessionCredentialFromConsole",),
    ("userIdentity",), ("userIdentity", "type"), ("userIdentity", "userName"), ("userIdentity", "principalId"),
    ("userIdentity", "accountId"), ("userIdentity", "arn"), ("userIdentity", "invokedBy"),
    ("userIdentity", "onBehalfOf"), ("userIdentity", "onBehalfOf", "userId"),
    ("userIdentity", "sessionContext"), ("userIdentity", "sessionContext", "attributes", "creationDate"),
    ("userIdentity", "sessionContext", "attributes", "mfaAuthenticated"),
    ("userIdentity", "sessionContext", "sessionIssuer", "userName"),
    ("userIdentity", "sessionContext", "sessionIssuer", "type"),
    ("requestParameters",), ("requestParameters", "userName"), ("requestParameters", "newUserName"),
    ("requestParameters", "groupName"), ("responseElements",), ("responseElements", "ConsoleLogin"),
    ("responseElements", "user", "userId"), ("responseElements", "group", "groupId"),
    ("additionalEventData",), ("additionalEventData", "MobileVersion"), ("additionalEventData", "MFAUsed"),
    ("additionalEventData", "LoginTo"), ("additionalEventData", "UserName"), ("serviceEventDetails",),
    ("resources",), ("tlsDetails",), ("tlsDetails", "tlsVersion"), ("tlsDetails", "cipherSuite"),
    ("tlsDetails", "clientProvidedHostHeader"),
]


def _set(event: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = event
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    if value is _ABSENT:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value


_ABSENT = object()


def _value_for(rng: random.Random, path: tuple[str, ...]) -> Any:
    last = path[-1]
    choices: list[Any] = ODD
    if last in ("eventTime", "creationDate"):
        choices = DATES
    elif last == "sourceIPAddress":
        choices = ADDRESSES
    elif last == "userAgent":
        choices = AGENTS
    elif last == "eventName":
        choices = NAMES
    elif last == "type" and path[0] == "userIdentity":
        choices = IDENTITY_TYPES
    elif last == "tlsVersion":
        choices = ["TLSv1.2", "TLSv1.3", "v", "TLS1.2", "Tv", "ÉTLSv1", *ODD]
    elif last == "resources":
        choices = [[{"ARN": "arn:aws:s3:::b", "accountId": "1", "type": "AWS::S3::Bucket"},
                    {"type": "AWS::S3::Object", "ARN": "arn:aws:s3:::b/k"}, {"arn": "x", "ARN": "y"},
                    {"ARN": "arn:aws:s3:::b", "accountId": "1", "type": "AWS::S3::Bucket", "extra": ""}, "skip",
                    {}, {"ARN": 5}, {"ARN": None, "type": "AWS::S3::Bucket"}, {"accountId": [None], "type": None}],
                   [{"ARN": f"arn:aws:iam::1:role/r{n}", "type": "AWS::IAM::Role"} for n in range(12)],
                   *ODD]
    elif last in ("requestParameters", "responseElements", "additionalEventData", "serviceEventDetails"):
        choices = [{"k": "v", "list": [1, "a", None, {"x": ""}], "flag": True, "n": -5, "nested": {"a": {"b": "c"}}},
                   {"policyDocument": '{"Version":"2012-10-17"}', "userName": "alice@example.com"},
                   {f"key{n}": n for n in range(20)}, {"x" * 40: "y", "text": "z" * 40_000}, *ODD]
    # A copy: a later path may go through this value and set a member in it.
    return _ABSENT if rng.random() < 0.1 else copy.deepcopy(rng.choice(choices))


def fuzzed(rng: random.Random, base: dict[str, Any]) -> dict[str, Any]:
    event = copy.deepcopy(base)
    for _ in range(rng.choice([0, 1, 1, 2, 3, 5])):
        path = rng.choice(PATHS)
        _set(event, path, _value_for(rng, path))
    return event


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_random_fields(seed: int) -> None:
    rng = random.Random(seed)
    bases = corpus_events(200, seed) + [orjson.loads(line) for line in fixture_lines()]
    records = []
    for n in range(400):
        messages = [message(fuzzed(rng, rng.choice(bases))) for _ in range(rng.choice([1, 1, 2, 3]))]
        records.append(wire(cwl_record(messages, rng), n))
    options = ParseOptions(keep_original=seed % 2 == 0, geoip_dir=str(GEOIP) if seed > 2 else None)
    stream_parsing = parsing(labels=(("env", "prod"),), namespace="prod") if seed == 3 else parsing()
    python, native = both(records, stream_parsing, options)
    assert native.native_records > 80  # the generator reaches the compiled path, not only the fallback
    assert_same(python, native)


@pytest.mark.parametrize("odd", ["digest", "insight", "splunk", "float", "blank", "not_json", "array", "deep",
                                 "big_number"])
def test_a_record_with_one_event_it_does_not_cover_goes_to_python_whole(odd: str) -> None:
    event = corpus_events(1, seed=9)[0]
    other = {
        "digest": message({"awsAccountId": "1", "digestStartTime": "2024-01-01T00:00:00Z", "digestS3Object": "k"}),
        "insight": message({**event, "eventType": "AwsCloudTrailInsight", "insightDetails": {"state": "Start"}}),
        "splunk": message({"preview": False, "result": {"_raw": message(event)}}),
        "float": message({**event, "requestParameters": {"ratio": 0.5}}),
        "blank": "   ",
        "not_json": "{not json",
        "array": "[1, 2]",
        "deep": message({**event, "requestParameters": _nested(210)}),
        "big_number": message(event)[:-1] + ', "n": 123456789012345678901234567890}',
    }[odd]
    records = [wire(cwl_record([message(event), other]), 0), wire(cwl_record([message(event)]), 1)]
    python, native = both(records, parsing())
    assert native.native_records == 1  # the record of the covered event alone
    assert_same(python, native)


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": "x"}
    for _ in range(depth):
        value = {"a": value}
    return value


def test_a_stream_forced_to_cloudtrail_takes_it_whatever_the_group() -> None:
    events = corpus_events(20, seed=4)
    records = [wire(cwl_record([message(e)], group="anything"), n) for n, e in enumerate(events)]
    python, native = both(records, parsing(dataset="cloudtrail"))
    assert native.native_records == len(records)
    assert_same(python, native)


def test_vpcflow_and_cloudtrail_records_of_one_stream_each_take_their_writer() -> None:
    flow = "2 123456789012 eni-1 10.0.0.1 10.0.0.2 443 1000 6 10 840 1431280876 1431280934 ACCEPT OK"
    events = corpus_events(10, seed=6)
    records = [wire(cwl_record([flow], group="/vpc/flow-logs/prod", stream="eni-1-all"), 0),
               wire(cwl_record([message(e) for e in events]), 1),
               wire(cwl_record([message(events[0])], group="/other/group"), 2)]
    stream_parsing = parsing(detection=(DetectionRule("vpcflow", log_group="/vpc/flow-logs/*"),),
                             namespace="prod")
    python, native = both(records, stream_parsing)
    assert native.native_records == 2
    assert_same(python, native)


def test_a_rule_giving_cloudtrail_groups_to_another_dataset_keeps_them_from_this_path() -> None:
    events = corpus_events(5, seed=8)
    stream_parsing = parsing(detection=(DetectionRule("cloudwatch_logs", log_group="aws-cloudtrail-logs-*"),))
    python, native = both([wire(cwl_record([message(e) for e in events]))], stream_parsing)
    assert native.native_records == 0
    assert_same(python, native)
