"""OAuth2 client credentials through the token store, against a tiny local HTTP token endpoint.

The endpoint (a real HTTP server on 127.0.0.1) is strict: form or JSON body as configured,
``grant_type=client_credentials``, the right id and secret, else HTTP 400/401 with an RFC 6749
error body (which echoes the submitted secret, as some servers do, to prove it is redacted).
``GET /api/ping`` accepts only a current token, so a token the store hands out is shown to work.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import SecretStr

from integrations.database.migrate import upgrade
from integrations.retry import RetryPolicy
from integrations.settings import ConfigError, load_settings
from tests.token_store.conftest import LeakGuard, make_token_set
from token_store.api import TokenStore, build_token_store
from token_store.client_credentials import ClientCredentials, ClientCredentialsRejected
from token_store.errors import OAuthError, TokenNotFound
from token_store.models import NO_REFRESH_EXPIRY, TokenKey, TokenSet, utcnow

CLIENT_ID = "cid-4711"
FAST = RetryPolicy(max_attempts=4, base_delay_s=0.01, max_delay_s=0.02)


class TokenServer:
    """The token endpoint and one protected resource; counts every token request."""

    def __init__(self, *, encoding: str = "form", envelope: str | None = None) -> None:
        self.secret = "cs-" + secrets.token_hex(16)
        self.encoding, self.envelope = encoding, envelope
        self.ttl_s = 7200
        self.faults: list[str] = []  # consumed one per token request: "500", "429", "html"
        self.token_requests = 0
        self.valid: set[str] = set()
        self.issued: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                if self.path != "/oauth2/auth":
                    return self._send(404, {"error": "not_found"})
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                status, body = server.token(self.headers.get("Content-Type", ""), raw)
                self._send(status, body)

            def do_GET(self) -> None:  # noqa: N802
                auth = self.headers.get("Authorization", "")
                ok = auth.startswith("Bearer ") and auth[7:] in server.valid
                self._send(200 if ok else 401, {"ok": ok})

            def _send(self, status: int, body: object) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()

    def token(self, content_type: str, raw: str) -> tuple[int, object]:
        with self._lock:
            self.token_requests += 1
            fault = self.faults.pop(0) if self.faults else None
        if fault == "500":
            return 500, {"error": "server_error"}
        if fault == "429":
            return 429, {"error": "slow_down"}
        if fault == "html":
            return 200, b"<html>gateway</html>"
        if self.encoding == "json":
            if "application/json" not in content_type:
                return 400, {"error": "invalid_request", "error_description": "JSON expected"}
            form = json.loads(raw)
        else:
            if "application/x-www-form-urlencoded" not in content_type:
                return 400, {"error": "invalid_request", "error_description": "form expected"}
            form = {k: v[0] for k, v in parse_qs(raw).items()}
        if form.get("grant_type") != "client_credentials":
            return 400, {"error": "unsupported_grant_type"}
        given = form.get("client_secret", "")
        if form.get("client_id") != CLIENT_ID or given != self.secret:
            return 401, {"error": "invalid_client", "error_description": f"bad secret {given}"}
        token = "at-" + secrets.token_hex(16)
        with self._lock:
            self.valid.add(token)
            self.issued.append(token)
        fields = {"access_token": token, "token_type": "Bearer", "expires_in": self.ttl_s}
        return 200, fields if self.envelope is None else {"code": 0, self.envelope: fields}

    def revoke_all(self) -> None:
        with self._lock:
            self.valid.clear()

    def accepts(self, token: str) -> bool:
        r = httpx.get(self.url + "/api/ping", headers={"Authorization": f"Bearer {token}"})
        return r.status_code == 200

    def issued_secrets(self) -> list[str]:
        return [self.secret, *self.issued]

    def close(self) -> None:
        self._http.shutdown()
        self._http.server_close()


@pytest.fixture
def server(leak_guard: LeakGuard) -> Iterator[TokenServer]:
    srv = TokenServer()
    leak_guard.sources.append(srv)
    yield srv
    srv.close()


def _strategy(srv: TokenServer, secret: str | None = None, **kw: object) -> ClientCredentials:
    return ClientCredentials(
        vendor="supplier",
        token_url=srv.url + "/oauth2/auth",
        client_id=CLIENT_ID,
        client_secret=SecretStr(secret if secret is not None else srv.secret),
        timeout_s=5.0,
        retry=FAST,
        secret_setting="ADSYNC_SUPPLIER_CLIENT_SECRET",
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def store(tmp_path, fernet_key: str) -> TokenStore:
    url = f"sqlite:///{tmp_path / 'adsync.db'}"
    upgrade(url)
    return build_token_store(load_settings(database_url=url, token_encryption_key=fernet_key))


KEY = TokenKey("supplier", CLIENT_ID)


def test_first_use_obtains_stores_and_reuses_one_token(server, store, leak_guard) -> None:
    strategy = _strategy(server)
    store.register(strategy)
    assert strategy.key() == KEY
    provider = store.provider(KEY)
    token = provider.get()
    assert server.accepts(token) and server.token_requests == 1
    assert [provider.get() for _ in range(3)] == [token] * 3
    assert store.get_access_token(KEY) == token  # from the store, not only the provider cache
    assert server.token_requests == 1

    stored = store.get(KEY)
    assert stored.refresh_token is None and stored.refresh_expires_at == NO_REFRESH_EXPIRY
    (st,) = store.status()
    assert (st.key, st.provider, st.app_id) == (
        f"supplier:{CLIENT_ID}:default",
        "supplier",
        CLIENT_ID,
    )
    assert not st.has_refresh_token and st.access_valid
    assert not st.refresh_expired and not st.refresh_expiring_soon
    leak_guard.text(repr(strategy), str(strategy), repr(stored), repr(store), st.model_dump_json())
    assert server.secret not in repr(strategy)


def test_a_refused_token_is_replaced_once_for_all_holders(server, store) -> None:
    store.register(_strategy(server))
    a, b = store.provider(KEY), store.provider(KEY)
    stale = a.get()
    assert b.get() == stale
    server.revoke_all()  # the API now answers 401 to it
    assert not server.accepts(stale)
    fresh = a.refresh(stale)
    assert fresh != stale and server.accepts(fresh) and server.token_requests == 2
    assert b.refresh(stale) == fresh  # the other holder reports the same stale token: no request
    assert server.token_requests == 2


def test_an_expired_stored_token_is_reobtained(server, store, leak_guard) -> None:
    store.register(_strategy(server))
    old = TokenSet(
        access_token=SecretStr("at-expired-" + "z" * 20),
        refresh_token=None,
        access_expires_at=utcnow() - timedelta(seconds=1),
        refresh_expires_at=NO_REFRESH_EXPIRY,
    )
    leak_guard.secret(old)
    store.put(KEY, old)
    token = store.get_access_token(KEY)
    assert token != old.access_token.get_secret_value() and server.accepts(token)
    assert server.token_requests == 1


def test_concurrent_first_users_make_one_request(server, store) -> None:
    store.register(_strategy(server))
    got: list[str] = []
    errors: list[BaseException] = []

    def use() -> None:
        try:
            got.append(store.get_access_token(KEY))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(got) == 8 and len(set(got)) == 1
    assert server.token_requests == 1


def test_transient_failures_are_retried(server, store) -> None:
    store.register(_strategy(server))
    server.faults = ["500", "429", "html"]
    token = store.get_access_token(KEY)
    assert server.accepts(token) and server.token_requests == 4


def test_transient_failures_give_up_after_the_policy(server, store) -> None:
    store.register(_strategy(server))
    server.faults = ["500"] * 10
    with pytest.raises(OAuthError, match="HTTP 500"):
        store.get_access_token(KEY)
    assert server.token_requests == FAST.max_attempts
    with pytest.raises(TokenNotFound):
        store.get(KEY)  # nothing stored


def test_wrong_secret_is_rejected_once_and_never_echoed(server, store, leak_guard) -> None:
    wrong = "cs-wrong-" + secrets.token_hex(12)
    leak_guard.secret(wrong)
    strategy = _strategy(server, secret=wrong)
    store.register(strategy)
    with pytest.raises(ClientCredentialsRejected) as e:
        store.get_access_token(KEY)
    leak_guard.text(e.value, repr(strategy))
    msg = str(e.value)
    assert "supplier token endpoint refused client cid-4711: HTTP 401" in msg
    assert "invalid_client" in msg and "ADSYNC_SUPPLIER_CLIENT_SECRET" in msg
    assert wrong not in msg and "***" in msg
    assert server.token_requests == 1  # a refusal is not retried


def test_json_body_and_envelope(leak_guard) -> None:
    srv = TokenServer(encoding="json", envelope="data")
    leak_guard.sources.append(srv)
    try:
        form = _strategy(srv)  # form body: the strict endpoint refuses it
        with pytest.raises(ClientCredentialsRejected, match="HTTP 400.*JSON expected"):
            form.obtain(KEY)
        ts = _strategy(srv, encoding="json", envelope="data").obtain(KEY)
        assert srv.accepts(ts.access_token.get_secret_value())
        no_envelope = _strategy(srv, encoding="json")
        with pytest.raises(OAuthError, match="lacks access_token"):
            no_envelope.obtain(KEY)
    finally:
        srv.close()


def test_token_lifetime_within_the_margin_is_an_error(server) -> None:
    server.ttl_s = "7200"  # type: ignore[assignment] - a string, as some servers send it
    ts = _strategy(server).obtain(KEY)
    assert 7190 < (ts.access_expires_at - utcnow()).total_seconds() <= 7200
    server.ttl_s = "soon"  # type: ignore[assignment]
    with pytest.raises(OAuthError, match="lacks a numeric expires_in"):
        _strategy(server).obtain(KEY)
    server.ttl_s = 30
    with pytest.raises(OAuthError, match="tokens live 30 s, not longer than the refresh margin"):
        _strategy(server).obtain(KEY)
    ts = _strategy(server, refresh_margin=timedelta(seconds=5)).obtain(KEY)
    assert server.accepts(ts.access_token.get_secret_value())


def test_vendors_share_the_store_without_collision(server, store, leak_guard) -> None:
    # Same app id string for two vendors: distinct keys, each renewed by its own strategy only.
    store.register(_strategy(server))
    oe_key = TokenKey.oceanengine(CLIENT_ID)
    with pytest.raises(TokenNotFound):
        store.get_access_token(oe_key)  # an auth-code grant needs a person's consent first
    oe_set = make_token_set(leak_guard, "oe", access_in=timedelta(0))
    store.put(oe_key, oe_set)
    token = store.get_access_token(KEY)
    assert store.get(oe_key) == oe_set and store.get(KEY).access_token.get_secret_value() == token
    by_key = {st.key: st for st in store.status()}
    assert sorted(by_key) == [f"oceanengine:{CLIENT_ID}:default", f"supplier:{CLIENT_ID}:default"]
    assert by_key[str(oe_key)].has_refresh_token and not by_key[str(KEY)].has_refresh_token
    with pytest.raises(ConfigError, match="no token strategy for vendor 'oceanengine'"):
        store.get_access_token(oe_key)  # expired, and no Ocean Engine app configured here
    with pytest.raises(ConfigError, match="does not use auth codes"):
        store.exchange_auth_code("code", KEY)
    other_app = TokenKey("supplier", "someone-else")
    store.put(other_app, make_token_set(leak_guard, "other", access_in=timedelta(0)))
    with pytest.raises(ConfigError, match="belongs to app someone-else"):
        store.get_access_token(other_app)  # never this client's secret for another app's key
    assert store.get_access_token(KEY) == token and server.token_requests == 1
