"""An index on ``runs.finished_at``, so ``wishstar runs prune`` finds the runs that ended before a cutoff
without scanning the whole history.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_finished", "runs", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_finished", table_name="runs")
