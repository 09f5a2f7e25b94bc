"""The server's tables: projects, events (webhook deliveries), run leases, the status outbox, MR notes.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
BIGID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("gitlab_url", sa.String(500), nullable=False),
        sa.Column("gitlab_id", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("clone_url", sa.Text()),
        sa.Column("hook_secret", sa.String(200), nullable=False),
        sa.Column("api_token", sa.Text()),
        sa.Column("hook_id", sa.BigInteger()),
        sa.Column("fork_secrets", sa.Boolean(), nullable=False),
        sa.Column("statuses_per_task", sa.Boolean(), nullable=False),
        sa.Column("mr_notes", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("gitlab_url", "gitlab_id", name="uq_projects_gitlab"),
    )
    op.create_index("ix_projects_path", "projects", ["path"])
    op.create_table(
        "events",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("project_id", sa.Integer()),
        sa.Column("delivery_key", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("header", sa.String(100)),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("received_at", sa.Float(), nullable=False),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_expires_at", sa.Float()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.String(32)),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name="fk_events_project_id_projects",
                                ondelete="CASCADE"),
        sa.UniqueConstraint("delivery_key", name="uq_events_delivery_key"),
    )
    op.create_index("ix_events_status_received", "events", ["status", "received_at"])
    op.create_table(
        "run_leases",
        sa.Column("run_id", sa.String(32), nullable=False),
        sa.Column("owner", sa.String(100)),
        sa.Column("expires_at", sa.Float()),
        sa.Column("event_id", sa.String(32)),
        sa.Column("project_id", sa.Integer()),
        sa.Column("concurrency_group", sa.String(300)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_run_leases"),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_run_leases_run_id_runs", ondelete="CASCADE"),
    )
    op.create_index("ix_run_leases_state_expires", "run_leases", ["state", "expires_at"])
    op.create_index("ix_run_leases_group", "run_leases", ["concurrency_group", "state"])
    op.create_table(
        "outbox",
        sa.Column("id", BIGID, autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sha", sa.String(64)),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.Float(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float()),
        sa.Column("lease_owner", sa.String(100)),
        sa.Column("lease_expires_at", sa.Float()),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name="fk_outbox_project_id_projects",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_outbox_state_next", "outbox", ["state", "next_attempt_at"])
    op.create_index("ix_outbox_project_sha", "outbox", ["project_id", "sha", "id"])
    op.create_table(
        "mr_notes",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("mr_iid", sa.BigInteger(), nullable=False),
        sa.Column("pipeline", sa.String(200), nullable=False),
        sa.Column("note_id", sa.BigInteger()),
        sa.PrimaryKeyConstraint("project_id", "mr_iid", "pipeline", name="pk_mr_notes"),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"], name="fk_mr_notes_project_id_projects",
                                ondelete="CASCADE"),
    )


def downgrade() -> None:
    for table in ("mr_notes", "outbox", "run_leases", "events", "projects"):
        op.drop_table(table)
