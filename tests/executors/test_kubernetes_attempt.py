"""One attempt's life against a scripted API (no cluster): create or re-attach, wait, time out, cancel.

The namespace watch is fed by hand (``_on_pod``/``_on_event``), as the informer would on the event loop, so
each test says exactly what the API server reports and when. The real API server is in tests/k8s.
"""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest

from tests.executors.support import RecordingSink
from wishstar.engine.compiler.types import ResolvedStep, ResolvedTask
from wishstar.engine.executors.kubernetes.attempt import Attempt, AttemptOptions
from wishstar.engine.executors.kubernetes.errors import KubernetesError
from wishstar.engine.executors.kubernetes.objects import TaskObjects
from wishstar.engine.executors.kubernetes.watching import NamespaceWatch

pytestmark = pytest.mark.timeout(10)

NS = "ci"
POD_PATH = f"/api/v1/namespaces/{NS}/pods/p-1-t"


class FakeClient:
    """Records requests; ``pods`` holds what exists. Deleting a Pod tells the watch it is gone."""

    def __init__(self, watch: NamespaceWatch | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.pods: dict[str, dict[str, Any]] = {}
        self.objects: dict[str, dict[str, Any]] = {}
        self.watch = watch
        self.fail_create: KubernetesError | None = None

    async def get(self, path: str, query: Any = ()) -> dict[str, Any] | None:
        self.calls.append(("get", path))
        return copy.deepcopy(self.pods.get(path))

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        self.calls.append(("create", f"{path}/{body['metadata']['name']}"))
        if body["kind"] == "Pod":
            if self.fail_create is not None:
                raise self.fail_create
            created = {**copy.deepcopy(body), "status": {"phase": "Pending"}}
            created["metadata"]["uid"] = "uid-1"
            self.pods[f"{path}/{body['metadata']['name']}"] = created
            return copy.deepcopy(created)
        key = f"{path}/{body['metadata']['name']}"
        if key in self.objects:
            return None  # 409 AlreadyExists, as the real client reports it
        self.objects[key] = copy.deepcopy(body)
        return copy.deepcopy(body)

    async def delete(self, path: str, *, grace_s: int | None = None, propagation: str = "Background") -> bool:
        self.calls.append(("delete", path))
        pod = self.pods.pop(path, None)
        if pod is not None and self.watch is not None:
            self.watch._on_pod("DELETED", pod)
        return pod is not None


def objects() -> TaskObjects:
    meta = {"name": "p-1-t", "namespace": NS, "labels": {"wishstar.dev/run": "r"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": dict(meta),
           "spec": {"containers": [{"name": "step-a"}, {"name": "step-b"}]}}
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": dict(meta), "data": {}}
    return TaskObjects(config_map, pod)


def task(timeout_s: float | None = None) -> ResolvedTask:
    steps = tuple(ResolvedStep(n, None, "true", None, (), {}, "/", None) for n in ("a", "b"))
    return ResolvedTask(run_id="r", name="t", attempt=1, steps=steps, results=("v",), results_dir="/r",
                        timeout_s=timeout_s)


def status(phase: str, *containers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p-1-t", "uid": "uid-1"},
            "status": {"phase": phase, "containerStatuses": list(containers), **extra}}


def done(name: str, message: str = '{"exitCode":0}', code: int = 0) -> dict[str, Any]:
    return {"name": name, "state": {"terminated": {"exitCode": code, "message": message}}}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def setup(**options: Any) -> tuple[NamespaceWatch, FakeClient, RecordingSink, list[str | None], Clock]:
    watch = NamespaceWatch(None, NS)  # type: ignore[arg-type]
    client = FakeClient(watch)
    clock = Clock()
    return watch, client, RecordingSink(), [], clock


def attempt(watch: NamespaceWatch, client: FakeClient, sink: RecordingSink, reasons: list[str | None],
            clock: Clock, timeout_s: float | None = None, **options: Any) -> Attempt:
    opts = AttemptOptions(stream_logs=False, clock=clock, delete_grace_s=0, gone_timeout_s=1, **options)
    return Attempt(client, watch, NS, task(timeout_s), objects(), sink, opts, reasons.append)  # type: ignore[arg-type]


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_the_attempt_creates_configmap_then_pod_and_reads_the_outcome_from_the_watch() -> None:
    watch, client, sink, reasons, clock = setup()

    async def main() -> Any:
        running = asyncio.create_task(attempt(watch, client, sink, reasons, clock).run())
        await settle()
        watch._on_pod("MODIFIED", status("Succeeded", done("step-a"),
                                         done("step-b", '{"exitCode":0,"results":{"v":"42"}}')))
        return await running

    outcome = asyncio.run(main())
    assert outcome.status == "succeeded" and outcome.results == {"v": "42"}
    assert [c for c in client.calls if c[0] == "create"] == [
        ("create", f"/api/v1/namespaces/{NS}/configmaps/p-1-t"), ("create", f"/api/v1/namespaces/{NS}/pods/p-1-t")]


def test_an_existing_pod_is_attached_to_and_never_created_again() -> None:
    watch, client, sink, reasons, clock = setup()
    client.pods[POD_PATH] = status("Running", {"name": "step-a", "state": {"running": {}}})
    client.objects[POD_PATH.replace("/pods/", "/configmaps/")] = {"kind": "ConfigMap"}  # the first engine's
    running_attempt = attempt(watch, client, sink, reasons, clock)

    async def main() -> Any:
        running = asyncio.create_task(running_attempt.run())
        await settle()
        watch._on_pod("MODIFIED", status("Succeeded", done("step-a"),
                                         done("step-b", '{"exitCode":0,"results":{"v":"1"}}')))
        return await running

    outcome = asyncio.run(main())
    assert running_attempt.attached
    assert outcome.status == "succeeded"
    assert not [c for c in client.calls if c[0] == "create" and "/pods/" in c[1]]


def test_a_waiting_reason_is_reported_once_and_written_to_the_first_steps_log() -> None:
    watch, client, sink, reasons, clock = setup()
    unschedulable = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                     "message": "0/2 nodes are available"}

    async def main() -> Any:
        running = asyncio.create_task(attempt(watch, client, sink, reasons, clock).run())
        await settle()
        for _ in range(2):
            watch._on_pod("MODIFIED", status("Pending", conditions=[unschedulable]))
            await settle()
        watch._on_pod("MODIFIED", status("Succeeded", done("step-a"),
                                         done("step-b", '{"exitCode":0,"results":{"v":"1"}}')))
        return await running

    asyncio.run(main())
    assert reasons == ["unschedulable: 0/2 nodes are available", None]
    assert sink.text("a") == "wishstar: waiting: unschedulable: 0/2 nodes are available\n"


def test_an_image_that_cannot_be_pulled_fails_the_attempt_after_the_grace_period() -> None:
    watch, client, sink, reasons, clock = setup()
    backoff = {"name": "step-b", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found"}}}

    async def main() -> Any:
        running = asyncio.create_task(attempt(watch, client, sink, reasons, clock, image_pull_grace_s=30).run())
        await settle()
        watch._on_pod("MODIFIED", status("Pending", backoff))
        await settle()
        assert not running.done()
        clock.now = 31
        watch._on_pod("MODIFIED", status("Pending", backoff))
        return await running

    outcome = asyncio.run(main())
    assert outcome.status == "failed"
    assert outcome.reason == "step container step-b cannot start: ImagePullBackOff: not found"
    assert ("delete", POD_PATH) in client.calls


def test_the_engine_clock_ends_an_attempt_that_outlives_its_timeout() -> None:
    watch, client, sink, reasons, clock = setup()

    async def main() -> Any:
        running = asyncio.create_task(attempt(watch, client, sink, reasons, clock, timeout_s=10,
                                              deadline_slack_s=0).run())
        await settle()
        clock.now = 11
        watch._on_pod("MODIFIED", status("Pending"))
        return await running

    outcome = asyncio.run(main())
    assert (outcome.status, outcome.reason) == ("failed", "task t timed out after 10s")
    assert ("delete", POD_PATH) in client.calls


def test_cancellation_deletes_pod_and_configmap_then_reraises() -> None:
    watch, client, sink, reasons, clock = setup()

    async def main() -> None:
        running = asyncio.create_task(attempt(watch, client, sink, reasons, clock).run())
        await settle()
        watch._on_pod("MODIFIED", status("Running", {"name": "step-a", "state": {"running": {}}}))
        await settle()
        running.cancel()
        await running

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(main())
    deleted = [p for kind, p in client.calls if kind == "delete"]
    assert POD_PATH in deleted and f"/api/v1/namespaces/{NS}/configmaps/p-1-t" in deleted
    assert client.pods == {}


def test_a_pod_deleted_by_someone_else_fails_the_attempt() -> None:
    watch, client, sink, reasons, clock = setup()

    async def main() -> Any:
        running = asyncio.create_task(attempt(watch, client, sink, reasons, clock).run())
        await settle()
        watch._on_pod("MODIFIED", status("Running"))
        watch._on_pod("DELETED", status("Running"))
        return await running

    outcome = asyncio.run(main())
    assert outcome.reason == "the Pod p-1-t was deleted before it finished"


def test_a_refusal_of_the_watch_reaches_the_waiting_attempt() -> None:
    watch, client, sink, reasons, clock = setup()

    async def main() -> Any:
        running = asyncio.create_task(attempt(watch, client, sink, reasons, clock).run())
        await settle()
        watch._on_fatal(KubernetesError("watch refused", status=403))
        return await running

    with pytest.raises(KubernetesError, match="watch refused"):
        asyncio.run(main())
