"""The run store's tables, declared once for SQLite and PostgreSQL alike.

Why: one schema, described in one place, that Alembic migrations are checked against and that the queries
in ``engine.store.api`` use as SQLAlchemy Core tables. Must not hold behaviour: no queries, no sessions, no
clock.
Timestamps are epoch seconds (double precision) handed in by the caller; the API renders them as ISO-8601.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

RUN_STATUSES = ("pending", "running", "succeeded", "failed", "cancelled")
TASK_STATUSES = ("pending", "running", "succeeded", "failed", "skipped", "cancelled")

Json = JSON().with_variant(JSONB(), "postgresql")

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Pipeline(Base):
    """One row per pipeline name: its last allocated build number (the row lock serialises allocation)."""

    __tablename__ = "pipelines"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    last_number: Mapped[int] = mapped_column(Integer, nullable=False)


class Run(Base):
    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(200), ForeignKey("pipelines.name"), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    git: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    branch: Mapped[str | None] = mapped_column(String(255))
    event: Mapped[str | None] = mapped_column(String(64))
    executor: Mapped[str | None] = mapped_column(String(64))
    file: Mapped[str | None] = mapped_column(Text)
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (
        UniqueConstraint("pipeline", "number", name="uq_runs_pipeline_number"),
        Index("ix_runs_branch_status_created", "branch", "status", "created_at"),
        Index("ix_runs_pipeline_created", "pipeline", "created_at"),
        Index("ix_runs_status_created", "status", "created_at"),
        Index("ix_runs_created", "created_at"),
    )


class Task(Base):
    __tablename__ = "tasks"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    base: Mapped[str] = mapped_column(String(255), nullable=False)
    is_finally: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    results: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    position: Mapped[int] = mapped_column(Integer, nullable=False)


class Step(Base):
    __tablename__ = "steps"

    run_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    task: Mapped[str] = mapped_column(String(255), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[float | None] = mapped_column(Float)
    finished_at: Mapped[float | None] = mapped_column(Float)
    log_path: Mapped[str | None] = mapped_column(Text)
    truncated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    bytes: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


runs = cast(Table, Run.__table__)
tasks = cast(Table, Task.__table__)
steps = cast(Table, Step.__table__)
pipelines = cast(Table, Pipeline.__table__)
