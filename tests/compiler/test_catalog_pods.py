"""Every task of the Tekton catalog sample compiles to a ConfigMap and a Pod that the Kubernetes 1.34 schema
accepts (``kubernetes_validate``, strict: no unknown field), with its image-only steps running the looked-up
entrypoint. The same objects go to the real API server in tests/k8s/test_catalog_dry_run.py."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from tests.compiler.catalog_pods import (
    COMPATIBILITY,
    ENTRYPOINT,
    FILES,
    LOADABLE,
    SKIP_WITHOUT_DATA,
    catalog_objects,
    catalog_plan,
    label,
)
from wishstar.engine.compiler.images import needs_image_config

KUBERNETES = "1.34.0"
"""The schema of the cluster the tests run (scripts/build-k8s.sh builds v1.34.4)."""

pytestmark = SKIP_WITHOUT_DATA


def test_the_schema_ships_with_the_library_for_the_clusters_version() -> None:
    assert KUBERNETES in kubernetes_validate.utils.all_versions()


@pytest.mark.parametrize("path", LOADABLE, ids=label)
def test_catalog_task_compiles_to_objects_the_kubernetes_schema_accepts(path: Path) -> None:
    objects = catalog_objects(path)
    assert [o["kind"] for o in objects] == ["ConfigMap", "Pod"]
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)


@pytest.mark.parametrize("path", LOADABLE, ids=label)
def test_catalog_steps_without_command_or_script_run_the_images_entrypoint(path: Path) -> None:
    plan = catalog_plan(path, "ci")
    pod = catalog_objects(path)[1]
    for step, container in zip(plan.tasks["t"].steps, pod["spec"]["containers"], strict=False):
        argv = container["args"][container["args"].index("--") + 1:] if "--" in container["args"] else []
        assert not needs_image_config(step)
        if step.image_entrypoint:
            assert argv[: len(ENTRYPOINT.entrypoint)] == list(ENTRYPOINT.entrypoint)
            rest = argv[len(ENTRYPOINT.entrypoint):]  # the step's args (references filled in), else CMD
            assert rest == list(ENTRYPOINT.cmd) if not step.args else len(rest) == len(step.args)


def test_the_sample_has_image_only_steps_so_the_lookup_is_exercised() -> None:
    used = [label(p) for p in LOADABLE if any(s.image_entrypoint for s in catalog_plan(p, "ci").tasks["t"].steps)]
    assert used, "no catalog task has a step without command and script"


def test_the_shares_in_the_compatibility_page_are_exact() -> None:
    text = COMPATIBILITY.read_text(encoding="utf-8")
    section = text.split("## Catalog load results", 1)[1].split("\n## ", 1)[0]
    image_only = [p for p in LOADABLE if any(s.image_entrypoint for s in catalog_plan(p, "ci").tasks["t"].steps)]
    assert f"**{len(LOADABLE)} of the {len(FILES)} tasks**" in section
    assert f"(in {len(image_only)} of the {len(LOADABLE)} tasks)" in " ".join(section.split())
