"""`user_agent.*` as Elasticsearch's `user_agent` processor writes it (both use uap-core's regexes)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import ua_parser


def _join(*parts: str | None) -> str | None:
    # ES appends each part while the previous one exists; an empty (not missing) part still gets its dot,
    # which is where versions like "24.0." in Elastic's expected documents come from.
    if parts[0] is None:
        return None
    out = parts[0]
    for part in parts[1:]:
        if part is None:
            break
        out += "." + part
    return out


@lru_cache(maxsize=16384)
def _parse(original: str) -> tuple[tuple[str, Any], ...]:
    result = ua_parser.parse(original)
    fields: dict[str, Any] = {"original": original}
    agent = result.user_agent
    fields["name"] = agent.family if agent else "Other"
    if agent and (version := _join(agent.major, agent.minor, agent.patch, agent.patch_minor)):
        fields["version"] = version
    os_ = result.os
    if os_:
        os_fields: dict[str, str] = {"name": os_.family}
        if version := _join(os_.major, os_.minor, os_.patch, os_.patch_minor):
            os_fields["version"] = version
            os_fields["full"] = f"{os_.family} {version}"
        fields["os"] = os_fields
    device = result.device
    fields["device"] = {"name": device.family if device else "Other"}
    return tuple(fields.items())


def user_agent(original: str | None) -> dict[str, Any] | None:
    """The `user_agent` object for a UA string (a fresh dict), or None for an empty one."""
    if not original:
        return None
    out = dict(_parse(original))
    if "os" in out:
        out["os"] = dict(out["os"])
    out["device"] = dict(out["device"])
    return out
