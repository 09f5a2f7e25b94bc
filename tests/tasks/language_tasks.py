"""Shared by the language task tests (maven, gradle, npm, python, go, dotnet): a committed project whose
pipeline uses one built-in library task (``uses: maven@1``), run by the real ``wishstar`` CLI.

Sample projects are the detection fixtures (tests/pipelines/detect/fixtures), copied into each test's
temporary directory, or small file sets written by the test itself.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.pipelines.detect.render_cases import FIXTURES, commit_with_pipeline, wishstar
from wishstar.engine.spec.model import ParamValue


def pipeline(name: str, uses: str, with_: dict[str, ParamValue] | None = None, *,
             workspaces: dict[str, str] | None = None, pipeline_workspaces: list[str] | None = None,
             check: str | None = None) -> str:
    """A pipeline file whose task ``test`` uses library task ``uses`` with ``with_`` (and whose task ``check``
    runs script ``check`` after it, in the same working copy)."""
    task: dict[str, Any] = {"uses": uses}
    if with_:
        task["with"] = with_
    if workspaces:
        task["workspaces"] = workspaces
    doc: dict[str, Any] = {"name": name}
    if pipeline_workspaces:
        doc["workspaces"] = pipeline_workspaces
    doc["tasks"] = {"test": task}
    if check is not None:
        doc["tasks"]["check"] = {"needs": ["test"], "script": check}
    return yaml.safe_dump(doc, sort_keys=False)


def project(tmp_path: Path, name: str, pipeline_text: str, *, fixture: str | None = None,
            files: dict[str, str] | None = None) -> Path:
    """A committed repository ``name``: a copy of detection fixture ``fixture`` (if given) plus ``files``, with
    ``pipeline_text`` as its .wishstar.yaml."""
    repo = tmp_path / name
    if fixture is not None:
        shutil.copytree(FIXTURES / fixture, repo)
    repo.mkdir(exist_ok=True)
    for rel, text in (files or {}).items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    return commit_with_pipeline(repo, pipeline_text)


@dataclass(frozen=True)
class Ran:
    """One ``wishstar run`` of a project: exit code, the run record, the ``test`` task's log and every task's
    (``everything``)."""

    code: int
    record: dict[str, Any]
    log: str
    everything: str
    output: str

    @property
    def results(self) -> dict[str, str]:
        (task,) = [t for t in self.record["tasks"] if t["name"] == "test"]
        return dict(task.get("results") or {})


def run(tmp_path: Path, repo: Path, *args: str, env: dict[str, str] | None = None) -> Ran:
    """``wishstar run REPO --output json``, then ``wishstar logs`` of its ``test`` task."""
    done = wishstar(tmp_path, "run", str(repo), "--no-progress", "--output", "json", *args, env=env)
    output = done.stdout + done.stderr
    try:
        record = json.loads(done.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"wishstar run printed no run record:\n{output}") from None
    logs = wishstar(tmp_path, "logs", record["id"], "test", env=env)
    everything = logs
    if len(record["tasks"]) > 1:
        everything = wishstar(tmp_path, "logs", record["id"], env=env)
    return Ran(done.returncode, record, logs.stdout + logs.stderr, everything.stdout + everything.stderr, output)
