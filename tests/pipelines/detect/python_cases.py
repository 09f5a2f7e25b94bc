"""Shared by the Python detection tests: the fixture directory, and rendering a fixture's generated files the
way ``wishstar init`` does for a single app (the Python detector's candidates, best first)."""

from __future__ import annotations

from pathlib import Path

from wishstar.pipelines.detect.evidence import App, Candidate, Detection
from wishstar.pipelines.detect.python import DETECTOR
from wishstar.pipelines.detect.tree import Tree
from wishstar.pipelines.generate import Generated, generate

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.name.startswith("python-"))


def candidates(case: str | Path, path: str = ".") -> list[Candidate]:
    root = case if isinstance(case, Path) else FIXTURES / case
    return DETECTOR.detect(Tree(root), path)


def render(case: str | Path) -> Generated | None:
    """The generated files for the fixture, None when the detector found nothing."""
    found = candidates(case)
    if not found:
        return None
    app = App(".", found[0], tuple(found[1:]), found[0].rule)
    name = case.name if isinstance(case, Path) else case
    return generate(Detection(root=".", apps=(app,)), name=name, has_file=lambda rel: False)
