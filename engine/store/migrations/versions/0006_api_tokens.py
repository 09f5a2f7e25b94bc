"""API tokens of the server: hashed secrets, scopes, the projects they are limited to, expiry and revocation.

Revision ID: 0006_api_tokens
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_api_tokens"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("scopes", JSON, nullable=False),
        sa.Column("projects", JSON),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("expires_at", sa.Float()),
        sa.Column("last_used_at", sa.Float()),
        sa.Column("revoked_at", sa.Float()),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("name", name="uq_api_tokens_name"),
    )


def downgrade() -> None:
    op.drop_table("api_tokens")
