"""kinesis-local (kinesis-mock, npm): a Kinesis API the KCL daemon can talk to.

Why not moto: the KCL daemon's Kinesis client always speaks HTTP/2; on an ``http://`` endpoint that means
cleartext HTTP/2 (h2c), which kinesis-mock's plain port serves and moto does not.

Quirks worth knowing (kinesis-local 0.6.2):

* It listens on every interface, on two ports: plain (HTTP/1.1 and h2c) and TLS (self-signed). Both are
  picked free per instance so two instances never clash.
* It crashes at start without ``KINESIS_MOCK_CERT_PATH`` pointing at the ``server.json`` it ships.
* Stream state changes (create, delete, split, merge, update shard count, register consumer...) take
  500 ms by default; here they are set to ``SECSTASH`` defaults of a few ms so tests need not wait.
* PutRecords gets slower as the stream fills (about 140 records/s averaged over 20,000 records):
  a new stream per test, a few thousand records at most.
* Streams are namespaced by account: a request signed with a 12-digit access key id uses that account,
  any other key the default ``AWS_ACCOUNT_ID``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from . import paths
from .process import EmbeddedServer, ManagedProcess, free_port, http_status, temp_dir

#: Durations of kinesis-mock's simulated state transitions (its default is 500ms each).
FAST_TRANSITIONS = {
    name: "1ms"
    for name in (
        "CREATE_STREAM_DURATION",
        "DELETE_STREAM_DURATION",
        "REGISTER_STREAM_CONSUMER_DURATION",
        "DEREGISTER_STREAM_CONSUMER_DURATION",
        "START_STREAM_ENCRYPTION_DURATION",
        "STOP_STREAM_ENCRYPTION_DURATION",
        "MERGE_SHARDS_DURATION",
        "SPLIT_SHARD_DURATION",
        "UPDATE_SHARD_COUNT_DURATION",
        "UPDATE_STREAM_MODE_DURATION",
    )
}


class KinesisLocal(EmbeddedServer):
    """``KinesisLocal(port=None, *, tls_port=None, region="us-east-1", account_id="000000000000",
    initialize_streams=None, log_level="WARN", log_dir=None, extra_env=None)``.

    ``.endpoint`` is the plain ``http://127.0.0.1:port`` (boto3 and the KCL daemon both use it);
    ``.tls_endpoint`` the ``https://`` one (self-signed: ``verify=False``).
    ``initialize_streams`` is kinesis-mock's ``INITIALIZE_STREAMS``: ``{"name": shards}`` created at start.
    """

    start_timeout = 60.0

    def __init__(
        self,
        port: int | None = None,
        *,
        tls_port: int | None = None,
        region: str = "us-east-1",
        account_id: str = "000000000000",
        initialize_streams: Mapping[str, int] | None = None,
        log_level: str = "WARN",
        log_dir: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        home = paths.kinesis_local_home()
        self.port = port or free_port("0.0.0.0")
        self.tls_port = tls_port or free_port("0.0.0.0")
        self.region = region
        self.account_id = account_id
        env = dict(os.environ)
        env.update(FAST_TRANSITIONS)
        env.update(
            KINESIS_MOCK_CERT_PATH=str(home / "server.json"),
            KINESIS_MOCK_PLAIN_PORT=str(self.port),
            KINESIS_MOCK_TLS_PORT=str(self.tls_port),
            AWS_REGION=region,
            AWS_ACCOUNT_ID=account_id,
            LOG_LEVEL=log_level,
            ROOT_LOG_LEVEL="ERROR",
            SHOULD_PERSIST_DATA="false",
            LOAD_DATA_IF_EXISTS="false",
            SHARD_LIMIT="1000",
            ON_DEMAND_STREAM_COUNT_LIMIT="100",
        )
        if initialize_streams:
            env["INITIALIZE_STREAMS"] = ",".join(
                f"{name}:{shards}" for name, shards in initialize_streams.items()
            )
        env.update(extra_env or {})
        log_dir = Path(log_dir) if log_dir else temp_dir("secstash-kinesis-")
        self.process = ManagedProcess(
            [paths.node_binary(), str(home / "main.js")],
            name=f"kinesis-local:{self.port}",
            log_path=log_dir / f"kinesis-local-{self.port}.log",
            env=env,
            cwd=log_dir,
        )

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def tls_endpoint(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def _ready(self) -> bool:
        return http_status(f"{self.endpoint}/healthcheck") == 200
