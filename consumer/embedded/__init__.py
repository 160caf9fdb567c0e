"""Real local servers for tests and ``secstash demo``: moto, kinesis-local, Elasticsearch/OpenSearch, and the
KCL MultiLangDaemon, installed by ``scripts/setup.sh`` (see ``docs/local-components.md``).

Every server has the same shape: construct (ports picked free unless given), ``start()`` (returns once a
real request succeeds, or raises with the end of its log), ``stop()``, ``kill()``, ``restart()``, use as a
context manager. Nothing here runs as root that refuses to; nothing waits on a fixed sleep.
"""

from .kcl import MultiLangDaemon, daemon_command, write_logback_config
from .kinesis_local import KinesisLocal
from .moto_server import MotoServer
from .paths import ComponentMissing
from .process import EmbeddedServer, ManagedProcess, ProcessError, free_port, wait_until
from .search_engine import SearchEngine

__all__ = [
    "ComponentMissing",
    "EmbeddedServer",
    "KinesisLocal",
    "ManagedProcess",
    "MotoServer",
    "MultiLangDaemon",
    "ProcessError",
    "SearchEngine",
    "daemon_command",
    "free_port",
    "wait_until",
    "write_logback_config",
]
