"""EKS authenticator log lines (`authenticator-*` streams of `/aws/eks/<cluster>/cluster`).

Sample lines follow AWS's description of the authenticator log type ("Authenticator logs are unique to
Amazon EKS. These logs represent the control plane component that Amazon EKS uses for Kubernetes RBAC
authentication using IAM credentials", https://docs.aws.amazon.com/eks/latest/userguide/control-plane-logs.html)
and the fields aws-iam-authenticator logs with logrus's text formatter
(github.com/kubernetes-sigs/aws-iam-authenticator, pkg/server/server.go: "access granted", "access denied",
"STS response").
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parsers import registry
from parsers.event import Event, EventMeta
from parsers.options import ParseOptions
from tests.unit.parsers._mutations import assert_parses_cleanly, cut_or_random_text

SPEC = registry.get("eks_authenticator")
OPTIONS = ParseOptions()
PROPERTY = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

GRANTED = ('time="2022-11-03T17:33:06Z" level=info msg="access granted" '
           'arn="arn:aws:iam::123456789012:role/eks-admin" client="127.0.0.1:40394" groups="[system:masters]" '
           'method=POST path=/authenticate sts=sts.us-east-1.amazonaws.com '
           'uid="aws-iam-authenticator:123456789012:AROAEXAMPLEROLEID" username="kubernetes-admin"')
DENIED = ('time="2022-11-03T17:33:07Z" level=warning msg="access denied" client="127.0.0.1:58498" '
          'error="input token was not properly formatted: X-Amz-Date parameter is expired (15 minute expiration)'
          ' 2022-11-03 17:10:01 +0000 UTC" method=POST path=/authenticate')
STS = ('time="2022-11-03T17:33:07.5Z" level=info msg="STS response" accesskeyid=ASIAEXAMPLEKEY '
       'accountid=123456789012 arn="arn:aws:sts::123456789012:assumed-role/eks-admin/alice" client="[::1]:8443" '
       'method=POST path=/authenticate session=alice userid=AROAEXAMPLEROLEID')
MAPPING = ('time="2022-11-03T17:00:00Z" level=info msg="mapping IAM role" '
           'groups="[system:bootstrappers system:nodes]" role="arn:aws:iam::123456789012:role/node" '
           'username="system:node:{{EC2PrivateDNSName}}"')


def parse(line: str, meta: EventMeta | None = None) -> dict:
    docs = SPEC.parse(Event(message=line, meta=meta or EventMeta()), OPTIONS)
    assert len(docs) == 1
    return docs[0]


def test_access_granted_is_a_successful_authentication_with_the_mapped_identity():
    doc = parse(GRANTED)
    assert doc["event"]["category"] == ["authentication"]
    assert doc["event"]["outcome"] == "success"
    assert doc["event"]["action"] == "access granted"
    assert doc["@timestamp"] == "2022-11-03T17:33:06.000Z"
    assert doc["user"] == {"name": "kubernetes-admin", "id": "aws-iam-authenticator:123456789012:AROAEXAMPLEROLEID",
                           "roles": ["system:masters"]}
    assert doc["source"] == {"address": "127.0.0.1:40394", "ip": "127.0.0.1", "port": 40394}
    assert doc["cloud"] == {"provider": "aws", "account": {"id": "123456789012"}}
    assert doc["aws"]["eks_authenticator"]["sts"] == "sts.us-east-1.amazonaws.com"


def test_access_denied_fails_and_carries_the_error():
    doc = parse(DENIED)
    assert doc["event"]["outcome"] == "failure"
    assert doc["log"] == {"level": "warning"}
    assert doc["error"]["message"].startswith("input token was not properly formatted")
    assert doc["http"] == {"request": {"method": "POST"}}
    assert doc["url"] == {"path": "/authenticate"}
    assert "user" not in doc


def test_sts_response_takes_the_account_and_an_ipv6_client():
    doc = parse(STS)
    assert doc["@timestamp"] == "2022-11-03T17:33:07.500Z"
    assert doc["cloud"]["account"]["id"] == "123456789012"
    assert doc["source"] == {"address": "[::1]:8443", "ip": "::1", "port": 8443}
    assert doc["related"]["user"] == ["alice"]
    assert "outcome" not in doc["event"]


def test_role_mappings_list_their_groups():
    doc = parse(MAPPING)
    assert doc["aws"]["eks_authenticator"]["groups"] == ["system:bootstrappers", "system:nodes"]
    assert doc["event"]["action"] == "mapping IAM role"
    assert "category" not in doc["event"]


def test_quoted_values_keep_escaped_quotes_spaces_and_unicode():
    doc = parse('time="2024-01-01T00:00:00Z" level=info msg="user \\"bob\\" says \\u00e9t\\xc3\\xa9 \\U0001F680"')
    assert doc["message"] == 'user "bob" says \u00e9t\u00c3\u00a9 \U0001f680'


def test_an_escaped_lone_surrogate_becomes_the_replacement_character():
    doc = parse('time="2024-01-01T00:00:00Z" level=info msg="access granted" username="a\\U0000d800b"')
    assert doc["user"]["name"] == "a\ufffdb"


def test_an_unterminated_quote_runs_to_the_end_of_the_line():
    doc = parse('time="2024-01-01T00:00:00Z" level=error msg="cut off here error=x')
    assert doc["log"] == {"level": "error"}
    assert doc["message"] == "cut off here error=x"
    assert "error" not in doc


@pytest.mark.parametrize("line", ["goroutine 1 [running]:", "", "   ", "=== = ="])
def test_lines_without_key_value_pairs_are_kept_as_message(line):
    doc = parse(line)
    assert doc["message"] == line
    assert doc["event"]["kind"] == "event"


def test_empty_values_are_left_out():
    doc = parse('time="2024-01-01T00:00:00Z" level=info msg="access denied" arn= client="" error=""')
    assert "aws" not in doc and "error" not in doc and "source" not in doc


def test_the_cluster_comes_from_the_log_group():
    doc = parse(GRANTED, EventMeta(log_group="/aws/eks/prod-eu/cluster", log_stream="authenticator-abc"))
    assert doc["orchestrator"] == {"type": "kubernetes", "cluster": {"name": "prod-eu"}}


def test_a_long_line_of_escaped_quotes_is_one_value_not_a_quadratic_scan():
    line = 'time="x" msg="y" ' + 'a="\\" ' * 100_000
    doc = parse(line)
    assert doc["aws"]["eks_authenticator"]["a"] == '" a='  # each value runs to the next unescaped quote


@PROPERTY
@given(cut_or_random_text([GRANTED, DENIED, STS, MAPPING]))
def test_arbitrary_and_truncated_lines_parse_or_fail_cleanly(text):
    assert_parses_cleanly(SPEC, Event(message=text))


# Surrogates are left out: no event text can hold them (envelopes decode UTF-8 strictly or with replacement).
pairs = st.dictionaries(st.text(st.characters(exclude_categories=("Cs",), exclude_characters=' ="\n'),
                                min_size=1, max_size=8),
                        st.text(max_size=20), max_size=6)


@PROPERTY
@given(pairs, st.booleans())
def test_generated_key_value_lines_parse_or_fail_cleanly(values, quote):
    line = " ".join(f'{key}="{value}"' if quote else f"{key}={value}" for key, value in values.items())
    assert_parses_cleanly(SPEC, Event(message=line))
