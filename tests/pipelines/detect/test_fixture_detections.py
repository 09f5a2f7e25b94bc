"""Every fixture repository, detected whole (the registry's detectors and the repository walk together), gives
its expected JSON (``tests/pipelines/detect/expected/<case>.json``; refresh with ``WISHSTAR_UPDATE_GOLDEN=1``
and read the diff). The ecosystems' own tests check each rule; these pin what ``wishstar detect --output json``
says about a whole repository, conflicts, monorepos and misses included."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wishstar.pipelines.detect.registry import detect_repository
from wishstar.pipelines.detect.report import detection_json
from wishstar.pipelines.generate import generate
from wishstar.pipelines.load import validate
from wishstar.tasks import Library

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures"
EXPECTED = HERE / "expected"
CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir())
NOTHING = {"markdown-only", "node-bad-json", "python-bad-pyproject", "go-malformed", "gradle-no-wrapper"}
"""Fixtures where nothing matches on purpose (a test below checks each really matches nothing)."""


def no_gradle(name: str) -> bool:
    """Tool probes answer the same on every machine: no Gradle on PATH, every other tool present."""
    return name != "gradle"


def shaped(case: str) -> dict[str, object]:
    return detection_json(detect_repository(FIXTURES / case, which=no_gradle))


@pytest.mark.parametrize("case", CASES)
def test_a_fixture_repository_detects_as_expected(case: str) -> None:
    got = shaped(case)
    expected = EXPECTED / f"{case}.json"
    if os.environ.get("WISHSTAR_UPDATE_GOLDEN") == "1":
        expected.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert expected.exists(), f"no {expected}; run with WISHSTAR_UPDATE_GOLDEN=1 and read it"
    assert got == json.loads(expected.read_text())


@pytest.mark.parametrize("case", sorted(set(CASES) - NOTHING))
def test_what_a_fixture_generates_passes_the_validator(case: str) -> None:
    detection = detect_repository(FIXTURES / case, which=no_gradle)
    assert detection.matched
    files = generate(detection, name=case, has_file=lambda rel: (FIXTURES / case / rel).exists())
    validate(files.pipeline, f"{case}/.wishstar.yaml", Library())


@pytest.mark.parametrize("case", sorted(NOTHING))
def test_a_nothing_fixture_matches_nothing_and_names_a_near_miss_or_the_files(case: str) -> None:
    assert case in CASES, f"no fixture {case}"
    got = shaped(case)
    assert got["apps"] == [] and (got["near_misses"] or got["found"])


def test_the_mixed_monorepo_has_one_app_per_service_with_its_own_language() -> None:
    apps = {a["path"]: (a["language"], a["build"], a["framework"]) for a in shaped("monorepo-three-apps")["apps"]}
    assert apps == {"api": ("java", "maven", "spring-boot"), "web": ("javascript", "npm", "express"),
                    "worker": ("python", "pip", None)}


def test_an_empty_repository_matches_nothing_and_says_it_is_empty(tmp_path: Path) -> None:
    got = detection_json(detect_repository(tmp_path))
    assert got["apps"] == [] and got["found"] == []
    assert "by_hand" in got and set(got["looked_for"]) >= {"java", "python", "javascript", "go"}


def test_a_repository_of_only_markdown_is_never_a_guess() -> None:
    got = shaped("markdown-only")
    assert got["apps"] == [] and "README.md" in got["found"]
