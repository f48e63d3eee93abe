"""Alembic environment for the app database.

Configured programmatically by :mod:`integrations.database.migrate` (no alembic.ini): the caller
puts an open Connection in ``config.attributes["connection"]``, so the URL (which may hold a
password) never passes through Alembic's config parser or its log lines.
"""

from __future__ import annotations

from alembic import context

from integrations.database.tables import metadata

config = context.config
target_metadata = metadata


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite cannot ALTER most things; batch mode rebuilds tables for later migrations.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "run migrations through integrations.database.migrate.upgrade(url) "
            "(or `adsync db upgrade`), which supplies the connection"
        )
    _run(connection)


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; use `adsync db upgrade`")
run_migrations_online()
