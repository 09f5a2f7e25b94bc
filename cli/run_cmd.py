"""``wishstar run``: check out a source at a ref, validate and compile its pipeline, run it, record it.

Order matters for honesty: nothing is recorded until the pipeline file validates (a broken file is an
error, not a run); once the run is recorded, every way out (failure, Ctrl-C, a crash) leaves it finished in
the store with a reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from wishstar.cli.common import UserError, err
from wishstar.cli.progress import ProgressView
from wishstar.engine.compiler.build import resolve_params
from wishstar.engine.compiler.placement import shared_workspaces
from wishstar.engine.compiler.types import GitContext, Plan, RunContext
from wishstar.engine.executors.base import Executor, RunEnv
from wishstar.engine.executors.checkout import Source, clone, locate, read_capped
from wishstar.engine.executors.local import LocalExecutor
from wishstar.engine.runner import Runner, RunOptions, base_env
from wishstar.engine.scheduler.state import RunState
from wishstar.engine.settings import Settings
from wishstar.engine.spec.errors import InputTooLarge
from wishstar.engine.spec.triggers import should_run
from wishstar.engine.spec.validate import declared_secrets
from wishstar.engine.store.api import Store
from wishstar.engine.store.logs import LogStore
from wishstar.pipelines.load import Loaded, compile_run, find_pipeline_file, validate
from wishstar.tasks import Library

EXIT_FAILED, EXIT_CANCELLED, EXIT_NOT_TRIGGERED = 1, 130, 0


@dataclass
class RunRequest:
    source: str
    ref: str | None = None
    file: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    event: str = "manual"
    branch: str | None = None
    tag: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    executor: str = "local"
    namespace: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    concurrency: int | None = None
    progress: bool = True


def parse_pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{what} {item!r}: write NAME=VALUE")
        out[key] = value
    return out


def load_secrets(pairs: list[str], files: list[Path]) -> dict[str, str]:
    """``--secret NAME=ENVVAR`` (value from this environment) and ``--secrets-file`` (NAME: value YAML)."""
    secrets: dict[str, str] = {}
    for path in files:
        try:
            data = yaml.safe_load(_read_secrets_file(path))
        except yaml.YAMLError as exc:
            raise UserError(f"{path}: not a YAML mapping of NAME: value ({exc.__class__.__name__})") from None
        if not isinstance(data, dict) or not all(isinstance(v, str | int) for v in data.values()):
            raise UserError(f"{path}: a secrets file is a YAML mapping of NAME: value")
        secrets.update({str(k): str(v) for k, v in data.items()})
    for name, var in parse_pairs(pairs, "--secret").items():
        if var not in os.environ:
            raise UserError(f"--secret {name}={var}: environment variable {var} is not set")
        secrets[name] = os.environ[var]
    return secrets


def _read_secrets_file(path: Path) -> bytes:
    """The bytes of a ``--secrets-file``, or a ``UserError`` naming the option and the path (never its content)."""
    fix, limit = "(hint: --secrets-file takes a YAML file of NAME: value)", 1024 * 1024
    if not path.exists():
        raise UserError(f"--secrets-file {path}: no such secrets file {fix}")
    if path.is_dir():
        raise UserError(f"--secrets-file {path}: is a directory, not a secrets file {fix}")
    try:
        return read_capped(path, limit=limit)
    except InputTooLarge:
        raise UserError(f"--secrets-file {path}: over the {limit}-byte limit for a secrets file") from None
    except OSError as exc:
        raise UserError(f"--secrets-file {path}: cannot read the secrets file ({exc.strerror or exc})") from None


def _git_for_event(src: Source, req: RunRequest) -> GitContext:
    git = src.git
    if req.branch is not None:
        git = replace(git, branch=req.branch)
    if req.tag is not None:
        git = replace(git, tag=req.tag)
    return git


def _prepare(req: RunRequest, cfg: Settings, library: Library) -> tuple[Source, Path, Path, Loaded]:
    src = locate(req.source, req.ref)
    if src.dirty:
        err.print("note: uncommitted changes are not part of the run; it builds commit "
                  f"{src.commit[:12]}", highlight=False)
    work = cfg.state_dir / "work" / f"tmp-{uuid.uuid4().hex[:12]}"
    work.parent.mkdir(parents=True, exist_ok=True)
    project = clone(src, work / "checkout")
    path = find_pipeline_file(project, req.file)
    shown = os.path.relpath(path, work / "checkout") if path.is_relative_to(work / "checkout") else str(path)
    try:
        loaded = validate(read_capped(path), shown, library)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return src, work, project, loaded


def _missing_secrets(loaded: Loaded, req: RunRequest) -> None:
    """Refuse a local run that needs a secret it was not given. On Kubernetes the namespace's Secrets count
    too: the runner asks the executor for those (``Executor.provide_secrets``) and fails the run, naming every
    missing one, before any Pod starts."""
    if req.executor == "kubernetes":
        return
    secrets = req.secrets
    missing = {k: v for k, v in declared_secrets(loaded.pipeline).items() if k not in secrets}
    if missing:
        lines = [f'secret "{k}" (used by {", ".join(v)})' for k, v in sorted(missing.items())]
        raise UserError("this run was not given: " + "; ".join(lines) +
                        " (hint: --secret NAME=ENVVAR or --secrets-file FILE)")


def _check_kubeconfig(req: RunRequest) -> None:
    """A kubeconfig or context that cannot be used is a bad input: refused before a run is recorded."""
    from wishstar.engine.executors.kubernetes.client import load_api_client

    load_api_client(req.kubeconfig, req.context).close()  # type: ignore[no-untyped-call]


def _notices(plan: Plan, *, local: bool) -> None:
    images = sorted({img for t in plan.all_tasks() for s in t.steps if (img := s.image or t.image)})
    if images and local:
        err.print(f"note: the local executor runs steps on this machine; images are recorded, not used "
                  f"({', '.join(images[:4])}{', ...' if len(images) > 4 else ''})", highlight=False)
    pods = [t.name for t in plan.all_tasks() if t.kubernetes.is_set()]
    if pods and local:
        err.print(f"note: the local executor ignores `kubernetes:` settings (service account, nodeSelector, "
                  f"resources, ...) of {', '.join(pods[:4])}{', ...' if len(pods) > 4 else ''}", highlight=False)
    for note in sorted({n for t in plan.all_tasks() for n in t.notes} if local else ()):
        err.print(f"note: {note}", highlight=False)


def execute(req: RunRequest, cfg: Settings, store: Store, library: Library) -> tuple[str, str]:
    """Run the pipeline; returns (run id, final status)."""
    if req.executor not in ("local", "kubernetes"):
        raise UserError(f'--executor {req.executor}: use "local" or "kubernetes"')
    src, work, project, loaded = _prepare(req, cfg, library)
    try:
        git = _git_for_event(src, req)
        verdict = should_run(loaded.pipeline.on, req.event, branch=git.branch, tag=git.tag)
        if not verdict.run:
            err.print(f"not started: {verdict.reason}", highlight=False)
            shutil.rmtree(work, ignore_errors=True)
            return "", "not-triggered"
        _missing_secrets(loaded, req)
        resolve_params(loaded.pipeline, req.params, loaded.file)  # refuse bad --param before recording a run
        if req.executor == "kubernetes":
            _check_kubeconfig(req)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    run_id, number = store.create_run(loaded.pipeline.name, params=dict(req.params), git=git.as_dict(),
                                      event=req.event, executor=req.executor, file=loaded.file,
                                      target=run_target(req, cfg, project.relative_to(work)))
    try:
        run_dir = cfg.state_dir / "work" / run_id
        work.rename(run_dir)
        project = run_dir / project.relative_to(work)
        ctx = RunContext(run_id=run_id, number=number, event=req.event, git=git,  # type: ignore[arg-type]
                         params=req.params, default_image=cfg.default_image,
                         namespace=req.namespace or cfg.namespace)
        # merged chains are one Pod; local runs keep one task per task
        plan = compile_run(loaded, ctx, library, placement=req.executor == "kubernetes")
    except BaseException as exc:
        store.set_run_status(run_id, "failed", f"could not start: {exc}")
        shutil.rmtree(work, ignore_errors=True)
        raise
    _notices(plan, local=req.executor == "local")
    status = _drive(plan, ctx, req, cfg, store, RunEnv(run_id, str(run_dir), str(project),
                                                              shared_workspaces(plan)))
    _prune(cfg, store)
    return run_id, status


def run_target(req: RunRequest, cfg: Settings, project: Path) -> dict[str, Any] | None:
    """Where a Kubernetes run's objects live and what ``wishstar runs resume`` needs to rebuild it (``project``:
    the project directory inside the run's directory). The kubeconfig and its current context are written
    out, so a resume after ``KUBECONFIG`` or ``kubectl config use-context`` changed finds the same cluster."""
    if req.executor != "kubernetes":
        return None
    kubeconfig = req.kubeconfig or os.environ.get("KUBECONFIG") or None
    if kubeconfig is not None:
        kubeconfig = os.pathsep.join(os.path.abspath(os.path.expanduser(p)) for p in kubeconfig.split(os.pathsep))
    context = req.context
    if context is None and (kubeconfig is not None or "KUBERNETES_SERVICE_HOST" not in os.environ):
        from kubernetes.config import ConfigException, list_kube_config_contexts

        try:  # no kubeconfig named and none found: in-cluster, or the run fails at once anyway
            context = list_kube_config_contexts(config_file=kubeconfig)[1]["name"]  # type: ignore[no-untyped-call]
            kubeconfig = kubeconfig or os.path.expanduser("~/.kube/config")
        except (ConfigException, OSError, KeyError, TypeError):
            context = None
    return {"namespace": req.namespace or cfg.namespace, "kubeconfig": kubeconfig, "context": context,
            "project": str(project), "concurrency": req.concurrency}


def _drive(plan: Plan, ctx: RunContext, req: RunRequest, cfg: Settings, store: Store, env: RunEnv,
           start: RunState | None = None) -> str:
    """Run the plan with the live view and Ctrl-C handling; ``start`` continues a resumed run."""
    err.print(f"run {ctx.run_id} · {plan.pipeline} #{ctx.number} · commit {(ctx.git.commit or '')[:12]}",
              highlight=False)
    try:
        executor = _executor(plan, ctx, req, cfg)
    except BaseException as exc:
        store.set_run_status(ctx.run_id, "failed", f"could not start: {exc}", finished_at=time.time())
        raise
    # Pods wait on the cluster, not on this machine's CPUs: a wider default there
    default = (os.cpu_count() or 2) if req.executor == "local" else 32
    limit = req.concurrency or plan.concurrency or cfg.concurrency or default
    options = RunOptions(concurrency=limit,
                         log_limit=cfg.log_limit_bytes)
    with ProgressView(plan, err, enabled=req.progress) as view:
        runner = Runner(plan, ctx, executor, store, LogStore(cfg.state_dir), env, secrets=req.secrets,
                        base_env=base_env(ctx, plan.pipeline, os.environ), options=options, progress=view)
        state = asyncio.run(_with_signals(runner, start))
    return str(state.status)


def _executor(plan: Plan, ctx: RunContext, req: RunRequest, cfg: Settings) -> Executor:
    if req.executor == "kubernetes":
        from wishstar.engine.executors.kubernetes import make_kubernetes_executor

        return make_kubernetes_executor(plan, ctx, namespace=req.namespace or cfg.namespace,
                                        kubeconfig=req.kubeconfig, context=req.context,
                                        default_image=cfg.default_image, qps=cfg.kube_qps, burst=cfg.kube_burst,
                                        storage_class=cfg.storage_class, workspace_size=cfg.workspace_size)
    return LocalExecutor()


async def _with_signals(runner: Runner, start: RunState | None = None):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    presses = 0

    def on_signal() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            err.print("cancelling: stopping running tasks, then finally tasks run (Ctrl-C again to stop those too)")
            runner.cancel()
        else:
            runner.cancel(force=True)

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)
    try:
        return await runner.run(start)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _prune(cfg: Settings, store: Store) -> None:
    """Keep the newest ``keep_workspaces`` run directories; logs and history stay in the store. The directory
    of a run that has not ended is never removed: an orphaned Kubernetes run needs it to be resumed."""
    root = cfg.state_dir / "work"
    dirs = sorted((p for p in root.iterdir() if p.is_dir() and not p.name.startswith("tmp-")),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    active = set(store.active_runs())
    for old in dirs[cfg.keep_workspaces:]:
        if old.name not in active:
            shutil.rmtree(old, ignore_errors=True)
