"""The files generated for each JavaScript/TypeScript fixture are pinned by golden files, every golden pipeline
passes the real validator, and every generated Dockerfile keeps the rules that matter (multi-stage, exact tags,
manifests before sources, numeric non-root USER, the port exposed).

Refresh the goldens with ``WISHSTAR_UPDATE_GOLDEN=1`` and read the diff.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from wishstar.pipelines.detect.evidence import App, Detection
from wishstar.pipelines.detect.node import DETECTOR
from wishstar.pipelines.detect.tree import Tree
from wishstar.pipelines.generate import Generated, generate
from wishstar.pipelines.load import validate
from wishstar.tasks import Library

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"
CASES = ("node-express", "node-failing-test", "node-dockerfile-only-build", "pnpm-stray-lockfile", "ts-nest",
         "ts-vite", "yarn-berry-field", "npm-workspaces-monorepo", "yarn-workspaces")
"""The fixtures that generate files (node-bad-json is a near miss: nothing is generated)."""


def detection_of(root: Path) -> Detection:
    """What the repository walk would build from this detector alone: one app per workspace member (or the
    root), the best candidate chosen, the others as alternatives with the first's rule."""
    tree = Tree(root)
    members = DETECTOR.members(tree, ".")
    apps = []
    for path in members.paths if members else (".",):
        best, *others = DETECTOR.detect(tree, path)
        apps.append(App(path, best, tuple(others), best.rule, "." if best.context else path))
    return Detection(root=".", apps=tuple(apps))


def generated(case: str) -> Generated:
    root = FIXTURES / case
    return generate(detection_of(root), name=case, has_file=lambda rel: (root / rel).is_file())


@pytest.mark.parametrize("case", CASES)
def test_generated_files_match_the_golden_files(case: str) -> None:
    files = generated(case).files
    golden_dir = GOLDEN / case
    if os.environ.get("WISHSTAR_UPDATE_GOLDEN") == "1":
        for rel, text in files.items():
            (golden_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (golden_dir / rel).write_text(text)
    on_disk = sorted(str(p.relative_to(golden_dir)) for p in golden_dir.rglob("*") if p.is_file())
    assert on_disk == sorted(files), f"golden files of {case} differ; run with WISHSTAR_UPDATE_GOLDEN=1"
    for rel, text in files.items():
        assert (golden_dir / rel).read_text() == text, f"{case}/{rel} differs from its golden file"


@pytest.mark.parametrize("case", CASES)
def test_every_golden_pipeline_passes_the_validator(case: str) -> None:
    text = (GOLDEN / case / ".wishstar.yaml").read_text()
    loaded = validate(text, ".wishstar.yaml", Library())
    assert loaded.pipeline.tasks, case


def dockerfiles() -> list[tuple[str, str]]:
    return [(f"{case}/{rel}", text) for case in CASES for rel, text in generated(case).files.items()
            if rel.endswith("Dockerfile")]


DOCKERFILES = dockerfiles()


@pytest.mark.parametrize(("name", "text"), DOCKERFILES, ids=[name for name, _ in DOCKERFILES])
def test_a_generated_dockerfile_is_multi_stage_pinned_and_non_root(name: str, text: str) -> None:
    froms = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert len(froms) >= 2, f"{name}: not multi-stage"
    images = [ref for ref in froms if ref not in ("deps", "build")]
    assert all(re.search(r":\d+\.\d+\.\d+", ref) for ref in images), f"{name}: base images not exact: {images}"
    assert re.search(r"^USER \d+$", text, re.MULTILINE), f"{name}: no numeric USER"
    last_stage = text.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^USER 10001$", last_stage, re.MULTILINE), f"{name}: final stage not non-root"
    assert re.search(r"^EXPOSE \d+$", last_stage, re.MULTILINE), f"{name}: no port exposed"
    install = re.search(r"^RUN (?!npm install -g).*\b(?:ci|install)\b", text, re.MULTILINE)
    sources = text.index("COPY . .")
    assert install and install.start() < sources, f"{name}: dependencies not installed before the sources"
    assert text.index("COPY package.json") < install.start(), f"{name}: manifests not copied first"


def test_the_dockerignore_keeps_node_modules_out_of_the_context() -> None:
    ignore = generated("node-express").files[".dockerignore"].splitlines()
    assert "node_modules" in ignore and ".next" in ignore


def test_a_project_with_its_own_dockerfile_keeps_it() -> None:
    files = generated("node-dockerfile-only-build").files
    assert sorted(files) == [".wishstar.yaml"]
    assert "npm install" in files[".wishstar.yaml"]
