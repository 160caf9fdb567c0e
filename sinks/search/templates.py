"""Component and index templates with ECS mappings for every dataset. Pure: builds bodies, no I/O.

Layout (names start with `template_prefix`, default `secstash`):

    secstash-ecs@mappings            ECS fields any dataset uses (assets/mappings.json "common") and
                                     dynamic templates: other strings become keywords (ignore_above 1024)
    secstash-logs@settings           codec, field limit, ignore_malformed, the lifecycle policy
    secstash-<dataset>@mappings      the dataset's own fields, data_stream.* constants
    secstash-logs-<dataset>          index template: pattern `logs-<dataset>-*`, data_stream, the three above
    secstash-index-<dataset>         the same for plain indices (data_streams: false): `index_pattern`

The mapping types come from Elastic's field definitions (see scripts/gen_search_mappings.py). Clusters lack
some types (OpenSearch has no `flattened`, Elasticsearch's test distribution no `constant_keyword`...):
`substitute()` replaces a type the cluster refused with the nearest it has, so the templates still install.
"""

from __future__ import annotations

import copy
import json
import re
from functools import lru_cache
from importlib import resources
from typing import Any

from sinks.search.config import SearchSettings

# Nearest replacement of a mapping type a cluster does not know (by family: Elasticsearch, OpenSearch).
FALLBACK_TYPES = {
    "constant_keyword": {"type": "keyword"},
    "match_only_text": {"type": "text"},
    "wildcard": {"type": "keyword", "ignore_above": 8191},
    "scaled_float": {"type": "float"},
    "flattened": {"type": "flat_object"},  # OpenSearch's equivalent; refused too -> stored, not indexed
    "flat_object": {"type": "object", "enabled": False},
}
# Types OpenSearch 2.x never has or treats differently, replaced before the first attempt.
OPENSEARCH_KNOWN_MISSING = frozenset({"flattened", "scaled_float"})

_UNKNOWN_TYPE = re.compile(
    r"(?:The mapper type \[([\w-]+)\] declared on field|No handler for type \[([\w-]+)\] declared on field)")
_UNKNOWN_SETTING = re.compile(r"unknown setting \[([\w.\-]+)\]")
_MISSING_VALUE = re.compile(r"Field \[[^\]]+\] is missing required parameter \[value\]")


@lru_cache(maxsize=1)
def assets() -> dict[str, Any]:
    """The generated mappings: {"common": properties, "datasets": {dataset: properties}}."""
    text = resources.files("sinks.search").joinpath("assets/mappings.json").read_text(encoding="utf-8")
    return json.loads(text)


def names(settings: SearchSettings, dataset: str) -> dict[str, str]:
    """Template names. Data-stream and plain-index templates are named apart: a cluster refuses to turn a
    template its data streams match into one without `data_stream`, so switching modes must not overwrite."""
    p = settings.template_prefix
    kind = "logs" if settings.data_streams else "index"
    return {"ecs": f"{p}-ecs@mappings", "settings": f"{p}-logs@settings", "dataset": f"{p}-{dataset}@mappings",
            "index": f"{p}-{kind}-{dataset}"}


def ecs_component() -> dict[str, Any]:
    return {
        "template": {"mappings": {
            "date_detection": False,
            "dynamic_templates": [
                {"strings_as_keyword": {"match_mapping_type": "string",
                                        "mapping": {"type": "keyword", "ignore_above": 1024}}},
            ],
            "properties": copy.deepcopy(assets()["common"]),
        }},
        "_meta": {"managed_by": "secstash", "description": "ECS fields of the AWS datasets"},
    }


def settings_component(settings: SearchSettings, lifecycle: dict[str, Any] | None) -> dict[str, Any]:
    """Index settings of every template; `lifecycle` holds the index settings that attach the policy."""
    index: dict[str, Any] = {
        "codec": "best_compression",
        "mapping": {"total_fields": {"limit": settings.total_fields_limit},
                    "ignore_malformed": settings.ignore_malformed},
        "refresh_interval": "5s",
    }
    body: dict[str, Any] = {"template": {"settings": {"index": index}},
                            "_meta": {"managed_by": "secstash", "description": "settings of secstash indices"}}
    for key, value in (lifecycle or {}).items():
        body["template"]["settings"][key] = value
    return body


def dataset_component(settings: SearchSettings, dataset: str) -> dict[str, Any]:
    # data_stream.* in both modes (documents carry them either way), so the component is the same for both.
    properties = copy.deepcopy(assets()["datasets"].get(dataset, {}))
    properties["data_stream"] = {"properties": {
        "type": {"type": "constant_keyword", "value": "logs"},
        "dataset": {"type": "constant_keyword", "value": dataset},
        "namespace": {"type": "constant_keyword"},
    }}
    return {"template": {"mappings": {"properties": properties}},
            "_meta": {"managed_by": "secstash", "dataset": dataset}}


def index_template(settings: SearchSettings, dataset: str) -> dict[str, Any]:
    n = names(settings, dataset)
    body: dict[str, Any] = {
        "index_patterns": settings.index_patterns(dataset),
        "composed_of": [n["ecs"], n["settings"], n["dataset"]],
        "priority": settings.template_priority,
        "_meta": {"managed_by": "secstash", "dataset": dataset},
    }
    if settings.data_streams:
        body["data_stream"] = {}
    return body


def datasets(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Every dataset with a template: those with generated mappings plus `extra` (the registry's)."""
    return sorted(set(assets()["datasets"]) | set(extra))


# --- adapting to what a cluster can do ----------------------------------------------------------------------


def refused_type(error_text: str) -> str | None:
    """The mapping type named by a cluster's "unknown type" error, if that is what it is."""
    match = _UNKNOWN_TYPE.search(error_text)
    return (match.group(1) or match.group(2)) if match else None


def refused_setting(error_text: str) -> str | None:
    match = _UNKNOWN_SETTING.search(error_text)
    return match.group(1) if match else None


def constant_needs_value(error_text: str) -> bool:
    """OpenSearch's constant_keyword needs a fixed value; one that varies (namespace) becomes a keyword."""
    return bool(_MISSING_VALUE.search(error_text))


def substitute(body: dict[str, Any], refused: set[str], *, valueless_constants: bool = False) -> dict[str, Any]:
    """A copy of a template body with every mapping type in `refused` replaced by its fallback.

    `valueless_constants`: also replace constant_keyword fields that carry no `value`.
    """
    out = copy.deepcopy(body)

    def fix(node: Any) -> None:
        if isinstance(node, dict):
            kind, seen = node.get("type"), set()
            while isinstance(kind, str) and kind not in seen and (kind in refused or (
                    valueless_constants and kind == "constant_keyword" and "value" not in node)):
                seen.add(kind)
                replacement = FALLBACK_TYPES.get(kind, {"type": "keyword"})
                node.pop("value", None)
                node.pop("scaling_factor", None)
                if replacement["type"] != "keyword":
                    node.pop("ignore_above", None)
                if replacement.get("enabled") is False:
                    node.pop("fields", None)
                node.update(replacement)
                kind = node["type"]
            for value in node.values():
                fix(value)
        elif isinstance(node, list):
            for value in node:
                fix(value)

    fix(out)
    return out


def drop_setting(body: dict[str, Any], dotted: str) -> dict[str, Any]:
    """A copy of a component template body without the index setting `dotted` (e.g. index.lifecycle.name)."""
    out = copy.deepcopy(body)
    settings = out.get("template", {}).get("settings", {})
    settings.pop(dotted, None)
    parts = dotted.split(".")
    node: Any = settings
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            return out
    if isinstance(node, dict):
        node.pop(parts[-1], None)
    return out
