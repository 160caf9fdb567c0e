"""Retry classification: per item and per request, from status and error type."""

from __future__ import annotations

import pytest

from sinks.search.retry import Outcome, RequestFate, classify_item, classify_request

from .fakes import es_error


@pytest.mark.parametrize(("status", "error", "outcome", "reason"), [
    (201, None, Outcome.INDEXED, "indexed"),
    (409, es_error("version_conflict_engine_exception"), Outcome.DUPLICATE, "duplicate"),
    (429, es_error("es_rejected_execution_exception"), Outcome.RETRY, "too_many_requests"),
    (429, es_error("circuit_breaking_exception"), Outcome.RETRY, "too_many_requests"),
    (500, es_error("null_pointer_exception"), Outcome.RETRY, "server_error"),
    (503, es_error("unavailable_shards_exception"), Outcome.RETRY, "server_error"),
    (504, None, Outcome.RETRY, "timeout"),
    (403, es_error("cluster_block_exception", "index [i] blocked by: [FORBIDDEN/8/index write (api)];"),
     Outcome.BLOCKED, "index_block"),
    (429, es_error("cluster_block_exception",
                   "index [i] blocked by: [TOO_MANY_REQUESTS/12/disk usage exceeded flood-stage watermark, "
                   "index has read-only-allow-delete block];"), Outcome.BLOCKED, "index_block"),
    (400, es_error("mapper_parsing_exception", "failed to parse"), Outcome.REJECT, "mapping"),
    (400, es_error("document_parsing_exception", "failed to parse field [a] of type [long]"),
     Outcome.REJECT, "parsing"),
    (400, es_error("illegal_argument_exception", "Limit of total fields [1000] has been exceeded"),
     Outcome.REJECT, "mapping"),
    (400, es_error("strict_dynamic_mapping_exception"), Outcome.REJECT, "mapping"),
    (400, es_error("illegal_argument_exception", "pipeline with id [x] does not exist"),
     Outcome.RETRY, "pipeline_missing"),
    (400, es_error("some_new_exception"), Outcome.REJECT, "rejected"),
    (401, es_error("security_exception"), Outcome.RETRY, "forbidden"),
    (403, es_error("security_exception", "action [indices:data/write/bulk[s]] is unauthorized"),
     Outcome.RETRY, "forbidden"),
    (404, es_error("index_not_found_exception"), Outcome.RETRY, "index_missing"),
    (418, None, Outcome.RETRY, "unknown"),
])
def test_item_outcome(status: int, error: object, outcome: Outcome, reason: str) -> None:
    decision = classify_item(status, error)
    assert (decision.outcome, decision.reason) == (outcome, reason)


def test_item_decision_keeps_the_error_type_and_its_cause_for_dead_letters() -> None:
    decision = classify_item(400, {"type": "document_parsing_exception", "reason": "failed to parse field [a]",
                                   "caused_by": {"type": "illegal_argument_exception", "reason": "For input"}})
    assert decision.error_type == "document_parsing_exception"
    assert decision.message == "failed to parse field [a]: illegal_argument_exception: For input"


def test_no_answer_retries_the_whole_request() -> None:
    fate, decision = classify_request(None)
    assert fate is RequestFate.RETRY_ALL and decision is not None and decision.reason == "connection"


def test_reply_with_items_is_classified_per_item() -> None:
    assert classify_request(200, {"errors": True, "items": []}) == (RequestFate.ITEMS, None)


def test_too_large_request_is_split() -> None:
    assert classify_request(413, "too large")[0] is RequestFate.SPLIT


@pytest.mark.parametrize(("status", "body", "reason"), [
    (429, {"error": es_error("es_rejected_execution_exception")}, "too_many_requests"),
    (503, {"error": es_error("master_not_discovered_exception")}, "server_error"),
    (401, {"error": es_error("security_exception")}, "forbidden"),
    # A malformed request is ours (or a proxy's) to fix: never dead-letter a whole batch of documents.
    (400, {"error": es_error("media_type_header_exception")}, "request_rejected"),
    (200, "<html>proxy</html>", "request_rejected"),
])
def test_whole_request_failures_retry_every_item(status: int, body: object, reason: str) -> None:
    fate, decision = classify_request(status, body)
    assert fate is RequestFate.RETRY_ALL and decision is not None
    assert decision.outcome is Outcome.RETRY and decision.reason == reason
