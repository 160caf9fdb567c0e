"""Lifecycle policies: ILM on Elasticsearch, ISM on OpenSearch. Pure: builds bodies, no I/O.

Data streams: roll the write index over at `rollover_max_age` or `rollover_max_primary_shard_size`, delete
a backing index `lifecycle_delete_after_days` after its rollover. Plain indices named with {date}: no
rollover (each day is its own index), delete `lifecycle_delete_after_days` after creation. Plain indices
without {date}: no policy at all, since deleting the one index would delete everything.
"""

from __future__ import annotations

from typing import Any, Literal

from sinks.search.config import SearchSettings

Mode = Literal["rollover", "delete_only"]


def policy_name(settings: SearchSettings) -> str:
    """`secstash-logs` (data streams: rollover) or `secstash-index` (plain indices: delete only): a daemon in
    one mode must not replace the policy the other mode's indices follow."""
    return f"{settings.template_prefix}-{settings.mode_name}"


def mode(settings: SearchSettings) -> Mode | None:
    if settings.data_streams:
        return "rollover"
    if "{date}" in settings.index_pattern and settings.lifecycle_delete_after_days:
        return "delete_only"
    return None


def ilm_policy(settings: SearchSettings) -> dict[str, Any] | None:
    """`PUT _ilm/policy/<name>` body, or None when no policy applies."""
    which = mode(settings)
    if which is None:
        return None
    phases: dict[str, Any] = {"hot": {"min_age": "0ms", "actions": {}}}
    if which == "rollover":
        phases["hot"]["actions"]["rollover"] = {
            "max_age": settings.rollover_max_age,
            "max_primary_shard_size": settings.rollover_max_primary_shard_size,
        }
    if settings.lifecycle_delete_after_days:
        phases["delete"] = {"min_age": f"{settings.lifecycle_delete_after_days}d", "actions": {"delete": {}}}
    return {"policy": {"phases": phases, "_meta": {"managed_by": "secstash"}}}


def ism_policy(settings: SearchSettings, index_patterns: list[str]) -> dict[str, Any] | None:
    """`PUT _plugins/_ism/policies/<name>` body, attached to new indices by its ism_template (matched
    against the data stream's name for backing indices)."""
    which = mode(settings)
    if which is None:
        return None
    hot: dict[str, Any] = {"name": "hot", "actions": [], "transitions": []}
    states = [hot]
    if which == "rollover":
        hot["actions"].append({"rollover": {
            "min_index_age": settings.rollover_max_age,
            "min_primary_shard_size": settings.rollover_max_primary_shard_size,
        }})
    if settings.lifecycle_delete_after_days:
        age = f"{settings.lifecycle_delete_after_days}d"
        condition = {"min_rollover_age": age} if which == "rollover" else {"min_index_age": age}
        hot["transitions"].append({"state_name": "delete", "conditions": condition})
        states.append({"name": "delete", "actions": [{"delete": {}}], "transitions": []})
    return {"policy": {
        "description": "secstash: rollover and retention of AWS security logs",
        "default_state": "hot",
        "states": states,
        # Plain indices one above: ISM refuses overlapping ism_templates of one priority (a `logs-` pattern).
        "ism_template": [{"index_patterns": index_patterns, "priority": 100 if settings.data_streams else 101}],
    }}


def attach_settings(settings: SearchSettings, kind: str) -> dict[str, Any]:
    """Index settings that attach the policy (ISM attaches by ism_template instead)."""
    if kind == "elasticsearch" and mode(settings) is not None:
        return {"index.lifecycle.name": policy_name(settings)}
    return {}
