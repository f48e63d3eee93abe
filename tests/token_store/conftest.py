"""Token store test fixtures, and the secret-leak guard every token test runs under.

The guard collects every log record (all loggers, DEBUG and up), everything written to
stdout/stderr (fd level, so subprocess output passed through counts too), and any text a test
hands it (exception messages, CLI output, subprocess stderr). At teardown it searches all of it for
every secret the test registered: app secret, encryption key, and every access/refresh token the
test saw or the simulator issued.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from token_store.models import TokenSet, utcnow


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        if record.exc_info:
            self.lines.append(logging.Formatter().formatException(record.exc_info))


@dataclass
class LeakGuard:
    secrets: set[str] = field(default_factory=set)
    texts: list[str] = field(default_factory=list)
    sources: list[object] = field(default_factory=list)  # objects with .issued_secrets()

    def secret(self, *values: str | SecretStr | TokenSet | None) -> None:
        for v in values:
            if isinstance(v, TokenSet):
                self.secrets.add(v.access_token.get_secret_value())
                if v.refresh_token is not None:  # None: client credentials
                    self.secrets.add(v.refresh_token.get_secret_value())
            elif isinstance(v, SecretStr):
                self.secrets.add(v.get_secret_value())
            elif v:
                self.secrets.add(v)

    def text(self, *values: object) -> None:
        for v in values:
            if isinstance(v, BaseException):
                self.texts += [str(v), repr(v)]
            else:
                self.texts.append(str(v))

    def check(self, extra: list[str]) -> None:
        for src in self.sources:
            self.secret(*src.issued_secrets())  # type: ignore[attr-defined]
        corpus = "\n".join([*self.texts, *extra])
        leaked = [s[:4] + "…" for s in self.secrets if len(s) >= 8 and s in corpus]
        assert not leaked, f"secret values found in logs/output: {leaked}"


@pytest.fixture(autouse=True)
def leak_guard(capfd: pytest.CaptureFixture[str]) -> Iterator[LeakGuard]:
    guard = LeakGuard()
    handler = _Collect()
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield guard
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    out, err = capfd.readouterr()
    guard.check([*handler.lines, out, err])


@pytest.fixture
def fernet_key(leak_guard: LeakGuard) -> str:
    key = Fernet.generate_key().decode()
    leak_guard.secret(key)
    return key


def make_token_set(
    leak_guard: LeakGuard,
    tag: str = "a",
    access_in: timedelta = timedelta(hours=20),
    refresh_in: timedelta = timedelta(days=25),
    account_ids: list[int] | None = None,
) -> TokenSet:
    now = utcnow()
    ts = TokenSet(
        access_token=f"access-{tag}-" + "x" * 24,
        refresh_token=f"refresh-{tag}-" + "y" * 24,
        access_expires_at=now + access_in,
        refresh_expires_at=now + refresh_in,
        account_ids=account_ids if account_ids is not None else [1854347260793866, 42],
    )
    leak_guard.secret(ts)
    return ts


class _SandboxSecrets:
    """Every token the simulator ever issued, plus its app secret (read at guard teardown)."""

    def __init__(self, sb: object) -> None:
        self._sb = sb

    def issued_secrets(self) -> list[str]:
        auth = self._sb.oe.auth  # type: ignore[attr-defined]
        with auth._lock:  # the simulator's own registry of issued tokens
            return [*auth._access, *auth._refresh, self._sb.oe.app_secret]  # type: ignore[attr-defined]


@pytest.fixture
def sandbox(leak_guard: LeakGuard) -> Iterator[object]:
    from sandbox.server import Sandbox

    with Sandbox(profile="fast") as sb:
        leak_guard.sources.append(_SandboxSecrets(sb))
        yield sb


def refresh_calls(sb: object) -> int:
    return sb.oe.counters_snapshot()["requests"].get("oauth2/refresh_token", 0)  # type: ignore[attr-defined]


def api_accepts(sb: object, access_token: str) -> bool:
    """Ask the simulator (an authenticated endpoint) whether the access token is valid."""
    import httpx

    # The token travels in the query here (as in the reference request); importing the client
    # installs the redaction of ``access_token=`` from httpx's request log, which the leak
    # guard checks like any other output.
    import integrations.sources.oceanengine.client  # noqa: F401

    r = httpx.get(
        sb.oceanengine_url + "/open_api/oauth2/advertiser/get/",  # type: ignore[attr-defined]
        params={"access_token": access_token},  # where the reference request carries it
    )
    return r.json()["code"] == 0


def run_cli(argv: list[str], capfd, guard: LeakGuard, stdin: str | None = None, monkeypatch=None):
    """``adsync <argv>`` in-process: (exit code, stdout, stderr), both scanned for secrets."""
    import io

    from flows.cli import main
    from integrations.settings import get_settings

    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    get_settings.cache_clear()
    with pytest.raises(SystemExit) as e:
        main(argv)
    out, err = capfd.readouterr()
    guard.text(out, err)
    return e.value.code, out, err
