"""Where the locally installed components live.

``scripts/setup.sh`` installs them outside the clone and records their paths in
``$SECSTASH_CACHE/env.json`` (default cache ``~/.cache/secstash``). Each path can be overridden with an
environment variable, which wins over the file:

====================  ===========================  =============================================
what                  variable                     env.json key
====================  ===========================  =============================================
KCL jars directory    ``SECSTASH_KCL_JARS``        ``kcl_jars``
kinesis-local dir     ``SECSTASH_KINESIS_LOCAL``   ``kinesis_local_home`` (holds main.js, server.json)
node binary           ``SECSTASH_NODE``            ``node``
Elasticsearch home    ``SECSTASH_ES_HOME``         ``es_home``
OpenSearch home       ``SECSTASH_OS_HOME``         ``os_home``
Java 17 home          ``SECSTASH_JAVA17_HOME``     ``java17_home``
newest Java home      ``SECSTASH_JAVA_NEWEST_HOME``  ``java_newest_home`` (21+; for Elasticsearch 9)
search-engine user    ``SECSTASH_SEARCH_USER``     ``search_user`` (only used when running as root)
====================  ===========================  =============================================

Every lookup fails with :class:`ComponentMissing`, naming ``scripts/setup.sh``, when the thing is absent.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
from pathlib import Path
from typing import Any, Literal

SETUP_HINT = "run scripts/setup.sh from the project root"

SearchKind = Literal["elasticsearch", "opensearch"]


class ComponentMissing(RuntimeError):
    """A local component (jar, server, JDK) that scripts/setup.sh installs is not there."""


def cache_dir() -> Path:
    return Path(os.environ.get("SECSTASH_CACHE") or Path.home() / ".cache" / "secstash")


@functools.lru_cache(maxsize=4)
def _env_file(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def recorded() -> dict[str, Any]:
    """The contents of env.json written by scripts/setup.sh ({} if it has not run)."""
    return dict(_env_file(cache_dir() / "env.json"))


def _lookup(variable: str, key: str, what: str) -> str:
    value = os.environ.get(variable) or recorded().get(key)
    if not value:
        raise ComponentMissing(f"{what} is not installed ({SETUP_HINT}, or set {variable})")
    return str(value)


def _existing(path: str, what: str, variable: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise ComponentMissing(f"{what} not found at {p} ({SETUP_HINT}, or set {variable})")
    return p


def kcl_jars_dir() -> Path:
    """Directory holding the KCL MultiLangDaemon jars (use as ``-cp '<dir>/*'``)."""
    d = _existing(_lookup("SECSTASH_KCL_JARS", "kcl_jars", "the KCL jars"), "KCL jars", "SECSTASH_KCL_JARS")
    if not any(d.glob("amazon-kinesis-client-multilang-*.jar")):
        raise ComponentMissing(f"no amazon-kinesis-client-multilang jar in {d} ({SETUP_HINT})")
    return d


def kcl_version() -> str:
    """Version of the KCL MultiLangDaemon jar in :func:`kcl_jars_dir`."""
    jar = next(kcl_jars_dir().glob("amazon-kinesis-client-multilang-*.jar"))
    return jar.stem.removeprefix("amazon-kinesis-client-multilang-")


def kinesis_local_home() -> Path:
    """The kinesis-local package directory (main.js and the server.json it needs)."""
    home = _existing(
        _lookup("SECSTASH_KINESIS_LOCAL", "kinesis_local_home", "kinesis-local"),
        "kinesis-local",
        "SECSTASH_KINESIS_LOCAL",
    )
    for name in ("main.js", "server.json"):
        if not (home / name).is_file():
            raise ComponentMissing(f"kinesis-local has no {name} in {home} ({SETUP_HINT})")
    return home


def node_binary() -> str:
    node = os.environ.get("SECSTASH_NODE") or recorded().get("node") or shutil.which("node")
    if not node or not Path(node).exists():
        raise ComponentMissing("node is not installed (kinesis-local needs Node.js)")
    return str(node)


def search_home(kind: SearchKind) -> Path:
    """Unpacked integ-test distribution of Elasticsearch or OpenSearch."""
    variable, key = {
        "elasticsearch": ("SECSTASH_ES_HOME", "es_home"),
        "opensearch": ("SECSTASH_OS_HOME", "os_home"),
    }[kind]
    home = _existing(_lookup(variable, key, kind), kind, variable)
    if not (home / "bin" / kind).is_file():
        raise ComponentMissing(f"{home} holds no bin/{kind} ({SETUP_HINT}, or set {variable})")
    return home


def java_home(major: int = 17) -> Path:
    """A JDK home: ``major=17`` for KCL, Elasticsearch 8 and OpenSearch 2; anything else = newest (21+)."""
    if major == 17:
        variable, key = "SECSTASH_JAVA17_HOME", "java17_home"
    else:
        variable, key = "SECSTASH_JAVA_NEWEST_HOME", "java_newest_home"
    home = _existing(_lookup(variable, key, f"Java {major}"), f"Java {major}", variable)
    if not (home / "bin" / "java").exists():
        raise ComponentMissing(f"{home} is not a JDK home (no bin/java); set {variable}")
    return home


def search_user() -> str | None:
    """The unprivileged user that runs the search engines when we are root, else None (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    user = os.environ.get("SECSTASH_SEARCH_USER") or recorded().get("search_user")
    if not user:
        raise ComponentMissing(
            f"Elasticsearch and OpenSearch refuse to run as root and no service user is recorded ({SETUP_HINT})"
        )
    return str(user)
