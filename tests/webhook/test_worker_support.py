"""Helpers for the worker and replica tests: a git repository served by path, GitLab-shaped payloads, stores.

The payloads follow GitLab's documented Push Hook and Tag Push Hook bodies (only the fields Wishstar reads).
No tests here.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import git
import pytest
from sqlalchemy import create_engine, text

from tests.store.conftest import postgres_url
from wishstar.engine.store.api import Store
from wishstar.engine.store.server import Events, Project, Projects
from wishstar.pipelines.settings import Settings

BACKENDS = [pytest.param("sqlite", id="sqlite"),
            pytest.param("postgres", id="postgres", marks=pytest.mark.postgres)]


def pg_schema_url() -> tuple[str, Any, str]:
    base = postgres_url()
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}options=-csearch_path%3D{schema}", admin, schema


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None
        return
    url, admin, schema = pg_schema_url()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def settings(tmp: Path, url: str | None, **extra: Any) -> Settings:
    values: dict[str, Any] = {"state_dir": tmp / "state", "database_url": url, "workers": 2, "lease_seconds": 5.0}
    values.update(extra)
    return Settings(**values)


def open_store(cfg: Settings) -> Store:
    return Store.open(cfg.database_url, cfg.state_dir)


def make_repo(path: Path, files: dict[str, str], *, branch: str = "main") -> git.Repo:
    path.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(path, initial_branch=branch)
    with repo.config_writer() as cw:
        cw.set_value("user", "name", "Test").set_value("user", "email", "test@example.com")
    commit(repo, files, "initial")
    return repo


def commit(repo: git.Repo, files: dict[str, str], message: str) -> str:
    root = Path(str(repo.working_tree_dir))
    for name, body in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(body)
        repo.index.add([name])
    return repo.index.commit(message).hexsha


def register(store: Store, clone_url: str, *, gitlab_id: int = 7) -> Project:
    return Projects(store).add(gitlab_url="https://gitlab.example.com", gitlab_id=gitlab_id, path="group/app",
                               hook_secret="s", now=time.time(), clone_url=clone_url)


def push_payload(sha: str, *, branch: str = "main", before: str = "0" * 40, changed: tuple[str, ...] = ("app.py",),
                 message: str = "change", gitlab_id: int = 7) -> dict[str, Any]:
    return {"object_kind": "push", "event_name": "push", "before": before, "after": sha, "ref": f"refs/heads/{branch}",
            "checkout_sha": sha, "user_username": "alice", "project_id": gitlab_id,
            "project": {"id": gitlab_id, "path_with_namespace": "group/app",
                        "git_http_url": "https://gitlab.example.com/group/app.git"},
            "commits": [{"id": sha, "message": message, "author": {"name": "A", "email": "a@example.com"},
                         "added": list(changed), "modified": [], "removed": []}],
            "total_commits_count": 1}


def tag_payload(sha: str, tag: str, *, gitlab_id: int = 7) -> dict[str, Any]:
    body = push_payload(sha, gitlab_id=gitlab_id)
    body.update({"object_kind": "tag_push", "event_name": "tag_push", "ref": f"refs/tags/{tag}",
                 "checkout_sha": sha, "commits": []})
    return body


def add_event(store: Store, project: Project, payload: dict[str, Any], *, header: str = "Push Hook",
              key: str | None = None) -> tuple[str, bool]:
    return Events(store).add(delivery_key=key or secrets.token_hex(8), kind=payload["object_kind"], header=header,
                             payload=payload, project_id=project.id, now=time.time())


def marker_pipeline(markers: Path, *, extra: str = "", tasks: str | None = None) -> str:
    """A pipeline whose tasks append "run task attempt replica start|end" lines to ``markers``."""
    line = 'echo "$WISHSTAR_RUN_ID $WISHSTAR_TASK $WISHSTAR_ATTEMPT ${WISHSTAR_REPLICA:-}'
    body = tasks or f"""
  build:
    script: |
      {line} start" >> {markers}
      sleep 0.2
      {line} end" >> {markers}
"""
    return f"name: app\n{extra}tasks:{body}"


def read_markers(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []
