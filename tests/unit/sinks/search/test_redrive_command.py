"""`secstash redrive`: arguments, which dead letters become documents again, refusals not re-written."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

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
