"""Sessions of assumed roles: the AssumeRole request secstash sends, and credentials that renew themselves
before they expire (the processes using them run far longer than a role session's default hour)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from sinks import aws


class FakeSts:
    """AssumeRole answers whose credentials expire `lifetimes` from now, in turn."""

    def __init__(self, *lifetimes: dt.timedelta) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lifetimes = list(lifetimes)

    def assume_role(self, **request: Any) -> dict[str, Any]:
        self.requests.append(request)
        expiry = dt.datetime.now(dt.UTC) + self._lifetimes[len(self.requests) - 1]
        return {"Credentials": {"AccessKeyId": f"ASIA{len(self.requests)}", "SecretAccessKey": "s",
                                "SessionToken": "t", "Expiration": expiry}}


@pytest.fixture
def sts(monkeypatch: pytest.MonkeyPatch) -> FakeSts:
    fake = FakeSts(dt.timedelta(minutes=5), dt.timedelta(hours=1))
    made: list[tuple[str, str, str | None]] = []

    def client(service: str, region: str, endpoint_url: str | None = None, session: Any = None) -> Any:
        made.append((service, region, endpoint_url))
        return fake

    monkeypatch.setattr(aws, "client", client)
    fake.made = made  # type: ignore[attr-defined]
    return fake


def test_the_role_is_assumed_with_its_external_id_and_session_name_through_the_regional_sts(sts: FakeSts) -> None:
    session = aws.assumed_role_session("arn:aws:iam::444455556666:role/r", "eu-west-1", session_name="secstash-x@w",
                                       external_id="Ext-1d-7Q9", sts_endpoint=None)
    session.get_credentials().get_frozen_credentials()
    assert sts.requests == [{"RoleArn": "arn:aws:iam::444455556666:role/r", "RoleSessionName": "secstash-x@w",
                             "ExternalId": "Ext-1d-7Q9"}]
    assert sts.made == [("sts", "eu-west-1", None)]  # type: ignore[attr-defined]


def test_credentials_about_to_expire_are_assumed_again(sts: FakeSts) -> None:
    session = aws.assumed_role_session("arn:aws:iam::444455556666:role/r", "eu-west-1", session_name="s@w")
    first = session.get_credentials().get_frozen_credentials().access_key
    # 5 minutes left: inside botocore's refresh window, so the next use assumes the role again
    second = session.get_credentials().get_frozen_credentials().access_key
    assert (first, second) == ("ASIA1", "ASIA2")
    assert "ExternalId" not in sts.requests[0]


def test_session_names_say_purpose_stream_and_instance_within_sts_limits() -> None:
    assert aws.role_session_name("objects", "org-trail", "secstash-0") == "secstash-objects-org-trail@secstash-0"
    long = aws.role_session_name("retention", "s" * 128, "ip-10-0-0-1.ec2.internal:" + "9" * 40)
    assert len(long) == 64 and long.endswith("9" * 32) and long.startswith("secstash-retention-sss")
    assert aws.role_session_name("kinesis", "a/b", "w:1") == "secstash-kinesis-a-b@w-1"
