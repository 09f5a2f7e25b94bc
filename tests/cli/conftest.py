"""Helpers for end-to-end tests: real git repositories (gitpython) and the real ``wishstar`` process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git
import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Cli:
    state_dir: Path
    env: dict[str, str]

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "wishstar.cli", *args]

    def __call__(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Result:
        proc = subprocess.run(self.argv(*args), capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})}, cwd=ROOT)
        return Result(proc.returncode, proc.stdout, proc.stderr)

    def start(self, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**self.env, **(env or {})}, cwd=ROOT)


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    state = tmp_path / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHSTAR_")}
    env["WISHSTAR_STATE_DIR"] = str(state)
    env["COLUMNS"] = "200"
    return Cli(state, env)


@pytest.fixture
def make_repo(tmp_path: Path) -> Callable[..., Path]:
    """A committed git repository holding a pipeline file and any other files."""

    def make(pipeline: str, files: dict[str, str] | None = None, *, name: str = "repo",
             branch: str = "main") -> Path:
        path = tmp_path / name
        path.mkdir()
        repo = git.Repo.init(path, initial_branch=branch)
        (path / ".wishstar.yaml").write_text(textwrap.dedent(pipeline))
        for rel, text in (files or {}).items():
            target = path / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
        repo.index.add([str(p.relative_to(path)) for p in path.rglob("*") if p.is_file() and ".git" not in p.parts])
        author = git.Actor("Test Author", "author@example.com")
        repo.index.commit("initial commit", author=author, committer=author)
        return path

    return make
