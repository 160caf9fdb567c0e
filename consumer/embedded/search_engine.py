"""A real single-node Elasticsearch 8 or OpenSearch 2, from their integ-test zips, for tests and the demo.

What those zips can and cannot do is measured and written down in ``docs/local-components.md``; the short
version: core index APIs, composable and component templates, ``index.blocks.*`` and
``thread_pool.*`` settings work on both; Elasticsearch's zip has no ingest pipelines, no ILM, no data
streams and no mapper-extras field types; OpenSearch's zip has data streams but no ISM and no security.

Each node lives in one directory (``data_dir``, a new temporary one by default) holding its own copy of
the config, its data and its logs, so ``stop()`` then ``start()`` (or :meth:`restart`) brings the same
node back on the same port with the same indices. Both engines refuse to run as root: when we are root
the node runs as the user ``scripts/setup.sh`` created, through ``setpriv``, and ``data_dir`` is handed
to that user.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import ssl
import stat
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from . import paths
from .paths import SearchKind
from .process import EmbeddedServer, ManagedProcess, ProcessError, as_user, free_port, temp_dir, user_ids

#: Settings every test node gets; see docs/local-components.md for why each is there.
BASE_SETTINGS: dict[str, Any] = {
    "discovery.type": "single-node",
    "network.host": "127.0.0.1",
    # A nearly full disk must not turn into read-only indices and 403s in the middle of a test run.
    "cluster.routing.allocation.disk.threshold_enabled": False,
    # Tests clean up with wildcard deletes.
    "action.destructive_requires_name": False,
}

ES_SECURITY_OFF: dict[str, Any] = {"xpack.security.enabled": False}

DEFAULT_USER = "secstash"
DEFAULT_PASSWORD = "secstash-test-password"


class SearchEngine(EmbeddedServer):
    """``SearchEngine(kind="elasticsearch"|"opensearch", port=None, *, data_dir=None, heap_mb=512,
    extra_settings=None, security=False, start_timeout=180)``.

    Properties: ``url`` (``http://127.0.0.1:<port>``, ``https://`` with ``security=True``), ``port``,
    ``kind``, ``version``, ``data_dir``, ``basic_auth`` (``(user, password)`` or None), ``ca_certs``
    (PEM path or None). ``request(method, path, body=None)`` sends one JSON request (for setup and
    readiness; tests use the real clients).

    ``security=True`` (Elasticsearch only: OpenSearch's integ-test zip has no security plugin) turns on
    x-pack security with TLS on HTTP, a certificate for 127.0.0.1/localhost made by ``trustme`` (a test
    dependency), and a file-realm superuser ``DEFAULT_USER``/``DEFAULT_PASSWORD``. ``users``
    (``{name: (password, [role, ...])}``) and ``roles`` (``{name: role descriptor}``, as in roles.yml) add
    file-realm users and roles: the zip cannot hold native users, roles or API keys (the security index
    needs an analysis module the zip lacks).
    """

    def __init__(
        self,
        kind: SearchKind = "elasticsearch",
        port: int | None = None,
        *,
        data_dir: Path | str | None = None,
        heap_mb: int = 512,
        extra_settings: Mapping[str, Any] | None = None,
        security: bool = False,
        users: Mapping[str, tuple[str, Sequence[str]]] | None = None,
        roles: Mapping[str, Mapping[str, Any]] | None = None,
        start_timeout: float = 180.0,
    ) -> None:
        if kind not in ("elasticsearch", "opensearch"):
            raise ValueError(f"kind must be 'elasticsearch' or 'opensearch', not {kind!r}")
        if security and kind != "elasticsearch":
            raise ValueError(
                "security=True needs Elasticsearch: the OpenSearch integ-test zip has no security plugin"
            )
        self.kind: SearchKind = kind
        self.home = paths.search_home(kind)
        self.version = self.home.name.removeprefix(f"{kind}-")
        self.java_home = paths.java_home(17 if self.version.split(".")[0] in ("2", "7", "8") else 21)
        self.port = port or free_port()
        self.transport_port = free_port()
        self.heap_mb = heap_mb
        self.security = security
        self.start_timeout = start_timeout
        self.run_as = paths.search_user()
        self.data_dir = Path(data_dir) if data_dir else temp_dir(f"secstash-{kind}-")
        self.settings: dict[str, Any] = {
            **BASE_SETTINGS,
            # Fixed names: a data_dir reused by a new instance on another port must still be "this" cluster.
            "cluster.name": f"secstash-{kind}",
            "node.name": "secstash-node",
            "http.port": self.port,
            "transport.port": self.transport_port,
            "path.data": str(self.data_dir / "data"),
            "path.logs": str(self.data_dir / "logs"),
        }
        if kind == "elasticsearch" and not security:
            self.settings.update(ES_SECURITY_OFF)
        self.settings.update(extra_settings or {})
        if (users or roles) and not security:
            raise ValueError("users and roles need security=True")
        self.users: dict[str, tuple[str, list[str]]] = {DEFAULT_USER: (DEFAULT_PASSWORD, ["superuser"])}
        self.users.update({name: (pw, list(r)) for name, (pw, r) in (users or {}).items()})
        self.roles = dict(roles or {})
        self.basic_auth: tuple[str, str] | None = (DEFAULT_USER, DEFAULT_PASSWORD) if security else None
        self.ca_certs: Path | None = None
        self._prepared = False
        env = dict(os.environ)
        prefix = "ES" if kind == "elasticsearch" else "OPENSEARCH"
        env.update(
            {
                f"{prefix}_JAVA_HOME": str(self.java_home),
                "JAVA_HOME": str(self.java_home),
                f"{prefix}_PATH_CONF": str(self.config_dir),
                f"{prefix}_JAVA_OPTS": f"-Xms{heap_mb}m -Xmx{heap_mb}m",
                f"{prefix}_TMPDIR": str(self.data_dir / "tmp"),
            }
        )
        env.pop("JAVA_TOOL_OPTIONS", None)
        self.process = ManagedProcess(
            [str(self.home / "bin" / kind)],
            name=f"{kind}:{self.port}",
            log_path=self.data_dir / f"{kind}.stdout.log",
            env=env,
            cwd=self.data_dir,
            run_as=self.run_as,
        )

    # ------------------------------------------------------------------ public
    @property
    def url(self) -> str:
        return f"{'https' if self.security else 'http'}://127.0.0.1:{self.port}"

    @property
    def config_dir(self) -> Path:
        return self.data_dir / "config"

    def start(self) -> Self:
        if not self._prepared:
            self._prepare()
        super().start()
        return self

    def request(self, method: str, path: str, body: Any = None, *, timeout: float = 30.0) -> tuple[int, Any]:
        """One HTTP request; returns ``(status, parsed JSON body or text)``; never raises on 4xx/5xx."""
        data = None
        headers = {"Accept": "application/json"}
        if body is not None:
            data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
            headers["Content-Type"] = "application/x-ndjson" if isinstance(body, str) else "application/json"
        if self.basic_auth:
            token = base64.b64encode(":".join(self.basic_auth).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=headers)
        context = ssl.create_default_context(cafile=str(self.ca_certs)) if self.ca_certs else None
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=context) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode("utf-8", "replace")

    # ------------------------------------------------------------------ internals
    def _ready(self) -> bool:
        status, _ = self.request("GET", "/_cluster/health?wait_for_status=yellow&timeout=1s", timeout=5)
        return status == 200

    def _prepare(self) -> None:
        """Lay out ``data_dir`` (config copy, settings, TLS material, users) once per instance."""
        for sub in ("data", "logs", "tmp"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        if not (self.config_dir / "jvm.options").exists():  # a reused data_dir keeps its keystore
            shutil.copytree(self.home / "config", self.config_dir, dirs_exist_ok=True)
        settings = dict(self.settings)
        if self.security:
            settings.update(self._security_settings())
        # JSON is YAML: one flat mapping of dotted keys, typed values preserved.
        (self.config_dir / f"{self.kind}.yml").write_text(json.dumps(settings, indent=2) + "\n")
        self._absolute_jvm_paths()
        if self.run_as is not None:
            self._hand_over()
        if self.security:
            self._add_users()
        self._prepared = True

    def _absolute_jvm_paths(self) -> None:
        """The stock jvm.options name gc.log, hs_err files and heap dumps by relative paths, which the
        launchers resolve against the (read-only) home: point them into data_dir instead."""
        options = self.config_dir / "jvm.options"
        logs, data = self.data_dir / "logs", self.data_dir / "data"
        text = options.read_text()
        text = re.sub(r"file=(?:logs/)?gc\.log", f"file={logs}/gc.log", text)
        text = re.sub(r"ErrorFile=(?:logs/)?hs_err", f"ErrorFile={logs}/hs_err", text)
        text = re.sub(r"HeapDumpPath=data\b", f"HeapDumpPath={data}", text)
        options.write_text(text)

    def _security_settings(self) -> dict[str, Any]:
        import trustme  # test dependency; only security=True needs it

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        certs = self.config_dir / "certs"
        certs.mkdir(exist_ok=True)
        ca.cert_pem.write_to_path(str(certs / "ca.pem"))
        cert.private_key_pem.write_to_path(str(certs / "node.key"))
        cert.cert_chain_pems[0].write_to_path(str(certs / "node.pem"))
        self.ca_certs = certs / "ca.pem"
        return {
            "xpack.security.enabled": True,
            "xpack.security.http.ssl.enabled": True,
            "xpack.security.http.ssl.key": "certs/node.key",
            "xpack.security.http.ssl.certificate": "certs/node.pem",
            "xpack.security.http.ssl.certificate_authorities": ["certs/ca.pem"],
            # Transport TLS is only enforced by a bootstrap check on non-loopback addresses.
            "xpack.security.transport.ssl.enabled": False,
        }

    def _add_users(self) -> None:
        """File-realm roles and users: the zip cannot store native ones (see the module docstring)."""
        if self.roles:
            # JSON is YAML; roles.yml maps role name -> {cluster: [...], indices: [{names, privileges}]}.
            (self.config_dir / "roles.yml").write_text(json.dumps(self.roles, indent=2) + "\n")
        users_file = self.config_dir / "users"
        existing = users_file.read_text().splitlines() if users_file.exists() else []
        for user, (password, user_roles) in self.users.items():
            if any(line.startswith(f"{user}:") for line in existing):
                continue
            argv = [str(self.home / "bin" / "elasticsearch-users"), "useradd", user, "-p", password]
            if user_roles:
                argv += ["-r", ",".join(user_roles)]
            if self.run_as is not None:
                argv = as_user(argv, self.run_as)
            result = subprocess.run(
                argv,
                env=self.process.env,
                cwd=self.data_dir,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if result.returncode != 0:
                raise ProcessError(
                    f"elasticsearch-users useradd {user} failed: {result.stdout}{result.stderr}"
                )

    def _hand_over(self) -> None:
        """Give data_dir to the service user, and make sure that user can reach it.

        Parents that shut the user out (pytest's 0700 temporary folders) and that we own get the
        search-only bit for others (``o+x``: traverse, not list), the least that lets the node in.
        """
        assert self.run_as is not None
        uid, gid = user_ids(self.run_as)
        for parent in reversed(self.data_dir.resolve().parents):
            st = parent.stat()
            if st.st_mode & 0o001 or st.st_uid == uid or (st.st_gid == gid and st.st_mode & 0o010):
                continue
            if st.st_uid == os.geteuid():
                os.chmod(parent, stat.S_IMODE(st.st_mode) | 0o001)
        for root, dirs, files in os.walk(self.data_dir):
            os.chown(root, uid, gid)
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)
        probe = subprocess.run(as_user(["test", "-w", str(self.data_dir)], self.run_as), check=False)
        if probe.returncode != 0:
            raise ProcessError(
                f"user {self.run_as} cannot write {self.data_dir}: a parent directory is closed to it "
                "(put data_dir under /tmp, or chmod o+x the parents)"
            )
