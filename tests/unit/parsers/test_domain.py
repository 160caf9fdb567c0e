"""registered_domain the way Elasticsearch's processor reports it, quirks included."""

from __future__ import annotations

import pytest

from parsers.enrich.domain import registered_domain


@pytest.mark.parametrize(("fqdn", "expected"), [
    ("www.example.com", {"domain": "www.example.com", "registered_domain": "example.com",
                         "top_level_domain": "com", "subdomain": "www"}),
    ("test.com", {"domain": "test.com", "registered_domain": "test.com", "top_level_domain": "com"}),
    # a private-section suffix is itself the registered domain (httpclient's PublicSuffixMatcher)
    ("d111111abcdef8.cloudfront.net", {"domain": "d111111abcdef8.cloudfront.net", "registered_domain":
                                       "cloudfront.net", "top_level_domain": "net", "subdomain": "d111111abcdef8"}),
    # and the top level domain is the registered domain minus its first label, not the suffix
    ("x.s3.dualstack.us-east-1.amazonaws.com", {
        "domain": "x.s3.dualstack.us-east-1.amazonaws.com", "registered_domain": "s3.dualstack.us-east-1.amazonaws.com",
        "top_level_domain": "dualstack.us-east-1.amazonaws.com", "subdomain": "x"}),
    ("co.uk", {"top_level_domain": "co.uk"}),  # a public suffix alone
    ("a.b.example.co.uk", {"domain": "a.b.example.co.uk", "registered_domain": "example.co.uk",
                           "top_level_domain": "co.uk", "subdomain": "a.b"}),
])
def test_registered_domain_parts(fqdn, expected):
    assert registered_domain(fqdn) == expected


@pytest.mark.parametrize("fqdn", ["", ".example.com", "instance-data", "example.invalid", "1.2.3.4"])
def test_names_without_a_known_suffix_give_none(fqdn):
    assert registered_domain(fqdn) is None


def test_upper_case_names_match_but_keep_their_spelling():
    parts = registered_domain("WWW.Example.COM")
    assert parts["domain"] == "WWW.Example.COM" and parts["registered_domain"] == "example.com"
    assert "subdomain" not in parts  # Elasticsearch looks for the lower-cased root in the original text


def test_a_name_longer_than_dns_allows_is_answered_but_not_kept_alive_by_the_cache() -> None:
    import sys

    # The cache holds 65,536 answers: kept, 64 KiB names written into log lines would pin ~9 GiB per worker.
    name = "a" * 64 * 1024 + ".example.com"
    before = sys.getrefcount(name)
    parts = registered_domain(name)
    assert parts is not None and parts["registered_domain"] == "example.com" and parts["domain"] is name
    del parts
    assert sys.getrefcount(name) == before


@pytest.mark.parametrize(("fqdn", "registered", "subdomain"), [
    ("evil.com/x.example.org", "example.org", "evil.com/x"),
    ("evil.com#.example.org", "example.org", "evil.com#"),
    ("a?b.example.org", "example.org", "a?b"),
    ("x.evil.com:80.example.org", "example.org", "x.evil.com:80"),
    ("http://evil.com.example.org", "example.org", "http://evil.com"),
])
def test_a_name_is_split_at_dots_only_never_read_as_a_url(fqdn, registered, subdomain):
    # DNS query names are whatever their sender chose; tldextract's URL reading took the part before '/', '#',
    # ':' ... as the host (evil.com/x.example.org -> evil.com), where Elasticsearch matches the labels.
    parts = registered_domain(fqdn)
    assert parts["registered_domain"] == registered and parts["subdomain"] == subdomain


@pytest.mark.parametrize("fqdn", ["example.com:443", "www.example.com.", "user@example.com:8080"])
def test_a_last_label_that_is_no_suffix_gives_none(fqdn):
    # httpclient's matcher meets no rule for `com:443` or the empty label after a trailing dot.
    assert registered_domain(fqdn) is None


def test_only_ascii_letters_are_lower_cased_in_the_registered_domain():
    # httpclient's DnsUtils.normalize maps A-Z only.
    assert registered_domain("www.ÉXAMPLE.com")["registered_domain"] == "Éxample.com"


def test_a_label_with_upper_case_letters_outside_ascii_matches_no_list_entry():
    # Java looks `snÅsa.no` up as written, and the list has `snåsa.no`: the suffix is `no` (checked on
    # httpclient 4.5.14 with the same list); tldextract folded the case and found `snåsa.no`.
    assert registered_domain("SNÅSA.NO") == {"domain": "SNÅSA.NO", "registered_domain": "snÅsa.no",
                                             "top_level_domain": "no"}
    assert registered_domain("x.snåsa.no")["registered_domain"] == "x.snåsa.no"


def test_an_empty_label_before_the_suffix_is_the_registered_label():
    # `a..com`: httpclient's root is `.com` (the empty label and the suffix), not "the name is a suffix".
    assert registered_domain("www..com") == {"domain": "www..com", "registered_domain": ".com",
                                             "top_level_domain": "com", "subdomain": "www"}
