"""Placement: which chains of tasks become one Pod, and what the merged task and its Pod look like."""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
from collections.abc import Mapping
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from wishstar.engine.compiler.build import compile_pipeline
from wishstar.engine.compiler.entrypoint import RESULTS_DIR
from wishstar.engine.compiler.placement import apply_placement, chains, result_source, shared_workspaces
from wishstar.engine.compiler.pods import task_manifests
from wishstar.engine.compiler.types import Plan, ResultRef, RunContext
from wishstar.engine.spec.validate import validate_text
from wishstar.steps import entrypoint

GOLDEN = Path(__file__).parent / "golden" / "pods"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
CTX = RunContext(run_id="r-1", number=3, namespace="ci")


def no_expander(_name: str, _with: Mapping[str, object]) -> None:
    raise AssertionError("no library tasks here")


def compile_text(text: str, placement: str = "one-pod") -> Plan:
    text = textwrap.dedent(text).replace("PLACEMENT", placement)
    pipeline, _ = validate_text(text, ".wishstar.yaml", lambda _t: None, ())
    return compile_pipeline(pipeline, CTX, no_expander)  # type: ignore[arg-type]


CHAIN = """\
    name: app
    placement: PLACEMENT
    workspaces: [source]
    tasks:
      build:
        workspaces: {source: source}
        script: make > $(results.artifact.path)
        results: [artifact]
      test:
        needs: [build]
        workspaces: {source: source}
        script: echo "testing $(tasks.build.results.artifact)"
      package:
        needs: [test]
        workspaces: {source: source}
        steps:
          - name: tar
            script: tar czf out.tgz . && echo "$(tasks.build.results.artifact)" > $(results.digest.path)
        results: [digest]
      deploy:
        needs: [package]
        when: "event == 'tag'"
        script: echo deploy $(tasks.package.results.digest)
    """


def shape(text: str, placement: str = "one-pod") -> list[list[str]]:
    return chains(compile_text(text, placement))[0]


GROUPING = [
    ("chain", """\
        name: p
        tasks:
          a: {script: "true"}
          b: {script: "true", needs: [a]}
          c: {script: "true", needs: [b]}
        """, [["a", "b", "c"]]),
    ("diamond", """\
        name: p
        tasks:
          a: {script: "true"}
          b: {script: "true", needs: [a]}
          c: {script: "true", needs: [a]}
          d: {script: "true", needs: [b, c]}
        """, []),
    ("tail of a fan-in", """\
        name: p
        tasks:
          a: {script: "true"}
          b: {script: "true"}
          c: {script: "true", needs: [a, b]}
          d: {script: "true", needs: [c]}
          e: {script: "true", needs: [d]}
        """, [["c", "d", "e"]]),
    ("when breaks the chain", """\
        name: p
        tasks:
          a: {script: "true"}
          b: {script: "true", needs: [a], when: "event == 'tag'"}
          c: {script: "true", needs: [b]}
          d: {script: "true", needs: [c]}
        """, [["c", "d"]]),
    ("matrix breaks the chain", """\
        name: p
        tasks:
          a: {script: "true"}
          b: {script: "true", needs: [a], matrix: {py: ["3.12"]}}
          c: {script: "true", needs: [b]}
        """, []),
    ("retries break the chain", """\
        name: p
        tasks:
          a: {script: "true", retries: 2}
          b: {script: "true", needs: [a]}
          c: {script: "true", needs: [b]}
        """, [["b", "c"]]),
    ("allowFailure breaks the chain", """\
        name: p
        tasks:
          a: {script: "true"}
          b: {script: "true", needs: [a], allowFailure: true}
        """, []),
    ("different kubernetes settings", """\
        name: p
        tasks:
          a: {script: "true"}
          b: {script: "true", needs: [a], kubernetes: {nodeSelector: {gpu: "yes"}}}
        """, []),
    ("a member result used in argv", """\
        name: p
        tasks:
          a: {script: "echo x > $(results.r.path)", results: [r]}
          b:
            steps: [{command: [echo, "$(tasks.a.results.r)"]}]
        """, []),
    ("a member result used by a python script", """\
        name: p
        tasks:
          a: {script: "echo x > $(results.r.path)", results: [r]}
          b: {script: "#!/usr/bin/env python3\\nprint('$(tasks.a.results.r)')"}
        """, []),
    ("finally tasks are never merged", """\
        name: p
        tasks:
          a: {script: "true"}
        finally:
          b: {script: "true"}
        """, []),
]


@pytest.mark.parametrize(("text", "expected"), [(t, e) for _, t, e in GROUPING], ids=[i for i, _, _ in GROUPING])
def test_maximal_chains_of_eligible_tasks_are_merged(text: str, expected: list[list[str]]) -> None:
    assert shape(text) == expected


def test_refused_links_are_explained() -> None:
    notes = chains(compile_text(CHAIN))[1]
    assert notes == ['"deploy" stays out of the Pod of "package": it has a `when` condition, so it may be '
                     "skipped on its own"]


@pytest.mark.parametrize("placement", ["one-pod", "auto"])
def test_one_pod_and_auto_merge_the_chain(placement: str) -> None:
    plan = apply_placement(compile_text(CHAIN, placement))
    assert list(plan.tasks) == ["build+test+package", "deploy"]
    group = plan.tasks["build+test+package"]
    assert group.members == ("build", "test", "package")
    assert [s.name for s in group.steps] == ["build.run", "test.run", "package.tar"]
    assert group.results == ("build.artifact", "package.digest")
    assert plan.tasks["deploy"].needs == ("build+test+package",)
    assert plan.members == {"build": "build+test+package", "test": "build+test+package",
                            "package": "build+test+package"}
    assert [(e.source, e.target) for e in plan.edges] == [("build+test+package", "deploy")]
    assert plan.layers == (("build+test+package",), ("deploy",))


def test_pod_per_task_leaves_the_plan_alone() -> None:
    plan = compile_text(CHAIN, "pod-per-task")
    assert apply_placement(plan) is plan


def test_results_of_members_are_found_in_the_merged_task() -> None:
    plan = apply_placement(compile_text(CHAIN))
    assert result_source(plan, ResultRef("package", "digest")) == ("build+test+package", "package.digest")
    assert result_source(plan, ResultRef("deploy", "x")) == ("deploy", "x")
    assert plan.tasks["deploy"].result_refs == (ResultRef("package", "digest"),)


def test_member_results_become_files_and_command_substitutions() -> None:
    group = apply_placement(compile_text(CHAIN)).tasks["build+test+package"]
    build, test, package = (s.script for s in group.steps)
    assert build == f"make > {RESULTS_DIR}/build.artifact"
    assert test == f'echo "testing $(cat {RESULTS_DIR}/build.artifact)"'
    assert package == (f'tar czf out.tgz . && echo "$(cat {RESULTS_DIR}/build.artifact)" > '
                       f"{RESULTS_DIR}/package.digest")


def test_the_rewritten_script_reads_the_value_without_running_it(tmp_path: Path) -> None:
    group = apply_placement(compile_text(CHAIN)).tasks["build+test+package"]
    script = str(group.steps[1].script).replace(RESULTS_DIR, str(tmp_path))
    hostile = "$(touch pwned); `touch pwned2` 'quoted' \"double\""
    (tmp_path / "build.artifact").write_text(hostile + "\n")
    out = subprocess.run(["sh", "-e", "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout == f"testing {hostile}\n"
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()


def test_a_workspace_only_the_chain_uses_needs_no_claim() -> None:
    plan = apply_placement(compile_text(CHAIN))
    group = plan.tasks["build+test+package"]
    assert group.local_workspaces == ("source",)
    assert shared_workspaces(plan) == ()
    pod = task_manifests(group, plan.workspaces, CTX, pipeline=plan.pipeline, entrypoint=entrypoint())[1]
    volumes = {v["name"]: v for v in pod["spec"]["volumes"]}
    assert volumes["ws-source"] == {"name": "ws-source", "emptyDir": {}}
    assert not any("persistentVolumeClaim" in v for v in volumes.values())


def test_a_workspace_another_pod_uses_keeps_its_claim() -> None:
    text = CHAIN.replace("script: echo deploy", "workspaces: {source: source}\n        script: echo deploy")
    plan = apply_placement(compile_text(text))
    group = plan.tasks["build+test+package"]
    assert group.local_workspaces == ()
    assert shared_workspaces(plan) == ("source",)
    pod = task_manifests(group, plan.workspaces, CTX, pipeline=plan.pipeline, entrypoint=entrypoint())[1]
    assert any("persistentVolumeClaim" in v for v in pod["spec"]["volumes"])


def test_the_merged_pod_runs_every_member_step_in_order_and_is_valid() -> None:
    plan = apply_placement(compile_text(CHAIN))
    group = plan.tasks["build+test+package"]
    config_map, pod = task_manifests(group, plan.workspaces, CTX, pipeline=plan.pipeline, entrypoint=entrypoint())
    containers = pod["spec"]["containers"]
    assert [c["args"][1] for c in containers] == ["0", "1", "2"]
    assert [c["args"][3] for c in containers] == ["build.run", "test.run", "package.tar"]
    assert all(DNS_LABEL.fullmatch(c["name"]) and len(c["name"]) <= 63 for c in containers)
    assert DNS_LABEL.fullmatch(pod["metadata"]["name"])
    assert all(c["workingDir"] == "/workspace/source" for c in containers)
    assert containers[-1]["args"][containers[-1]["args"].index("--results") + 1] == \
        "build.artifact,package.digest"
    for obj in (config_map, pod):
        kubernetes_validate.validate(obj, "1.31", strict=True)
    golden = GOLDEN / "one-pod-chain.yaml"
    text = yaml.safe_dump(pod, sort_keys=False, width=120)
    if os.environ.get("WISHSTAR_UPDATE_GOLDEN") == "1":
        golden.write_text(text)
    assert golden.exists(), f"no golden file {golden}; run with WISHSTAR_UPDATE_GOLDEN=1"
    assert text == golden.read_text()


def test_each_member_keeps_its_own_working_directory() -> None:
    plan = apply_placement(compile_text("""\
        name: p
        placement: one-pod
        workspaces: [source, out]
        tasks:
          a: {script: "true", workspaces: {source: source}, workingDir: sub}
          b: {script: "true", needs: [a]}
          c: {script: "true", needs: [b], workspaces: {out: out}}
        """))
    group = plan.tasks["a+b+c"]
    pod = task_manifests(group, plan.workspaces, CTX, pipeline=plan.pipeline, entrypoint=entrypoint())[1]
    assert [c.get("workingDir") for c in pod["spec"]["containers"]] == ["/workspace/source/sub", None,
                                                                        "/workspace/out"]
