"""user_agent.*: what Elasticsearch's user_agent processor writes (expected values from Elastic's documents)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.enrich import useragent
from parsers.enrich.useragent import user_agent

FIREFOX_24 = "Mozilla/5.0 (Windows NT 6.1; WOW64; rv:24.0) Gecko/20100101 Firefox/24.0"
AWS_CLI_V2_MAC = ("aws-cli/2.17.60 md/awscrt#0.21.2 ua/2.0 os/macos#23.6.0 md/arch#x86_64 lang/python#3.12.6 "
                  "md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe md/prompt#off md/command#s3api.ls")
AWS_CLI_V2_LINUX = ("aws-cli/2.18.17 md/awscrt#0.22.0 ua/2.0 os/linux#6.8.0-1016-aws md/arch#x86_64 "
                    "lang/python#3.12.6 md/pyimpl#CPython cfg/retry-mode#standard md/installer#exe")
AWS_CLI_V1 = "aws-cli/1.16.310 Python/3.8.1 Darwin/18.7.0 botocore/1.13.46"


def test_empty_version_part_keeps_its_dot() -> None:
    # Firefox's regex ends in an optional group that matched nothing: ES still appends "." and the empty part.
    assert user_agent(FIREFOX_24) == {
        "original": FIREFOX_24, "name": "Firefox", "version": "24.0.",
        "os": {"name": "Windows", "version": "7", "full": "Windows 7"}, "device": {"name": "Other"}}


def test_aws_cli_v2_gets_no_macos_version_from_the_2019_regexes() -> None:
    assert user_agent(AWS_CLI_V2_MAC) == {
        "original": AWS_CLI_V2_MAC, "name": "aws-cli", "version": "2.17.60", "device": {"name": "Other"}}


def test_aws_cli_v2_on_linux_names_the_os_without_version() -> None:
    assert user_agent(AWS_CLI_V2_LINUX)["os"] == {"name": "Linux"}


def test_botocore_reads_as_a_spider_device() -> None:
    parsed = user_agent(AWS_CLI_V1)
    assert parsed["device"] == {"name": "Spider"}
    assert (parsed["name"], parsed["version"]) == ("aws-cli", "1.16.310")
    assert "os" not in parsed


def test_unknown_agents_are_other() -> None:
    assert user_agent("signin.amazonaws.com") == {
        "original": "signin.amazonaws.com", "name": "Other", "device": {"name": "Other"}}


def test_empty_agent_gives_nothing() -> None:
    assert user_agent("") is None
    assert user_agent(None) is None


def test_results_are_fresh_objects() -> None:
    first = user_agent(FIREFOX_24)
    first["os"]["name"] = "changed"
    first["device"]["name"] = "changed"
    assert user_agent(FIREFOX_24)["os"]["name"] == "Windows"
    assert user_agent(FIREFOX_24)["device"]["name"] == "Other"


@pytest.mark.parametrize("agent", [
    FIREFOX_24, AWS_CLI_V2_MAC, AWS_CLI_V2_LINUX, AWS_CLI_V1, "signin.amazonaws.com", "AWS Internal",
    "Boto3/1.34.0 md/Botocore#1.34.0 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.11.6 Botocore/1.34.0",
    "aws-sdk-go-v2/1.21.0 os/linux lang/go#1.21.1 md/GOOS#linux md/GOARCH#amd64 api/sts#1.22.0",
    "aws-sdk-java/1.12.500 Linux/5.10.186 OpenJDK_64-Bit_Server_VM/25.372-b07 java/1.8.0_372 vendor/Amazon.com_Inc.",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 13; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Mobile Safari/537.36",
    "Googlebot/2.1 (+http://www.google.com/bot.html)", "curl/8.4.0", "python-requests/2.31.0", "Terraform/1.6.3",
    "console.amazonaws.com", "cloudformation.amazonaws.com",
])
def test_first_match_search_agrees_with_a_plain_scan(agent: str) -> None:
    """The Rust pre-filter only finds which regex matches first; a plain scan in Python must agree."""
    for section in useragent._sections().values():
        plain = next((m for sub in section.subpatterns if (m := useragent._apply(sub, agent))), None)
        assert useragent._find(section, agent) == plain


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_gives_a_name_and_a_device(agent: str) -> None:
    parsed = user_agent(agent)
    if agent:
        assert parsed is not None
        assert parsed["original"] == agent and parsed["name"] and parsed["device"]["name"]


def test_an_agent_built_to_backtrack_costs_its_first_characters_only() -> None:
    import time

    # "\w+\s+Mac OS X..." is the first OS regex to match this text, and Python's re tries it from each of
    # the zeros, each try running to their end: ~0.6 s for 8,000 of them before the cut, ~10 s for these
    # 32 KiB, hours for a 256 KiB CloudWatch Logs event.
    agent = "0" * 32 * 1024 + "! a Mac OS X b 1.2.3"
    started = time.process_time()
    parsed = user_agent(agent)
    assert time.process_time() - started < 2
    assert parsed is not None and parsed["original"] == agent  # kept whole; parsed from its start
    assert parsed == {**user_agent(agent[:useragent.MAX_PARSED_CHARS]), "original": agent}  # type: ignore[dict-item]


def test_agents_that_differ_only_past_the_cut_share_one_cache_entry() -> None:
    useragent._parse.cache_clear()
    head = "Mozilla/5.0 (X11; Linux x86_64; rv:24.0) Gecko/20100101 Firefox/24.0 "
    for n in range(50):
        user_agent(head + "x" * useragent.MAX_PARSED_CHARS + str(n))
    assert useragent._parse.cache_info().currsize == 1


_AGENTS = ["curl/7.64.1", "Boto3/1.28.0 Python/3.11", "aws-cli/2.15.0 Python/3.11", "Dolphin HDCN/8.1",
           "bPod BMID/1.2", "foobar2000/1.6.1", "Podkicker Pro/3.1.2", "(Kobo Touch)", "Sprint:PPC6800"]


@pytest.mark.parametrize("agent", ["écurl/7.64.1", "éBoto3/1.28.0 Python/3.11", "ñaws-cli/2.15.0",
                                   "bPod BMID/1\u00a02", "foobar\u00a0x/1.2.3"])
def test_letters_and_spaces_outside_ascii_find_the_regex_java_finds(agent: str) -> None:
    # Java's \b, \s and \S (ES's JDK 21), like re.ASCII's, know ASCII only: 'é' is no word character and a
    # no-break space no space. The Rust search used Unicode meanings, skipped `\bcurl` for `écurl` and said Other.
    for section in useragent._sections().values():
        plain = next((m for sub in section.subpatterns if (m := useragent._apply(sub, agent))), None)
        assert useragent._find(section, agent) == plain
    assert user_agent("écurl/7.64.1")["name"] == "curl"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["", "é", "ñ", "\u00a0", "\u2003", "x", "_", " ", "\u0130", "\u212a"]),
       st.sampled_from(_AGENTS), st.sampled_from(["", "é", "\u00a0", " ", "x"]))
def test_first_match_search_agrees_with_a_plain_scan_around_any_characters(before: str, agent: str,
                                                                           after: str) -> None:
    text = before + agent + after
    for section in useragent._sections().values():
        plain = next((m for sub in section.subpatterns if (m := useragent._apply(sub, text))), None)
        assert useragent._find(section, text) == plain


@pytest.mark.parametrize(("regex", "rust"), [
    (r"\bcurl/(\d+)", r"(?-u:\b)curl/([0-9]+)"),
    (r"([^.\s]+)\S", r"([^.\t\n\x0B\f\r ]+)[^\t\n\x0B\f\r ]"),
    (r"[]\w]\\b", r"[\]0-9A-Za-z_]\\b"),  # a leading `]` is literal; an escaped backslash stays one
])
def test_the_rust_copy_of_a_regex_spells_out_ascii_classes(regex: str, rust: str) -> None:
    assert useragent._ascii_classes(regex) == rust
