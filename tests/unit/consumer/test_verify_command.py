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
