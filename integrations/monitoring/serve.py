"""``monitor.py serve``: the operations endpoints over HTTP, for load balancers and Prometheus.

- ``GET /health``: the findings of ``monitor.py check`` as JSON (same body as ``check --json``);
  HTTP 200 when healthy or only warnings, 503 when any finding is critical (what a probe acts on).
- ``GET /metrics``: Prometheus text (integrations/monitoring/metrics.py).

Every request reads afresh (a new :class:`Monitor` on one shared engine): a failed run turns
``/health`` to 503 on the next probe and a successful rerun turns it back. The standard library
server is enough for a scrape every few seconds; it binds to 127.0.0.1 unless told otherwise.
Nothing secret is served: findings and metrics never contain tokens, and a database error is
answered with the driver's first line, never the URL.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from integrations.monitoring import metrics as mx
from integrations.monitoring.checks import Monitor, run_checks
from integrations.monitoring.findings import Finding, Severity, report
from integrations.settings import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9845

MonitorFactory = Callable[[], Monitor]


def health_report(m: Monitor) -> dict[str, Any]:
    """The body of ``check --json`` (and of ``GET /health``)."""
    return report(run_checks(m), m.source)


def health_http_status(body: dict[str, Any]) -> int:
    # Warnings (a Partial run, a token expiring in days) need a person, not a failover.
    return 503 if body["exit_code"] >= int(Severity.CRITICAL) else 200


def _db_error(e: SQLAlchemyError) -> str:
    return str(getattr(e, "orig", None) or type(e).__name__).splitlines()[0][:160]


class OpsHandler(BaseHTTPRequestHandler):
    server: OpsServer
    server_version = "adsync-ops"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path == "/health":
            self._health()
        elif path == "/metrics":
            self._metrics()
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found: try /health or /metrics\n")

    def _health(self) -> None:
        try:
            body = health_report(self.server.new_monitor())
        except (SQLAlchemyError, ConfigError) as e:
            db = isinstance(e, SQLAlchemyError)
            f = Finding(
                Severity.CRITICAL,
                "database" if db else "config",
                "app database" if db else "settings",
                _db_error(e) if db else f"misconfigured: {e}",
            )
            body = report([f], "ledger")
        data = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
        self._send(health_http_status(body), "application/json; charset=utf-8", data)

    def _metrics(self) -> None:
        try:
            text = mx.render(mx.collect(self.server.new_monitor()))
        except (SQLAlchemyError, ConfigError) as e:
            why = f"database error: {_db_error(e)}" if isinstance(e, SQLAlchemyError) else str(e)
            msg = f"{why}\n".encode()
            self._send(503, "text/plain; charset=utf-8", msg)
            return
        self._send(200, mx.CONTENT_TYPE, text.encode("utf-8"))

    def _send(self, code: int, ctype: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        if not self.server.quiet:
            sys.stderr.write(f"monitor serve: {self.address_string()} {format % args}\n")


class OpsServer(ThreadingHTTPServer):
    daemon_threads = True  # a slow scrape never blocks shutdown

    def __init__(self, address: tuple[str, int], new_monitor: MonitorFactory, quiet: bool = False):
        self.new_monitor = new_monitor
        self.quiet = quiet
        super().__init__(address, OpsHandler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


def make_server(
    new_monitor: MonitorFactory,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    quiet: bool = False,
) -> OpsServer:
    """Bind (port 0: an ephemeral port, see ``.url``); call ``serve_forever()`` to answer."""
    return OpsServer((host, port), new_monitor, quiet=quiet)
