"""``bench/laike_daily.py --tenants 2``: two tenants' laike-daily at once, one process each.

    .venv/bin/python bench/laike_daily.py --tenants 2 [--accounts 500] [--qps 20]

Setup, none of it timed: the sandbox processes of bench/laike_daily.py (Ocean Engine serving
three apps — the simulator keeps a QPS window per app — and Feishu serving three bases, the
realistic profile), two fresh PostgreSQL databases: one for a throw-away Prefect server (the
production topology; ``--prefect-db sqlite`` for Prefect's default, on which two flow runs
starting at once can be answered 503 "database locked" and wait 2 s, then 4 s, before they
retry: the count is printed) and one for the app (two processes writing one SQLite file would
measure SQLite's lock), three
tenants in an ``adsync.toml``, each with its own app, ``--accounts`` disjoint accounts and its
own base; tokens stored by ``adsync tokens exchange --tenant``.

With ``--warm`` (the daily steady state, as bench/laike_daily.py's): every tenant first syncs
the day before, untimed, in the simulators' fast profile (tables, views, DB rows exist).

1. ``single``: tenant ``solo`` alone (``adsync run laike --tenant solo``): the one-tenant figure;
2. ``two``: tenants ``t1`` and ``t2`` started together, each an ``adsync run laike --tenant``
   process ("one worker each"), on their own app and base.

Wall is the ledger's: first ``started_at`` → last ``finished_at`` of the runs measured (the
flow body; process start-up is bench/laike_daily.py's ``cli`` variant). An app's floor = its
run's Ocean Engine calls ÷ QPS; ``wall_over_floor`` is the two-tenant wall over the slower
app's floor (goal ≤ 1.15), ``single_wall_over_floor`` the same for the tenant alone.

Last line: ``RESULT tenants=2 accounts=... qps=... wall_s=... floor_s=... wall_over_floor=...
single_wall_s=... single_floor_s=... single_wall_over_floor=...``
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from integrations.tenants import PER_TENANT_SETTINGS

APPS = [
    (1_790_000_000_000_002, "bench-oe-secret-t1-7c1a"),
    (1_790_000_000_000_003, "bench-oe-secret-t2-2b9e"),
]
FLAT = tuple(f"ADSYNC_{n.upper()}" for n in PER_TENANT_SETTINGS)
PG_ADMIN = os.environ.get(
    "ADSYNC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _toml(tenants: list[dict[str, Any]], fs_app_id: str) -> str:
    out = []
    for t in tenants:
        out.append(
            f"""[[tenants]]
name = "{t["name"]}"
principals = [{{ name = "ops" }}]
[tenants.oceanengine]
app_id = "{t["app_id"]}"
app_secret_env = "{t["secret_env"]}"
[tenants.accounts]
account_ids = {t["accounts"]}
[tenants.feishu]
app_id = "{fs_app_id}"
app_secret_env = "BENCH_FS_SECRET"
bases = [{{ app_token = "{t["base"]}" }}]
"""
        )
    return "\n".join(out)


def _fresh_db(name: str) -> tuple[str, Any]:
    """A new PostgreSQL database ``name`` (dropped first if left over): its URL, and a drop."""
    import sqlalchemy as sa

    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", drop


def _adsync(argv: list[str], env: dict[str, str], cwd: Path, **kw: Any) -> subprocess.Popen:
    exe = str(Path(sys.executable).with_name("adsync"))
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "ADSYNC_"))}
    return subprocess.Popen([exe, *argv], env=base | env, cwd=cwd, text=True, **kw)


def _ledger(
    db_url: str, tenants: list[str], day: date, launched: float
) -> tuple[float, dict[str, int], dict[str, str]]:
    """Runs of ``day`` (not the warm-up's): (wall: first start → last finish, API calls per
    tenant, status per tenant). Prints each run's start (after its process was launched at
    ``launched``, epoch seconds) and body time: a late start is start-up, not the run."""
    import sqlalchemy as sa

    from integrations.database.tables import sync_runs as t

    eng = sa.create_engine(db_url)
    try:
        with eng.connect() as c:
            rows = c.execute(
                sa.select(
                    t.c.tenant, t.c.started_at, t.c.finished_at, t.c.api_calls, t.c.status
                ).where(t.c.tenant.in_(tenants), t.c.window_start == day)
            ).all()
    finally:
        eng.dispose()
    assert len(rows) == len(tenants), rows
    for r in sorted(rows, key=lambda r: r.started_at):
        body = (r.finished_at - r.started_at).total_seconds()
        print(
            f"  {r.tenant}: body started {r.started_at.timestamp() - launched:.2f}s after launch, "
            f"ran {body:.2f}s"
        )
    wall = (max(r.finished_at for r in rows) - min(r.started_at for r in rows)).total_seconds()
    return wall, {r.tenant: int(r.api_calls or 0) for r in rows}, {r.tenant: r.status for r in rows}


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a running process has used so far (/proc, Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Cpu:
    """CPU used during a phase: the flow processes (waited children), the Prefect server and
    the two simulator processes. Against ``cpus × wall``, it says whether the machine, not
    the apps' QPS, bounded the phase."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self.before = {k: _proc_cpu_s(p) for k, p in pids.items()}
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.children0 = ru.ru_utime + ru.ru_stime

    def used(self) -> dict[str, float]:
        ru = resource.getrusage(resource.RUSAGE_CHILDREN)
        out = {"flows": ru.ru_utime + ru.ru_stime - self.children0}
        out |= {k: _proc_cpu_s(p) - self.before[k] for k, p in self.pids.items()}
        return out


def _cpu_line(cpu: dict[str, float], wall: float) -> str:
    total = sum(cpu.values())
    parts = ", ".join(f"{k} {v:.1f}s" for k, v in cpu.items())
    ncpu = os.cpu_count() or 1
    return f"CPU {total:.1f}s ({parts}) = {total / (ncpu * wall):.0%} of {ncpu} CPUs × wall"


def _run(names: list[str], env: dict[str, str], cwd: Path, day: str) -> list[str]:
    """One ``adsync run laike`` process per tenant, started together; their summary lines."""
    procs = []
    for n in names:
        log = open(cwd / f"run-{n}.log", "w")  # noqa: SIM115 - closed below
        procs.append(
            (
                n,
                log,
                _adsync(
                    ["run", "laike", "--tenant", n, "--date", day],
                    env,
                    cwd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                ),
            )
        )
    out = []
    for n, log, p in procs:
        p.wait()
        log.close()
        text = (cwd / f"run-{n}.log").read_text()
        line = next((ln for ln in text.splitlines() if ln.startswith("laike-daily")), None)
        if line is None:
            raise RuntimeError(f"tenant {n}: no summary (exit {p.returncode}):\n{text[-3000:]}")
        out.append(line)
    return out


def run_tenants(args: argparse.Namespace, prefect_server_cls: Any, sandbox_cls: Any) -> int:
    from cryptography.fernet import Fernet

    from flows.window import china_today

    n, qps = args.accounts, args.qps
    day = china_today() - timedelta(days=1)
    cfg: dict[str, Any] = {
        "seed": args.seed,
        "accounts": 3 * n,
        "qps": qps,
        "window": (day - timedelta(days=1), day),
        "extra_apps": APPS,
        "extra_bases": 2,
    }
    with tempfile.TemporaryDirectory(prefix="adsync-tenants-bench-") as tmp_:
        tmp = Path(tmp_)
        with contextlib.ExitStack() as undo:  # sandbox, server, then their databases
            db_url, drop = _fresh_db(f"bench_tenants_{os.getpid()}")
            undo.callback(drop)
            prefect_db = None
            if args.prefect_db == "postgresql":
                # The production topology (README): two flow runs starting at once on a SQLite
                # Prefect server can be answered 503 (database locked) and wait 2 s, 4 s, ….
                url, drop = _fresh_db(f"bench_tenants_prefect_{os.getpid()}")
                undo.callback(drop)
                prefect_db = url.replace("+psycopg", "+asyncpg", 1)
            prefect = prefect_server_cls(tmp / "prefect-home", prefect_db)
            undo.callback(prefect.close)
            sb = sandbox_cls(cfg)
            undo.callback(sb.close)
            oe, fs = sb._oe.info, sb._fs.info  # noqa: SLF001 - the bench's own helper
            forbidden = set(oe["forbidden"])
            ids = sorted(a for a in oe["account_ids"] if a not in forbidden)
            groups = [ids[i::3][:n] for i in range(3)]
            fs_app_id, fs_secret, fs_base = fs["feishu_app"]
            first_app = oe["app"]
            tenants = [
                {"name": "solo", "app_id": first_app[0], "secret": first_app[1], "base": fs_base},
                {
                    "name": "t1",
                    "app_id": APPS[0][0],
                    "secret": APPS[0][1],
                    "base": fs["extra_bases"][0],
                },
                {
                    "name": "t2",
                    "app_id": APPS[1][0],
                    "secret": APPS[1][1],
                    "base": fs["extra_bases"][1],
                },
            ]
            for t, g in zip(tenants, groups, strict=True):
                t["accounts"], t["secret_env"] = g, f"BENCH_OE_SECRET_{t['name'].upper()}"
            (tmp / "adsync.toml").write_text(_toml(tenants, fs_app_id), encoding="utf-8")
            env = {k: v for k, v in sb.info["env"].items() if k not in FLAT}
            env |= prefect.env | {
                "ADSYNC_CONFIG_FILE": str(tmp / "adsync.toml"),
                "ADSYNC_DATA_DIR": str(tmp / "data"),
                "ADSYNC_DATABASE_URL": db_url,
                "ADSYNC_TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode(),
                "ADSYNC_OCEANENGINE_QPS": f"{qps:g}",
                "BENCH_FS_SECRET": fs_secret,
            }
            env |= {t["secret_env"]: t["secret"] for t in tenants}
            (tmp / "data").mkdir(mode=0o700)
            p = _adsync(
                ["db", "upgrade"], env, tmp, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
            )
            assert p.wait() == 0, p.stdout.read() if p.stdout else ""
            for t in tenants:
                code = httpx.post(
                    f"{oe['oe_url']}/_sandbox/auth_code", params={"app_id": t["app_id"]}, timeout=30
                ).json()["auth_code"]
                p = _adsync(
                    ["tokens", "exchange", code, "--tenant", t["name"]],
                    env,
                    tmp,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                )
                assert p.wait() == 0, p.stdout.read() if p.stdout else ""
            if args.warm:  # steady state: tables, views and the day before already there
                t0 = time.monotonic()
                sb.profile("fast")
                warm_env = env | {"ADSYNC_OCEANENGINE_QPS": "1000"}
                _run(["solo", "t1", "t2"], warm_env, tmp, str(day - timedelta(days=1)))
                sb.profile("realistic")
                print(f"warm-up (untimed, fast profile): {time.monotonic() - t0:.1f}s", flush=True)
            time.sleep(1.1)  # the QPS window forgets the exchanges

            pids = {
                "prefect_server": prefect.proc.pid,
                "oe_sim": sb._oe._proc.pid,  # noqa: SLF001
                "feishu_sim": sb._fs._proc.pid,  # noqa: SLF001
            }
            print(f"single: tenant solo alone, {n} accounts, QPS {qps:g}…", flush=True)
            meter = _Cpu(pids)
            launched = time.time()
            for line in _run(["solo"], env, tmp, str(day)):
                print("  " + line, flush=True)
            s_cpu = meter.used()
            s_wall, s_calls, s_status = _ledger(db_url, ["solo"], day, launched)
            time.sleep(1.1)
            print(f"two: tenants t1 + t2 at once, {n} accounts each, one process each…", flush=True)
            meter = _Cpu(pids)
            launched = time.time()
            locked_before = prefect.retryable_errors()
            for line in _run(["t1", "t2"], env, tmp, str(day)):
                print("  " + line, flush=True)
            cpu = meter.used()
            locked = prefect.retryable_errors() - locked_before
            wall, calls, status = _ledger(db_url, ["t1", "t2"], day, launched)
    s_floor = s_calls["solo"] / qps
    floor = max(calls.values()) / qps
    print(
        f"\nsingle: wall {s_wall:.2f}s, {s_calls['solo']} calls, floor {s_floor:.2f}s, {s_status}"
    )
    print(f"two:    wall {wall:.2f}s, calls {calls}, slower app's floor {floor:.2f}s, {status}")
    # CPU over the processes' whole lives (start-up included), against the ledger's wall.
    print(f"single: {_cpu_line(s_cpu, s_wall)}")
    print(f"two:    {_cpu_line(cpu, wall)}")
    print(
        f"two:    Prefect server ({args.prefect_db}) answered {locked} request(s) 503, database locked"
    )
    print(
        f"RESULT tenants=2 accounts={n} qps={qps:g} warm={int(args.warm)} wall_s={wall:.2f} floor_s={floor:.2f} "
        f"wall_over_floor={wall / floor:.3f} single_wall_s={s_wall:.2f} "
        f"single_floor_s={s_floor:.2f} single_wall_over_floor={s_wall / s_floor:.3f} "
        f"cpu_s={sum(cpu.values()):.1f} single_cpu_s={sum(s_cpu.values()):.1f} "
        f"prefect_db={args.prefect_db} prefect_503s={locked}"
    )
    return 0 if set(status.values()) | set(s_status.values()) == {"SUCCESS"} else 1
