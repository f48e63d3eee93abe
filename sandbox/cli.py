"""``adsync sandbox ...``: run the Ocean Engine + Feishu simulators in the foreground.

``serve`` prints exactly one JSON line on stdout once both servers accept connections, so a
caller (script, test, the demo) can read it and go. Printing the sandbox credentials is the
point of that line; they are fake and only valid against this loopback sandbox.

Before that line, ``serve`` authorises the sandbox app (a real auth-code exchange) into the app
database and writes ``.env.sandbox``: sourcing it makes ``adsync run …`` work against this
sandbox at once (same encryption key, same database, a token pair the simulator knows). The
next commands go to stderr, for people.
"""

from __future__ import annotations

import json
import signal
import threading
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

app = typer.Typer(help="Local simulators of Ocean Engine and Feishu.", no_args_is_help=True)


class ProfileName(StrEnum):
    fast = "fast"
    realistic = "realistic"
    chaos = "chaos"


def ready_line(sandbox: Any) -> dict[str, Any]:
    """The JSON object ``serve`` prints (also handy for in-process callers)."""
    started_fs = sandbox.fs is not None
    return {
        "oceanengine_url": sandbox.oceanengine_url,
        "feishu_url": sandbox.feishu_url if started_fs else None,
        "supplier_url": sandbox.supplier_url,
        "credentials": sandbox.credentials(),
        "page_url": sandbox.page_url,
        "counters_url": sandbox.counters_url,
        "profile": sandbox.profile,
        "seed": sandbox.seed,
        "env": sandbox.env(),
    }


@app.command("serve")
def serve(
    state_dir: Path | None = typer.Option(
        None,
        "--state-dir",
        help="Where the Feishu simulator keeps its bases (default: DATA_DIR/sandbox).",
    ),
    oceanengine_port: int = typer.Option(0, "--oceanengine-port", help="0 = any free port."),
    feishu_port: int = typer.Option(0, "--feishu-port", help="0 = any free port."),
    supplier_port: int = typer.Option(0, "--supplier-port", help="0 = any free port."),
    profile: ProfileName = typer.Option(
        ProfileName.realistic, "--profile", help="Latency/limits/faults (README: Sandbox)."
    ),
    seed: int = typer.Option(42, "--seed", help="Seed of the simulated data."),
    env_file: Path = typer.Option(
        Path(".env.sandbox"),
        "--env-file",
        help="Where to write the ADSYNC_* settings that point adsync at this sandbox.",
    ),
) -> None:
    """Serve both simulators on 127.0.0.1 until Ctrl-C / SIGTERM; print one JSON line when ready."""
    from flows.demo import next_commands, prepare_sandbox_env, write_env_file
    from integrations.settings import get_settings
    from sandbox.server import Sandbox

    data_dir = get_settings().data_dir
    if state_dir is None:
        state_dir = data_dir / "sandbox"
    from integrations.private_files import private_dir

    private_dir(state_dir)

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    sandbox = Sandbox(
        state_dir=state_dir,
        profile=profile.value,
        seed=seed,
        oceanengine_port=oceanengine_port,
        feishu_port=feishu_port,
        supplier_port=supplier_port,
    )
    with sandbox:
        env = prepare_sandbox_env(sandbox, data_dir)
        written = write_env_file(env_file, env)
        line = ready_line(sandbox) | {"env": env, "env_file": str(written)}
        typer.echo(json.dumps(line, ensure_ascii=False))
        for text in next_commands(written, sandbox.page_url):
            typer.echo(text, err=True)
        while not stop.wait(0.5):
            pass
