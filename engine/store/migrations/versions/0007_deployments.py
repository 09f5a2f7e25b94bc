"""Deployments: which run deployed which image digest as which Helm revision, indexed for "what is deployed
for project X", "history of release R in namespace N" and "where is digest D deployed".

Revision ID: 0007_deployments
Revises: 0006_api_tokens
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_deployments"
down_revision = "0006_api_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "deployments",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("run_number", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(255), nullable=False),
        sa.Column("project", sa.String(500), nullable=False),
        sa.Column("project_id", sa.Integer()),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("release", sa.String(253), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("chart", sa.String(255)),
        sa.Column("chart_version", sa.String(128)),
        sa.Column("image", sa.String(500)),
        sa.Column("image_digest", sa.String(100)),
        sa.Column("commit", sa.String(64)),
        sa.Column("ref", sa.String(255)),
        sa.Column("deployed_at", sa.Float(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deployments"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_deployments_run_id_runs", ondelete="SET NULL"),
        sa.UniqueConstraint("run_id", "task", "revision", name="uq_deployments_run_task_revision"),
    )
    op.create_index("ix_deployments_project_release", "deployments", ["project", "namespace", "release", "id"])
    op.create_index("ix_deployments_release", "deployments", ["namespace", "release", "id"])
    op.create_index("ix_deployments_digest", "deployments", ["image_digest", "id"])


def downgrade() -> None:
    op.drop_table("deployments")
