"""Run leases remember their concurrency group's limit, so any replica can tell whether the group has room.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("run_leases") as batch:
        batch.add_column(sa.Column("concurrency_limit", sa.Integer()))


def downgrade() -> None:
    with op.batch_alter_table("run_leases") as batch:
        batch.drop_column("concurrency_limit")
