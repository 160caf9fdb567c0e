"""Helpers of the deploy checks: the tools scripts/install-deploy-tools.sh provides, and what to do without."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[3]


def missing_tool(message: str) -> NoReturn:
    """Skip on a developer's machine, fail in CI: a green CI run always ran every deploy check."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message, allow_module_level=True)


def install_deploy_tools() -> dict[str, Any]:
    """Run the (idempotent) installer and return what it recorded: paths of helm, composecheck, the Compose
    schema and the AWS CLI. A second when everything is there; a few minutes the first time on a new
    machine (helm's build), which is why .ci/run calls the script before pytest."""
    script = ROOT / "scripts" / "install-deploy-tools.sh"
    try:
        done = subprocess.run(["bash", str(script)], capture_output=True, text=True, timeout=1800, check=False)
    except subprocess.TimeoutExpired:
        missing_tool("scripts/install-deploy-tools.sh timed out")
    if done.returncode != 0:
        missing_tool(f"scripts/install-deploy-tools.sh failed: {done.stderr.strip()[-2000:]}")
    return json.loads(Path(done.stdout.strip().splitlines()[-1]).read_text())
