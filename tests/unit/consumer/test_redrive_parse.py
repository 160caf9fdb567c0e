"""`secstash redrive` and parse-stage dead letters: counted and named when left, and with `--parse`, their
records parsed again from the archive into exactly the documents the live pipeline would have indexed had the
cause (a missing object, a cap) not been there, under its ids."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from concurrent.futures import Future
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest

from consumer import cli
from sinks.deadletter import DeadLetterSink
from sinks.s3store import LockedObjectStore
from tests.unit.consumer import test_replay_command as live_case
from tests.unit.consumer.test_replay_command import OBJECTS, SETTINGS, by_id, log_key, run_live, write
from tests.unit.sinks.archive.fakes import FakeS3

s3 = live_case.s3  # the fixture: fake S3 for archive and dead letters, the log bucket in place of the reader


class Cluster:
    """SearchSink as redrive uses it: takes every document, counts them."""

    server = "fake"
    items: ClassVar[list[Any]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        Cluster.items = []

    def start(self) -> None:
        pass

    def deliver(self, items: Sequence[Any]) -> Future[Any]:
        Cluster.items.extend(items)
        done: Future[Any] = Future()
        done.set_result(None)
        return done

    def stats(self) -> Any:
        return SimpleNamespace(indexed=len(Cluster.items), duplicates=0, retried=0, spilled=0, dead_lettered=0)

    def close(self, timeout: float) -> None:
        pass


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> type[Cluster]:
    from sinks.search import service

    monkeypatch.setattr(service, "SearchSink", Cluster)
    monkeypatch.setattr(LockedObjectStore, "check_encryption", lambda self: None)
    return Cluster


def dead_letter(s3: FakeS3, letters: list[Any]) -> None:
    sink = DeadLetterSink(LockedObjectStore(s3, "archive-bucket", kms_key_id=None, retention_days=None), "dead-letter")
    sink.deliver(letters).result(5)
    sink.close()


def test_redrive_names_the_parse_stage_dead_letters_it_leaves(s3, cluster, tmp_path, capsys) -> None:
    config = write(tmp_path, SETTINGS)
    _, dead = run_live(s3, config)
    dead_letter(s3, dead.items)
    assert cli.main(["redrive", "--config", config]) == 0
    out = capsys.readouterr().out
    assert f"parse stage: {len(dead.items)} dead letters" in out and "too_many_objects: 2" in out
    assert "secstash redrive --parse" in out and cluster.items == []


def test_redrive_parse_makes_what_the_fixed_causes_left_out_under_the_live_ids(
        s3, cluster, tmp_path, monkeypatch, capsys) -> None:
    config = write(tmp_path, SETTINGS)
    live, dead = run_live(s3, config)
    dead_letter(s3, dead.items)
    # The causes, fixed: the missing object is there now, and the caps are raised.
    monkeypatch.setitem(OBJECTS, log_key(4), live_case.alb_object(7))
    fixed = copy.deepcopy(SETTINGS)
    fixed["pipeline"].update(max_objects_per_record=10, max_events_per_object=2000)
    fixed_config = write(tmp_path, fixed, "fixed.yml")
    code = cli.main(["redrive", "--config", fixed_config, "--parse"])
    out = capsys.readouterr().out
    # What the live pipeline would have indexed with the fixed settings from the start.
    expected, _ = run_live(FakeS3(versioned=False, lock=None), fixed_config)
    before = by_id(live.items)
    made = {key: body for key, body in by_id(cluster.items).items() if key not in before}
    assert made and {**before, **made} == by_id(expected.items)
    assert len(cluster.items) == len(by_id(cluster.items))  # no document twice
    # The record's bad line ("not a flow line") fails again: reported, exit status 1, its dead letter stays.
    assert code == 1 and "1 failed again (unknown_format: 1)" in out and "0 records not found" in out


def test_redrive_parse_keeps_and_counts_letters_whose_record_the_archive_lacks(
        s3, cluster, tmp_path, capsys) -> None:
    config = write(tmp_path, SETTINGS)
    _, dead = run_live(s3, config)
    for key in [k for k in s3.objects if k.startswith("archive/stream=logs-222/")]:
        del s3.objects[key]  # that stream's archive object is gone (another bucket, a lifecycle rule...)
    dead_letter(s3, dead.items)
    assert cli.main(["redrive", "--config", config, "--parse"]) == 1
    out = capsys.readouterr().out
    missing = len({(d.source.sequence, d.source.sub_sequence) for d in dead.items if d.source.stream == "logs-222"})
    assert f"; {missing} records not found in the archive (their dead letters stay)" in out


def test_redrive_parse_reports_documents_the_cluster_refuses_with_exit_status_1(
        s3, cluster, tmp_path, monkeypatch, capsys) -> None:
    config = write(tmp_path, SETTINGS)
    _, dead = run_live(s3, config)
    dead_letter(s3, [d for d in dead.items if d.reason == "too_many_events"])

    def refusing_everything(self: Cluster) -> Any:  # each one dead-lettered at the index stage
        return SimpleNamespace(indexed=0, duplicates=0, retried=0, spilled=0, dead_lettered=len(Cluster.items))

    monkeypatch.setattr(Cluster, "stats", refusing_everything)
    monkeypatch.setitem(OBJECTS, log_key(4), live_case.alb_object(7))  # every cause fixed: nothing fails again
    fixed = copy.deepcopy(SETTINGS)
    fixed["pipeline"].update(max_objects_per_record=10, max_events_per_object=2000)
    assert cli.main(["redrive", "--config", write(tmp_path, fixed, "fixed.yml"), "--parse"]) == 1
    out = capsys.readouterr().out
    assert f"({len(cluster.items)} refused by the cluster: index-stage dead letters now); 0 failed again" in out


def test_redrive_parse_leaves_the_records_of_an_unconfigured_stream_key_and_says_so(
        s3, cluster, tmp_path, capsys) -> None:
    _, dead = run_live(s3, write(tmp_path, SETTINGS))
    dead_letter(s3, dead.items)
    retired = dict(SETTINGS, streams=SETTINGS["streams"][:1])  # logs-222 removed since
    assert cli.main(["redrive", "--config", write(tmp_path, retired, "retired.yml"), "--parse"]) == 1
    captured = capsys.readouterr()
    unparsed = len({(d.source.sequence, d.source.sub_sequence) for d in dead.items if d.source.stream == "logs-222"})
    assert "no configured stream has the key logs-222" in captured.err
    assert f"0 records not found in the archive, {unparsed} of unconfigured stream keys" in captured.out
    assert {item.source.stream for item in cluster.items} == {"logs-111"}
