"""HTTP endpoints of the pipeline process: /metrics (Prometheus), /healthz (alive), /readyz (ready).

/healthz is the liveness probe and the container's HEALTHCHECK: 200 while the process serves requests and
every thread that keeps it making progress runs (each stream's daemon supervisor, the search sink's health
monitor and bulk workers); 503 when one has died, since nothing inside would restart it. /readyz answers 200
only when every configured stream has a running KCL daemon and every sink answered its last health check; it
is for readiness only, so a search outage takes the task out of rotation (nothing routes to it anyway) but
never gets it killed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

ReadinessCheck = Callable[[], dict[str, bool]]


class _Handler(BaseHTTPRequestHandler):
    server: HealthServer

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._reply(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
        elif path == "/healthz":
            checks = self.server.liveness()
            alive = all(checks.values())
            body = orjson.dumps({"status": "alive" if alive else "dead", "checks": checks}) + b"\n"
            self._reply(200 if alive else 503, body, "application/json")
        elif path == "/readyz":
            checks = self.server.readiness()
            ready = all(checks.values())
            body = orjson.dumps({"status": "ready" if ready else "unready", "checks": checks}) + b"\n"
            self._reply(200 if ready else 503, body, "application/json")
        else:
            self._reply(404, b"not found\n", "text/plain")

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - scrapes are not worth a log line
        pass


class HealthServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, readiness: ReadinessCheck,
                 liveness: ReadinessCheck = lambda: {}) -> None:
        super().__init__((host, port), _Handler)
        self.readiness = readiness
        self.liveness = liveness
        self._thread = threading.Thread(target=self.serve_forever, name="health-server", daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
