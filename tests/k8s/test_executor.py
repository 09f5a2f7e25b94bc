"""The Kubernetes executor against the real test cluster's KWOK nodes: runs, results, cleanup, RBAC, restarts.

Each test drives the executor the way ``wishstar run`` does (the runner, a SQLite store) or, for restarts,
directly. Pods go to KWOK nodes through a ``ManifestSource`` that adds the node selector and the KWOK stage
annotations of ``scripts/kwok/`` (succeed, fail with an exit code, stay running; termination messages carry
results exactly as the step entrypoint writes them). KWOK nodes serve no logs, so log streaming is off here.
"""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client as k8s

from tests.executors.support import RecordingSink
from tests.k8s.cluster import KWOK_NODE_SELECTOR, ROOT, Cluster, wait_until
from wishstar.engine.compiler.build import compile_pipeline
from wishstar.engine.compiler.pods import attempt_paths, object_name
from wishstar.engine.compiler.resolve import RuntimeView, resolve_task
from wishstar.engine.compiler.types import GitContext, Plan, RunContext
from wishstar.engine.executors.base import ResolvedTask, RunEnv
from wishstar.engine.executors.kubernetes import (
    AttemptOptions,
    KubernetesConfig,
    KubernetesExecutor,
    PermissionDenied,
    PlanManifests,
    TaskObjects,
)
from wishstar.engine.executors.kubernetes.client import KubeClient
from wishstar.engine.executors.kubernetes.objects import run_selector
from wishstar.engine.executors.kubernetes.ratelimit import TokenBucket
from wishstar.engine.runner import Runner, RunOptions, base_env
from wishstar.engine.spec.validate import validate_text
from wishstar.engine.store import shape
from wishstar.engine.store.api import Store
from wishstar.engine.store.logs import LogStore
from wishstar.steps import entrypoint

pytestmark = pytest.mark.kubernetes

ROLE_FILE = ROOT / "docs" / "examples" / "wishstar-role.yaml"
Annotations = Mapping[str, Mapping[str, str]]


def results_message(**results: str) -> str:
    return json.dumps({"exitCode": 0, "results": results}, separators=(",", ":"))


def kwok_source(plan: Plan, ctx: RunContext, annotations: Annotations,
                node_selector: Mapping[str, str] = KWOK_NODE_SELECTOR) -> Callable[[ResolvedTask], TaskObjects]:
    """The plan's objects, placed on KWOK nodes, each task told by annotation how its Pod ends."""
    inner = PlanManifests(plan, ctx, entrypoint())

    def build(task: ResolvedTask) -> TaskObjects:
        objects = inner(task)
        objects.pod["spec"]["nodeSelector"] = dict(node_selector)
        objects.pod["metadata"]["annotations"].update(
            {"wishstar.dev/kwok": "succeed", "kwok.wishstar.dev/delay": "0s", **annotations.get(task.name, {})})
        return objects

    return build


def compile_text(text: str, ctx: RunContext) -> Plan:
    pipeline, _ = validate_text(textwrap.dedent(text), ".wishstar.yaml", lambda t: None, [])
    return compile_pipeline(pipeline, ctx, lambda n, w: None)  # type: ignore[arg-type,return-value]


def executor_for(cluster: Cluster, namespace: str, plan: Plan, ctx: RunContext, annotations: Annotations, *,
                 client: KubeClient | None = None, keep: bool = False, **options: Any) -> KubernetesExecutor:
    attempt = AttemptOptions(**{"stream_logs": False, "delete_grace_s": 0, "deadline_slack_s": 1.0, **options})
    config = KubernetesConfig(namespace=namespace, kubeconfig=str(cluster.kubeconfig), keep=keep, attempt=attempt)
    return KubernetesExecutor(kwok_source(plan, ctx, annotations), config, client=client)


class Run:
    """One pipeline run through the runner and a real store, on the cluster."""

    def __init__(self, tmp_path: Path, cluster: Cluster, namespace: str, text: str,
                 annotations: Annotations | None = None, **executor_args: Any) -> None:
        annotations = annotations or {}
        self.tmp_path, self.cluster, self.namespace = tmp_path, cluster, namespace
        self.store = Store.open(None, tmp_path)
        run_id, number = self.store.create_run("kw", git={"branch": "main"})
        self.ctx = RunContext(run_id=run_id, number=number, namespace=namespace,
                              git=GitContext(branch="main", commit="abc"))
        self.plan = compile_text(text, self.ctx)
        self.executor = executor_for(cluster, namespace, self.plan, self.ctx, annotations, **executor_args)
        self.env = RunEnv(run_id, str(tmp_path / "run"), None, self.plan.workspaces)
        self.runner = Runner(self.plan, self.ctx, self.executor, self.store, LogStore(tmp_path), self.env,
                             secrets={}, base_env=base_env(self.ctx, self.plan.pipeline, {"PATH": "/usr/bin"}),
                             options=RunOptions(concurrency=8, flush_interval=0.0, cancel_poll=0.05))

    @property
    def run_id(self) -> str:
        return self.ctx.run_id

    def pod_name(self, task: str, attempt: int = 1) -> str:
        return object_name(self.plan.pipeline, self.ctx.number, task, attempt)

    def go(self, during: Callable[[Run], Awaitable[None]] | None = None) -> dict[str, Any]:
        async def main() -> None:
            task = asyncio.create_task(self.runner.run())
            if during is not None:
                await during(self)
            await task

        asyncio.run(asyncio.wait_for(main(), 120))
        return shape.run_dict(self.store.get_run(self.run_id))

    def tasks(self) -> dict[str, dict[str, Any]]:
        return {t["name"]: t for t in shape.run_dict(self.store.get_run(self.run_id))["tasks"]}

    def leftovers(self) -> list[str]:
        selector = run_selector(self.run_id)
        core = self.cluster.core
        found = [f"pod/{p.metadata.name}" for p in core.list_namespaced_pod(self.namespace,
                                                                             label_selector=selector).items]
        found += [f"configmap/{c.metadata.name}" for c in core.list_namespaced_config_map(
            self.namespace, label_selector=selector).items]
        found += [f"secret/{s.metadata.name}" for s in core.list_namespaced_secret(
            self.namespace, label_selector=selector).items]
        return found


def wait_running(cluster: Cluster, namespace: str, name: str, timeout: float = 30) -> None:
    """Until the Pod exists and runs (it may not have been created yet)."""
    def probe() -> bool:
        pods = cluster.core.list_namespaced_pod(namespace, field_selector=f"metadata.name={name}").items
        return bool(pods) and pods[0].status.phase == "Running"

    wait_until(probe, timeout, f"pod {namespace}/{name} to run")


RESULTS_PIPELINE = """
    name: kw
    tasks:
      version:
        results: [tag]
        script: printf 1.2.3 > $(results.tag.path)
      build:
        script: echo building $(tasks.version.results.tag)
"""


def test_a_run_succeeds_on_kwok_and_a_result_reaches_the_next_tasks_pod(tmp_path: Path, cluster: Cluster,
                                                                          namespace: str) -> None:
    run = Run(tmp_path, cluster, namespace, RESULTS_PIPELINE,
              {"version": {"kwok.wishstar.dev/message": results_message(tag="1.2.3")}}, keep=True)
    data = run.go()
    assert data["status"] == "succeeded", data
    assert run.tasks()["version"]["results"] == {"tag": "1.2.3"}
    script = cluster.core.read_namespaced_config_map(run.pod_name("build"), namespace).data["step-0"]
    assert script == "echo building 1.2.3"
    pod = cluster.core.read_namespaced_pod(run.pod_name("build"), namespace)
    assert pod.metadata.owner_references[0].name == f"wishstar-run-{run.run_id}"
    assert pod.metadata.labels["wishstar.dev/run"] == run.run_id


def test_a_failing_step_fails_the_run_with_its_exit_code(tmp_path: Path, cluster: Cluster, namespace: str) -> None:
    run = Run(tmp_path, cluster, namespace, """
        name: kw
        tasks:
          test:
            script: exit 3
          after:
            needs: [test]
            script: echo never
    """, {"test": {"wishstar.dev/kwok": "fail", "kwok.wishstar.dev/exit-code": "3",
                   "kwok.wishstar.dev/message": '{"exitCode":3}'}})
    data = run.go()
    assert data["status"] == "failed"
    tasks = run.tasks()
    assert (tasks["test"]["status"], tasks["test"]["exit_code"]) == ("failed", 3)
    assert "exited with 3" in tasks["test"]["reason"], tasks["test"]
    assert tasks["after"]["status"] != "succeeded"


def test_deleting_the_run_lets_the_garbage_collector_remove_everything(tmp_path: Path, cluster: Cluster,
                                                                      namespace: str) -> None:
    run = Run(tmp_path, cluster, namespace, """
        name: kw
        tasks:
          a:
            env: {TOKEN: {secret: TOKEN}}
            script: echo "$TOKEN"
          b:
            script: echo b
    """)
    run.runner.secrets = {"TOKEN": "s3cr3t"}
    data = run.go()
    assert data["status"] == "succeeded", data
    assert not cluster.core.list_namespaced_config_map(namespace, field_selector=f"metadata.name=wishstar-run-"
                                                                                  f"{run.run_id}").items
    wait_until(lambda: not run.leftovers(), 60, "the garbage collector to remove the run's objects")


def test_cancellation_deletes_the_running_pod_and_leaves_nothing_behind(tmp_path: Path, cluster: Cluster,
                                                                       namespace: str) -> None:
    run = Run(tmp_path, cluster, namespace, """
        name: kw
        tasks:
          forever:
            script: sleep 1000
    """, {"forever": {"wishstar.dev/kwok": "run"}})

    async def cancel_when_running(r: Run) -> None:
        await asyncio.to_thread(wait_running, cluster, namespace, r.pod_name("forever"))
        r.runner.cancel()

    data = run.go(cancel_when_running)
    assert data["status"] == "cancelled"
    assert run.tasks()["forever"]["status"] == "cancelled"
    wait_until(lambda: not run.leftovers(), 60, "the run's objects to be gone")


def test_an_unschedulable_pod_says_why_it_waits_and_the_engine_clock_ends_it(tmp_path: Path, cluster: Cluster,
                                                                           namespace: str) -> None:
    text = """
        name: kw
        tasks:
          stuck:
            timeout: 4s
            script: echo never
    """
    run = Run(tmp_path, cluster, namespace, text)
    run.executor.manifests = kwok_source(run.plan, run.ctx, {}, node_selector={"wishstar.dev/node-kind": "none"})
    seen: list[str] = []

    async def watch_reason(r: Run) -> None:
        for _ in range(200):
            reason = r.executor.waiting_reason("stuck", r.run_id)
            if reason:
                seen.append(reason)
                return
            await asyncio.sleep(0.05)

    data = run.go(watch_reason)
    assert data["status"] == "failed"
    # 0/N: the two KWOK nodes, and the session's real node once a test has started it
    assert seen and re.match(r"unschedulable: 0/\d+ nodes are available", seen[0]), seen
    step = run.plan.tasks["stuck"].steps[0].name
    log = LogStore(tmp_path).step_path(run.run_id, "stuck", 1, step)
    assert re.search(r"^wishstar: waiting: unschedulable: 0/\d+ nodes are available", log.read_text(), re.M)
    assert "timed out" in (run.tasks()["stuck"]["reason"] or "")


# --- restarts ----------------------------------------------------------------------------------------


def resolved(plan: Plan, run_id: str, name: str, attempt: int = 1) -> ResolvedTask:
    """The attempt as the runner would hand it to this executor."""
    view = RuntimeView(run_id=run_id, results={}, statuses={}, aggregate_status="", secrets={}, base_env={})
    task = plan.task(name)
    return resolve_task(task, view, attempt=attempt, paths=attempt_paths(task, run_id, "unused"), default_cwd="/")


def test_a_restarted_engine_reattaches_to_the_running_pod_instead_of_creating_another(
        cluster: Cluster, namespace: str) -> None:
    ctx = RunContext(run_id="restart-1", number=1, namespace=namespace)
    plan = compile_text("""
        name: kw
        tasks:
          slow:
            results: [v]
            script: printf x > $(results.v.path)
    """, ctx)
    annotations = {"slow": {"kwok.wishstar.dev/delay": "5s", "kwok.wishstar.dev/message": results_message(v="x")}}
    env = RunEnv(ctx.run_id, "/nonexistent", None, ())
    task = resolved(plan, ctx.run_id, "slow")
    name = object_name("kw", 1, "slow")

    first = executor_for(cluster, namespace, plan, ctx, annotations)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(first.setup(env))
    abandoned = loop.create_task(first.execute(task, RecordingSink()))
    loop.run_until_complete(asyncio.to_thread(wait_running, cluster, namespace, name))
    uid = cluster.core.read_namespaced_pod(name, namespace).metadata.uid
    first.close()  # the first engine dies here: its loop never runs again and deletes nothing
    assert not abandoned.done()

    second = executor_for(cluster, namespace, plan, ctx, annotations)

    async def resume() -> tuple[Any, bool | None]:
        await second.setup(env)
        running = asyncio.create_task(second.execute(task, RecordingSink()))
        await asyncio.sleep(0.5)
        attached = second.attached(ctx.run_id, "slow", 1)
        outcome = await running
        await second.teardown(env)
        return outcome, attached

    outcome, attached = asyncio.run(resume())
    assert attached is True
    assert outcome.status == "succeeded" and outcome.results == {"v": "x"}
    pods = cluster.core.list_namespaced_pod(namespace, label_selector=run_selector(ctx.run_id)).items
    assert [p.metadata.uid for p in pods if p.metadata.deletion_timestamp is None] in ([uid], [])


# --- RBAC --------------------------------------------------------------------------------------------


def apply_role(cluster: Cluster, namespace: str, account: str, drop: tuple[str, str] | None = None) -> KubeClient:
    """The documented Role for ``account`` (optionally without one verb on one resource); a client using
    only that ServiceAccount's token."""
    docs = list(yaml.safe_load_all(ROLE_FILE.read_text()))
    service_account, role, binding = docs
    service_account["metadata"]["name"] = account
    role["metadata"]["name"] = binding["metadata"]["name"] = binding["roleRef"]["name"] = f"{account}-role"
    if drop is not None:
        resource, verb = drop
        for rule in role["rules"]:
            if resource in rule["resources"]:
                rule["verbs"].remove(verb)
    binding["subjects"] = [{"kind": "ServiceAccount", "name": account, "namespace": namespace}]
    cluster.core.create_namespaced_service_account(namespace, service_account)
    rbac = k8s.RbacAuthorizationV1Api(cluster.api_client)
    rbac.create_namespaced_role(namespace, role)
    rbac.create_namespaced_role_binding(namespace, binding)
    token = cluster.service_account_token(namespace, account)
    return KubeClient(cluster.client_for_token(token), TokenBucket(50, 100))


def test_the_documented_role_is_enough_to_run_a_pipeline(tmp_path: Path, cluster: Cluster, namespace: str) -> None:
    client = apply_role(cluster, namespace, "wishstar")
    run = Run(tmp_path, cluster, namespace, RESULTS_PIPELINE,
              {"version": {"kwok.wishstar.dev/message": results_message(tag="9")}}, client=client)
    data = run.go()
    assert data["status"] == "succeeded", data
    wait_until(lambda: not run.leftovers(), 60, "the run's objects to be gone")


def test_a_missing_verb_fails_with_a_message_naming_it(tmp_path: Path, cluster: Cluster, namespace: str) -> None:
    client = apply_role(cluster, namespace, "limited", drop=("pods", "create"))
    run = Run(tmp_path, cluster, namespace, "name: kw\ntasks:\n  a:\n    script: 'true'\n", client=client)
    data = run.go()
    assert data["status"] == "failed"
    reason = run.tasks()["a"]["reason"]
    assert 'the verb "create" on "pods"' in reason and f'namespace "{namespace}"' in reason, reason


def test_a_missing_watch_fails_setup_with_a_permission_error(tmp_path: Path, cluster: Cluster,
                                                            namespace: str) -> None:
    client = apply_role(cluster, namespace, "nowatch", drop=("pods", "list"))
    ctx = RunContext(run_id="rbac-1", number=1, namespace=namespace)
    plan = compile_text("name: kw\ntasks:\n  a:\n    script: 'true'\n", ctx)
    executor = executor_for(cluster, namespace, plan, ctx, {}, client=client)
    with pytest.raises(PermissionDenied, match='"list" on "pods"'):
        asyncio.run(executor.setup(RunEnv(ctx.run_id, "/nonexistent", None, ())))
    executor.close()


def test_the_watch_survives_an_api_server_restart_mid_run(tmp_path: Path, cluster: Cluster, namespace: str) -> None:
    restart = cluster.restart_apiserver
    run = Run(tmp_path, cluster, namespace, """
        name: kw
        tasks:
          a:
            script: sleep 8
          b:
            needs: [a]
            script: echo b
    """, {"a": {"kwok.wishstar.dev/delay": "8s"}})

    watches: list[int] = []

    async def restart_while_a_runs(r: Run) -> None:
        await asyncio.to_thread(wait_running, cluster, namespace, r.pod_name("a"))
        assert r.executor.watch is not None
        watch, before = r.executor.watch, r.executor.watch.watches
        await asyncio.to_thread(restart)
        while r.runner.state is None or r.runner.state.status == "running":
            watches[:] = [before, watch.watches]
            await asyncio.sleep(0.2)

    data = run.go(restart_while_a_runs)
    assert data["status"] == "succeeded", data
    assert watches[1] > watches[0], "the watch did not resume after the restart"
