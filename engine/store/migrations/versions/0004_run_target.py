"""Runs remember where their executor's objects live (``runs.target``), so a run whose engine process was
killed can be found again: resumed (re-attaching to its Pods) or cancelled (deleting them).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # a plain ADD COLUMN on both dialects: SQLite must not rebuild `runs`, which tasks and steps reference
    op.add_column("runs", sa.Column("target", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("target")
