"""Shared by the Go and container detector tests: a fixture case's detection, its generated files, and the
comparison with tests/pipelines/detect/golden/<case>/ (``WISHSTAR_UPDATE_GOLDEN=1`` rewrites them; CI never
does)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import git

from wishstar.pipelines.detect import container, golang
from wishstar.pipelines.detect.evidence import Detection
from wishstar.pipelines.detect.repo import detect
from wishstar.pipelines.detect.tree import Tree
from wishstar.pipelines.generate import Generated, generate

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"


DETECTORS = (golang.DETECTOR, container.DOCKERFILE, container.STATIC)
"""The detectors these tests own, through the real repository walk (the registry lists every ecosystem's)."""


def detection_of(root: Path) -> Detection:
    return detect(root, DETECTORS)


def render(case: str, root: Path | None = None) -> Generated:
    """The files ``wishstar init`` writes for fixture ``case`` (or a copy of it at ``root``)."""
    root = root or FIXTURES / case
    return generate(detection_of(root), name=case, has_file=lambda rel: (root / rel).is_file())


def golden_mismatches(case: str, generated: Generated) -> list[str]:
    """The golden files of ``case`` that differ from ``generated`` (rewritten instead when asked)."""
    folder = GOLDEN / case
    if os.environ.get("WISHSTAR_UPDATE_GOLDEN") == "1":
        for rel, text in generated.files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_text(text)
    expected = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}
    problems = [f"{case}/{rel}: differs from the golden file" for rel, text in generated.files.items()
                if expected.get(rel) != text]
    problems += [f"{case}/{rel}: golden file not generated any more" for rel in expected
                 if rel not in generated.files]
    return problems


def write(root: Path, files: dict[str, str]) -> Tree:
    """A small repository at ``root`` from path to text; its ``Tree``."""
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return Tree(root)


def checkout(case: str, tmp_path: Path, *, source: Path | None = None) -> Path:
    """Fixture ``case`` (or an edited copy at ``source``) as a committed git repository named ``case`` with
    its generated .wishstar.yaml."""
    repo = tmp_path / case
    shutil.copytree(source or FIXTURES / case, repo)
    return commit_with_pipeline(repo, render(case, repo).pipeline)


def commit_with_pipeline(repo: Path, pipeline: str) -> Path:
    """``repo`` (a copied fixture) with ``pipeline`` as its .wishstar.yaml, all committed on ``main``; every
    toolchain test's repository is made here."""
    (repo / ".wishstar.yaml").write_text(pipeline)
    handle = git.Repo.init(repo, initial_branch="main")
    handle.git.add(A=True)
    actor = git.Actor("t", "t@example.com")
    handle.index.commit("fixture", author=actor, committer=actor)
    return repo


def wishstar(tmp_path: Path, *args: str, env: dict[str, str] | None = None,
             timeout: float = 540) -> subprocess.CompletedProcess[str]:
    """The real CLI, with its state under ``tmp_path`` (and ``env`` added to the host's, WISHSTAR_* left out)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("WISHSTAR_")}
    full.update(WISHSTAR_STATE_DIR=str(tmp_path / "state"), COLUMNS="200", **(env or {}))
    return subprocess.run([str(Path(sys.executable).with_name("wishstar")), *args], capture_output=True,
                          text=True, env=full, timeout=timeout, cwd=tmp_path)


def run_and_log(tmp_path: Path, repo: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """``wishstar run`` on ``repo``, and the log of its ``test`` task (run #1 of the pipeline named after it)."""
    run = wishstar(tmp_path, "run", str(repo))
    logs = wishstar(tmp_path, "logs", f"{repo.name}#1", "test")
    return run, logs.stdout + logs.stderr
