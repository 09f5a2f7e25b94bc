"""Golden-file helpers for the Java/Kotlin and .NET detector tests: fixture cases to Detections, rendered
files compared with ``golden/<case>/`` (``WISHSTAR_UPDATE_GOLDEN=1`` rewrites them; CI never does).

The repository-wide walk (``detect.repo``) is not used here on purpose: these tests pin what the ecosystem
detectors and their templates produce, so the Detection is built the way the walk builds it (one App per
directory, a declared layout's members as apps with the repository root as their build context).
"""

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


def tree(case: str, *, gradle_on_path: bool = False) -> Tree:
    """The fixture ``case`` as a Tree; ``gradle_on_path`` decides what ``which("gradle")`` answers."""
    return Tree(FIXTURES / case, which=lambda name: gradle_on_path and name == "gradle")


def detection(detector: Detector, case: str, *, gradle_on_path: bool = False) -> Detection:
    t = tree(case, gradle_on_path=gradle_on_path)
    layout = detector.members(t, ".")
    paths = list(layout.paths) if layout else ["."]
    apps = []
    for path in paths:
        candidates = detector.detect(t, path)
        assert candidates, f"{case}: nothing detected at {path}"
        apps.append(App(path, candidates[0], tuple(candidates[1:]), candidates[0].rule,
                        context="." if candidates[0].context else path))
    return Detection(root=".", apps=tuple(apps))


def render(detector: Detector, case: str, *, gradle_on_path: bool = False) -> Generated:
    return generate(detection(detector, case, gradle_on_path=gradle_on_path), name=case,
                    has_file=lambda path: False)


def compare(case: str, generated: Generated) -> list[str]:
    """The golden files that differ from (or are missing for) ``generated``; rewrites them instead when
    ``WISHSTAR_UPDATE_GOLDEN=1``."""
    differing: list[str] = []
    for rel, text in generated.files.items():
        golden = GOLDEN / case / rel
        if os.environ.get("WISHSTAR_UPDATE_GOLDEN") == "1":
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text)
        elif not golden.is_file() or golden.read_text() != text:
            differing.append(rel)
    extra = {p.relative_to(GOLDEN / case).as_posix() for p in (GOLDEN / case).rglob("*") if p.is_file()}
    differing += sorted(extra - set(generated.files))
    return differing


def write_tree(root: Path, files: dict[str, str], *, gradle_on_path: bool = False) -> Tree:
    """A small repository written under ``root`` from ``files`` (path to text), as a Tree."""
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return Tree(root, which=lambda name: gradle_on_path and name == "gradle")


def dockerfile_problems(text: str, port: str | None) -> list[str]:
    """The checks that matter for a generated Dockerfile (hadolint is not available here): multi-stage,
    every base image pinned to an exact tag (never ``latest``), the final stage runs as a numeric non-root
    user, the port is exposed, and the dependency manifests are copied before the sources."""
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    problems: list[str] = []
    froms = [line.split()[1] for line in lines if line.startswith("FROM ")]
    if len(froms) < 2:
        problems.append("not multi-stage")
    for image in froms:
        tag = image.rpartition(":")[2] if ":" in image.rpartition("/")[2] else ""
        if not tag or tag == "latest" or not any(ch.isdigit() for ch in tag):
            problems.append(f"{image}: not pinned to an exact tag")
    final = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")):]
    users = [line.split()[1] for line in final if line.startswith("USER ")]
    if not users or not users[-1].isdigit() or users[-1] == "0":
        problems.append("the final stage does not run as a numeric non-root USER")
    if port is not None and f"EXPOSE {port}" not in final:
        problems.append(f"EXPOSE {port} missing")
    copies = [i for i, line in enumerate(lines) if line.startswith("COPY ") and "--from" not in line]
    runs = [i for i, line in enumerate(lines) if line.startswith("RUN ")]
    if not copies or not runs or runs[0] < copies[0] or runs[0] > copies[-1]:
        problems.append("no dependency step between copying the manifests and copying the sources")
    return problems
