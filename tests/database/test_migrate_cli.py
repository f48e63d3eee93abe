"""Migrations and `adsync db upgrade` on SQLite, PostgreSQL and MariaDB (fresh databases)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from flows.cli import main
from integrations.database.engine import make_engine, mask_url
from integrations.database.migrate import current_revision, head_revision, upgrade
from integrations.database.tables import metadata
from tests.conftest import MYSQL_URL, PG_URL, _server_db

ADSYNC = Path(sys.executable).with_name("adsync")


@pytest.fixture(params=["sqlite", "postgresql", "mysql"])
def fresh_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend, just for this test (migrations need a clean slate)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'app.db'}"  # a new file (its directory must exist)
    else:
        yield from _server_db(PG_URL if request.param == "postgresql" else MYSQL_URL, request.param)


def cli(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as ex:
        main(argv)
    return int(ex.value.code or 0)


def test_db_upgrade_cli_twice_creates_schema_matching_tables(
    fresh_db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ADSYNC_DATABASE_URL", fresh_db_url)
    assert cli(["db", "upgrade"]) == 0
    assert cli(["db", "upgrade"]) == 0  # second run is a no-op
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and all(line.startswith("database at revision head: ") for line in out)

    assert current_revision(fresh_db_url) == head_revision() is not None
    engine = make_engine(fresh_db_url)
    try:
        with engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) == set(metadata.tables) | {
                "alembic_version"
            }
            # The migration produces exactly the schema declared in tables.py.
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, metadata) == []
    finally:
        engine.dispose()


def test_upgrade_from_0001_adds_view_map(fresh_db_url: str) -> None:
    """A database created by an older adsync (at 0001) gains bitable_view_map, data kept."""
    upgrade(fresh_db_url, "0001")
    engine = make_engine(fresh_db_url)
    try:
        with engine.begin() as conn:
            assert "bitable_view_map" not in sa.inspect(conn).get_table_names()
            conn.execute(
                sa.text(
                    "INSERT INTO bitable_record_map VALUES ('app', 'tbl', 'k', 'rec', 'h', "
                    "'2026-11-25 00:00:00')"
                )
            )
        upgrade(fresh_db_url)
        upgrade(fresh_db_url)
        assert current_revision(fresh_db_url) == head_revision()
        with engine.connect() as conn:
            assert "bitable_view_map" in sa.inspect(conn).get_table_names()
            assert conn.execute(sa.text("SELECT count(*) FROM bitable_record_map")).scalar() == 1
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, metadata) == []
    finally:
        engine.dispose()


def test_mariadb_view_map_keeps_microseconds(mysql_url: str) -> None:
    # The view cache rotates by verified_at: whole seconds would tie runs made a second apart.
    upgrade(mysql_url)
    engine = make_engine(mysql_url)
    try:
        with engine.connect() as conn:
            prec = conn.execute(
                sa.text(
                    "SELECT datetime_precision FROM information_schema.columns WHERE "
                    "table_schema = DATABASE() AND table_name = 'bitable_view_map' "
                    "AND column_name = 'verified_at'"
                )
            ).scalar()
    finally:
        engine.dispose()
    assert prec == 6


def test_mariadb_tables_are_utf8mb4(mysql_url: str) -> None:
    upgrade(mysql_url)
    engine = make_engine(mysql_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text(
                    "SELECT table_name, table_collation FROM information_schema.tables "
                    "WHERE table_schema = DATABASE()"
                )
            ).all()
    finally:
        engine.dispose()
    ours = {name: coll for name, coll in rows if name in metadata.tables}
    assert set(ours) == set(metadata.tables)
    assert set(ours.values()) == {"utf8mb4_bin"}


def test_upgrade_default_sqlite_in_data_dir(tmp_path: Path) -> None:
    assert cli(["db", "upgrade"]) == 0  # no ADSYNC_DATABASE_URL: SQLite in ADSYNC_DATA_DIR
    assert (tmp_path / "data" / "adsync.db").is_file()


def test_upgrade_from_another_cwd_via_installed_script(tmp_path: Path) -> None:
    db = tmp_path / "elsewhere" / "x.db"
    db.parent.mkdir()  # an explicit SQLite URL must name an existing directory
    env = {**os.environ, "ADSYNC_DATABASE_URL": f"sqlite:///{db}"}
    proc = subprocess.run(
        [str(ADSYNC), "db", "upgrade"], cwd="/", env=env, capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr
    assert current_revision(f"sqlite:///{db}") == head_revision()


@pytest.mark.parametrize(
    "bad", ["not a url", "oracle://scott@db/orcl", "postgresql://h:notaport/x"]
)
def test_malformed_database_url_is_one_line_exit_2(bad: str, tmp_path: Path) -> None:
    env = {**os.environ, "ADSYNC_DATABASE_URL": bad}
    proc = subprocess.run(
        [str(ADSYNC), "db", "upgrade"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("adsync: ADSYNC_DATABASE_URL: ")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_unreachable_server_is_one_line_without_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "s3cr3t-pw"
    monkeypatch.setenv("ADSYNC_DATABASE_URL", f"postgresql://u:{secret}@127.0.0.1:1/db")
    assert cli(["db", "upgrade"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert secret not in err and "u:***@127.0.0.1:1/db" in err


def test_mask_url_hides_password_and_credential_query_values() -> None:
    masked = mask_url("postgresql+psycopg://bob:pa%40ss@h:5432/db?sslpassword=x&application_name=a")
    assert "pa%40ss" not in masked and "pa@ss" not in masked and "sslpassword=***" in masked
    assert masked.startswith("postgresql+psycopg://bob:***@h:5432/db")
    assert mask_url("::::") == "<unparseable database URL>"


def test_upgrade_from_i15_gives_existing_runs_the_default_tenant(fresh_db_url: str) -> None:
    """Runs recorded before tenants existed belong to the only setup there was: 'default'."""
    upgrade(fresh_db_url, "i15_base_lock")
    engine = make_engine(fresh_db_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO sync_runs (flow, status, accounts_ok, accounts_failed, "
                    "started_at) VALUES ('laike-daily', 'SUCCESS', 3, 0, '2026-11-28 23:00:00')"
                )
            )
        upgrade(fresh_db_url)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT flow, tenant FROM sync_runs")).all()
            assert [tuple(r) for r in rows] == [("laike-daily", "default")]
            assert "oceanengine_rate_share" in sa.inspect(conn).get_table_names()
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(ctx, metadata) == []
    finally:
        engine.dispose()
