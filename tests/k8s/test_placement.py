"""``placement: one-pod`` on the test cluster's KWOK nodes: a chain of three tasks is one Pod, and the run
succeeds with the members' rows in the store and a member's result reaching the next Pod."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from tests.k8s import test_executor
from tests.k8s.cluster import Cluster
from tests.k8s.test_executor import Run, results_message
from wishstar.engine.compiler.placement import apply_placement, shared_workspaces
from wishstar.engine.compiler.types import Plan, RunContext

pytestmark = pytest.mark.kubernetes

CHAIN = """
    name: kw
    placement: one-pod
    workspaces: [source]
    tasks:
      build:
        workspaces: {source: source}
        results: [tag]
        script: printf 1.2.3 > $(results.tag.path)
      test:
        needs: [build]
        workspaces: {source: source}
        script: echo testing "$(tasks.build.results.tag)"
      package:
        needs: [test]
        workspaces: {source: source}
        script: echo packaging
      publish:
        needs: [package]
        when: "event == 'manual'"
        script: echo publishing $(tasks.build.results.tag)
"""


def test_a_chain_of_three_tasks_runs_as_one_pod(tmp_path: Path, cluster: Cluster, namespace: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    compile_text = test_executor.compile_text

    def placed(text: str, ctx: RunContext) -> Plan:
        return apply_placement(compile_text(text, ctx))

    monkeypatch.setattr(test_executor, "compile_text", placed)
    group = "build+test+package"
    run = Run(tmp_path, cluster, namespace, CHAIN,
              {group: {"kwok.wishstar.dev/message": results_message(**{"build.tag": "1.2.3"})}}, keep=True)
    run.env = run.runner.env = replace(run.env, workspaces=shared_workspaces(run.plan))
    data = run.go()
    assert data["status"] == "succeeded", data
    pods = cluster.core.list_namespaced_pod(namespace).items
    assert sorted(p.metadata.annotations["wishstar.dev/task"] for p in pods) == [group, "publish"]
    chain_pod = next(p for p in pods if p.metadata.annotations["wishstar.dev/task"] == group)
    names = [c.name for c in chain_pod.spec.containers]
    assert [n.rsplit("-", 1)[0] for n in names] == ["step-build-run", "step-test-run", "step-package-run"]
    workspace = next(v for v in chain_pod.spec.volumes if v.name == "ws-source")
    assert workspace.empty_dir is not None and workspace.persistent_volume_claim is None
    assert cluster.core.list_namespaced_persistent_volume_claim(namespace).items == []
    tasks = run.tasks()
    assert {n: tasks[n]["status"] for n in (group, "build", "test", "package", "publish")} == dict.fromkeys(
        (group, "build", "test", "package", "publish"), "succeeded")
    assert tasks["build"]["results"] == {"tag": "1.2.3"}
    script = cluster.core.read_namespaced_config_map(run.pod_name("publish"), namespace).data["step-0"]
    assert script == "echo publishing 1.2.3"
