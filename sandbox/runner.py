"""Serve an ASGI app on loopback in a background thread (used by the sandbox and its tests)."""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field

import uvicorn


@dataclass
class ServedApp:
    """A running uvicorn server; ``url`` is ``http://127.0.0.1:PORT`` (no trailing slash)."""

    server: uvicorn.Server
    thread: threading.Thread
    port: int
    host: str = "127.0.0.1"
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self._stopped:
            return
        self.server.should_exit = True
        self.thread.join(timeout)
        self._stopped = True


def serve_in_thread(
    app, port: int = 0, host: str = "127.0.0.1", timeout: float = 15.0
) -> ServedApp:
    """Start ``app`` on ``host:port`` (0 = a free port) and return once it accepts connections."""
    # proto=IPPROTO_TCP so asyncio sets TCP_NODELAY on accepted sockets; with proto 0 it does
    # not, and Nagle + delayed ACK add ~40 ms to every response.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox-{port}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"sandbox server on {host}:{port} did not start")
        time.sleep(0.01)
    return ServedApp(server=server, thread=thread, port=port, host=host)
