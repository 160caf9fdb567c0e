"""Shared fixtures of the deploy checks: the repository root and the tools scripts/install-deploy-tools.sh
builds (helm and promtool from the Go module proxy, the Compose Specification schema from npm).

The tools are built once per machine into ${SECSTASH_CACHE:-~/.cache/secstash}; the fixture runs the
(idempotent) script, which takes a second when they are there. Where they cannot be built a test is skipped
on a developer's machine and fails in CI (CI=true), so a green CI run always ran them.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def deploy_tools() -> dict[str, Any]:
    script = ROOT / "scripts" / "install-deploy-tools.sh"
    try:
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=1800, check=False)
    except subprocess.TimeoutExpired:
        done = None
    if done is None or done.returncode != 0:
        detail = "timed out" if done is None else done.stderr.strip()[-2000:]
        message = f"scripts/install-deploy-tools.sh failed: {detail}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return json.loads(Path(done.stdout.strip().splitlines()[-1]).read_text())
