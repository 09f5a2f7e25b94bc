"""The generated files for every Python fixture, pinned by golden files (refresh with
``WISHSTAR_UPDATE_GOLDEN=1`` and read the diff), validated by the real pipeline validator, and the Dockerfile
checks that matter (multi-stage, exact tags, numeric non-root user, manifests before sources, the port)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.pipelines.detect.python_cases import CASES, FIXTURES, GOLDEN, candidates, render
from wishstar.pipelines.detect.evidence import App, Detection
from wishstar.pipelines.detect.python import DETECTOR
from wishstar.pipelines.detect.runtimes import APP_UID
from wishstar.pipelines.detect.tree import Tree
from wishstar.pipelines.generate import generate
from wishstar.pipelines.load import validate
from wishstar.tasks import Library

GENERATING = [case for case in CASES if candidates(case)]


def expected_files(case: str) -> dict[str, str]:
    """What the golden directory holds for ``case``: the generated files, or the near misses when the
    detector found nothing."""
    generated = render(case)
    if generated is not None:
        return generated.files
    misses = DETECTOR.near_misses(Tree(FIXTURES / case), ".")
    return {"near-misses.txt": "".join(f"{m.message}\n" for m in misses)}


@pytest.mark.parametrize("case", CASES)
def test_generated_files_match_the_golden_files(case: str) -> None:
    files = expected_files(case)
    directory = GOLDEN / case
    if os.environ.get("WISHSTAR_UPDATE_GOLDEN") == "1":
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.iterdir():
            stale.unlink()
        for name, text in files.items():
            (directory / name).write_text(text)
    assert directory.is_dir(), f"no golden directory {directory}; run with WISHSTAR_UPDATE_GOLDEN=1"
    assert sorted(p.name for p in directory.iterdir()) == sorted(files)
    for name, text in files.items():
        assert (directory / name).read_text() == text, f"{case}/{name} differs from its golden file"


@pytest.mark.parametrize("case", GENERATING)
def test_every_golden_pipeline_passes_the_validator(case: str) -> None:
    loaded = validate((GOLDEN / case / ".wishstar.yaml").read_text(), ".wishstar.yaml", Library())
    task = loaded.pipeline.tasks["test"]
    assert task.image is not None and re.fullmatch(r"python:3\.\d+\.\d+-slim-bookworm", task.image)


@pytest.mark.parametrize("case", GENERATING)
def test_every_golden_dockerfile_is_multi_stage_pinned_non_root_and_caches_manifests(case: str) -> None:
    text = (GOLDEN / case / "Dockerfile").read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    assert len(froms) == 2 and all(re.fullmatch(r"python:3\.\d+\.\d+-slim-bookworm", f) for f in froms)
    assert "latest" not in text
    assert [line for line in lines if line.startswith("USER ")] == [f"USER {APP_UID}"]
    assert lines.index(f"USER {APP_UID}") > max(i for i, line in enumerate(lines) if line.startswith("FROM "))
    sources = lines.index("COPY . .")
    assert all(lines.index(line) < sources for line in lines if line.startswith("COPY ") and line != "COPY . ."
               and "--from" not in line)
    assert lines[-1].startswith("CMD [")
    port = candidates(case)[0].port
    assert (f"EXPOSE {port.value}" in lines) if port else not any(line.startswith("EXPOSE") for line in lines)


def test_the_generated_dockerignore_carries_the_python_patterns() -> None:
    generated = render("python-pip-flask")
    assert generated is not None
    assert {".venv", "__pycache__", "*.pyc", ".pytest_cache", ".mypy_cache"} <= set(
        generated.files[".dockerignore"].splitlines())


@pytest.mark.parametrize(("context", "copies"), [
    ("services/api", ["COPY pyproject.toml pyproject.toml", "COPY uv.lock uv.lock", "COPY . ."]),
    (".", ["COPY services/api/pyproject.toml pyproject.toml", "COPY services/api/uv.lock uv.lock",
           "COPY services/api/ ."]),
], ids=["context-is-the-app", "context-is-the-root"])
def test_an_app_in_a_subdirectory_copies_from_its_path_in_the_build_context(
        tmp_path: Path, context: str, copies: list[str]) -> None:
    app_dir = tmp_path / "services" / "api"
    shutil.copytree(FIXTURES / "python-uv-pytest", app_dir)
    [c] = DETECTOR.detect(Tree(tmp_path), "services/api")
    generated = generate(Detection(root=".", apps=(App("services/api", c, context=context),)), name="shop",
                         has_file=lambda rel: False)
    dockerfile = generated.files["services/api/Dockerfile"]
    assert [line for line in dockerfile.splitlines() if line.startswith("COPY ") and "--from" not in line] == [
        *copies, copies[-1]]
    assert "    workingDir: \"services/api\"\n" in generated.pipeline
    validate(generated.pipeline, ".wishstar.yaml", Library())
