"""``adsync demo``: the zero-credential quick start.

Starts the sandbox (local Ocean Engine + Feishu simulators), points the product at it, seeds the
token store with a real OAuth exchange against the simulator, and runs the 本地推 (laike-daily) and
DOU+ flows for yesterday into the default SQLite database and the sandbox Bitable. Prints what was
written and where to look. Nothing here is demo-only logic: it is the real flow, client, token store
and sink.
"""

from __future__ import annotations

import os
import shlex
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from integrations.settings import Settings, get_settings

ENV_FILE_NAME = ".env.sandbox"


def sandbox_env(sb, data_dir: Path) -> dict[str, str]:
    """ADSYNC_* for the sandbox plus a persistent local token-encryption key for the demo."""
    from cryptography.fernet import Fernet

    from integrations.private_files import private_dir, write_private

    private_dir(data_dir)
    key_file = data_dir / "demo-token-key"
    if not key_file.exists():
        write_private(key_file, Fernet.generate_key())
    env = dict(sb.env())
    env.setdefault("ADSYNC_TOKEN_ENCRYPTION_KEY", key_file.read_text().strip())
    return env


def seed_tokens(sb, settings: Settings) -> None:
    """Authorise the sandbox app (auth-code exchange), as `adsync tokens exchange` would.

    Always a fresh exchange: the simulator keeps issued tokens in memory only, so a pair stored
    by an earlier demo is unknown to this one.
    """
    from integrations.database.migrate import upgrade
    from token_store.api import build_token_store

    upgrade(settings.db_url)
    build_token_store(settings).exchange_auth_code(sb.oe.issue_auth_code())


def prepare_sandbox_env(sb, data_dir: Path) -> dict[str, str]:
    """Point this process at ``sb`` and authorise it; return the env a second process needs.

    The returned variables pin everything a later ``adsync run`` must share with this process:
    the simulators' addresses and credentials, the encryption key the token pair was stored
    with, and the database (and data dir) holding that pair.
    """
    data_dir = data_dir.resolve()
    env = sandbox_env(sb, data_dir)
    os.environ.update(env)
    get_settings.cache_clear()
    settings = get_settings()
    seed_tokens(sb, settings)
    env["ADSYNC_DATA_DIR"] = str(settings.data_dir.resolve())
    env["ADSYNC_DATABASE_URL"] = settings.db_url
    env["ADSYNC_TOKEN_BACKEND"] = settings.token_backend
    return env


def write_env_file(path: Path, env: dict[str, str]) -> Path:
    """Write ``env`` as a .env file that both python-dotenv and ``sh`` (``set -a; . FILE``) read.

    Mode 0600: the values are sandbox-only, but it is still a file of secrets.
    """
    path = path.resolve()
    lines = [
        "# Written by adsync: points adsync at a running sandbox (valid while it runs).",
        "# Use: set -a; . " + shlex.quote(str(path)) + "; set +a",
    ]
    lines += [f"{k}={shlex.quote(v)}" for k, v in sorted(env.items())]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)
    return path


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _exe(name: str) -> str:
    """How to call a console script of this install, relative to the cwd when inside it."""
    return _rel(Path(sys.executable).with_name(name))


def next_commands(env_file: Path, page_url: str | None, today: date | None = None) -> list[str]:
    """The exact commands that run the product against the sandbox described by ``env_file``."""
    today = today or datetime.now(ZoneInfo("Asia/Shanghai")).date()
    end = today - timedelta(days=1)
    start = end - timedelta(days=6)
    src = f"set -a; . {shlex.quote(str(env_file))}; set +a"
    lines = [
        "next, in another terminal (this one keeps the sandbox up; Ctrl-C stops it):",
        f"  {src}",
        f"  {_exe('adsync')} run laike --start {start} --end {end}",
        f"  {_exe('adsync')} run douplus",
        f"  {_exe('adsync')} tokens status",
        f"  {_exe('python')} {_rel(Path(__file__).resolve().parents[1] / 'monitor.py')} view",
    ]
    if page_url:
        lines.append(f"  open {page_url}   # the sandbox Bitable and the bot's cards")
    lines.append(
        "  (optional, faster runs: `"
        + _exe("prefect")
        + " server start` in a third terminal, then `export "
        "PREFECT_API_URL=http://127.0.0.1:4200/api`)"
    )
    return lines


def _demo_exit_code(sb, summaries) -> int:
    """0 when every run did what the sandbox scripts: only its no-permission accounts fail."""
    forbidden = {str(a.id) for a in sb.data.local_accounts if a.forbidden}
    code = 0
    for summary in summaries:
        if summary is None or summary.error or any(s.error for s in summary.sinks.values()):
            code = 1
            continue
        unexpected = [a for a in summary.failed_accounts if str(a.account_id) not in forbidden]
        if unexpected:
            code = 1
    if forbidden:
        typer.echo(
            f"note: sandbox account(s) {', '.join(sorted(forbidden))} are deliberately without "
            "permission (code 40002), to show how a failing account is reported."
        )
    return code


def run_demo(state_dir: Path, keep_serving: bool = False) -> int:
    from flows.accounts import accounts_hourly
    from flows.douplus import douplus_daily
    from flows.dpa import dpa_daily
    from flows.laike import laike_daily
    from flows.run_cli import execute
    from flows.supplier import supplier_daily
    from sandbox.server import Sandbox

    t0 = time.monotonic()
    state_dir = state_dir.resolve()
    with Sandbox(state_dir=state_dir, profile="realistic") as sb:
        env = prepare_sandbox_env(sb, state_dir.parent)
        settings = get_settings()
        typer.echo(
            f"sandbox up: Ocean Engine {sb.oceanengine_url}, Feishu {sb.feishu_url}, "
            f"supplier {sb.supplier_url}"
        )
        # DOU+ after 本地推 (laike-daily), as scheduled; then the account list, the DPA product
        # libraries and the supplier's products, prices and stock.
        summaries = [
            execute(laike_daily),
            execute(douplus_daily),
            execute(accounts_hourly),
            execute(dpa_daily),
            execute(supplier_daily),
        ]
        code = _demo_exit_code(sb, summaries)
        typer.echo("")
        typer.echo(f"done in {time.monotonic() - t0:.1f}s. Where to look:")
        typer.echo(f"  database (SQLite):  {settings.db_url.removeprefix('sqlite:///')}")
        typer.echo(f"  sandbox Bitable:    {sb.page_url}  (while the sandbox runs)")
        typer.echo(f"  sandbox state:      {state_dir}")
        typer.echo(f"  supplier images:    {settings.supplier_media_path}")
        # The same paths as the next commands (absolute when run from outside the checkout).
        monitor = _rel(Path(__file__).resolve().parents[1] / "monitor.py")
        typer.echo(
            f"  run history:        {_exe('prefect')} server start  →  http://127.0.0.1:4200/runs"
        )
        typer.echo(f"  runs and health:    {_exe('python')} {monitor} view")
        if keep_serving:
            env_file = write_env_file(Path.cwd() / ENV_FILE_NAME, env)
            typer.echo(f"  sandbox settings:   {env_file}")
            typer.echo("")
            for line in next_commands(env_file, sb.page_url):
                typer.echo(line)
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        else:
            typer.echo(
                f"  browse it later:    {_exe('adsync')} sandbox serve --state-dir {state_dir}"
            )
    return code
