"""``wishstar run``: the CLI's policy on the road from a commit to a run (``pipelines.road``).

The CLI's own part: the source is a local tree (or a URL) at a ref, cloned into a temporary directory under
the state directory that becomes the run's directory once the run is recorded; the trigger facts come from
the command line (``--event``, ``--branch``, ``--tag``, ``--target-branch``); Ctrl-C cancels (twice: forces);
the live view shows progress. Order matters for honesty: nothing is recorded until the pipeline file
validates and the run is admitted (a broken file or a bad ``--param`` is an error, not a run); once the run
is recorded, every way out (failure, Ctrl-C, a crash) leaves it finished in the store with a reason.
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
from typing import Any, cast

import yaml

from wishstar.cli.common import UserError, err
from wishstar.cli.progress import ProgressView
from wishstar.engine.compiler.types import Plan, RunContext
from wishstar.engine.runner import Runner
from wishstar.engine.scheduler.state import RunState
from wishstar.engine.spec.errors import InputTooLarge
from wishstar.engine.store.api import Store
from wishstar.engine.store.logs import LogStore
from wishstar.pipelines import catalogs, road
from wishstar.pipelines.admission import EventKind, MissingSecrets, NotStarted, Request, Trigger, admit
from wishstar.pipelines.load import Loaded
from wishstar.pipelines.road import Extras, RunPlace, Target
from wishstar.pipelines.settings import Settings
from wishstar.pipelines.source import Source, clone, locate, read_capped, without_password
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
    target_branch: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)
    executor: str = "local"
    namespace: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    concurrency: int | None = None
    progress: bool = True

    def target(self) -> Target:
        return Target(self.executor, self.namespace, self.kubeconfig, self.context, self.concurrency)


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


def _trigger(src: Source, req: RunRequest) -> Trigger:
    git = src.git
    if req.branch is not None:
        git = replace(git, branch=req.branch)
    if req.tag is not None:
        git = replace(git, tag=req.tag)
    if req.target_branch is not None:
        git = replace(git, target_branch=req.target_branch)
    return Trigger(cast(EventKind, req.event), git)


def _checkout(req: RunRequest, cfg: Settings, library: Library) -> tuple[Source, Path, Path, Loaded, Library]:
    """The source cloned into a temporary run directory, its validated pipeline and the library it was
    validated with (the project's own ``.wishstar/tasks/`` first)."""
    src = locate(req.source, req.ref)
    if src.dirty:
        err.print("note: uncommitted changes are not part of the run; it builds commit "
                  f"{src.commit[:12]}", highlight=False)
    work = cfg.state_dir / "work" / f"tmp-{uuid.uuid4().hex[:12]}"
    work.parent.mkdir(parents=True, exist_ok=True)
    try:
        project = clone(src, work / "checkout")
        library = library.for_project(project)
        where = f"{without_password(req.source)} at {src.commit[:12]}"
        loaded = road.read_pipeline(project, req.file, library, where=where, name=_project_name(req.source, src))
        if loaded.detected:
            err.print(f"note: {loaded.detected}", highlight=False)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return src, work, project, loaded, library


def _project_name(source: str, src: Source) -> str:
    """What a generated pipeline is named after: the project directory, else the repository."""
    if src.subdir:
        return src.subdir.rstrip("/").rsplit("/", 1)[-1]
    base = source.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    if "://" in source or source.startswith("git@"):
        return base.rsplit(":", 1)[-1] or "app"
    return Path(source).resolve().name or "app"


def _notices(plan: Plan, target: Target) -> None:
    if target.on_kubernetes:
        return
    images = sorted({img for t in plan.all_tasks() for s in t.steps if (img := s.image or t.image)})
    if images and not target.in_containers:
        err.print(f"note: the local executor runs steps on this machine; images are recorded, not used "
                  f"({', '.join(images[:4])}{', ...' if len(images) > 4 else ''})", highlight=False)
    pods = [t.name for t in plan.all_tasks() if t.kubernetes.is_set()]
    if pods:
        kept = " but runAsUser/runAsGroup" if target.in_containers else ""
        err.print(f"note: the {target.executor} executor ignores `kubernetes:` settings (service account, "
                  f"nodeSelector, resources, ...){kept} of {', '.join(pods[:4])}{', ...' if len(pods) > 4 else ''}",
                  highlight=False)
    for note in sorted({n for t in plan.all_tasks() for n in t.notes}):
        err.print(f"note: {note}", highlight=False)


def execute(req: RunRequest, cfg: Settings, store: Store, library: Library) -> tuple[str, str]:
    """Run the pipeline; returns (run id, final status), ("", "not-triggered") when ``on:`` says no."""
    target = req.target()
    if target.executor not in road.EXECUTORS:
        raise UserError(f"--executor {target.executor}: use {', '.join(road.EXECUTORS)}")
    src, work, project, loaded, library = _checkout(req, cfg, library)
    try:
        trigger = _trigger(src, req)
        # locally every secret comes from the command line; on Kubernetes the namespace's Secrets count too
        given = None if target.on_kubernetes else req.secrets.keys()
        try:
            decision = admit(loaded.pipeline, loaded.file, trigger, Request(req.params, given))
        except MissingSecrets as exc:
            raise UserError(str(exc)) from None
        if isinstance(decision, NotStarted):
            err.print(f"not started: {decision.reason}", highlight=False)
            shutil.rmtree(work, ignore_errors=True)
            return "", "not-triggered"
        road.check_target(target)
        road.check_placeable(loaded, library, target, cfg, trigger.event, trigger.git, req.params)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    git = {**trigger.git.as_dict(), "library": catalogs.record(library)}  # road.git_context reads it back
    run_id, number = store.create_run(loaded.pipeline.name, params=dict(req.params), git=git,
                                      event=req.event, executor=req.executor, file=loaded.file,
                                      target=run_target(req, cfg, project.relative_to(work)))
    try:
        run_dir = cfg.state_dir / "work" / run_id
        work.rename(run_dir)
        project = run_dir / project.relative_to(work)
        ctx = road.run_context(run_id, number, trigger.event, trigger.git, req.params, target, cfg)
        plan = road.compile_plan(loaded, ctx, library, target, cfg)
    except BaseException as exc:
        store.set_run_status(run_id, "failed", f"could not start: {exc}")
        shutil.rmtree(work, ignore_errors=True)
        raise
    _notices(plan, target)
    status = drive(plan, ctx, RunPlace(run_dir, project), req, cfg, store)
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
        from wishstar.engine.executors.kubernetes.client import current_context

        context = current_context(kubeconfig)
        if context is not None:
            kubeconfig = kubeconfig or os.path.expanduser("~/.kube/config")
    return {"namespace": req.namespace or cfg.namespace, "kubeconfig": kubeconfig, "context": context,
            "project": str(project), "concurrency": req.concurrency}


def drive(plan: Plan, ctx: RunContext, place: RunPlace, req: RunRequest, cfg: Settings, store: Store,
          start: RunState | None = None) -> str:
    """Run the plan with the live view and Ctrl-C handling; ``start`` continues a resumed run."""
    err.print(f"run {ctx.run_id} · {plan.pipeline} #{ctx.number} · commit {(ctx.git.commit or '')[:12]}",
              highlight=False)
    with ProgressView(plan, err, enabled=req.progress) as view:
        try:
            prepared = road.prepare_run(plan, ctx, req.target(), cfg, store, LogStore(cfg.state_dir),
                                        place, Extras(secrets=req.secrets, progress=view))
        except BaseException as exc:
            store.set_run_status(ctx.run_id, "failed", f"could not start: {exc}", finished_at=time.time())
            raise
        state = asyncio.run(_with_signals(prepared.runner, start))
    return str(state.status)


async def _with_signals(runner: Runner, start: RunState | None = None):  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    presses = 0

    def on_signal() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            kept = any(not t.interruptible for t in runner.plan.all_tasks())
            err.print("cancelling: stopping running tasks"
                      + (" (tasks marked interruptible: false finish first)" if kept else "")
                      + ", then finally tasks run (Ctrl-C again to stop everything)")
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
