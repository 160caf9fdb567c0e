"""The deploy checks' shared fixture: the tools scripts/install-deploy-tools.sh provides (helm and composecheck
built from the Go module proxy, the Compose Specification schema from npm, the AWS CLI from PyPI).

They are built once per machine into ${SECSTASH_CACHE:-~/.cache/secstash}. Where they cannot be built a test
is skipped on a developer's machine and fails in CI (CI=true), so a green CI run always ran them.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.unit.deploy.tools import install_deploy_tools


@pytest.fixture(scope="session")
def deploy_tools() -> dict[str, Any]:
    return install_deploy_tools()
