"""End-to-end harness: one sandbox (moto server, kinesis-local, Elasticsearch) per test session, and
`secstash run` started as the real command in its own process tree.

Each test gets its own stream, lease table (application name), archive prefixes and search namespace, so
tests never see each other's data while sharing the servers. Everything waits on conditions with
timeouts; the KCL's first shard sync on a fresh lease table takes a random 1-30 s, hence generous limits.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
import yaml

from consumer import corpus
from consumer.sandbox import Sandbox, wait_for

BUCKET = "e2e-archive"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    box = Sandbox(workdir=tmp_path_factory.mktemp("sandbox"))
    box.start()
    box.key_id = box.create_key()  # type: ignore[attr-defined]
    box.create_bucket(BUCKET, object_lock=True, retention_days=1,
                      kms_key_id=box.key_id)  # type: ignore[attr-defined]
    try:
        yield box
    finally:
        box.stop()


@dataclass
class Case:
    """One test's slice of the sandbox: a stream, an application, prefixes, a namespace."""

    sandbox: Sandbox
    name: str
    workdir: Path
    shards: int = 2
    processes: list[SecstashProcess] = field(default_factory=list)
    put: list[tuple[corpus.KinesisRecord, str, str]] = field(default_factory=list)  # record, shard, sequence

    @property
    def namespace(self) -> str:
        return self.name.replace("-", "_")

    def settings(self, **sections: Any) -> dict[str, Any]:
        s = self.sandbox.settings(
            [{"name": self.name, "application_name": f"app-{self.name}", "namespace": self.namespace,
              "detection": list(corpus.DETECTION)}],
            BUCKET, self.sandbox.key_id,  # type: ignore[attr-defined]
            archive={"prefix": f"{self.name}/archive", "dead_letter_prefix": f"{self.name}/dead-letter",
                     "spill_prefix": f"{self.name}/spill", "manifest_prefix": f"{self.name}/manifests"},
            **sections)
        data = s.model_dump(mode="json", exclude_none=True)
        data["pipeline"].pop("socket_dir", None)
        return data

    def start(self, worker: str = "worker-a", **sections: Any) -> SecstashProcess:
        """Start `secstash run` as KCL worker `worker`; starting the same worker again is a restart of that
        instance (same id, as a container restarted in place keeps its host name)."""
        sections.setdefault("kcl", {})["worker_id"] = worker
        process = SecstashProcess(self.workdir / f"run-{len(self.processes)}", self.settings(**sections))
        process.start()
        self.processes.append(process)
        return process

    def put_records(self, records: list[corpus.KinesisRecord], batch: int = 250) -> None:
        kinesis = self.sandbox.client("kinesis")
        for start in range(0, len(records), batch):
            pending = records[start:start + batch]
            while pending:
                reply = kinesis.put_records(StreamName=self.name, Records=[
                    {"Data": r.data, "PartitionKey": r.partition_key} for r in pending])
                retry = []
                for record, result in zip(pending, reply["Records"]):
                    if "ErrorCode" in result:
                        retry.append(record)
                    else:
                        self.put.append((record, result["ShardId"], result["SequenceNumber"]))
                pending = retry

    # --- observations ------------------------------------------------------------------------------------

    def indexed(self) -> int:
        search = self.sandbox.search
        assert search is not None
        search.request("POST", f"/logs-*-{self.namespace}/_refresh")
        status, body = search.request("GET", f"/logs-*-{self.namespace}/_count")
        return int(body.get("count", 0)) if status == 200 else 0

    def leases(self) -> list[dict[str, Any]]:
        table = self.sandbox.client("dynamodb")
        try:
            items = table.scan(TableName=f"app-{self.name}")["Items"]
        except table.exceptions.ResourceNotFoundException:
            return []
        return [{k: next(iter(v.values())) for k, v in item.items()} for item in items]

    def archived(self) -> list[dict[str, Any]]:
        s3 = self.sandbox.client("s3")
        lines = []
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{self.name}/archive/"):
            for item in page.get("Contents", []):
                body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
                lines += [orjson.loads(line) for line in body.splitlines() if line]
        return lines

    def dead_letters(self) -> int:
        s3 = self.sandbox.client("s3")
        total = 0
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"{self.name}/dead-letter/"):
            for item in page.get("Contents", []):
                body = gzip.decompress(s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read())
                total += sum(1 for line in body.splitlines() if line)
        return total

    def last_sequence_per_shard(self) -> dict[str, str]:
        last: dict[str, str] = {}
        for _, shard, sequence in self.put:
            if shard not in last or int(sequence) > int(last[shard]):
                last[shard] = sequence
        return last


class SecstashProcess:
    """`secstash run --config F` in its own session, so a test can SIGKILL the whole tree like a crash."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = workdir / "secstash.yml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "secstash.log"
        self.metrics_port = config["metrics"]["port"]
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = dict(os.environ, SECSTASH_PIPELINE__SOCKET_DIR=str(self.workdir / "run"))
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen([sys.executable, "-m", "consumer.cli", "run", "--config", str(self.config_path)],
                                          cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)

    def tree(self) -> list[psutil.Process]:
        assert self.popen is not None
        try:
            root = psutil.Process(self.popen.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def python_rss_mb(self) -> float:
        """Resident memory of the secstash Python processes (pipeline, parser workers, record processors)."""
        total = 0
        for process in self.tree():
            try:
                if "python" in process.name().lower() or "secstash" in " ".join(process.cmdline()):
                    if "java" not in process.name().lower():
                        total += process.memory_info().rss
            except psutil.NoSuchProcess:
                continue
        return total / 1024 / 1024

    def kill_tree(self) -> None:
        """SIGKILL every process of the tree at once: no handler runs, nothing is flushed."""
        processes = self.tree()
        for process in processes:
            try:
                process.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(processes, timeout=30)
        assert self.popen is not None
        self.popen.wait(timeout=30)

    def terminate(self, timeout: float = 120) -> int:
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout=timeout)

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def metric(self, name: str, **labels: str) -> float:
        import urllib.request

        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
        total = 0.0
        for line in text.splitlines():
            if not line.startswith(name):
                continue
            match = re.match(r"^(\w+)(\{[^}]*\})?\s+([0-9.eE+-]+)$", line)
            if not match or match.group(1) != name:
                continue
            got = dict(re.findall(r'(\w+)="([^"]*)"', match.group(2) or ""))
            if all(got.get(k) == v for k, v in labels.items()):
                total += float(match.group(3))
        return total


@pytest.fixture
def case(sandbox: Sandbox, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Case]:
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40] + f"-{int(time.time()) % 100000}"
    made = Case(sandbox, name, tmp_path)
    made.shards = getattr(request, "param", 2)
    sandbox.create_stream(name, made.shards)
    try:
        yield made
    finally:
        for process in made.processes:
            if process.alive:
                process.kill_tree()


def wait_indexed(case: Case, expected: int, timeout: float, processes: list[SecstashProcess] | None = None) -> None:
    def check() -> bool:
        for process in processes or []:
            assert process.alive, f"secstash run exited:\n{process.log_tail()}"
        return case.indexed() >= expected

    wait_for(check, timeout, interval=1.0, what=f"{expected} documents indexed (have {case.indexed()})")
