"""`secstash redrive`: arguments, which dead letters become documents again, refusals not re-written."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from consumer import logs
from consumer.commands import redrive
from sinks.batch import DeadLetter, Source

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


class _UnreachableSink:
    """Stands for SearchSink: a cluster that never answered (`server` None)."""

    server = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        _calls.append("sink")

    def start(self) -> None:
        pass

    def close(self, timeout: float) -> None:
        pass


_calls: list[str] = []


def test_redrive_sets_up_masked_logging_with_its_secrets_before_any_sink_exists(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from sinks.s3store import LockedObjectStore
    from sinks.search import service

    _calls.clear()
    monkeypatch.setattr(logs, "configure", lambda level, secrets=(): _calls.append(("logs", level, list(secrets))))
    monkeypatch.setattr(service, "SearchSink", _UnreachableSink)
    monkeypatch.setattr(LockedObjectStore, "check_encryption", lambda self: None)  # no S3 here
    config = tmp_path / "secstash.yml"
    config.write_text(
        "streams: [{name: logs}]\narchive: {bucket: archive-bucket}\n"
        "search: {hosts: ['https://search:9200'], username: elastic, password: Secr3tPw9876}\n")
    assert redrive.run(parser().parse_args(["--config", str(config), "--spill"])) == 1
    assert "did not answer" in capsys.readouterr().err
    assert _calls == [("logs", "warning", ["Secr3tPw9876"]), "sink"]
