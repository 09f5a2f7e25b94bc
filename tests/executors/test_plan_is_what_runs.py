"""What ``wishstar plan --output yaml`` prints is what the Kubernetes executor creates, byte for byte.

For every golden pipeline (``tests/compiler/golden/plan``) and every golden task case
(``tests/compiler/golden/pods``), the Kubernetes executor is driven through its own ``setup`` and ``execute``
against a recording API client, and the objects it POSTs are dumped as ``wishstar plan`` dumps its own.
The run's values are the references themselves (the result of ``build`` is the text
``$(tasks.build.results.x)``), which is what plan prints before they exist; secrets come from the namespace,
as when the run is given none. The only difference allowed is ``metadata.ownerReferences`` (the run owner's
uid exists once it is created), and the test checks that it names the run's owner.
"""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import pytest

from tests.compiler import test_pods
from tests.compiler.test_plan_golden import NAMESPACE, PIPELINES, golden_of, plan_yaml
from tests.executors.support import RecordingSink
from wishstar.cli.common import settings
from wishstar.cli.render import objects_yaml
from wishstar.engine.compiler.placement import shared_workspaces
from wishstar.engine.compiler.resolve import RuntimeView, resolve_task, secret_refs
from wishstar.engine.compiler.types import Plan, RunContext, TaskPlan
from wishstar.engine.executors.base import RunEnv
from wishstar.engine.executors.kubernetes import make_kubernetes_executor
from wishstar.engine.executors.kubernetes.watching import NamespaceWatch
from wishstar.pipelines.load import compile_run, validate
from wishstar.steps import entrypoint
from wishstar.tasks import Library

pytestmark = pytest.mark.timeout(30)

OWNER_UID = "uid-of-the-run-owner"


class Captured(Exception):
    """Raised by the recording client once an attempt's Pod is sent: nothing here follows a Pod."""


class RecordingClient:
    """Stands in for ``KubeClient``: keeps every object POSTed, in order, and ends an attempt at its Pod."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        self.sent.append(copy.deepcopy(body))
        if body["kind"] == "Pod":
            raise Captured(body["metadata"]["name"])
        stored = copy.deepcopy(body)
        stored["metadata"]["uid"] = OWNER_UID
        return stored

    async def get(self, path: str, query: Any = ()) -> dict[str, Any] | None:
        return None

    async def delete(self, path: str, **_: Any) -> bool:
        return False


def as_written(plan: Plan, task: TaskPlan) -> RuntimeView:
    """Run-time values that are the references themselves, and every secret left to the namespace."""
    results = {ref.task: {ref.result: f"$(tasks.{ref.task}.results.{ref.result})"} for ref in task.result_refs}
    statuses = {t.name: f"$(tasks.{t.name}.status)" for t in plan.all_tasks()}
    return RuntimeView(run_id="unused", results=results, statuses=statuses, aggregate_status="$(tasks.status)",
                       secrets={}, base_env={}, provided=frozenset(secret_refs([task])))


async def created_objects(plan: Plan, ctx: RunContext) -> list[dict[str, Any]]:
    """Every object the executor sends for attempt 1 of each task, in plan order, as the API receives it."""
    client = RecordingClient()
    executor = make_kubernetes_executor(plan, ctx, entrypoint=entrypoint(), namespace=ctx.namespace,
                                        default_image=ctx.default_image, client=client)  # type: ignore[arg-type]
    executor.watch = NamespaceWatch(client, ctx.namespace)  # type: ignore[arg-type]  # never started
    run = RunEnv(ctx.run_id, "/nowhere", None, shared_workspaces(plan))
    await executor.setup(run)
    del client.sent[:]  # the run's owner and claims: not task objects
    for task in plan.all_tasks():
        view = RuntimeView(**{**as_written(plan, task).__dict__, "run_id": ctx.run_id})
        resolved = resolve_task(task, view, attempt=1, paths=executor.reference_paths(run, task, 1),
                                default_cwd="/")
        with pytest.raises(Captured):
            await executor.execute(resolved, RecordingSink())
    executor.close()
    return client.sent


def without_owner(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for obj in objects:
        owners = obj["metadata"].pop("ownerReferences")
        assert [o["uid"] for o in owners] == [OWNER_UID]
    return objects


def plan_context() -> RunContext:
    """The context ``wishstar plan --namespace ci`` compiles with (cli/main.py ``plan``)."""
    return RunContext(namespace=NAMESPACE, default_image=settings().default_image)


@pytest.mark.parametrize("pipeline", PIPELINES, ids=[p.name for p in PIPELINES])
def test_the_executor_creates_exactly_what_plan_prints(pipeline: Path) -> None:
    library = Library()
    loaded = validate(pipeline.read_text(encoding="utf-8"), str(pipeline), library)
    ctx = plan_context()
    plan = compile_run(loaded, ctx, library, placement=True)  # as `wishstar run --executor kubernetes` does
    created = objects_yaml(without_owner(asyncio.run(created_objects(plan, ctx))))
    assert created == plan_yaml(pipeline)
    assert created == golden_of(pipeline).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(test_pods.CASES), ids=sorted(test_pods.CASES))
def test_the_executor_creates_exactly_what_each_golden_task_case_pins(name: str) -> None:
    task, workspaces, ctx = test_pods.CASES[name]
    plan = Plan(pipeline="shop-api", tasks={task.name: task}, finally_tasks={}, edges=(), layers=((task.name,),),
                params={}, workspaces=workspaces, timeout_s=None, concurrency=None, on_failure="wait")
    created = without_owner(asyncio.run(created_objects(plan, ctx)))
    golden = test_pods.GOLDEN / f"{name}.yaml"
    assert test_pods.dump(created) == golden.read_text(encoding="utf-8")


def test_a_run_given_a_secret_differs_only_by_the_attempts_secret() -> None:
    task, workspaces, ctx = test_pods.CASES["workspaces-secret-results"]
    plan = Plan(pipeline="shop-api", tasks={task.name: task}, finally_tasks={}, edges=(), layers=((task.name,),),
                params={}, workspaces=workspaces, timeout_s=None, concurrency=None, on_failure="wait")
    client = RecordingClient()
    executor = make_kubernetes_executor(plan, ctx, entrypoint=entrypoint(), client=client)  # type: ignore[arg-type]
    executor.watch = NamespaceWatch(client, ctx.namespace)  # type: ignore[arg-type]
    run = RunEnv(ctx.run_id, "/nowhere", None, workspaces)

    async def go() -> None:
        await executor.setup(run)
        del client.sent[:]
        view = RuntimeView(run_id=ctx.run_id, results={}, statuses={}, aggregate_status="$(tasks.status)",
                           secrets={"npm": "tok3n"}, base_env={}, provided=frozenset({"registry-credentials"}))
        resolved = resolve_task(task, view, attempt=1, paths=executor.reference_paths(run, task, 1), default_cwd="/")
        with pytest.raises(Captured):
            await executor.execute(resolved, RecordingSink())

    asyncio.run(go())
    secret, config_map, pod = without_owner(client.sent)
    assert secret["kind"] == "Secret" and secret["stringData"] == {"0.NPM_TOKEN": "tok3n"}
    planned_map, planned_pod = test_pods.manifests_of("workspaces-secret-results")
    assert config_map == planned_map
    env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
    assert env["NPM_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": pod["metadata"]["name"], "key": "0.NPM_TOKEN"}
    env["NPM_TOKEN"]["valueFrom"]["secretKeyRef"] = {"name": "npm", "key": "NPM_TOKEN"}
    assert pod == planned_pod
