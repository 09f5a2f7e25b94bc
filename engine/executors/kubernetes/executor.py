"""``KubernetesExecutor``: the executor contract (``engine.executors.base``) on a Kubernetes namespace.

Why: the same plan that runs locally runs here as one Pod per task attempt, with logs streamed into the same
store and results read from termination messages. The lifecycle maps as follows:

* ``setup(run)``: start the namespace watch (once per executor), create the run's owner object (a ConfigMap
  ``wishstar-run-<id>``) and one PersistentVolumeClaim per pipeline workspace, owned by it. Repeatable.
* ``provide_secrets(run, wanted)``: the namespace's Secrets that steps read and the run was not given: checked
  to exist (all problems in one error) and read once, to mask their values in logs (``secrets.py``).
* ``execute(task, sink)``: build the attempt's objects (``attempt_objects``: the ``ManifestSource``, by
  default the plan's manifests as ``wishstar plan`` prints them, owned by the run object) and let an
  ``Attempt`` create or re-attach to the Pod and follow it (``attempt.py``).
* ``reference_paths(run, task, attempt)``: what ``$(workspaces.X.path)``, ``$(results.X.path)`` and
  ``$(context.taskRun.namespace)`` mean inside the Pod (``engine.compiler.pods.attempt_paths``), so the
  runner resolves references exactly as the manifests do.
* ``teardown(run)``: delete the owner object; the garbage collector removes everything the run created.
  Idempotent; ``keep=True`` leaves it all in place for inspection.

It must not decide what a Pod contains (the compiler does), nor import the runner, the store or the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from wishstar.engine.compiler.entrypoint import RESULTS_DIR
from wishstar.engine.compiler.pods import attempt_paths
from wishstar.engine.compiler.types import AttemptPaths, TaskPlan
from wishstar.engine.executors.base import Executor, LogSink, ResolvedTask, RunEnv, TaskOutcome
from wishstar.engine.executors.kubernetes.attempt import Attempt, AttemptOptions
from wishstar.engine.executors.kubernetes.client import Json, KubeClient, load_api_client, path_for
from wishstar.engine.executors.kubernetes.errors import Detached, KubernetesError
from wishstar.engine.executors.kubernetes.objects import (
    ManifestSource,
    TaskObjects,
    claim_manifest,
    owner_manifest,
    owner_name,
    owner_reference,
    run_selector,
    with_run,
)
from wishstar.engine.executors.kubernetes.ratelimit import DEFAULT_BURST, DEFAULT_QPS, TokenBucket
from wishstar.engine.executors.kubernetes.secrets import read_cluster_secrets
from wishstar.engine.executors.kubernetes.watching import NamespaceWatch


@dataclass(frozen=True)
class KubernetesConfig:
    """Where and how runs go on Kubernetes; every field has a default that works on kind or k3s."""

    namespace: str = "default"
    kubeconfig: str | None = None
    """A kubeconfig file; None: $KUBECONFIG, ~/.kube/config, or the in-cluster service account."""
    context: str | None = None
    qps: float = DEFAULT_QPS
    burst: int = DEFAULT_BURST
    default_image: str | None = None
    """Image for steps that name none (None: the run context's default)."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Extra labels on every object the executor creates."""
    storage_class: str | None = None
    workspace_size: str = "1Gi"
    workspace_access_modes: tuple[str, ...] = ("ReadWriteOnce",)
    keep: bool = False
    """Leave the run's objects in the cluster after teardown (for debugging)."""
    attempt: AttemptOptions = field(default_factory=AttemptOptions)


class KubernetesExecutor(Executor):
    """Runs task attempts as Pods; see the module docstring for the lifecycle."""

    name = "kubernetes"
    detachable = True

    def __init__(self, manifests: ManifestSource, config: KubernetesConfig | None = None, *,
                 client: KubeClient | None = None) -> None:
        self.config = config or KubernetesConfig()
        self.manifests = manifests
        self.namespace = self.config.namespace
        if client is None:
            api = load_api_client(self.config.kubeconfig, self.config.context)
            client = KubeClient(api, TokenBucket(self.config.qps, self.config.burst))
        self.client = client
        self.watch: NamespaceWatch | None = None
        self._owners: dict[str, Json] = {}
        self._waiting: dict[tuple[str, str], str] = {}
        self._attempts: dict[tuple[str, str, int], Attempt] = {}

    # -- the contract ----------------------------------------------------------------------------------

    async def setup(self, run: RunEnv) -> None:
        try:
            await self._setup(run)
        except BaseException:
            if not self._owners:  # the runner calls no teardown after a failed setup: stop the watch here
                self.close()
            raise

    async def _setup(self, run: RunEnv) -> None:
        if self.watch is None:
            watch = NamespaceWatch(self.client, self.namespace)
            await watch.start()
            self.watch = watch
        owner = await self._ensure(path_for(self.namespace, "configmaps"), owner_manifest(
            run.run_id, self.namespace, self.config.labels))
        reference = owner_reference(owner)
        self._owners[run.run_id] = reference
        for workspace in run.workspaces:
            claim = claim_manifest(run.run_id, workspace, self.namespace, size=self.config.workspace_size,
                                   storage_class=self.config.storage_class,
                                   access_modes=self.config.workspace_access_modes, owner=reference,
                                   labels=self.config.labels)
            await self._ensure(path_for(self.namespace, "persistentvolumeclaims"), claim)

    async def provide_secrets(self, run: RunEnv, wanted: Mapping[str, frozenset[str]]
                              ) -> Mapping[str, tuple[str, ...]]:
        """The namespace's Secrets the steps read (``secretKeyRef`` in the compiled Pods): checked to exist, and
        their values returned for masking (``secrets.py``)."""
        return await read_cluster_secrets(self.client, self.namespace, wanted)

    async def execute(self, task: ResolvedTask, sink: LogSink) -> TaskOutcome:
        owner = self._owners.get(task.run_id)
        if owner is None or self.watch is None:
            raise RuntimeError(f"KubernetesExecutor: setup() was not called for run {task.run_id!r}")
        objects = self.attempt_objects(task, owner)
        key = (task.run_id, task.name)

        def on_waiting(reason: str | None) -> None:
            if reason is None:
                self._waiting.pop(key, None)
            else:
                self._waiting[key] = reason

        attempt = Attempt(self.client, self.watch, self.namespace, task, objects, sink, self.config.attempt,
                          on_waiting)
        self._attempts[(task.run_id, task.name, task.attempt)] = attempt
        try:
            return await attempt.run()
        finally:
            self._attempts.pop((task.run_id, task.name, task.attempt), None)

    async def teardown(self, run: RunEnv) -> None:
        self._owners.pop(run.run_id, None)
        try:
            if not self.config.keep:
                await self.delete_run(run.run_id)
        finally:
            if not self._owners:
                self.close()

    def reference_paths(self, run: RunEnv, task: TaskPlan, attempt: int) -> AttemptPaths:
        return attempt_paths(task, run.run_id, self.namespace)

    def results_dir(self, run: RunEnv, task: str, attempt: int) -> str:
        return RESULTS_DIR

    def attempt_objects(self, task: ResolvedTask, owner: Json) -> TaskObjects:
        """Exactly the objects ``execute`` sends to the API for this attempt, in creation order: the
        ``ManifestSource``'s, in this namespace, owned by ``owner`` (the run object's reference)."""
        return with_run(self.manifests(task), namespace=self.namespace, owner=owner, labels=self.config.labels)

    # -- beyond the contract -------------------------------------------------------------------------------

    def detach(self, reason: str) -> None:
        """Give the run up without touching the cluster: teardown deletes nothing and the attempts still
        running end with ``Detached`` (not a cancellation, which would delete their Pods), so another engine
        process can re-attach to the Pods."""
        self.config = replace(self.config, keep=True)
        if self.watch is not None:
            self.watch.fail_waiters(Detached(reason))

    def waiting_reason(self, task: ResolvedTask | str, run_id: str | None = None) -> str | None:
        """Why the task's current attempt is not running yet ("unschedulable: 0/2 nodes are available: ..."),
        or None. Give a ``ResolvedTask``, or a task name and the run id."""
        if isinstance(task, ResolvedTask):
            return self._waiting.get((task.run_id, task.name))
        if run_id is None:
            found = [r for (rid, name), r in self._waiting.items() if name == task]
            return found[0] if found else None
        return self._waiting.get((run_id, task))

    def attached(self, run_id: str, task: str, attempt: int) -> bool | None:
        """Whether a running attempt found its Pod already there (a re-attach); None if not running."""
        found = self._attempts.get((run_id, task, attempt))
        return None if found is None else found.attached

    async def find_run_pods(self, run_id: str) -> list[Json]:
        """The run's Pods, found by label (for a restarted engine, or ``runs show``)."""
        listed = await self.client.request("GET", path_for(self.namespace, "pods"),
                                           query=[("labelSelector", run_selector(run_id))])
        items: list[Json] = listed.get("items") or []
        return items

    async def delete_run(self, run_id: str) -> bool:
        """Delete the run's owner object (the garbage collector does the rest); False if it was gone."""
        return await self.client.delete(path_for(self.namespace, "configmaps", owner_name(run_id)))

    def close(self) -> None:
        """Stop the namespace watch (a later ``setup`` starts a new one)."""
        if self.watch is not None:
            self.watch.stop()
            self.watch = None

    async def _ensure(self, collection: str, manifest: Json) -> Json:
        """Create ``manifest`` unless an object of its name exists; return the object as stored."""
        created = await self.client.create(collection, manifest)
        if created is not None:
            return created
        existing = await self.client.get(f"{collection}/{manifest['metadata']['name']}")
        if existing is None:
            raise KubernetesError(f"{manifest['kind']} {manifest['metadata']['name']} was deleted as it was "
                                  "created; try again")
        return existing


def with_attempt_options(config: KubernetesConfig, **changes: Any) -> KubernetesConfig:
    """``config`` with some ``AttemptOptions`` changed (tests shorten grace periods this way)."""
    return replace(config, attempt=replace(config.attempt, **changes))

