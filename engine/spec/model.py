"""The pipeline file (``.wishstar.yaml``) as frozen pydantic models.

The models give the JSON Schema (``wishstar schema``) and the structural checks (types, unknown keys); the
cross-field rules (references, cycles, CEL, library tasks) live in ``engine.spec.validate``. Field names are
snake_case; where users coming from Tekton expect camelCase the alias accepts it too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_PATTERN = r"^[a-z0-9]([a-z0-9_-]{0,61}[a-z0-9])?$"
DURATION_PATTERN = r"^\s*(\d+(\.\d+)?(ms|s|m|h))+\s*$"

Name = Annotated[str, Field(pattern=NAME_PATTERN, description="lowercase letters, digits, '-' and '_'")]
Duration = Annotated[str, Field(pattern=DURATION_PATTERN, description='a duration such as "90s", "10m", "1h30m"')]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


def scalar_to_str(value: Any) -> Any:
    """YAML turns ``true`` and ``8080`` into bool and int where the file means the strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


class SecretRef(_Model):
    """An environment variable whose value comes from a secret, masked wherever it could appear."""

    secret: str = Field(description="name of the secret (locally: --secret NAME=ENVVAR or --secrets-file; "
                                    "on Kubernetes: a Secret in the run's namespace)")
    secret_key: str | None = Field(default=None, alias="secretKey",
                                   description="key inside the Kubernetes Secret; defaults to the env var's name")


EnvValue = Annotated[str | SecretRef, Field(description="a literal value, or {secret: NAME}")]


class EnvMixin(_Model):
    env: dict[str, EnvValue] = Field(default_factory=dict, description="environment variables for the steps")

    @field_validator("env", mode="before")
    @classmethod
    def _env_scalars(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scalar_to_str(v) for k, v in value.items()}
        return value


class PushTrigger(_Model):
    """Start on pushes to matching branches that change matching paths."""

    branches: list[str] = Field(default_factory=list, description="branch globs; empty means every branch")
    paths: list[str] = Field(default_factory=list, description="path globs; empty means any change")
    paths_ignore: list[str] = Field(default_factory=list, alias="pathsIgnore",
                                    description="path globs that alone never start the pipeline")


class TagTrigger(_Model):
    """Start on pushed tags whose name matches."""

    names: list[str] = Field(default_factory=list, description="tag globs; empty means every tag")


class MergeRequestTrigger(_Model):
    """Start on merge requests opened or updated with new commits."""

    target_branches: list[str] = Field(default_factory=list, alias="targetBranches",
                                       description="target branch globs; empty means any")
    paths: list[str] = Field(default_factory=list, description="path globs; empty means any change")


class Triggers(_Model):
    """Which git events start this pipeline. A missing key means that kind of event does not start it."""

    push: PushTrigger | None = Field(default=None, description="branch pushes")
    tag: TagTrigger | None = Field(default=None, description="tag pushes")
    merge_request: MergeRequestTrigger | None = Field(default=None, alias="mergeRequest",
                                                      description="merge requests")

    @field_validator("push", "tag", "merge_request", mode="before")
    @classmethod
    def _empty_is_all(cls, value: Any) -> Any:
        return {} if value is None else value


ParamValue = str | list[str] | dict[str, str]


class ParamSpec(_Model):
    """A pipeline parameter; `--param name=value` overrides the default."""

    type: Literal["string", "array", "object"] = Field(default="string", description="the value's type")
    default: ParamValue | None = Field(default=None, description="value when none is given; none means required")
    description: str | None = Field(default=None, description="what it is for")
    enum: list[str] | None = Field(default=None, description="allowed values (strings only)")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, str | int | float | bool | list):
            return {"default": scalar_to_str(value) if not isinstance(value, list) else value,
                    "type": "array" if isinstance(value, list) else "string"}
        return value

    @field_validator("default", mode="before")
    @classmethod
    def _default_scalar(cls, value: Any) -> Any:
        return scalar_to_str(value)


class RetryPolicy(_Model):
    """How often and how patiently a failed task is tried again."""

    limit: int = Field(ge=0, le=20, description="retries after the first attempt")
    backoff: Duration = Field(default="5s", description="wait before the first retry")
    factor: float = Field(default=2.0, ge=1.0, le=10.0, description="each wait is the previous one times this")
    max_backoff: Duration = Field(default="5m", alias="maxBackoff", description="cap on a single wait")


class ResultDecl(_Model):
    """A result a task writes to ``$(results.NAME.path)``."""

    name: Name = Field(description="result name")
    description: str | None = Field(default=None, description="what it holds")


class Step(EnvMixin):
    """One process of a task; steps of a task run in order and share its working directory."""

    name: Name | None = Field(default=None, description="step name, unique in its task (default step-N)")
    image: str | None = Field(default=None, description="container image on Kubernetes (recorded locally)")
    script: str | None = Field(default=None, description="script text; a #! line picks the interpreter")
    command: list[str] | None = Field(default=None, description="entrypoint, instead of a script")
    args: list[str] = Field(default_factory=list, description="arguments to the command")
    working_dir: str | None = Field(default=None, alias="workingDir", description="directory to start in")
    timeout: Duration | None = Field(default=None, description="this step's time limit")
    on_error: Literal["stopAndFail", "continue"] = Field(default="stopAndFail", alias="onError",
                                                          description="continue: a failure does not stop the task")

    @field_validator("command", "args", mode="before")
    @classmethod
    def _argv_scalars(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [scalar_to_str(v) for v in value]
        return value


class Task(EnvMixin):
    """A node of the DAG: a library task (`uses`) or an inline one (`script` or `steps`)."""

    description: str | None = Field(default=None, description="what the task does")
    uses: str | None = Field(default=None, description="name of a library task (tasks/, Tekton Task schema)")
    with_: dict[str, ParamValue] = Field(default_factory=dict, alias="with",
                                          description="parameters of the library task")
    image: str | None = Field(default=None, description="container image on Kubernetes (recorded locally)")
    script: str | None = Field(default=None, description="the task's single step as a script")
    steps: list[Step] | None = Field(default=None, description="several steps, run in order")
    needs: list[str] = Field(default_factory=list, description="tasks that must finish first")
    when: str | None = Field(default=None, description="CEL over git, event, params and tasks; false skips")
    matrix: dict[str, list[str]] = Field(default_factory=dict,
                                         description="fan-out: one instance per combination of these params")
    workspaces: dict[str, str] = Field(default_factory=dict,
                                       description="task workspace name -> pipeline workspace name")
    results: list[ResultDecl] = Field(default_factory=list, description="results this task writes")
    retries: RetryPolicy = Field(default_factory=lambda: RetryPolicy(limit=0),
                                 description="a number of retries, or {limit, backoff, factor, maxBackoff}")
    timeout: Duration | None = Field(default=None, description="time limit for one attempt")
    allow_failure: bool = Field(default=False, alias="allowFailure",
                                description="a failure is recorded but does not fail the pipeline")
    working_dir: str | None = Field(default=None, alias="workingDir", description="directory to start in")
    kubernetes: PodSettings | None = Field(default=None, description="Pod settings for this task on Kubernetes; "
                                                                     "override the pipeline's key by key")
    interruptible: bool = Field(default=True,
                                description="false: once started, a cancelled run (e.g. superseded by a newer run "
                                            "of its concurrency group) lets this task finish")

    @field_validator("with_", mode="before")
    @classmethod
    def _with_scalars(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scalar_to_str(v) for k, v in value.items()}
        return value

    @field_validator("matrix", mode="before")
    @classmethod
    def _matrix_scalars(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: [scalar_to_str(v) for v in vs] if isinstance(vs, list) else vs for k, vs in value.items()}
        return value

    @field_validator("workspaces", mode="before")
    @classmethod
    def _workspace_list(cls, value: Any) -> Any:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return {v: v for v in value}
        return value

    @field_validator("results", mode="before")
    @classmethod
    def _result_names(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [{"name": v} if isinstance(v, str) else v for v in value]
        return value

    @field_validator("retries", mode="before")
    @classmethod
    def _retry_count(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return {"limit": value}
        return value


class Toleration(_Model):
    """Lets the Pod run on nodes with a matching taint (Kubernetes' own toleration fields)."""

    key: str | None = Field(default=None, description="the taint's key; none with operator Exists matches every taint")
    operator: Literal["Equal", "Exists"] = Field(default="Equal", description="Equal compares value; Exists does not")
    value: str | None = Field(default=None, description="the taint's value (operator Equal)")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="the taint effect to tolerate; none means all")
    toleration_seconds: int | None = Field(default=None, ge=0, alias="tolerationSeconds",
                                           description="NoExecute only: how long the Pod stays after the taint")

    @field_validator("value", mode="before")
    @classmethod
    def _value_scalar(cls, value: Any) -> Any:
        return scalar_to_str(value)


class ResourceList(_Model):
    """Amounts of CPU and memory, as Kubernetes quantities ("500m", "2", "512Mi", "1Gi")."""

    cpu: str | None = Field(default=None, description='CPU: cores ("2", "0.5") or millicores ("500m")')
    memory: str | None = Field(default=None, description='bytes with a suffix: "512Mi", "1Gi", "1G"')
    ephemeral_storage: str | None = Field(default=None, alias="ephemeral-storage",
                                          description='local scratch space: "10Gi"')

    @field_validator("cpu", "memory", "ephemeral_storage", mode="before")
    @classmethod
    def _quantity_scalar(cls, value: Any) -> Any:
        return scalar_to_str(value)


class Resources(_Model):
    """Requests (what the scheduler reserves) and limits (where the kernel stops a step) for the task's steps."""

    requests: ResourceList | None = Field(default=None, description="reserved for the task (cpu, memory)")
    limits: ResourceList | None = Field(default=None, description="the most any step may use (cpu, memory)")


class SeccompProfile(_Model):
    """The seccomp filter for the Pod's containers."""

    type: Literal["RuntimeDefault", "Unconfined", "Localhost"] = Field(description="which profile")
    localhost_profile: str | None = Field(default=None, alias="localhostProfile",
                                          description="type Localhost: the profile file on the node")


class PodSecurityContext(_Model):
    """The Pod's securityContext: the user and groups its containers run as."""

    run_as_user: int | None = Field(default=None, ge=0, alias="runAsUser", description="UID of every step")
    run_as_group: int | None = Field(default=None, ge=0, alias="runAsGroup", description="GID of every step")
    run_as_non_root: bool | None = Field(default=None, alias="runAsNonRoot",
                                         description="true: the kubelet refuses to start a step as root")
    fs_group: int | None = Field(default=None, ge=0, alias="fsGroup",
                                 description="group that owns (and may write) mounted volumes")
    seccomp_profile: SeccompProfile | None = Field(default=None, alias="seccompProfile",
                                                   description="{type: RuntimeDefault} for the restricted policy")


class Capabilities(_Model):
    """Linux capabilities added to or dropped from each step container."""

    add: list[str] = Field(default_factory=list, description='capabilities to add, e.g. ["NET_ADMIN"]')
    drop: list[str] = Field(default_factory=list, description='capabilities to drop, e.g. ["ALL"]')


class ContainerSecurityContext(_Model):
    """The securityContext of every step container."""

    run_as_user: int | None = Field(default=None, ge=0, alias="runAsUser", description="UID of the step")
    run_as_group: int | None = Field(default=None, ge=0, alias="runAsGroup", description="GID of the step")
    run_as_non_root: bool | None = Field(default=None, alias="runAsNonRoot",
                                         description="true: the kubelet refuses to start the step as root")
    allow_privilege_escalation: bool | None = Field(default=None, alias="allowPrivilegeEscalation",
                                                    description="false: no setuid gains (restricted policy)")
    read_only_root_filesystem: bool | None = Field(default=None, alias="readOnlyRootFilesystem",
                                                   description="true: only volumes are writable")
    privileged: bool | None = Field(default=None, description="true: full access to the node (avoid)")
    capabilities: Capabilities | None = Field(default=None, description="{add: [...], drop: [...]}")


class PodSettings(_Model):
    """``kubernetes:`` on the pipeline or a task: how its Pods are placed and run. Ignored by the local executor.

    A task's settings override the pipeline's key by key; mappings (nodeSelector, labels, annotations,
    resources, security contexts) merge key by key, the task winning; lists replace."""

    service_account: str | None = Field(default=None, alias="serviceAccount",
                                        description="the Pod's ServiceAccount (its RBAC and cloud identity)")
    node_selector: dict[str, str] = Field(default_factory=dict, alias="nodeSelector",
                                          description="node labels the Pod must be placed on")
    tolerations: list[Toleration] = Field(default_factory=list, description="taints the Pod tolerates")
    resources: Resources | None = Field(default=None, description="{requests: {cpu, memory}, limits: {...}}")
    security_context: PodSecurityContext | None = Field(
        default=None, alias="securityContext", description="{runAsUser, runAsGroup, runAsNonRoot, fsGroup, "
                                                           "seccompProfile}")
    container_security_context: ContainerSecurityContext | None = Field(
        default=None, alias="containerSecurityContext",
        description="every step container's {allowPrivilegeEscalation, readOnlyRootFilesystem, capabilities, "
                    "runAsUser, ...}")
    image_pull_secrets: list[str] = Field(default_factory=list, alias="imagePullSecrets",
                                          description="names of docker-registry Secrets for private registries")
    priority_class_name: str | None = Field(default=None, alias="priorityClassName",
                                            description="a PriorityClass for scheduling and preemption")
    labels: dict[str, str] = Field(default_factory=dict, description="extra labels on the task's Pods")
    annotations: dict[str, str] = Field(default_factory=dict, description="extra annotations on the task's Pods")

    @field_validator("node_selector", "labels", "annotations", mode="before")
    @classmethod
    def _mapping_scalars(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: scalar_to_str(v) for k, v in value.items()}
        return value


class ConcurrencyGroup(_Model):
    """Runs that share a group (a CEL string over git, event and params) run at most ``limit`` at once."""

    tasks: int | None = Field(default=None, ge=1, le=1024,
                              description="at most this many tasks at once (as `concurrency: N`)")
    group: str | None = Field(default=None, description="CEL string expression over git, event and params, "
                                                        "e.g. \"'deploy-' + git.branch\"")
    limit: int = Field(default=1, ge=1, le=1000, description="runs of the group at once (server)")
    newer: Literal["queue", "cancel"] = Field(default="queue",
                                              description="a newer run of a full group: queue waits, cancel "
                                                          "cancels the older runs of the group")

    @field_validator("group")
    @classmethod
    def _group_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            from wishstar.engine.spec import cel

            problems = cel.check(value)
            if problems:
                raise ValueError(f"concurrency.group {value!r}: {problems[0]}")
        return value


def _concurrency_schema(schema: dict[str, Any]) -> None:
    schema.pop("anyOf", None)
    schema["anyOf"] = [{"type": "integer", "minimum": 1, "maximum": 1024},
                       ConcurrencyGroup.model_json_schema(by_alias=True), {"type": "null"}]


class Pipeline(EnvMixin):
    """A `.wishstar.yaml` file: a DAG of tasks plus `finally` tasks that always run."""

    name: Name = Field(description="pipeline name; runs are numbered per pipeline")
    description: str | None = Field(default=None, description="what the pipeline does")
    on: Triggers | None = Field(default=None, description="git events that start the pipeline on the server")
    params: dict[str, ParamSpec] = Field(default_factory=dict, description="parameters, `$(params.NAME)`")
    workspaces: list[Name] = Field(default_factory=list,
                                   description="directories shared by tasks (a PVC on Kubernetes)")
    timeout: Duration | None = Field(default=None, description="time limit for the whole run")
    concurrency: int | None = Field(default=None, ge=1, le=1024, json_schema_extra=_concurrency_schema,
                                    description="tasks at once (default: CPU count locally), or a mapping "
                                                "{tasks, group, limit, newer} that also limits runs of a group")
    concurrency_group: ConcurrencyGroup | None = Field(
        default=None, description="set from the mapping form of `concurrency:`; the run-level limit")
    on_failure: Literal["wait", "cancel"] = Field(
        default="wait", alias="onFailure",
        description="after a task fails: wait lets running tasks finish, cancel stops them; no new task "
                    "starts either way")
    image: str | None = Field(default=None, description="default image for inline tasks on Kubernetes")
    placement: Literal["pod-per-task", "one-pod", "auto"] = Field(
        default="pod-per-task",
        description="on Kubernetes: pod-per-task, or one Pod for each chain of tasks with no parallelism "
                    "between them (one-pod and auto merge the same chains; see docs/kubernetes.md)")
    kubernetes: PodSettings | None = Field(default=None, description="Pod settings for every task on Kubernetes "
                                                                     "(service account, nodeSelector, ...)")
    tasks: dict[str, Task] = Field(description="the DAG's tasks, by name")
    finally_: dict[str, Task] = Field(default_factory=dict, alias="finally",
                                      description="tasks that run after all others, whatever happened")

    @model_validator(mode="before")
    @classmethod
    def _concurrency_mapping(cls, value: Any) -> Any:
        """``concurrency: {tasks, group, limit, newer}``: ``concurrency`` keeps the task limit (an int, as the
        compiler reads it) and ``concurrency_group`` the run-level rules."""
        if isinstance(value, dict) and isinstance(value.get("concurrency"), dict):
            spec = value["concurrency"]
            value = {**value, "concurrency": spec.get("tasks"), "concurrency_group": spec}
        return value
