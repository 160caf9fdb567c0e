"""Component and index templates with ECS mappings for every dataset. Pure: builds bodies, no I/O.

Layout (names start with `template_prefix`, default `secstash`):

    secstash-ecs@mappings            ECS fields any dataset uses (assets/mappings.json "common") and
                                     dynamic templates: other strings become keywords (ignore_above 1024)
    secstash-logs@settings           codec, field limit, ignore_malformed, the lifecycle policy `secstash-logs`
    secstash-index@settings          the same for plain indices (policy `secstash-index`): one mode never
                                     rewrites the settings or the policy of the other
    secstash-<dataset>@mappings      the dataset's own fields, data_stream.* constants
    secstash-logs-<dataset>          index template: pattern `logs-<dataset>-*`, data_stream, the three above,
                                     then the user's `logs@custom` and `logs-<dataset>@custom` if they exist
    secstash-index-<dataset>         the same for plain indices (data_streams: false): `index_pattern`, one
                                     priority higher than the data-stream templates

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
# Types OpenSearch 2.x never has or treats differently, replaced before the first attempt. `wildcard`: OpenSearch
# has it, but without doc values by default (terms aggregations and sorts on url.* fail), and with
# `doc_values: true` 2.19 answers terms aggregations with empty buckets; a keyword aggregates and sorts.
OPENSEARCH_KNOWN_MISSING = frozenset({"flattened", "scaled_float", "wildcard"})
# The key that lets composed_of name component templates that do not exist (Elasticsearch 8.7 on; OpenSearch
# has none: there the missing ones are left out of composed_of, see bootstrap).
IGNORE_MISSING = "ignore_missing_component_templates"

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
    kind = settings.mode_name
    return {"ecs": f"{p}-ecs@mappings", "settings": f"{p}-{kind}@settings", "dataset": f"{p}-{dataset}@mappings",
            "index": f"{p}-{kind}-{dataset}"}


def custom_components(dataset: str) -> list[str]:
    """The user's component templates, under the names Fleet gives them (`logs@custom`, then the more
    specific `logs-<dataset>@custom`): extra mappings, settings or a pipeline without editing ours, and
    the ones already made for Elastic's integration keep applying although our priority is above it."""
    return ["logs@custom", f"logs-{dataset}@custom"]


def namespace_varies(settings: SearchSettings) -> bool:
    """Whether one index can hold documents of several namespaces: plain indices without {namespace}."""
    return not settings.data_streams and "{namespace}" not in settings.index_pattern


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
    custom = custom_components(dataset)
    body: dict[str, Any] = {
        "index_patterns": settings.index_patterns(dataset),
        "composed_of": [n["ecs"], n["settings"], n["dataset"], *custom],
        IGNORE_MISSING: custom,
        "priority": index_priority(settings),
        "_meta": {"managed_by": "secstash", "dataset": dataset},
    }
    if settings.data_streams:
        body["data_stream"] = {}
    if namespace_varies(settings):
        # A constant_keyword takes its value from the index's first document: every later document of another
        # namespace would be refused. The index template's own mappings override the dataset component's.
        body["template"] = {"mappings": {"properties": {"data_stream": {"properties": {
            "namespace": {"type": "keyword", "ignore_above": 1024}}}}}}
    return body


def index_priority(settings: SearchSettings) -> int:
    """Plain-index templates sit one above the data-stream ones: a `logs-` index pattern overlaps the
    data-stream template of the same dataset (installed by another daemon or before a switch), and a cluster
    refuses two overlapping templates of one priority. Deleting the other mode's template instead is not an
    option: the cluster refuses while data streams use it, and another daemon may still write them."""
    return settings.template_priority + (0 if settings.data_streams else 1)


def without_components(body: dict[str, Any], missing: set[str]) -> dict[str, Any]:
    """A copy of an index template body without `ignore_missing_component_templates` and without the
    components of `missing`: for clusters that do not know the key (OpenSearch)."""
    out = copy.deepcopy(body)
    out.pop(IGNORE_MISSING, None)
    out["composed_of"] = [c for c in out.get("composed_of", []) if c not in missing]
    return out


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
                if replacement["type"] != "flattened":
                    node.pop("depth_limit", None)  # flattened only: flat_object refuses every parameter
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
