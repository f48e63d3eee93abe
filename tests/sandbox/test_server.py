"""The Sandbox runner (both simulators in-process) and ``adsync sandbox serve``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx

from sandbox.server import Sandbox

OE_ENV = {
    "ADSYNC_OCEANENGINE_BASE_URL",
    "ADSYNC_OCEANENGINE_APP_ID",
    "ADSYNC_OCEANENGINE_APP_SECRET",
    "ADSYNC_OCEANENGINE_CC_ACCOUNT_ID",
}
FEISHU_ENV = {
    "ADSYNC_FEISHU_BASE_URL",
    "ADSYNC_FEISHU_APP_ID",
    "ADSYNC_FEISHU_APP_SECRET",
    "ADSYNC_FEISHU_APP_TOKEN",
    "ADSYNC_FEISHU_WEBHOOK_URL",
    "ADSYNC_FEISHU_WEBHOOK_SECRET",
}


def _exchange(url: str, creds: dict, code: str) -> dict:
    body = {"app_id": creds["app_id"], "secret": creds["app_secret"], "auth_code": code}
    return httpx.post(f"{url}/open_api/oauth2/access_token/", json=body).json()


def test_sandbox_in_process(tmp_path: Path) -> None:
    with Sandbox(state_dir=tmp_path, profile="fast", seed=5, n_local_accounts=3) as sb:
        assert sb.oceanengine_url.startswith("http://127.0.0.1:")
        env = sb.env()
        assert set(env) >= OE_ENV
        assert all(isinstance(v, str) for v in env.values())
        assert env["ADSYNC_OCEANENGINE_CC_ACCOUNT_ID"] == str(sb.data.cc_account_id)
        if sb.fs is not None:
            assert set(env) >= FEISHU_ENV
        creds = sb.credentials()["oceanengine"]
        first = _exchange(sb.oceanengine_url, creds, creds["auth_code"])
        assert first["code"] == 0
        assert _exchange(sb.oceanengine_url, creds, creds["auth_code"])["code"] == 40110
        assert len(sb.data.local_accounts) == 3
        counters = httpx.get(sb.counters_url).json()
        assert counters["oceanengine"]["requests"] == {"oauth2/access_token": 2}
        assert counters == sb.counters()
        port = int(sb.oceanengine_url.rsplit(":", 1)[1])
    with socket.socket() as s:  # stopped: the port no longer accepts
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_accepted_connections_have_tcp_nodelay() -> None:
    # Regression: without TCP_NODELAY every keep-alive response took ~40 ms (Nagle + delayed
    # ACK). Checked on the server's accepted socket itself: a per-call time limit fails on a
    # busy machine.
    from sandbox.runner import serve_in_thread

    async def app(scope, receive, send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    served = serve_in_thread(app)
    try:
        with httpx.Client() as c:  # keep-alive: the connection stays open while we look
            assert c.get(served.url).text == "ok"
            conns = list(served.server.server_state.connections)
            assert len(conns) == 1
            sock = conns[0].transport.get_extra_info("socket")
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
    finally:
        served.stop()


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not out:
        raise AssertionError(f"no ready line within {timeout}s")
    return out[0]


def test_serve_prints_one_json_line_then_serves(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADSYNC_")}
    env["ADSYNC_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from flows.cli import main; main()", "sandbox", "serve",
         "--profile", "fast", "--seed", "9", "--state-dir", str(tmp_path / "state"),
         "--env-file", str(tmp_path / ".env.sandbox")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    try:
        line = _read_line(proc, 60)
        ready = json.loads(line)
        assert {
            "oceanengine_url",
            "feishu_url",
            "credentials",
            "page_url",
            "counters_url",
            "env",
        } <= set(ready)
        assert ready["seed"] == 9 and ready["profile"] == "fast"
        oe = ready["credentials"]["oceanengine"]
        assert type(oe["app_id"]) is int and type(oe["cc_account_id"]) is int
        assert ready["env"]["ADSYNC_OCEANENGINE_BASE_URL"] == ready["oceanengine_url"]
        assert ready["env"]["ADSYNC_OCEANENGINE_APP_SECRET"] == oe["app_secret"]
        if ready["feishu_url"] is not None:
            assert {"app_id", "app_secret", "app_token", "webhook_url", "webhook_secret"} <= set(
                ready["credentials"]["feishu"]
            )
            assert set(ready["env"]) >= FEISHU_ENV
        assert _exchange(ready["oceanengine_url"], oe, oe["auth_code"])["code"] == 0
        counters = httpx.get(ready["counters_url"]).json()
        # serve's own exchange (the token pair behind .env.sandbox) and ours
        assert counters["oceanengine"]["requests"]["oauth2/access_token"] == 2
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, proc.stderr.read()
    assert proc.stdout.read().strip() == ""  # exactly one line
