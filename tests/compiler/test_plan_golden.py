"""``wishstar plan --output yaml`` for the golden pipelines, pinned byte for byte.

The pinned text is what the Kubernetes executor creates for each task's first attempt in namespace ``ci``
(``tests/executors/test_plan_is_what_runs.py`` proves it), so a change that alters what runs changes a golden
file. Refresh them with ``WISHSTAR_UPDATE_GOLDEN=1`` and read the diff.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from wishstar.cli.main import app

PLANS = Path(__file__).parent / "golden" / "plan"
PIPELINES = sorted(PLANS.glob("*.wishstar.yaml"))
NAMESPACE = "ci"


def plan_yaml(pipeline: Path) -> str:
    """What ``wishstar plan PIPELINE --output yaml --namespace ci`` prints."""
    result = CliRunner().invoke(app, ["plan", str(pipeline), "--output", "yaml", "--namespace", NAMESPACE])
    assert result.exit_code == 0, result.output
    return result.stdout


def golden_of(pipeline: Path) -> Path:
    return pipeline.with_name(pipeline.name.removesuffix(".wishstar.yaml") + ".yaml")


def test_there_are_golden_pipelines() -> None:
    assert len(PIPELINES) >= 3


@pytest.mark.parametrize("pipeline", PIPELINES, ids=[p.name for p in PIPELINES])
def test_plan_output_matches_its_golden_file(pipeline: Path) -> None:
    text = plan_yaml(pipeline)
    golden = golden_of(pipeline)
    if os.environ.get("WISHSTAR_UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}; run with WISHSTAR_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8")


def test_workspace_paths_in_the_plan_are_the_mount_paths() -> None:
    text = golden_of(PLANS / "one-task-workspace.wishstar.yaml").read_text(encoding="utf-8")
    assert "cd /workspace/source" in text and "mountPath: /workspace/source" in text
    assert "/wishstar/workspaces" not in text
    assert "attempt 1 of build" in text


def test_every_workspace_reference_is_filled_in_the_plan() -> None:
    text = golden_of(PLANS / "results-and-finally.wishstar.yaml").read_text(encoding="utf-8")
    assert "$(workspaces." not in text
