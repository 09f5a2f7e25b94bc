"""Wishstar's settings: environment variables with the ``WISHSTAR_`` prefix, then defaults.

A cached getter, never a module-level instance, so tests and commands can override values before first use.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_state_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wishstar"


class Settings(BaseSettings):
    """Where state lives and how runs behave; every field can be set as ``WISHSTAR_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="WISHSTAR_", extra="ignore")

    state_dir: Path = Field(default_factory=_default_state_dir, description="runs, logs, workspaces, SQLite")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default SQLite in state_dir")
    concurrency: int | None = Field(default=None, ge=1, description="tasks at once (default: CPU count)")
    log_limit_bytes: int = Field(default=50 * 1024 * 1024, ge=1024, description="cap per step log")
    default_image: str = Field(default="docker.io/library/debian:bookworm-slim",
                               description="image for inline tasks that name none (Kubernetes)")
    keep_workspaces: int = Field(default=20, ge=0, description="run working directories kept on disk")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
