"""Health judgement from a `_cluster/health` answer."""

from __future__ import annotations

from sinks.search.client import Reply
from sinks.search.health import Health, judge


def test_green_and_yellow_are_usable_red_is_not() -> None:
    assert judge(Reply(200, {"status": "yellow"})).usable
    red = judge(Reply(200, {"status": "red"}))
    assert red.answered and not red.usable


def test_a_writer_without_monitor_still_counts_as_answered() -> None:
    health = judge(Reply(403, {"error": "forbidden"}))
    assert health.answered and health.usable and health.status is None


def test_server_errors_are_answered_but_not_usable() -> None:
    assert not judge(Reply(503, {"error": "x"})).usable


def test_no_answer_is_neither() -> None:
    health = Health(False, None, "connection refused")
    assert not health.answered and not health.usable
