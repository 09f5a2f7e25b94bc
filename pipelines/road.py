"""The road from a commit to a run, written once for every caller (docs/architecture.md draws it).

    source (pipelines.source)  ->  read_pipeline  ->  admit (pipelines.admission, pure)  ->  [caller records
    the run]  ->  run_context + compile_plan  ->  prepare_run: executor, concurrency, run environment, runner

``wishstar run``, ``wishstar runs resume``, the server's workers (first drive and takeover) and the API's
trigger, retry and resume to come all walk this road; each keeps only its own policy: where the checkout
lives and what happens on a signal (the CLI), leases, events and the status outbox (the server).

Decided here once: where the pipeline file is and how big it may be (the place where "no file: detect and
generate" plugs in), the placement rule (Kubernetes merges the chains ``placement:`` asks for; local runs keep
one task per task), the run context's namespace, which executor runs the tasks and how it is configured, the
concurrency default (32 on Kubernetes, where Pods wait on the cluster, else this machine's CPU count), and
the environment every step starts from.

Must not record runs, claim work or read the caller's options: callers pass a ``Target`` and the settings.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from wishstar.engine.compiler.placement import shared_workspaces
from wishstar.engine.compiler.types import GitContext, Plan, RunContext
from wishstar.engine.executors.base import Executor, NoRunObjects, RunEnv, RunObjects
from wishstar.engine.executors.images import ImageLookup, check_host_entrypoints
from wishstar.engine.executors.local import LocalExecutor
from wishstar.engine.runner import Progress, Runner, RunOptions, base_env
from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.spec.model import ParamValue
from wishstar.engine.store.api import Store
from wishstar.engine.store.logs import LogStore
from wishstar.pipelines.admission import EventKind
from wishstar.pipelines.load import (
    DEFAULT_FILE,
    GENERATED,
    Loaded,
    NoPipelineFile,
    compile_run,
    find_pipeline_file,
    validate,
    with_manifests,
)
from wishstar.pipelines.settings import Settings
from wishstar.pipelines.source import read_capped
from wishstar.steps import entrypoint
from wishstar.tasks import Library

EXECUTORS = ("local", "kubernetes", "podman", "docker", "container")
CONTAINER_EXECUTORS = ("podman", "docker", "container")
"""Each step in its image on this machine (``engine.executors.container``; ``container``: podman, else docker)."""
KUBERNETES_CONCURRENCY = 32
"""Default tasks at once on Kubernetes: Pods wait on the cluster, not on this machine's CPUs."""


class TargetError(WishstarError):
    """The executor or its cluster cannot be used (unknown executor, unusable kubeconfig)."""


@dataclass(frozen=True)
class Target:
    """Where a run's tasks execute: this machine's processes, or Pods in a namespace."""

    executor: str = "local"
    namespace: str | None = None
    """Kubernetes namespace (None: the settings')."""
    kubeconfig: str | None = None
    context: str | None = None
    concurrency: int | None = None
    """Tasks at once asked for by the caller (None: the pipeline's, the settings', then the default)."""

    @property
    def on_kubernetes(self) -> bool:
        return self.executor == "kubernetes"

    @property
    def in_containers(self) -> bool:
        return self.executor in CONTAINER_EXECUTORS


def server_target(cfg: Settings, host_env: Mapping[str, str]) -> Target:
    """The target of the server's runs: the settings' executor and namespace (``KUBECONFIG`` as a fallback)."""
    return Target(cfg.executor, cfg.namespace, cfg.kubeconfig or host_env.get("KUBECONFIG") or None)


def check_target(target: Target) -> None:
    """Refuse an executor that does not exist or a kubeconfig/context that cannot be used, before a run is
    recorded."""
    if target.executor not in EXECUTORS:
        raise _unknown(target)
    if target.on_kubernetes:
        from wishstar.engine.executors.kubernetes.client import load_api_client

        load_api_client(target.kubeconfig, target.context).close()  # type: ignore[no-untyped-call]
    if target.in_containers:  # not installed, or docker's daemon not answering: said before anything is recorded
        from wishstar.engine.executors.container import find_runtime, probe

        probe(find_runtime(target.executor, os.environ))


def _unknown(target: Target) -> TargetError:
    return TargetError(f'executor "{target.executor}": use {", ".join(EXECUTORS)} (--executor; for the '
                       'server the executor setting, WISHSTAR_EXECUTOR)')


# -- reading and compiling -----------------------------------------------------------------------------------

def read_pipeline(project_dir: Path, file: str | None, library: Library, *, shown: str | None = None,
                  where: str | None = None, name: str | None = None) -> Loaded:
    """The project's pipeline file (``file`` relative to the project, default ``.wishstar.yaml``) read with the
    size cap and validated (``ValidationFailed`` lists every problem). ``shown``: the file's name in messages
    (default: the path relative to the project); ``where``: the project's (a checkout is a temporary directory
    the user never named).

    Zero-config: with no ``file`` named (or the recorded ``GENERATED``) and no ``.wishstar.yaml``, the project
    is detected and its pipeline generated in memory, exactly what ``wishstar init`` would write; ``name`` is
    the generated pipeline's name (default: the project directory's). Nothing detected: ``NoPipelineFile``
    with what was looked for and found."""
    if file == GENERATED or (file is None and not (project_dir / DEFAULT_FILE).exists()):
        return generated_pipeline(project_dir, library, where=where, name=name)
    path = find_pipeline_file(project_dir, file, shown=where)
    name = shown or (os.path.relpath(path, project_dir) if path.is_relative_to(project_dir) else str(path))
    return validate(read_capped(path), name, library)


def generated_pipeline(project_dir: Path, library: Library, *, where: str | None = None,
                       name: str | None = None) -> Loaded:
    """Detect the project and validate its generated pipeline (the same validator as a hand-written file)."""
    from wishstar.pipelines.detect.registry import detect_repository
    from wishstar.pipelines.detect.report import nothing_text
    from wishstar.pipelines.generate import generate

    detection = detect_repository(project_dir)
    shown_where = where or str(project_dir)
    if not detection.matched:
        lines = nothing_text(detection, shown_where)
        raise NoPipelineFile(f"no {DEFAULT_FILE} in {shown_where}, and " + lines[0].split(": ", 1)[1] + "\n"
                             + "\n".join(lines[1:]))
    files = generate(detection, name=name or project_dir.name, has_file=lambda rel: (project_dir / rel).exists())
    loaded = validate(files.pipeline, GENERATED, library)
    apps = ", ".join(f"{a.path} ({a.chosen.language}/{a.chosen.build})" for a in detection.apps)
    said = (f"no {DEFAULT_FILE} in {shown_where}: detected {apps}; running the generated pipeline (`wishstar "
            f"init` writes it as a file you can edit, `wishstar detect` says why)")
    return replace(loaded, generated=files.pipeline, detected=said)


def git_context(recorded: Mapping[str, object]) -> GitContext:
    """A recorded run's git facts (``runs.git``) as the compiler's ``GitContext``; other keys recorded beside
    them (``library``: the catalogs and task files the run read, ``pipelines.catalogs.record``) are left out."""
    known = {f.name for f in fields(GitContext)}
    return GitContext(**{k: v for k, v in recorded.items() if k in known})  # type: ignore[arg-type]


def run_context(run_id: str, number: int, event: EventKind, git: GitContext,
                params: Mapping[str, ParamValue], target: Target, cfg: Settings) -> RunContext:
    """What the compiler may know about the run; the namespace is the target's (``$(context.taskRun.
    namespace)`` and every manifest agree on it)."""
    return RunContext(run_id=run_id, number=number, event=event, git=git, params=dict(params),
                      namespace=target.namespace or cfg.namespace, default_image=cfg.default_image)


def image_lookup(cfg: Settings) -> ImageLookup:
    """The registry lookup of image entrypoints (steps with neither command nor script), cached under the state
    directory; credentials from ``registry_auth_file``, else ``$DOCKER_CONFIG/config.json``, else
    ``~/.docker/config.json``."""
    auth = cfg.registry_auth_file or Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    insecure = [h.strip() for h in cfg.insecure_registries.split(",") if h.strip()]
    return ImageLookup(cfg.state_dir / "cache" / "images", insecure=insecure, auth_file=auth)


def compile_plan(loaded: Loaded, ctx: RunContext, library: Library, target: Target, cfg: Settings) -> Plan:
    """The run's plan. The placement rule: on Kubernetes the chains ``placement:`` merges are one Pod. Steps
    that name only an image get its ENTRYPOINT and CMD from the registry (``image_lookup``)."""
    return compile_run(loaded, ctx, library, placement=target.on_kubernetes, images=image_lookup(cfg))


def check_placeable(loaded: Loaded, library: Library, target: Target, cfg: Settings, event: EventKind,
                    git: GitContext, params: Mapping[str, ParamValue]) -> None:
    """Refuse before a run is recorded what cannot run: an image whose entrypoint cannot be looked up; on
    Kubernetes a task that cannot become a Pod, or a bad namespace (``ValidationFailed`` with every problem);
    locally an image entrypoint that is not a program on this machine."""
    ctx = run_context("dry-run", 0, event, git, params, target, cfg)
    plan = compile_plan(loaded, ctx, library, target, cfg)
    if target.on_kubernetes:
        with_manifests(plan, ctx, loaded.file)
    else:
        check_host_entrypoints(plan)


# -- executing -----------------------------------------------------------------------------------------------

def make_executor(plan: Plan, ctx: RunContext, target: Target, cfg: Settings) -> Executor:
    """The executor the target names, configured from the settings."""
    if target.executor == "local":
        return LocalExecutor()
    if target.executor == "kubernetes":  # an unusable kubeconfig is a KubernetesError naming it, with a hint
        from wishstar.engine.executors.kubernetes import make_kubernetes_executor

        return make_kubernetes_executor(plan, ctx, entrypoint=entrypoint(),
                                        namespace=target.namespace or cfg.namespace,
                                        kubeconfig=target.kubeconfig, context=target.context,
                                        default_image=cfg.default_image, qps=cfg.kube_qps,
                                        burst=cfg.kube_burst, storage_class=cfg.storage_class,
                                        workspace_size=cfg.workspace_size)
    if target.in_containers:
        from wishstar.engine.executors.container import make_container_executor

        insecure = tuple(r.strip() for r in cfg.container_insecure_registries.split(",") if r.strip())
        return make_container_executor(plan, target.executor, os.environ, default_image=cfg.default_image,
                                       network=cfg.container_network or None, insecure=insecure)
    raise _unknown(target)


def run_objects(target: Target) -> RunObjects:
    """What finds and deletes a run's objects on its platform (nothing to do for local runs); ``target``
    names the namespace the run was recorded with."""
    if not target.on_kubernetes:
        return NoRunObjects()
    from wishstar.engine.executors.kubernetes import KubernetesRunObjects

    return KubernetesRunObjects(target.namespace or "default", target.kubeconfig, target.context)


def concurrency_limit(plan: Plan, target: Target, cfg: Settings, cpu_count: int | None) -> int:
    """Tasks at once: the caller's, the pipeline's, the settings', then 32 on Kubernetes or the CPU count."""
    default = KUBERNETES_CONCURRENCY if target.on_kubernetes else (cpu_count or 2)
    return target.concurrency or plan.concurrency or cfg.concurrency or default


def step_env(ctx: RunContext, pipeline: str, target: Target) -> dict[str, str]:
    """The environment every step starts from. In containers, none of this machine's variables: the image's
    own ``PATH``, ``HOME`` and locale stay (a host ``PATH`` would hide a Go or JDK image's tools)."""
    if not target.in_containers:
        return base_env(ctx, pipeline, os.environ)
    env = base_env(ctx, pipeline, {})
    env.pop("PATH", None)
    return env


@dataclass
class Prepared:
    """A run ready to go: ``await prepared.runner.run(start)``."""

    plan: Plan
    ctx: RunContext
    executor: Executor
    runner: Runner
    env: RunEnv


@dataclass(frozen=True)
class RunPlace:
    """Where the run's files are: its directory (workspaces, results) and the project inside the checkout."""

    run_dir: Path
    project_dir: Path


@dataclass(frozen=True)
class Extras:
    """Caller policy the runner takes: secrets given to the run, extra variables for every step, a live view,
    a wrapper around the executor (the server's attempt recorder), and another way to build the executor
    (tests place Pods on KWOK nodes this way; default ``make_executor``)."""

    secrets: Mapping[str, str] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    progress: Progress | None = None
    wrap: Callable[[Executor, Plan], Executor] | None = None
    make: Callable[[Plan, RunContext, Settings], Executor] | None = None
    flush_each_end: bool = False
    """Write each attempt's end at once (the server's local runs: a replica killed right after a task ended
    must not leave it "running" for the next owner to run again)."""


def prepare_run(plan: Plan, ctx: RunContext, target: Target, cfg: Settings, store: Store, logs: LogStore,
                place: RunPlace, extras: Extras | None = None) -> Prepared:
    """The executor, the limits, the run environment and the runner for a compiled plan."""
    extras = extras or Extras()
    executor = extras.make(plan, ctx, cfg) if extras.make else make_executor(plan, ctx, target, cfg)
    if extras.wrap is not None:
        executor = extras.wrap(executor, plan)
    env = RunEnv(ctx.run_id, str(place.run_dir), str(place.project_dir), shared_workspaces(plan))
    options = RunOptions(concurrency=concurrency_limit(plan, target, cfg, os.cpu_count()),
                         log_limit=cfg.log_limit_bytes, flush_each_end=extras.flush_each_end)
    runner = Runner(plan, ctx, executor, store, logs, env, secrets=extras.secrets,
                    base_env={**step_env(ctx, plan.pipeline, target), **extras.env}, options=options,
                    progress=extras.progress)
    return Prepared(plan, ctx, executor, runner, env)
