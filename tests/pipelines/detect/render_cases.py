"""Shared by the Go and container detector tests: a fixture case's detection, its generated files, and the
comparison with tests/pipelines/detect/golden/<case>/ (``WISHSTAR_UPDATE_GOLDEN=1`` rewrites them; CI never
does)."""

from __future__ import annotations

import os
from pathlib import Path

from wishstar.pipelines.detect.base import Detector
from wishstar.pipelines.detect.evidence import App, Detection
from wishstar.pipelines.detect.tree import Tree
from wishstar.pipelines.generate import Generated, generate

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
GOLDEN = HERE / "golden"


def single(detector: Detector, case: str) -> App:
    """The root app of fixture ``case`` as ``detector`` sees it (exactly one candidate expected)."""
    candidates = detector.detect(Tree(FIXTURES / case), ".")
    assert len(candidates) == 1, f"{case}: {candidates}"
    return App(".", candidates[0])


def render(case: str, apps: tuple[App, ...]) -> Generated:
    return generate(Detection(root=".", apps=apps), name=case, has_file=lambda path: False)


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
