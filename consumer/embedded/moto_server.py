"""moto's standalone server: S3, KMS, DynamoDB, CloudWatch, STS... on one local port.

Used for the S3 archive, the KCL lease table (DynamoDB) and CloudWatch metrics. Not for Kinesis: the KCL
daemon's Kinesis client speaks HTTP/2 only, which moto cannot serve (use :mod:`.kinesis_local`).

State lives in memory: a restart loses everything; :meth:`MotoServer.reset` clears it without one.
Requests need some credentials and a region (any values); moto accepts them all.
"""

from __future__ import annotations

import sys
import urllib.request
from pathlib import Path

from .process import EmbeddedServer, ManagedProcess, free_port, http_status, temp_dir


class MotoServer(EmbeddedServer):
    """``MotoServer(port=None, *, host="127.0.0.1", log_dir=None)``; ``.endpoint`` is ``http://host:port``."""

    start_timeout = 60.0

    def __init__(
        self, port: int | None = None, *, host: str = "127.0.0.1", log_dir: Path | None = None
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        log_dir = Path(log_dir) if log_dir else temp_dir("secstash-moto-")
        self.process = ManagedProcess(
            [sys.executable, "-m", "moto.server", "-H", host, "-p", str(self.port)],
            name=f"moto_server:{self.port}",
            log_path=log_dir / f"moto-{self.port}.log",
        )

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        """Drop every resource in every service (moto's ``/moto-api/reset``)."""
        request = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def _ready(self) -> bool:
        # A real request through moto's dispatcher, not just an open socket.
        return http_status(f"{self.endpoint}/moto-api/data.json") == 200
