"""Every task of the Tekton catalog sample compiled into the objects the Kubernetes executor creates.

Shared by the schema check (tests/compiler/test_catalog_pods.py) and the server-side dry run against the real
API server (tests/k8s/test_catalog_dry_run.py). Each task is used by a one-task pipeline that binds each of its
workspaces to a pipeline workspace of the same name and gives dummy values to its required params; steps that
name only an image get an ENTRYPOINT and CMD from an injected lookup (the registry lookup itself is tested in
tests/executors/test_image_lookup.py). The tasks are read in place from ../shared/conformance (never copied).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.conformance import conformance_dir
from wishstar.engine.compiler.build import UsesExpansion, compile_pipeline
from wishstar.engine.compiler.images import ImageConfig, ImageNeed, with_image_configs
from wishstar.engine.compiler.library import expand_library_task, uses_expansion
from wishstar.engine.compiler.pods import task_manifests
from wishstar.engine.compiler.types import Plan, RunContext
from wishstar.engine.spec.model import ParamValue, Pipeline
from wishstar.engine.spec.tekton import TektonTask, load_task

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = (conformance_dir() or ROOT / "no-conformance-data") / "tekton"
FILES = sorted([*CONFORMANCE.glob("catalog/*.yaml"), *CONFORMANCE.glob("catalog-more/*.yaml")])
COMPATIBILITY = ROOT / "docs" / "compatibility.md"
MISSING = not FILES and os.environ.get("CI_REQUIRE_CONFORMANCE") != "1"
SKIP_WITHOUT_DATA = pytest.mark.skipif(MISSING, reason="no conformance data (../shared/conformance or env)")
ENTRYPOINT = ImageConfig(("/usr/local/bin/tool",), ("--help",), "sha256:" + "0" * 64)
"""What the injected lookup says every image runs."""
ENTRYPOINT_STUB = "#!/bin/sh\n# the step entrypoint (steps/entrypoint/entrypoint.sh) is not what is checked here\n"


def label(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def documented_failures() -> set[str]:
    """File names listed as `- \\`dir/name.yaml\\`: reason` under the heading in docs/compatibility.md."""
    text = COMPATIBILITY.read_text(encoding="utf-8")
    section = text.split("## Catalog tasks that do not load", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^- `([^`]+\.yaml)`", section, flags=re.MULTILINE))


LOADABLE = [path for path in FILES if label(path) not in documented_failures()]
"""The tasks expected to load (the others are listed, with the reason, in docs/compatibility.md)."""


def dummy_values(task: TektonTask) -> dict[str, ParamValue]:
    """Values for required params only: the rest come from defaults."""
    values: dict[str, ParamValue] = {}
    for param in task.spec.params:
        if param.default is None:
            values[param.name] = (["dummy"] if param.kind == "array" else
                                  {k: "dummy" for k in param.properties or {}} if param.kind == "object" else
                                  "dummy")
    return values


def looked_up(needs: Sequence[ImageNeed]) -> Mapping[str, ImageConfig]:
    return {need.image: ENTRYPOINT for need in needs}


def catalog_plan(path: Path, namespace: str) -> Plan:
    """The plan of a one-task pipeline using the catalog task at ``path``, image entrypoints filled in."""
    task = load_task(path.read_text(encoding="utf-8"), str(path))

    def expand(name: str, with_: Mapping[str, ParamValue]) -> UsesExpansion:
        return uses_expansion(expand_library_task(task, with_, file=str(path)))

    names = [w.name for w in task.spec.workspaces]
    pipeline = Pipeline.model_validate({"name": "catalog", "workspaces": names, "tasks": {
        "t": {"uses": task.name, "with": dummy_values(task), "workspaces": {n: n for n in names}}}})
    ctx = RunContext(run_id="catalog-run", number=1, namespace=namespace)
    return with_image_configs(compile_pipeline(pipeline, ctx, expand), looked_up, ctx.default_image)


def catalog_objects(path: Path, namespace: str = "ci") -> list[dict[str, Any]]:
    """``[ConfigMap, Pod]`` for the catalog task at ``path``, as ``wishstar plan --output yaml`` prints them."""
    plan = catalog_plan(path, namespace)
    ctx = RunContext(run_id="catalog-run", number=1, namespace=namespace)
    return task_manifests(plan.tasks["t"], plan.workspaces, ctx, pipeline=plan.pipeline, entrypoint=ENTRYPOINT_STUB)
