"""The plan's data types: what the compiler hands to the scheduler, the runner and the executors.

Plain frozen dataclasses so that every layer above can read them without importing pydantic models of the file.
Strings may still hold runtime references (``$(tasks.t.results.r)``, ``$(results.r.path)``,
``$(workspaces.w.path)``, ``$(tasks.status)``): ``engine.compiler.resolve`` fills them in when a task starts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

OnError = Literal["stopAndFail", "continue"]
Placement = Literal["pod-per-task", "one-pod", "auto"]


@dataclass(frozen=True)
class EnvVar:
    """A step's environment variable: a literal ``value`` or a ``secret`` (name, key) resolved at run time."""

    name: str
    value: str | None = None
    secret: str | None = None
    secret_key: str | None = None

    @property
    def key(self) -> str:
        """The key a ``{secret: NAME}`` variable reads from a Kubernetes Secret: ``secretKey``, else the
        variable's own name."""
        return self.secret_key or self.name


@dataclass(frozen=True)
class StepPlan:
    """One step: a script (run from a file, never spliced into a command line) or a command with args."""

    name: str
    image: str | None
    script: str | None
    command: tuple[str, ...] | None
    args: tuple[str, ...]
    env: tuple[EnvVar, ...]
    working_dir: str | None
    timeout_s: float | None
    on_error: OnError = "stopAndFail"
    image_entrypoint: bool = False
    """The command is the image's own ENTRYPOINT (and CMD), read from its config (``engine.compiler.images``):
    the step gave neither a script nor a command."""
    container: Mapping[str, Any] = field(default_factory=dict)
    """Kubernetes container fields of a library step that its container gets as written (``volumeMounts``,
    ``securityContext``, ``envFrom``, ``resources``, ``imagePullPolicy``, ``ports``), and in ``env`` the
    variables only Kubernetes fills (``valueFrom`` a ConfigMap or the Pod's fields). Ignored locally."""


@dataclass(frozen=True)
class SidecarPlan:
    """A library task's sidecar: a container beside the steps for as long as they run (Kubernetes only)."""

    name: str
    image: str | None
    script: str | None
    command: tuple[str, ...] | None
    args: tuple[str, ...]
    container: Mapping[str, Any] = field(default_factory=dict)
    """Its other container fields as written (``env``, ``workingDir``, ``volumeMounts``, ``securityContext``...)."""


@dataclass(frozen=True)
class WorkspaceBinding:
    """A task's workspace bound to one of the pipeline's workspaces."""

    name: str
    pipeline_workspace: str
    mount_path: str | None = None
    read_only: bool = False
    implicit: bool = False
    """Bound because a script refers to it, not mapped: does not change the task's working directory."""


@dataclass(frozen=True)
class RetryPlan:
    limit: int = 0
    backoff_s: float = 5.0
    factor: float = 2.0
    max_backoff_s: float = 300.0

    def delay(self, failed_attempts: int) -> float:
        """Seconds to wait before the retry that follows ``failed_attempts`` failures (1-based)."""
        return float(min(self.max_backoff_s, self.backoff_s * self.factor ** max(0, failed_attempts - 1)))


@dataclass(frozen=True)
class ResultRef:
    """A use of another task's result; consuming a skipped task's result skips the consumer."""

    task: str
    result: str


@dataclass(frozen=True)
class Toleration:
    """A Pod toleration (Kubernetes' fields; ``None`` ones are left out of the manifest)."""

    key: str | None = None
    operator: str = "Equal"
    value: str | None = None
    effect: str | None = None
    toleration_seconds: int | None = None


@dataclass(frozen=True)
class PodSettings:
    """A task's ``kubernetes:`` settings, the pipeline's and the task's merged (the task winning key by key).

    Security contexts and resource lists keep Kubernetes' own field names (``runAsUser``, ``cpu``), so the
    compiler copies them into the Pod as they are. The local executor ignores all of it."""

    service_account: str | None = None
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)
    security_context: Mapping[str, Any] = field(default_factory=dict)
    container_security_context: Mapping[str, Any] = field(default_factory=dict)
    image_pull_secrets: tuple[str, ...] = ()
    priority_class_name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)

    def is_set(self) -> bool:
        """Whether anything is set (the local executor mentions that it ignores these)."""
        return any(bool(getattr(self, name)) for name in self.__dataclass_fields__)


@dataclass(frozen=True)
class TaskPlan:
    """One task instance (a matrix combination is its own instance, named ``task[v1,v2]``)."""

    name: str
    base: str
    is_finally: bool
    uses: str | None
    image: str | None
    steps: tuple[StepPlan, ...]
    needs: tuple[str, ...]
    result_refs: tuple[ResultRef, ...]
    when: str | None
    results: tuple[str, ...]
    workspaces: tuple[WorkspaceBinding, ...]
    working_dir: str | None
    timeout_s: float | None
    retries: RetryPlan
    allow_failure: bool
    matrix: tuple[tuple[str, str], ...] = ()
    params: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()
    """Things the local executor cannot honour (sidecars, volumes, securityContext), said once per run."""
    pod: Mapping[str, Any] = field(default_factory=dict, compare=False)
    kubernetes: PodSettings = field(default_factory=PodSettings)
    """Service account, placement, resources, security and metadata of the task's Pod (``kubernetes:``)."""
    members: tuple[str, ...] = ()
    """For a chain merged into one Pod (``engine.compiler.placement``): the member tasks, in order."""
    local_workspaces: tuple[str, ...] = ()
    """Pipeline workspaces no other Pod of the run uses: an emptyDir in this Pod instead of the run's claim."""
    volumes: tuple[Mapping[str, Any], ...] = ()
    """A library task's own Kubernetes volumes (``spec.volumes``), for its steps' ``volumeMounts``."""
    sidecars: tuple[SidecarPlan, ...] = ()
    interruptible: bool = True
    """False (``interruptible: false``): a stop that is not forced lets the task finish (``engine.scheduler``);
    a merged chain is not interruptible when any member is not."""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """The compiled pipeline: tasks in a stable topological order, edges with their reasons, and limits."""

    pipeline: str
    tasks: Mapping[str, TaskPlan]
    finally_tasks: Mapping[str, TaskPlan]
    edges: tuple[Edge, ...]
    layers: tuple[tuple[str, ...], ...]
    params: Mapping[str, str | list[str] | dict[str, str]]
    workspaces: tuple[str, ...]
    timeout_s: float | None
    concurrency: int | None
    on_failure: Literal["wait", "cancel"]
    placement: Placement = "pod-per-task"
    members: Mapping[str, str] = field(default_factory=dict)
    """Member task -> the merged task that runs it (empty unless ``apply_placement`` merged a chain)."""
    placement_notes: tuple[str, ...] = ()
    """Why tasks that could have joined a chain stay in their own Pod (``wishstar plan`` shows them)."""

    def task(self, name: str) -> TaskPlan:
        return self.tasks[name] if name in self.tasks else self.finally_tasks[name]

    def all_tasks(self) -> list[TaskPlan]:
        return [*self.tasks.values(), *self.finally_tasks.values()]


@dataclass(frozen=True)
class GitContext:
    """What the git event says; reaches steps only as WISHSTAR_GIT_* environment variables."""

    url: str | None = None
    branch: str | None = None
    tag: str | None = None
    commit: str | None = None
    message: str | None = None
    author: str | None = None
    mr_title: str | None = None
    mr_iid: str | None = None
    target_branch: str | None = None

    def env(self) -> dict[str, str]:
        fields = {"URL": self.url, "BRANCH": self.branch, "TAG": self.tag, "COMMIT": self.commit,
                  "MESSAGE": self.message, "AUTHOR": self.author, "MR_TITLE": self.mr_title,
                  "MR_IID": self.mr_iid, "TARGET_BRANCH": self.target_branch}
        return {f"WISHSTAR_GIT_{k}": v for k, v in fields.items() if v is not None}

    def as_dict(self) -> dict[str, str]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class RunContext:
    """Everything about one run the compiler may depend on; no clock, no environment."""

    run_id: str = "dry-run"
    number: int = 0
    event: Literal["push", "tag", "merge_request", "manual"] = "manual"
    git: GitContext = field(default_factory=GitContext)
    params: Mapping[str, str | list[str] | dict[str, str]] = field(default_factory=dict)
    namespace: str = "default"
    project: str | None = None
    default_image: str = "docker.io/library/debian:bookworm-slim"


@dataclass(frozen=True)
class AttemptPaths:
    """Where one attempt's references point: ``$(workspaces.NAME.path|claim)``, ``$(results.NAME.path)``,
    ``$(context.taskRun.namespace)``. The executor says (``Executor.reference_paths``); on Kubernetes it is
    ``engine.compiler.pods.attempt_paths``, the same function the manifests are compiled with."""

    workspaces: Mapping[str, str]
    """Task workspace name -> its path in this attempt."""
    results_dir: str
    namespace: str = "local"
    claims: Mapping[str, str] = field(default_factory=dict)
    """Task workspace name -> the PersistentVolumeClaim behind it (Kubernetes only)."""


@dataclass(frozen=True)
class RuntimeValues:
    """What only the run knows when an attempt starts: earlier tasks' results and statuses. ``wishstar plan``
    has none, so its manifests keep ``$(tasks.NAME.results.R)`` and ``$(tasks.status)`` as written."""

    results: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    statuses: Mapping[str, str] = field(default_factory=dict)
    aggregate_status: str = ""


@dataclass(frozen=True)
class ResolvedStep:
    """A step with every reference filled in and secrets resolved to values (never logged)."""

    name: str
    image: str | None
    script: str | None
    command: tuple[str, ...] | None
    args: tuple[str, ...]
    env: Mapping[str, str]
    working_dir: str
    timeout_s: float | None
    on_error: OnError = "stopAndFail"


@dataclass(frozen=True)
class ResolvedTask:
    """One attempt of one task instance, ready to run."""

    run_id: str
    name: str
    attempt: int
    steps: tuple[ResolvedStep, ...]
    results: tuple[str, ...]
    results_dir: str
    workspaces: tuple[WorkspaceBinding, ...] = ()
    timeout_s: float | None = None
    image: str | None = None
    runtime: RuntimeValues = field(default_factory=RuntimeValues)
    """The run-time values the references were filled with: the Kubernetes executor compiles the attempt's
    objects from the plan with them (``engine.compiler.pods.task_manifests``), so the Pod is what
    ``wishstar plan`` prints, with these values filled in."""
