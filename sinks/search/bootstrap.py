"""Install the lifecycle policy, component templates and index templates at start (I/O).

What the cluster cannot do is skipped with a warning (`events.setup_skipped`), never fatal:
  * no ILM (Elasticsearch's test distribution) or no ISM plugin (OpenSearch's): no policy, and the index
    setting that would name it is dropped;
  * a mapping type the cluster does not know: replaced by the nearest it has (templates.substitute);
  * an index setting it does not know: dropped;
  * no `ignore_missing_component_templates` (OpenSearch, Elasticsearch before 8.7): the user's `@custom`
    components are composed only if they exist at start;
  * no right to manage templates (a writer-only user): templates are left as an administrator set them.
Anything else (the server refusing a body for another reason) raises SinkConfigError: our templates are
wrong and indexing would go to unmapped indices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sinks.errors import SinkConfigError
from sinks.search import events, lifecycle, templates
from sinks.search.client import Reply, SearchClient, ServerInfo
from sinks.search.config import SearchSettings

_NO_HANDLER = ("no handler found", "Incorrect HTTP method")


@dataclass
class Report:
    policy: str | None = None
    component_templates: list[str] = field(default_factory=list)
    index_templates: list[str] = field(default_factory=list)
    refused_types: set[str] = field(default_factory=set)
    dropped_settings: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)


def _no_api(reply: Reply) -> bool:
    """The cluster has no such endpoint (a plugin or module it lacks)."""
    return reply.status == 405 or any(s in reply.error_text() for s in _NO_HANDLER)


class Installer:
    def __init__(self, client: SearchClient, settings: SearchSettings, server: ServerInfo) -> None:
        self.client = client
        self.settings = settings
        self.server = server
        self.report = Report()
        if server.kind == "opensearch":
            self.report.refused_types |= templates.OPENSEARCH_KNOWN_MISSING
        self._valueless_constants = False
        self._forbidden = False
        # OpenSearch has no ignore_missing_component_templates: compose only the @custom components that exist.
        self._customs_by_existence = server.kind == "opensearch"
        self._exists: dict[str, bool] = {}

    def install(self, datasets: list[str]) -> Report:
        attach = self._lifecycle(datasets)
        for name, body in self._components(attach, datasets):
            if self._forbidden:
                break
            if self._put(f"/_component_template/{name}", body):
                self.report.component_templates.append(name)
        for dataset in datasets:
            if self._forbidden:
                break
            name = templates.names(self.settings, dataset)["index"]
            if self._put(f"/_index_template/{name}", templates.index_template(self.settings, dataset)):
                self.report.index_templates.append(name)
        events.templates_installed(len(self.report.component_templates), len(self.report.index_templates),
                                   self.report.policy)
        return self.report

    # --- lifecycle ---------------------------------------------------------------------------------------

    def _lifecycle(self, datasets: list[str]) -> dict[str, Any]:
        name = lifecycle.policy_name(self.settings)
        if lifecycle.mode(self.settings) is None:
            return {}
        if self.server.kind == "elasticsearch":
            body = lifecycle.ilm_policy(self.settings)
            reply = self.client.request("PUT", f"/_ilm/policy/{name}", body=body)
            if reply.ok:
                self.report.policy = f"ilm:{name}"
                return lifecycle.attach_settings(self.settings, "elasticsearch")
            return self._lifecycle_failed("ilm", reply)
        patterns = sorted({p for ds in datasets for p in self.settings.index_patterns(ds)})
        body = lifecycle.ism_policy(self.settings, patterns)
        path = f"/_plugins/_ism/policies/{name}"
        current = self.client.request("GET", path)
        params = None
        if current.ok and isinstance(current.body, dict) and "_seq_no" in current.body:
            # ISM updates need the current version, else 409.
            params = {"if_seq_no": current.body["_seq_no"], "if_primary_term": current.body["_primary_term"]}
        elif _no_api(current):
            return self._lifecycle_failed("ism", current)  # else 404: no policy yet
        reply = self.client.request("PUT", path, params=params, body=body)
        if reply.ok:
            self.report.policy = f"ism:{name}"
            return {}
        return self._lifecycle_failed("ism", reply)

    def _lifecycle_failed(self, feature: str, reply: Reply) -> dict[str, Any]:
        if _no_api(reply) or reply.status in (401, 403, 404):
            events.setup_skipped(feature, f"HTTP {reply.status}: {reply.error_text()}")
            self.report.skipped.append(feature)
            return {}
        raise SinkConfigError(f"the cluster refused our {feature.upper()} policy: HTTP {reply.status}: "
                              f"{reply.error_text()[:500]}")

    # --- templates ---------------------------------------------------------------------------------------

    def _components(self, attach: dict[str, Any], datasets: list[str]) -> list[tuple[str, dict[str, Any]]]:
        names = templates.names(self.settings, "_")
        out = [(names["ecs"], templates.ecs_component()),
               (names["settings"], templates.settings_component(self.settings, attach))]
        for dataset in datasets:
            out.append((templates.names(self.settings, dataset)["dataset"],
                        templates.dataset_component(self.settings, dataset)))
        return out

    def _put(self, path: str, body: dict[str, Any]) -> bool:
        """PUT a template, adapting it until the cluster takes it. False when it was skipped."""
        for _ in range(20):  # each round removes one thing the cluster refused; 20 is plenty
            adapted = templates.substitute(body, self.report.refused_types,
                                           valueless_constants=self._valueless_constants)
            for setting in self.report.dropped_settings:
                adapted = templates.drop_setting(adapted, setting)
            if self._customs_by_existence and templates.IGNORE_MISSING in adapted:
                adapted = templates.without_components(adapted, {
                    name for name in adapted[templates.IGNORE_MISSING] if not self._component_exists(name)})
            reply = self.client.request("PUT", path, body=adapted)
            if reply.ok:
                return True
            text = reply.error_text()
            if reply.status in (401, 403):
                events.setup_skipped("templates", f"HTTP {reply.status}: {text}")
                self.report.skipped.append("templates")
                self._forbidden = True
                return False
            if (kind := templates.refused_type(text)) and kind not in self.report.refused_types:
                events.setup_skipped(f"mapping_type:{kind}", text)
                self.report.refused_types.add(kind)
                continue
            if templates.constant_needs_value(text) and not self._valueless_constants:
                events.setup_skipped("constant_keyword_without_value", text)
                self._valueless_constants = True
                continue
            if templates.IGNORE_MISSING in text and templates.IGNORE_MISSING in adapted:
                events.setup_skipped(templates.IGNORE_MISSING, text)
                self._customs_by_existence = True
                continue
            if (setting := templates.refused_setting(text)) and setting not in self.report.dropped_settings:
                events.setup_skipped(f"setting:{setting}", text)
                self.report.dropped_settings.add(setting)
                continue
            raise SinkConfigError(f"the cluster refused {path}: HTTP {reply.status}: {text[:500]}")
        raise SinkConfigError(f"the cluster kept refusing {path}")

    def _component_exists(self, name: str) -> bool:
        if name not in self._exists:
            reply = self.client.request("GET", f"/_component_template/{name}")
            self._exists[name] = reply.ok
        return self._exists[name]
