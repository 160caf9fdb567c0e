"""Running the KCL MultiLangDaemon (Java) that drives our Python record processor.

Only the process: the properties file is the caller's (the daemon ignores unknown keys, so generate and
validate it elsewhere). The jars are the ones ``scripts/setup.sh`` fetched: KCL 3.1.3, the newest KCL 3
MultiLangDaemon that Maven Central serves here (amazon-kclpy 3.2.0 names 3.5.3, which it does not).

The daemon:

* starts ``executableName`` (split on spaces) once per shard lease; that child's stdout is the protocol
  channel, its stderr is copied into the daemon's log;
* logs through logback, INFO to stdout by default; :func:`write_logback_config` makes a quieter config;
* exits (status 1) when a child process dies: whoever runs it must restart it;
* on SIGTERM runs a graceful shutdown of up to ``shutdownGraceMillis`` (property; 0 = none), in which the
  child gets ``shutdown_requested`` and can checkpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from . import paths
from .process import ManagedProcess

MAIN_CLASS = "software.amazon.kinesis.multilang.MultiLangDaemon"

#: Why each JVM flag is there.
BASE_JVM_ARGS = (
    # The SDK's CBOR protocol for Kinesis is not spoken by kinesis-mock and buys nothing here; the
    # AWS_CBOR_DISABLE environment variable has no effect on the v2 SDK, this property does.
    "-Daws.cborEnabled=false",
    # A predictable, small footprint: the daemon only shuttles records between Kinesis and the child.
    "-XX:+UseSerialGC",
    "-XX:+ExitOnOutOfMemoryError",
)


def daemon_command(
    properties_file: Path | str,
    *,
    jars_dir: Path | None = None,
    java_home: Path | None = None,
    heap_mb: int = 256,
    log_configuration: Path | str | None = None,
    jvm_args: Sequence[str] = (),
) -> list[str]:
    """The argv that runs the MultiLangDaemon on ``properties_file``."""
    jars = jars_dir or paths.kcl_jars_dir()
    java = (java_home or paths.java_home(17)) / "bin" / "java"
    argv = [str(java), f"-Xmx{heap_mb}m", *BASE_JVM_ARGS, *jvm_args, "-cp", f"{jars}/*", MAIN_CLASS]
    argv += ["--properties-file", str(properties_file)]
    if log_configuration is not None:
        argv += ["--log-configuration", str(log_configuration)]
    return argv


def write_logback_config(path: Path, *, level: str = "INFO", quiet: Mapping[str, str] | None = None) -> Path:
    """A logback.xml sending the daemon's log to stdout at ``level``, with per-logger overrides.

    ``quiet`` defaults to muting the chattiest loggers seen against the emulators (per-poll and lease
    noise, SDK and Netty internals); pass ``{}`` to keep them.
    """
    overrides = dict(
        {
            "software.amazon.awssdk": "WARN",
            "io.netty": "WARN",
            "software.amazon.kinesis.leases": "WARN",
            "software.amazon.kinesis.coordinator.PeriodicShardSyncManager": "WARN",
        }
        if quiet is None
        else quiet
    )
    loggers = "\n".join(f'  <logger name="{name}" level="{lvl}"/>' for name, lvl in overrides.items())
    path.write_text(
        f"""<configuration>
  <appender name="OUT" class="ch.qos.logback.core.ConsoleAppender">
    <encoder><pattern>%d [%thread] %-5level %logger{{36}} [%mdc{{ShardId:-NONE}}] - %msg%n</pattern></encoder>
  </appender>
{loggers}
  <root level="{level}"><appender-ref ref="OUT"/></root>
</configuration>
"""
    )
    return path


class MultiLangDaemon(ManagedProcess):
    """``MultiLangDaemon(properties_file, *, log_path, env=None, heap_mb=256, log_level=None, cwd=None)``.

    A :class:`~consumer.embedded.process.ManagedProcess` running :func:`daemon_command`: ``start()``,
    ``stop(timeout)`` (SIGTERM, graceful shutdown), ``kill()``, ``is_running``, ``returncode``,
    ``wait_exit(timeout)``, ``log_tail()``. ``env`` is the daemon's environment, which its child inherits
    (credentials for ``EnvironmentVariableCredentialsProvider``, our own settings). ``log_level`` writes a
    logback config beside the log (see :func:`write_logback_config`); None keeps the jar's (INFO).
    """

    def __init__(
        self,
        properties_file: Path | str,
        *,
        log_path: Path,
        env: Mapping[str, str] | None = None,
        heap_mb: int = 256,
        log_level: str | None = None,
        cwd: Path | None = None,
    ) -> None:
        log_config = None
        if log_level is not None:
            log_path.parent.mkdir(parents=True, exist_ok=True)
            log_config = write_logback_config(log_path.with_suffix(".logback.xml"), level=log_level)
        super().__init__(
            daemon_command(properties_file, heap_mb=heap_mb, log_configuration=log_config),
            name="kcl-multilang-daemon",
            log_path=log_path,
            env=dict(os.environ if env is None else env),
            cwd=cwd,
            # SIGTERM the daemon alone: it asks each record processor to shut down (and checkpoint)
            # within shutdownGraceMillis; a SIGTERM straight to the children would skip that.
            term_group=False,
        )
