"""`secstash redrive`: arguments, which dead letters become documents again, refusals not re-written."""

from __future__ import annotations

import argparse
import functools
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from consumer import logs
from consumer.commands import redrive
from sinks.batch import DeadLetter, Source
from tests.unit.consumer.test_logs import closed_port

from .fakes import FakeDeadLetters

SOURCE = Source("stream-a", "shardId-000000000000", "42", 0, 3)


def letter(stage: str = "index", doc_id: str | None = "id-1", index: str | None = "logs-aws.x-default") -> DeadLetter:
    return DeadLetter(stage=stage, reason="mapping", message="mapper_parsing_exception: x", dataset="aws.x",
                      source=SOURCE, raw='{"a":"b"}', index=index, id=doc_id)  # type: ignore[arg-type]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    redrive.add_arguments(p)
    return p


def test_arguments_choose_one_origin_and_a_utc_since() -> None:
    args = parser().parse_args(["--config", "s.yml", "--spill", "--since", "2024-05-01"])
    assert args.spill and not args.dead_letter and args.since == datetime(2024, 5, 1, tzinfo=UTC)
    with pytest.raises(SystemExit):
        parser().parse_args(["--config", "s.yml", "--spill", "--dead-letter"])
    with pytest.raises(SystemExit):
        parser().parse_args(["--config", "s.yml", "--since", "yesterday"])


def test_only_index_stage_dead_letters_with_a_target_become_documents_again() -> None:
    items = list(redrive.items_from([letter(), letter("parse"), letter(doc_id=None), letter(index=None)]))
    assert len(items) == 1
    [item] = items
    assert (item.index, item.id, item.body, item.dataset, item.source) == (
        "logs-aws.x-default", "id-1", b'{"a":"b"}', "aws.x", SOURCE)


def test_documents_refused_again_are_reported_not_dead_lettered_twice() -> None:
    real = FakeDeadLetters()
    refusals = redrive._Refusals(real)
    refusals.redriven.add(("logs-aws.x-default", "id-1"))
    refusals.deliver([letter(), letter(doc_id="id-2")]).result(1)
    assert [e.id for e in refusals.again] == ["id-1"]
    assert [e.id for e in real.letters] == ["id-2"]  # a spilled document refused for the first time


@pytest.fixture
def log_stream(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """Where `redrive.run`'s logging set-up writes, put back after the test. Loggers cache the stream they
    first wrote to, so it must outlive the test (capsys's is closed after it)."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    stream = io.StringIO()
    monkeypatch.setattr(logs, "configure", functools.partial(logs.configure, stream=stream))
    yield stream
    structlog.configure(**saved)
    root.handlers[:] = handlers
    root.setLevel(level)
    logs._known = ()


def test_redrive_masks_its_configured_secrets_before_any_sink_logs(
        tmp_path: Path, log_stream: io.StringIO, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    from sinks.s3store import LockedObjectStore

    monkeypatch.setattr(LockedObjectStore, "check_encryption", lambda self: None)  # no S3 here
    config = tmp_path / "secstash.yml"
    config.write_text(
        "streams: [{name: logs}]\narchive: {bucket: archive-bucket}\n"
        f"search: {{hosts: ['http://127.0.0.1:{closed_port()}'], username: elastic, password: Secr3tPw9876,"
        " start_timeout_s: 0}\n")
    assert redrive.run(parser().parse_args(["--config", str(config), "--spill"])) == 1
    assert "did not answer" in capsys.readouterr().err
    assert "plain http://" in log_stream.getvalue() and "Secr3tPw9876" not in log_stream.getvalue()
    # What any later line would carry (a library's error text, say) is masked by the process's scrubber.
    assert "Secr3tPw9876" not in logs.scrub("401 for elastic:Secr3tPw9876")
