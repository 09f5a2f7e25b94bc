"""Every task of the public Tekton catalog sample loads and expands into step plans with its defaults.

The tasks are read in place from ../shared/conformance (never copied). A task that cannot load must be
listed, with its reason, under "Catalog tasks that do not load" in docs/compatibility.md; this test keeps the
two equal.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.compiler.catalog_pods import CONFORMANCE, FILES, LOADABLE, MISSING, documented_failures, dummy_values, label
from wishstar.engine.compiler.library import expand_library_task
from wishstar.engine.spec.errors import ValidationFailed
from wishstar.engine.spec.tekton import load_task

pytestmark = pytest.mark.skipif(MISSING, reason="no conformance data (../shared/conformance or env)")


def test_the_conformance_data_is_there() -> None:
    assert FILES, "conformance data not found (../shared/conformance or WISHSTAR_CONFORMANCE_DIR)"


def test_conformance_sample_is_the_expected_size() -> None:
    assert len(FILES) >= 56


def test_exactly_the_documented_catalog_tasks_fail_to_load() -> None:
    failures = set()
    for path in FILES:
        try:
            load_task(path.read_text(encoding="utf-8"), str(path))
        except ValidationFailed:
            failures.add(label(path))
    assert failures == documented_failures()


@pytest.mark.parametrize("path", LOADABLE, ids=label)
def test_catalog_task_expands_to_one_plan_per_step(path: Path) -> None:
    task = load_task(path.read_text(encoding="utf-8"), str(path))
    expansion = expand_library_task(task, dummy_values(task), file=str(path))
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
    notes = " ".join(expand_library_task(task, dummy_values(task)).notes)
    assert 'sidecar "server"' in notes
    assert "volumes (dind-certs, dslim-state)" in notes


def test_a_reference_to_an_undeclared_param_is_refused_with_its_line_as_tekton_refuses_it() -> None:
    path = CONFORMANCE / "catalog-more" / "anchore-cli.yaml"
    with pytest.raises(ValidationFailed) as failed:
        load_task(path.read_text(encoding="utf-8"), str(path))
    first = failed.value.problems[0]
    assert (first.line, first.path) == (57, "spec.steps[0].env[0].valueFrom.secretKeyRef.name")
    assert first.message == "$(params.anchore-cli-secret) names no param of this task"
    assert first.hint is not None and "ANCHORE_CLI_URL" in first.hint
