"""Every built-in library task, every version, is fit to publish: it says what it does, pins its images by
exact version (a tag with at least major.minor, or a digest; never ``latest``), describes every param,
workspace and result, carries the version and part-of labels of its directory, and its step scripts pass
shellcheck as POSIX sh at .ci/run's severity (shellcheck is installed by .ci/run)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from wishstar.engine.spec.tekton import TektonTask
from wishstar.tasks import Library

LIBRARY = Library()
TASKS = [(name, version) for name in LIBRARY.names() for version, _ in LIBRARY.versions(name)]
IDS = [f"{name}@{version}" for name, version in TASKS]



def _pinned(image: str) -> bool:
    """A digest, or a tag (not ``latest``) that holds at least major.minor."""
    if "@" in image:
        return re.fullmatch(r"[^@\s]+@sha256:[0-9a-f]{64}", image) is not None
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return tag != "latest" and re.search(r"\d+\.\d+", tag) is not None


def _task(name: str, version: str) -> TektonTask:
    return LIBRARY.get(f"{name}@{version}")


def _image_defaults(task: TektonTask) -> list[str]:
    """Each step's image, with a ``$(params.X)`` image read as X's default."""
    defaults = {p.name: p.default for p in task.spec.params}
    images: list[str] = []
    for step in task.spec.steps:
        image = step.image or (task.spec.step_template.image if task.spec.step_template else None) or ""
        ref = re.fullmatch(r"\$\(params\.([\w.-]+)\)", image)
        images.append(str(defaults.get(ref.group(1))) if ref else image)
    return images


def test_the_library_holds_the_language_tasks() -> None:
    assert {"maven", "gradle", "npm", "python", "go", "dotnet"} <= set(LIBRARY.names())


@pytest.mark.parametrize(("name", "version"), TASKS, ids=IDS)
def test_a_task_says_what_it_does_and_describes_every_input_and_output(name: str, version: str) -> None:
    spec = _task(name, version).spec
    assert spec.description and len(spec.description.split()) >= 5, "spec.description is missing or too short"
    undescribed = [f"params.{p.name}" for p in spec.params if not (p.description or "").strip()]
    undescribed += [f"workspaces.{w.name}" for w in spec.workspaces if not (w.description or "").strip()]
    undescribed += [f"results.{r.name}" for r in spec.results if not (r.description or "").strip()]
    assert undescribed == []


@pytest.mark.parametrize(("image", "pinned"), [
    ("docker.io/library/maven:3.9.11-eclipse-temurin-21", True), ("mcr.microsoft.com/dotnet/sdk:10.0.100", True),
    ("127.0.0.1:5000/mirror/busybox@sha256:" + "a" * 64, True), ("python:3.12-slim", True),
    ("python:3-slim", False), ("python", False), ("127.0.0.1:5000/python", False), ("busybox:latest", False),
])
def test_the_pin_rule_itself(image: str, pinned: bool) -> None:
    assert _pinned(image) is pinned


@pytest.mark.parametrize(("name", "version"), TASKS, ids=IDS)
def test_step_images_are_pinned_by_exact_version(name: str, version: str) -> None:
    loose = [image for image in _image_defaults(_task(name, version)) if not _pinned(image)]
    assert loose == [], "pin a tag with at least major.minor (e.g. 3.9.11-eclipse-temurin-21) or a digest"


@pytest.mark.parametrize(("name", "version"), TASKS, ids=IDS)
def test_labels_carry_the_directory_version_and_the_part_of_label(name: str, version: str) -> None:
    labels = _task(name, version).metadata.labels
    assert labels.get("app.kubernetes.io/version") == version
    assert labels.get("app.kubernetes.io/part-of") == "wishstar"


@pytest.mark.parametrize(("name", "version"), TASKS, ids=IDS)
def test_step_scripts_pass_shellcheck(tmp_path: Path, name: str, version: str) -> None:
    assert shutil.which("shellcheck"), "needs shellcheck on PATH (apt-get install shellcheck; .ci/run installs it)"
    files = []
    for index, step in enumerate(_task(name, version).spec.steps):
        if step.script and step.script.startswith("#!/bin/sh"):
            files.append(tmp_path / f"{index}-{step.name}.sh")
            files[-1].write_text(step.script)
    if not files:
        return
    # The severity .ci/run uses for the project's own scripts. SC3013 (`test A -ef B` is not POSIX) is let
    # through: the sh of every step image (dash, busybox ash, bash) has -ef.
    argv = ["shellcheck", "-s", "sh", "--severity=warning", "--exclude=SC3013", *map(str, files)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
