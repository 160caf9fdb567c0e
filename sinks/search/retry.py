"""What to do with a bulk item or a whole bulk request, from its status and error. Pure: no I/O, no clock.

    Outcome.INDEXED      201/200: stored
    Outcome.DUPLICATE    409 on `create`: already stored by an earlier attempt or a replay; delivered
    Outcome.RETRY        429, 5xx, timeouts, connection trouble, and refusals a fix of the cluster or its
                         settings can cure (auth, missing index, missing pipeline, the cluster's shard limit,
                         an alias without a write index): retried with backoff, spilled after `spill_after_s`
    Outcome.BLOCKED      index blocks (read-only, flood-stage disk): retried the same way, counted apart so an
                         alert can watch them
    Outcome.REJECT       400 errors known to describe this one document (mapping, parsing, too large):
                         dead-lettered with the error, then delivered

Unknown statuses, and 400s of an unknown error type, are retried, never dead-lettered: a wrong guess must
cost time, not a mass dead-letter of documents the cluster would take once an operator fixed it.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any


class Outcome(enum.Enum):
    INDEXED = "indexed"
    DUPLICATE = "duplicate"
    RETRY = "retry"
    BLOCKED = "blocked"
    REJECT = "reject"


@dataclass(frozen=True, slots=True)
class Decision:
    outcome: Outcome
    reason: str  # fixed vocabulary: a metric label
    error_type: str = ""  # the server's error type, for logs and dead letters
    message: str = ""  # the server's reason text, for logs and dead letters

    @property
    def done(self) -> bool:
        return self.outcome in (Outcome.INDEXED, Outcome.DUPLICATE)


# Error types that describe the document, not the cluster: retrying cannot help.
_MAPPING = frozenset({
    "mapper_parsing_exception", "strict_dynamic_mapping_exception", "mapper_exception",
    "illegal_argument_exception",  # also "Limit of total fields [...] has been exceeded"
})
_PARSING = frozenset({
    "document_parsing_exception", "parse_exception", "x_content_parse_exception", "json_parse_exception",
    "not_x_content_exception", "date_time_parse_exception", "number_format_exception",
})
_DOCUMENT_TOO_LARGE = frozenset({"document_too_large_exception", "max_bytes_length_exceeded_exception"})
_INVALID_TARGET = frozenset({"invalid_index_name_exception", "invalid_type_name_exception"})
# 4xx types that a change of the cluster or our settings cures; the documents wait (and spill) meanwhile.
_FIXABLE = {
    "index_not_found_exception": "index_missing",
    "security_exception": "forbidden",
    "status_exception": "server_error",
    "index_closed_exception": "index_closed",
    "resource_not_found_exception": "index_missing",
    "unavailable_shards_exception": "server_error",
    "no_shard_available_action_exception": "server_error",
    "es_rejected_execution_exception": "too_many_requests",
    "opensearch_rejected_execution_exception": "too_many_requests",
    "rejected_execution_exception": "too_many_requests",
    "circuit_breaking_exception": "too_many_requests",
    "process_cluster_event_timeout_exception": "timeout",
    "receive_timeout_transport_exception": "timeout",
    "timeout_exception": "timeout",
}


# Refusals of the cluster as a whole, whatever the error type (Elasticsearch 8 and OpenSearch 2 say
# `validation_exception`, Elasticsearch 7 and some managed OpenSearch versions `illegal_argument_exception`,
# which is otherwise a document's mapping error): every document bound for a new index (a rollover, a new
# dataset or namespace, a new {date}) or for the alias gets the same answer, and one operator fix (raise
# `cluster.max_shards_per_node`, delete or shrink indices, designate the alias's write index) cures them all.
# Dead-lettering them would checkpoint past data the index never got; they wait (and spill) instead.
_CLUSTER_REFUSALS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "this action would add [2] shards, but this cluster currently has [1000]/[1000] maximum normal shards
    # open" (Elasticsearch 8); "... [2] total shards ... maximum shards open" (OpenSearch, Elasticsearch 7)
    (re.compile(r"would add \[\d+\] (?:total )?shards|maximum (?:\w+ )?shards open"), "cluster_limit"),
    # "no write index is defined for alias [x]" (Elasticsearch 7+, OpenSearch); "alias [x] has more than one
    # index(es) associated with it ..., can't execute a single index op" (older versions)
    (re.compile(r"no write index is defined for alias|more than one ind(?:ex|ices) associated with it"),
     "no_write_index"),
)


def _cluster_refusal(reason: str) -> str | None:
    for pattern, label in _CLUSTER_REFUSALS:
        if pattern.search(reason):
            return label
    return None


def _error_parts(error: Any) -> tuple[str, str]:
    if isinstance(error, dict):
        kind = str(error.get("type") or "")
        reason = str(error.get("reason") or "")
        caused = error.get("caused_by")
        if isinstance(caused, dict) and caused.get("reason"):
            reason = f"{reason}: {caused.get('type', '')}: {caused['reason']}"
        return kind, reason
    if error is None:
        return "", ""
    return "", str(error)


def _is_block(kind: str, reason: str) -> bool:
    return kind == "cluster_block_exception" or ("blocked by: [" in reason and "index" in reason)


def classify_item(status: int, error: Any = None) -> Decision:
    """The fate of one bulk item from its `status` and `error` object."""
    kind, reason = _error_parts(error)
    if 200 <= status < 300:
        return Decision(Outcome.INDEXED, "indexed")
    if status == 409 or kind == "version_conflict_engine_exception":
        return Decision(Outcome.DUPLICATE, "duplicate", kind, reason)
    if _is_block(kind, reason):
        return Decision(Outcome.BLOCKED, "index_block", kind, reason)
    if status >= 400 and (refusal := _cluster_refusal(reason)):
        return Decision(Outcome.RETRY, refusal, kind, reason)
    if kind in _FIXABLE:
        return Decision(Outcome.RETRY, _FIXABLE[kind], kind, reason)
    if status == 429:
        return Decision(Outcome.RETRY, "too_many_requests", kind, reason)
    if status >= 500 or status in (408, 0):
        return Decision(Outcome.RETRY, "timeout" if status in (408, 504) else "server_error", kind, reason)
    if status in (401, 403):
        return Decision(Outcome.RETRY, "forbidden", kind, reason)
    if status == 404:
        return Decision(Outcome.RETRY, "index_missing", kind, reason)
    if status == 400 or status == 413:
        if "pipeline with id [" in reason:  # a configuration error, not the document's
            return Decision(Outcome.RETRY, "pipeline_missing", kind, reason)
        if kind in _PARSING:
            return Decision(Outcome.REJECT, "parsing", kind, reason)
        if kind in _MAPPING:
            return Decision(Outcome.REJECT, "mapping", kind, reason)
        if kind in _DOCUMENT_TOO_LARGE or status == 413:
            return Decision(Outcome.REJECT, "too_large", kind, reason)
        if kind in _INVALID_TARGET:
            return Decision(Outcome.REJECT, "invalid_index", kind, reason)
        # A 400 of an error type not listed above is retried, not dead-lettered. Guessing "document"
        # wrongly dead-letters every document of a cluster-wide refusal (as the shard limit once was), and
        # the index misses them until someone runs `secstash redrive --dead-letter`. Guessing "cluster"
        # wrongly costs time, not the document: a truly bad one holds its shard's batch `spill_after_s`,
        # then is spilled with whatever is pending (durable in S3 like a dead letter, and redriven, and
        # spilled again, automatically), visible as retried{reason="unknown"} with its error in the log,
        # so its type can be added to the document-level lists above.
    return Decision(Outcome.RETRY, "unknown", kind, reason)


class RequestFate(enum.Enum):
    ITEMS = "items"  # the reply carries per-item results: classify each
    RETRY_ALL = "retry_all"  # the whole request failed in a way a later attempt can cure
    SPLIT = "split"  # too large for the server: halve it (a single item is rejected)


def classify_request(status: int | None, body: Any = None) -> tuple[RequestFate, Decision | None]:
    """The fate of a whole bulk request from its HTTP status (None: no answer: connection or timeout).

    A whole-request failure applies one decision to every item; `ITEMS` means look at each item.
    """
    if status is None:
        return RequestFate.RETRY_ALL, Decision(Outcome.RETRY, "connection")
    if 200 <= status < 300 and isinstance(body, dict) and "items" in body:
        return RequestFate.ITEMS, None
    if status == 413:
        return RequestFate.SPLIT, Decision(Outcome.REJECT, "too_large", "", "request entity too large")
    error = body.get("error") if isinstance(body, dict) else body
    decision = classify_item(status, error)
    if (decision.outcome in (Outcome.REJECT, Outcome.INDEXED, Outcome.DUPLICATE)
            or (status == 400 and decision.reason == "unknown")):
        # A whole request refused for being malformed is our bug or a proxy's, not every document's:
        # keep the documents (retry, then spill) rather than dead-letter a batch of good ones.
        kind, reason = _error_parts(error)
        return RequestFate.RETRY_ALL, Decision(Outcome.RETRY, "request_rejected", kind, reason)
    return RequestFate.RETRY_ALL, decision
