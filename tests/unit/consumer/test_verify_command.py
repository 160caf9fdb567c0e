"""`secstash verify`: which signing key it pins, and how it fails."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from consumer import cli
from consumer.commands import verify as command
from sinks.archive.verify import Report

SETTINGS = {
    "streams": [{"name": "security-logs"}],
    "archive": {"bucket": "org-security-archive", "signing_key_id": "alias/archive-signing"},
    "search": {"hosts": ["https://search.internal:9200"], "username": "secstash", "password": "s3cret"},
}


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("consumer.logs.configure", lambda *args, **kwargs: None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")


def pinned_key(monkeypatch: pytest.MonkeyPatch, *argv: str) -> str | None:
    """The signing key the command hands the Verifier."""
    made: list[dict[str, Any]] = []

    class RecordingVerifier:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            made.append(kwargs)

        def run(self, *args: Any) -> Report:
            return Report()

    monkeypatch.setattr(command, "Verifier", RecordingVerifier)
    assert cli.main(["verify", "--region", "us-east-1", *argv]) == 0
    return made[0]["signing_key"]


def test_the_signing_key_comes_from_the_config_or_the_option(monkeypatch, tmp_path: Path):
    config = tmp_path / "secstash.yml"
    config.write_text(yaml.safe_dump(SETTINGS))
    assert pinned_key(monkeypatch, "--config", str(config)) == "alias/archive-signing"
    assert pinned_key(monkeypatch, "--config", str(config), "--signing-key", "alias/other") == "alias/other"
    assert pinned_key(monkeypatch, "--bucket", "b-1") is None


class UnreadableS3:
    def get_paginator(self, name: str) -> Any:
        raise RuntimeError("listing broke\nhalfway")


def test_an_unexpected_error_while_reading_exits_2_with_one_line(monkeypatch, capsys):
    monkeypatch.setattr(command, "clients", lambda args: (None, UnreadableS3(), None))
    assert cli.main(["verify", "--bucket", "archive-1"]) == 2
    err = capsys.readouterr().err
    assert err == "secstash verify: reading s3://archive-1 failed: RuntimeError: listing broke halfway\n"


def verified_stream(monkeypatch: pytest.MonkeyPatch, *argv: str) -> tuple[int, str | None]:
    """(exit status, the stream the command hands the Verifier, None when it made none)."""
    ran: list[str | None] = []

    class RecordingVerifier:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pass

        def run(self, stream: str | None, *args: Any) -> Report:
            ran.append(stream)
            return Report()

    monkeypatch.setattr(command, "Verifier", RecordingVerifier)
    status = cli.main(["verify", "--region", "us-east-1", *argv])
    return status, (ran[0] if ran else None)


def test_the_stream_is_chosen_by_its_key_or_a_name_only_one_stream_has(monkeypatch, tmp_path: Path, capsys):
    config = tmp_path / "secstash.yml"
    config.write_text(yaml.safe_dump({**SETTINGS, "streams": [
        {"arn": "arn:aws:kinesis:eu-west-1:111111111111:stream/security-logs", "id": "acct-a",
         "application_name": "soc-acct-a"},
        {"arn": "arn:aws:kinesis:eu-west-1:222222222222:stream/security-logs", "id": "acct-b",
         "application_name": "soc-acct-b"},
        {"name": "flows", "id": "vpc-flows"}]}))
    assert verified_stream(monkeypatch, "--config", str(config), "--stream", "acct-b") == (0, "acct-b")
    assert verified_stream(monkeypatch, "--config", str(config), "--stream", "flows") == (0, "vpc-flows")
    assert verified_stream(monkeypatch, "--config", str(config), "--stream", "security-logs") == (2, None)
    assert "names 2 configured streams" in capsys.readouterr().err
    # Without settings the archive's own key is all there is.
    assert verified_stream(monkeypatch, "--bucket", "b-1", "--stream", "security-logs") == (0, "security-logs")


class UnreachableS3:
    def get_paginator(self, name: str) -> Any:
        from botocore.exceptions import EndpointConnectionError

        raise EndpointConnectionError(endpoint_url="http://reader:Sup3rSecret@127.0.0.1:9/archive-1?list-type=2")


def test_an_endpoint_that_cannot_be_reached_is_named_without_its_userinfo(monkeypatch, capsys):
    monkeypatch.setattr(command, "clients", lambda args: (None, UnreachableS3(), None))
    assert cli.main(["verify", "--bucket", "archive-1"]) == 2
    err = capsys.readouterr().err
    assert "127.0.0.1:9" in err and "Sup3rSecret" not in err
