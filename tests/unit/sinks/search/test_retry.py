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
    # A 400 of a type not known to describe the document waits (and spills): never a mass dead-letter.
    (400, es_error("some_new_exception"), Outcome.RETRY, "unknown"),
    (400, es_error("x_content_parse_exception", "[1:2] Unexpected character"), Outcome.REJECT, "parsing"),
    (400, es_error("document_too_large_exception"), Outcome.REJECT, "too_large"),
    (400, es_error("invalid_index_name_exception", "Invalid index name [A], must be lowercase"),
     Outcome.REJECT, "invalid_index"),
    (401, es_error("security_exception"), Outcome.RETRY, "forbidden"),
    (403, es_error("security_exception", "action [indices:data/write/bulk[s]] is unauthorized"),
     Outcome.RETRY, "forbidden"),
    (404, es_error("index_not_found_exception"), Outcome.RETRY, "index_missing"),
    (418, None, Outcome.RETRY, "unknown"),
])
def test_item_outcome(status: int, error: object, outcome: Outcome, reason: str) -> None:
    decision = classify_item(status, error)
    assert (decision.outcome, decision.reason) == (outcome, reason)


# Bulk item errors as the servers return them (captured from Elasticsearch 8.19.21 and OpenSearch 2.19.6 with
# cluster.max_shards_per_node at the open shard count, and an alias over two indices, none the write index;
# Elasticsearch 7 and managed OpenSearch send the shard limit as illegal_argument_exception).
ES_SHARD_LIMIT = {"type": "validation_exception", "reason": (
    "Validation Failed: 1: this action would add [2] shards, but this cluster currently has [1]/[1] maximum "
    "normal shards open; for more information, see https://www.elastic.co/guide/en/elasticsearch/reference/"
    "8.19/size-your-shards.html#troubleshooting-max-shards-open;")}
OPENSEARCH_SHARD_LIMIT = {"type": "validation_exception", "reason": (
    "Validation Failed: 1: this action would add [2] total shards, but this cluster currently has [1]/[1] "
    "maximum shards open;")}
MANAGED_SHARD_LIMIT = {"type": "illegal_argument_exception", "reason": (
    "Validation Failed: 1: this action would add [10] total shards, but this cluster currently has "
    "[2402]/[2000] maximum shards open;")}
NO_WRITE_INDEX = {"type": "illegal_argument_exception", "reason": (
    "no write index is defined for alias [logs-app]. The write index may be explicitly disabled using "
    "is_write_index=false or the alias points to multiple indices without one being designated as a write "
    "index")}
OLD_ALIAS = {"type": "illegal_argument_exception", "reason": (
    "Alias [logs-app] has more than one indices associated with it [[a1, a2]], can't execute a single "
    "index op")}


@pytest.mark.parametrize(("error", "reason"), [
    (ES_SHARD_LIMIT, "cluster_limit"),
    (OPENSEARCH_SHARD_LIMIT, "cluster_limit"),
    (MANAGED_SHARD_LIMIT, "cluster_limit"),
    ({"type": "illegal_state_exception", "reason": "rollover failed",
      "caused_by": MANAGED_SHARD_LIMIT}, "cluster_limit"),
    (NO_WRITE_INDEX, "no_write_index"),
    (OLD_ALIAS, "no_write_index"),
], ids=["es8", "opensearch2", "managed", "cause", "alias", "alias-old"])
def test_cluster_wide_refusals_are_retried_not_dead_lettered(error: dict[str, object], reason: str) -> None:
    decision = classify_item(400, error)
    assert (decision.outcome, decision.reason) == (Outcome.RETRY, reason)
    assert decision.error_type == error["type"]  # kept for the log line that samples the retried error


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
    (400, {"error": es_error("mapper_parsing_exception")}, "request_rejected"),
    (400, {"error": ES_SHARD_LIMIT}, "cluster_limit"),
    (200, "<html>proxy</html>", "request_rejected"),
])
def test_whole_request_failures_retry_every_item(status: int, body: object, reason: str) -> None:
    fate, decision = classify_request(status, body)
    assert fate is RequestFate.RETRY_ALL and decision is not None
    assert decision.outcome is Outcome.RETRY and decision.reason == reason
