"""Every task of the public Tekton catalog sample loads and expands into step plans with its defaults.

The tasks are read in place from ../shared/conformance (never copied). A task that cannot load must be
listed, with its reason, under "Catalog tasks that do not load" in docs/compatibility.md; this test keeps the
two equal.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.conformance import conformance_dir
from wishstar.engine.compiler.library import expand_library_task
from wishstar.engine.spec.errors import ValidationFailed
from wishstar.engine.spec.model import ParamValue
from wishstar.engine.spec.tekton import TektonTask, load_task

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = (conformance_dir() or ROOT / "no-conformance-data") / "tekton"
FILES = sorted([*CONFORMANCE.glob("catalog/*.yaml"), *CONFORMANCE.glob("catalog-more/*.yaml")])
COMPATIBILITY = ROOT / "docs" / "compatibility.md"

_MISSING = not FILES and os.environ.get("CI_REQUIRE_CONFORMANCE") != "1"
pytestmark = pytest.mark.skipif(_MISSING, reason="no conformance data (../shared/conformance or env)")


def test_the_conformance_data_is_there() -> None:
    assert FILES, "conformance data not found (../shared/conformance or WISHSTAR_CONFORMANCE_DIR)"


def _documented_failures() -> set[str]:
    """File names listed as `- \\`dir/name.yaml\\`: reason` under the heading in docs/compatibility.md."""
    text = COMPATIBILITY.read_text(encoding="utf-8")
    section = text.split("## Catalog tasks that do not load", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([^`]+\.yaml)`", section, flags=re.MULTILINE))


def _label(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _dummy_values(task: TektonTask) -> dict[str, ParamValue]:
    """Values for required params only: the rest come from defaults."""
    values: dict[str, ParamValue] = {}
    for param in task.spec.params:
        if param.default is None:
            values[param.name] = (["dummy"] if param.kind == "array" else
                                  {k: "dummy" for k in param.properties or {}} if param.kind == "object" else
                                  "dummy")
    return values


def test_conformance_sample_is_the_expected_size() -> None:
    assert len(FILES) >= 56


def test_exactly_the_documented_catalog_tasks_fail_to_load() -> None:
    failures = set()
    for path in FILES:
        try:
            load_task(path.read_text(encoding="utf-8"), str(path))
        except ValidationFailed:
            failures.add(_label(path))
    assert failures == _documented_failures()


@pytest.mark.parametrize("path", FILES, ids=_label)
def test_catalog_task_expands_to_one_plan_per_step(path: Path) -> None:
    if _label(path) in _documented_failures():
        pytest.skip(reason="documented as not loadable")
    task = load_task(path.read_text(encoding="utf-8"), str(path))
    expansion = expand_library_task(task, _dummy_values(task), file=str(path))
    names = [s.name or f"unnamed-{i}" for i, s in enumerate(task.spec.steps)]
    assert [s.name for s in expansion.steps] == names
    assert expansion.results == tuple(r.name for r in task.spec.results)
    for step in expansion.steps:
        texts = [step.script or "", *step.args, *(step.command or ()), *(e.value or "" for e in step.env)]
        # rhacs-image-check's default is the literal text "$(params.IMAGE)", kept as written.
        unresolved = [t for t in texts if "$(params." in t or "$(inputs.params." in t]
        assert all("$(params.IMAGE)" in t for t in unresolved)


def test_v1beta1_inputs_params_references_are_substituted() -> None:
    path = CONFORMANCE / "catalog-more" / "generate-build-id.yaml"
    task = load_task(path.read_text(encoding="utf-8"), str(path))
    script = expand_library_task(task, {"base-version": "7.1"}).steps[1].script or ""
    assert "buildId=7.1-" in script


def test_old_style_whole_array_reference_spreads_over_args() -> None:
    path = CONFORMANCE / "catalog" / "npm.yaml"
    task = load_task(path.read_text(encoding="utf-8"), str(path))
    steps = expand_library_task(task, {"ARGS": ["run", "build"]}).steps
    assert steps[-1].args == ("run", "build")


def test_sidecars_and_volumes_become_notes() -> None:
    path = CONFORMANCE / "catalog-more" / "dockerslim-build.yaml"
    task = load_task(path.read_text(encoding="utf-8"), str(path))
    notes = " ".join(expand_library_task(task, _dummy_values(task)).notes)
    assert 'sidecar "server"' in notes
    assert "volumes (dind-certs, dslim-state)" in notes
