"""`secstash run`'s assembly, without JVMs: every configured stream is known by its key (its `id`, or else its
name) in its daemon's properties file, the stream its processors report, its supervisor, the parsing rules
and the archive; a stream without an `id` keeps the file name, archive keys and document ids it always had."""

from __future__ import annotations

import base64
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import yaml

from consumer import runtime
from consumer import settings as settings_module
from consumer.kcl.processor import SOCKET_ENV, STREAM_ENV
from consumer.pool import parse_chunk
from consumer.server import ShardRegistry
from sinks.archive import reader
from sinks.archive.config import ArchiveSettings
from sinks.archive.encode import decode_object
from sinks.archive.service import ArchiveSink
from sinks.archive.verify import Verifier
from sinks.batch import RawRecord, RecordBatch
from sinks.s3store import LockedObjectStore
from tests.unit.sinks.archive.fakes import FakeS3

ACCOUNT_A = "arn:aws:kinesis:eu-west-1:111111111111:stream/security-logs"
ACCOUNT_B = "arn:aws:kinesis:eu-west-1:222222222222:stream/security-logs"
TWO_ACCOUNTS = [
    {"arn": ACCOUNT_A, "id": "acct-a", "application_name": "soc-acct-a", "namespace": "acct_a",
     "role_arn": "arn:aws:iam::111111111111:role/reader",
     "s3_objects": {"role_arn": "arn:aws:iam::111111111111:role/log-reader"}},
    {"arn": ACCOUNT_B, "id": "acct-b", "application_name": "soc-acct-b", "namespace": "acct_b",
     "role_arn": "arn:aws:iam::222222222222:role/reader",
     "s3_objects": {"role_arn": "arn:aws:iam::222222222222:role/log-reader"}},
]
SHARD = "shardId-000000000000"


def load(tmp_path: Path, streams: list[dict[str, Any]]) -> settings_module.Settings:
    path = tmp_path / "secstash.yml"
    path.write_text(yaml.safe_dump({"streams": streams, "archive": {"bucket": "archive"},
                                    "search": {"hosts": ["http://127.0.0.1:9"]},
                                    "kcl": {"jars_dir": "/opt/kcl/jars", "worker_id": "w-1"}}))
    return settings_module.load(path, environ={})


def properties_of(path: Path) -> dict[str, str]:
    pairs = (line.split(" = ", 1) for line in path.read_text().splitlines() if not line.startswith("#"))
    return dict(pairs)  # type: ignore[arg-type]


def properties_file(launch: runtime.DaemonLaunch) -> Path:
    return Path(launch.command[launch.command.index("--properties-file") + 1])


def test_two_streams_of_one_name_get_their_own_properties_files_and_stream_keys(tmp_path: Path) -> None:
    s = load(tmp_path, TWO_ACCOUNTS)
    launches = runtime.daemon_launches(s, tmp_path / "run", "/run/p.sock", {"PATH": "/bin"})
    files = [properties_file(launch) for launch in launches]
    assert [f.name for f in files] == ["acct-a.properties", "acct-b.properties"]
    # Each daemon reads its own stream: the properties keep the real ARN and the stream's own lease table.
    assert [(properties_of(f)["streamArn"], properties_of(f)["applicationName"]) for f in files] == [
        (ACCOUNT_A, "soc-acct-a"), (ACCOUNT_B, "soc-acct-b")]
    assert [launch.env[STREAM_ENV] for launch in launches] == ["acct-a", "acct-b"]
    assert {launch.env[SOCKET_ENV] for launch in launches} == {"/run/p.sock"}
    assert [launch.stream for launch in launches] == ["acct-a", "acct-b"]


def test_the_daemons_and_their_record_processors_inherit_no_settings_override(tmp_path: Path) -> None:
    """Settings overrides are where secrets are given (the search password, an API key); neither the JVM nor a
    record processor reads settings, so they never see them. AWS credentials and the processors' own
    variables pass."""
    environ = {"PATH": "/bin", "AWS_ROLE_ARN": "arn:aws:iam::111122223333:role/secstash",
               "AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/secrets/token", "SECSTASH_SEARCH__PASSWORD": "Secr3t-pw",
               "secstash_search__api_key": "k3y", "SECSTASH_STREAMS": "[]", "SECSTASH_LOG_LEVEL": "info",
               "SECSTASH_CACHE": "/cache"}
    (launch, _) = runtime.daemon_launches(load(tmp_path, TWO_ACCOUNTS), tmp_path / "run", "/run/p.sock", environ)
    assert set(launch.env) == {"PATH", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "SECSTASH_LOG_LEVEL",
                               "SECSTASH_CACHE", SOCKET_ENV, STREAM_ENV}
    assert launch.env["SECSTASH_LOG_LEVEL"] == "info"


def test_the_app_supervises_one_daemon_per_stream_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[dict[str, Any]] = []

    class RecordingSupervisor:
        def __init__(self, stream: str, command: list[str], env: dict[str, str], *args: Any, stalled: Any,
                     **kwargs: Any) -> None:
            made.append({"stream": stream, "env": env, "properties": Path(command[-1]).name, "stalled": stalled})
            self.stream, self.alive = stream, True

        def start(self) -> None:
            pass

    monkeypatch.setattr(runtime, "DaemonSupervisor", RecordingSupervisor)
    app = runtime.App(load(tmp_path, TWO_ACCOUNTS), run_dir=tmp_path / "run")
    app.server = SimpleNamespace(shards=ShardRegistry())  # type: ignore[assignment]
    app._start_daemons(str(tmp_path / "run" / "p.sock"))
    # The stall watch asks the shard registry about the stream the processors report: the same key.
    assert [(m["stream"], m["env"][STREAM_ENV], m["properties"]) for m in made] == [
        ("acct-a", "acct-a", "acct-a.properties"), ("acct-b", "acct-b", "acct-b.properties")]
    assert all(m["stalled"] == app.server.shards.stalled for m in made)
    assert app.liveness() == {"supervisor:acct-a": True, "supervisor:acct-b": True}


def test_each_stream_key_has_its_own_parsing_rules_and_object_access(tmp_path: Path) -> None:
    config = runtime.worker_config(load(tmp_path, TWO_ACCOUNTS))
    assert {key: p.namespace for key, p in config.parsing.items()} == {"acct-a": "acct_a", "acct-b": "acct_b"}
    assert {key: a.role_arn for key, a in config.objects.items()} == {
        "acct-a": "arn:aws:iam::111111111111:role/log-reader", "acct-b": "arn:aws:iam::222222222222:role/log-reader"}
    wire = [["49590338271490256608559692538361571095921575989136588898", 0, 1_700_000_000_000, "pk",
             base64.b64encode(b'{"message": "hello"}').decode()]]
    indices = {key: parse_chunk(key, SHARD, wire, config).items[0].index for key in ("acct-a", "acct-b")}
    assert indices == {"acct-a": "logs-aws.cloudwatch_logs-acct_a", "acct-b": "logs-aws.cloudwatch_logs-acct_b"}


# Computed by the code before stream ids existed: a stream without `id` must keep it (documents already
# indexed are matched by id when records are read again).
KNOWN_RECORD = ["49590338271490256608559692538361571095921575989136588898", 0, 1_700_000_000_000, "pk",
                base64.b64encode(orjson.dumps({"message": "hello"})).decode()]
KNOWN_ID = "8ErXgh828U0jsWjRmsg6"


def test_a_stream_without_id_keeps_its_file_names_stream_key_and_document_ids(tmp_path: Path) -> None:
    s = load(tmp_path, [{"name": "security-logs", "namespace": "prod"}])
    (launch,) = runtime.daemon_launches(s, tmp_path / "run", "/run/p.sock", {})
    assert properties_file(launch).name == "security-logs.properties"
    assert properties_of(properties_file(launch))["streamName"] == "security-logs"
    assert (launch.env[STREAM_ENV], launch.stream) == ("security-logs", "security-logs")
    config = runtime.worker_config(s)
    (item,) = parse_chunk(launch.env[STREAM_ENV], SHARD, [KNOWN_RECORD], config).items
    assert (item.id, item.index) == (KNOWN_ID, "logs-aws.cloudwatch_logs-prod")
    # The same record of a stream given an id is another document.
    s = load(tmp_path, [{"name": "security-logs", "id": "acct-b", "namespace": "prod"}])
    (other,) = parse_chunk("acct-b", SHARD, [KNOWN_RECORD], runtime.worker_config(s)).items
    assert other.id != KNOWN_ID


def record(sequence: int, arrival_ms: int) -> RawRecord:
    return RawRecord(str(sequence), 0, arrival_ms, "pk", base64.b64encode(b'{"n":%d}' % sequence).decode())


def test_the_archive_keeps_one_chain_per_stream_key_for_one_shard_id(tmp_path: Path) -> None:
    # Account B's stream is older (lower sequence numbers) and its records arrive within account A's window:
    # under one key they were dropped as re-reads of A's chain, or refused as a break of it.
    keys = [launch.env[STREAM_ENV] for launch in
            runtime.daemon_launches(load(tmp_path, TWO_ACCOUNTS), tmp_path / "run", "/run/p.sock", {})]
    a_seq, b_seq = 49_650 * 10 ** 51, 49_590 * 10 ** 51
    t0 = 1_700_000_000_000
    s3 = FakeS3()
    config = ArchiveSettings(bucket="archive", require_object_lock=False)
    sink = ArchiveSink(config, LockedObjectStore(s3, "archive", kms_key_id=None, retention_days=None,
                                                 backoff_initial_s=0), s3)
    sink.start()
    sink.deliver(RecordBatch(keys[0], SHARD, tuple(record(a_seq + i, t0 + i * 1000) for i in range(5)))).result(5)
    sink.deliver(RecordBatch(keys[1], SHARD, tuple(record(b_seq + i, t0 + 2000 + i * 500) for i in range(5)))).result(5)
    sink.deliver(RecordBatch(keys[0], SHARD, tuple(record(a_seq + i, t0 + i * 1000) for i in range(5, 10)))).result(5)
    sink.deliver(RecordBatch(keys[1], SHARD, tuple(record(b_seq + i, t0 + 4600 + i * 10) for i in range(5, 10)))).result(5)
    sink.close(1)
    held = {key: sorted(int(r.sequence) - base for o in reader.archive_objects(s3, "archive", "archive", key)
                        for r in decode_object(s3.body(o.key), 1 << 20))
            for key, base in zip(keys, (a_seq, b_seq), strict=True)}
    assert held == {"acct-a": list(range(10)), "acct-b": list(range(10))}
    assert {k.split("/")[1] for k in s3.keys("manifests/")} == {"stream=acct-a", "stream=acct-b"}
    report = Verifier(s3, "archive").run()
    assert report.clean and report.manifests == 4, [(f.kind, f.detail) for f in report.findings]


def test_workers_take_the_compiled_record_path_setting(tmp_path: Path) -> None:
    s = load(tmp_path, [{"name": "security-logs"}])
    assert runtime.worker_config(s).native_records is True
    off = s.model_copy(update={"pipeline": s.pipeline.model_copy(update={"native_records": False})})
    assert runtime.worker_config(off).native_records is False


def test_workers_deflate_bulk_lines_at_the_search_sinks_level_only_when_it_gzips(tmp_path: Path) -> None:
    s = load(tmp_path, [{"name": "security-logs"}])
    assert runtime.worker_config(s).bulk_compression == s.search.compression_level == 1
    assert runtime.worker_config(s).bulk_bounds == (s.search.bulk_max_docs, s.search.bulk_max_bytes)
    level3 = s.model_copy(update={"search": s.search.model_copy(update={"compression_level": 3})})
    assert runtime.worker_config(level3).bulk_compression == 3
    off = s.model_copy(update={"search": s.search.model_copy(update={"compress": False})})
    assert runtime.worker_config(off).bulk_compression is None
