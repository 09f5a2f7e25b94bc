"""The run store's tables, declared once for SQLite and PostgreSQL alike.

Why: one schema, described in one place, that Alembic migrations are checked against and that the queries
in ``engine.store.api`` use as SQLAlchemy Core tables. Must not hold behaviour: no queries, no sessions, no
clock.
The status sets the ``status`` columns hold are ``engine.status``'s.
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
    target: Mapped[dict[str, Any] | None] = mapped_column(Json)
    """Where the executor's objects live (Kubernetes: namespace, kubeconfig, context), to resume or cancel
    the run after its engine process died; None for local runs and server runs."""
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
        Index("ix_runs_finished", "finished_at"),
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


# -- the server (webhooks in, statuses out, several replicas) ------------------------------------------------

OUTBOX_STATES = ("pending", "sent", "dead")


class Project(Base):
    """A GitLab project Wishstar builds: where it lives, the hook secret, the API token (never logged)."""

    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    gitlab_url: Mapped[str] = mapped_column(String(500), nullable=False)
    gitlab_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    path: Mapped[str] = mapped_column(String(500), nullable=False)
    clone_url: Mapped[str | None] = mapped_column(Text)
    hook_secret: Mapped[str] = mapped_column(String(200), nullable=False)
    api_token: Mapped[str | None] = mapped_column(Text)
    hook_id: Mapped[int | None] = mapped_column(BigInteger)
    fork_secrets: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    statuses_per_task: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    mr_notes: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)

    __table_args__ = (
        UniqueConstraint("gitlab_url", "gitlab_id", name="uq_projects_gitlab"),
        Index("ix_projects_path", "path"),
    )


class Event(Base):
    """A webhook delivery, stored before the 2xx; workers claim it with a lease and turn it into a run."""

    __tablename__ = "events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    project_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("projects.id", ondelete="CASCADE"))
    delivery_key: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    header: Mapped[str | None] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[float] = mapped_column(Float, nullable=False)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    run_id: Mapped[str | None] = mapped_column(String(32))

    __table_args__ = (
        UniqueConstraint("delivery_key", name="uq_events_delivery_key"),
        Index("ix_events_status_received", "status", "received_at"),
    )


class RunLease(Base):
    """Which replica is driving a run, until when; a dead replica's runs are taken over after expiry."""

    __tablename__ = "run_leases"

    run_id: Mapped[str] = mapped_column(String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(100))
    expires_at: Mapped[float | None] = mapped_column(Float)
    event_id: Mapped[str | None] = mapped_column(String(32))
    project_id: Mapped[int | None] = mapped_column(Integer)
    concurrency_group: Mapped[str | None] = mapped_column(String(300))
    concurrency_limit: Mapped[int | None] = mapped_column(Integer)
    """Runs of the group allowed at once (migration 0003)."""
    state: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")
    """queued (waiting for its concurrency group or a worker), active, done."""

    __table_args__ = (
        Index("ix_run_leases_state_expires", "state", "expires_at"),
        Index("ix_run_leases_group", "concurrency_group", "state"),
    )


class Outbox(Base):
    """Commit statuses and merge-request notes waiting to reach GitLab, in order per commit."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    project_id: Mapped[int] = mapped_column(Integer, ForeignKey("projects.id", ondelete="CASCADE"),
                                            nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    """status | note"""
    sha: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(Json, nullable=False)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Float, nullable=False)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    sent_at: Mapped[float | None] = mapped_column(Float)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (
        Index("ix_outbox_state_next", "state", "next_attempt_at"),
        Index("ix_outbox_project_sha", "project_id", "sha", "id"),
    )


class MrNote(Base):
    """The one merge-request note per pipeline that re-runs update in place."""

    __tablename__ = "mr_notes"

    project_id: Mapped[int] = mapped_column(Integer, ForeignKey("projects.id", ondelete="CASCADE"),
                                            primary_key=True)
    mr_iid: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(200), primary_key=True)
    note_id: Mapped[int | None] = mapped_column(BigInteger)


projects = cast(Table, Project.__table__)
events = cast(Table, Event.__table__)
run_leases = cast(Table, RunLease.__table__)
outbox = cast(Table, Outbox.__table__)
mr_notes = cast(Table, MrNote.__table__)


# -- who may use the server's API (migration 0006) ---------------------------------------------------------

API_TOKEN_SCOPES = ("read", "trigger", "operate", "admin")


class ApiToken(Base):
    """An API token: its public id (part of the token), a name, the SHA-256 of its secret part (never the
    secret), scopes and the project paths it is limited to (NULL: all projects)."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    secret_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    scopes: Mapped[list[str]] = mapped_column(Json, nullable=False)
    projects: Mapped[list[str] | None] = mapped_column(Json)
    created_at: Mapped[float] = mapped_column(Float, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[float | None] = mapped_column(Float)
    last_used_at: Mapped[float | None] = mapped_column(Float)
    revoked_at: Mapped[float | None] = mapped_column(Float)

    __table_args__ = (UniqueConstraint("name", name="uq_api_tokens_name"),)


api_tokens = cast(Table, ApiToken.__table__)


# -- which run deployed which image as which Helm revision (migration 0007) -----------------------------------

class Deployment(Base):
    """A Helm release revision that a succeeded task installed (its ``RELEASE_NAME`` and ``RELEASE_REVISION``
    results): "what is deployed where" without listing Helm's release secrets. Kept when its run is deleted
    (``run_id`` becomes NULL): the history outlives run retention."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                    autoincrement=True)
    run_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("runs.id", ondelete="SET NULL"))
    pipeline: Mapped[str] = mapped_column(String(200), nullable=False)
    run_number: Mapped[int] = mapped_column(Integer, nullable=False)
    task: Mapped[str] = mapped_column(String(255), nullable=False)
    project: Mapped[str] = mapped_column(String(500), nullable=False)
    """The server project's path (``group/app``), else the run's pipeline name (a ``wishstar run``)."""
    project_id: Mapped[int | None] = mapped_column(Integer)
    """The server project (``projects.id``) whose run it was; NULL for a ``wishstar run``: only callers of
    every project see those, as with runs."""
    namespace: Mapped[str] = mapped_column(String(253), nullable=False)
    release: Mapped[str] = mapped_column(String(253), nullable=False)
    revision: Mapped[int] = mapped_column(Integer, nullable=False)
    chart: Mapped[str | None] = mapped_column(String(255))
    chart_version: Mapped[str | None] = mapped_column(String(128))
    image: Mapped[str | None] = mapped_column(String(500))
    """The image repository (``registry/path``, without tag or digest)."""
    image_digest: Mapped[str | None] = mapped_column(String(100))
    commit: Mapped[str | None] = mapped_column(String(64))
    ref: Mapped[str | None] = mapped_column(String(255))
    """The branch (or tag) the run built."""
    deployed_at: Mapped[float] = mapped_column(Float, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)

    __table_args__ = (
        UniqueConstraint("run_id", "task", "revision", name="uq_deployments_run_task_revision"),
        Index("ix_deployments_project_release", "project", "namespace", "release", "id"),
        Index("ix_deployments_release", "namespace", "release", "id"),
        Index("ix_deployments_digest", "image_digest", "id"),
    )


deployments = cast(Table, Deployment.__table__)
