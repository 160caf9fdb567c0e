"""Every property key secstash writes or allows is one the installed MultiLangDaemon really has: the daemon
ignores unknown keys with one log line, so this is the only place a misspelling would surface."""

from __future__ import annotations

import shutil

import pytest

from consumer.embedded import paths
from consumer.kcl import properties

pytestmark = pytest.mark.integration


def test_known_keys_are_setters_of_the_installed_daemon() -> None:
    javap = shutil.which("javap") or str(paths.java_home(17) / "bin" / "javap")
    in_jar = properties.known_keys_in_jar(str(paths.kcl_jars_dir()), javap)
    assert "streamName" in in_jar and "maxRecords" in in_jar  # the introspection itself works
    nested = {key for key in properties.KNOWN_KEYS if "." in key}  # client builder properties
    missing = sorted(properties.KNOWN_KEYS - nested - properties.DAEMON_KEYS - in_jar)
    assert not missing, f"not settable on the installed MultiLangDaemon: {missing}"
