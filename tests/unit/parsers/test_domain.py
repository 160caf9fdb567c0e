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
