"""sync_runs text columns as MEDIUMTEXT on MySQL/MariaDB.

Revision ID: i16_ledger_text
Revises: i15_base_lock
Create Date: 2026-11-29

MySQL/MariaDB TEXT holds 65,535 bytes. A run's ``failed_accounts`` JSON names every failed account
with its full reason: 300 accounts with 300-character reasons already exceed it, and the strict
SQL mode then refuses the UPDATE that closes the run ("Data too long for column"), leaving the
row RUNNING. MEDIUMTEXT holds 16 MB. PostgreSQL and SQLite TEXT have no such limit: no-op there.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "i16_ledger_text"
down_revision: str | Sequence[str] | None = "i15_base_lock"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("failed_accounts", "counts", "error")


def upgrade() -> None:
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    for name in COLUMNS:
        op.alter_column(
            "sync_runs", name, type_=mysql.MEDIUMTEXT(), existing_type=sa.Text(), nullable=True
        )


def downgrade() -> None:
    if op.get_bind().dialect.name not in ("mysql", "mariadb"):
        return
    for name in COLUMNS:
        op.alter_column(
            "sync_runs", name, type_=sa.Text(), existing_type=mysql.MEDIUMTEXT(), nullable=True
        )
