"""``wishstar runs list|show|cancel|resume|delete|prune`` and ``wishstar logs``: the run history, read from the store.

Logs are tailed and followed with bounded memory (blocks from the end, then new bytes as they arrive). A
Kubernetes run whose process died is shown as orphaned, with what to do about it; resuming and cancelling
such a run live in ``cli.resume_cmd`` (imported only when used: listing must stay quick to start).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from wishstar.cli.common import ICONS, Output, UserError, err, open_store, out, print_json, settings
from wishstar.engine.records import RunRecord, RunSummary, StepRecord, TaskRecord
from wishstar.engine.spec.durations import format_duration
from wishstar.engine.status import ENDED_RUN_STATUSES
from wishstar.engine.store import shape
from wishstar.engine.store.logs import follow, tail

if TYPE_CHECKING:
    from wishstar.cli.remote import Remote

runs_app = typer.Typer(help="The run history.", no_args_is_help=True)
StateDir = Annotated[Path | None, typer.Option("--state-dir", help="where runs live (env WISHSTAR_STATE_DIR)")]
Server = Annotated[str | None, typer.Option(
    "--server", envvar="WISHSTAR_SERVER", help="ask this Wishstar server's API instead of the local store (token: "
                                               "env WISHSTAR_TOKEN)")]


def _took(item: RunSummary | TaskRecord) -> str:
    """How long it took, from the timestamps as ``shape`` renders them (millisecond precision)."""
    from datetime import datetime

    start, end = shape.iso(item.started_at), shape.iso(item.finished_at)
    if not start or not end:
        return ""
    parse = datetime.fromisoformat
    return format_duration((parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds())


@runs_app.command("list")
def list_runs(
    status: Annotated[str | None, typer.Option(help="succeeded, failed, cancelled, running or pending")] = None,
    branch: Annotated[str | None, typer.Option(help="only runs of this branch")] = None,
    pipeline: Annotated[str | None, typer.Option(help="only runs of this pipeline")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000, help="at most this many, newest first")] = 20,
    output: Annotated[Output, typer.Option()] = Output.text,
    state_dir: StateDir = None,
    server: Server = None,
) -> None:
    """Recent runs, newest first."""
    if status and status not in ICONS:
        raise UserError(f"--status {status}: use one of succeeded, failed, cancelled, running, pending")
    if server:
        listed = _remote(server).list_runs(status=status, branch=branch, pipeline=pipeline, limit=limit)
        rows, orphans = [shape.summary_from_json(r) for r in listed], set[str]()
    else:
        with open_store(settings(state_dir)) as store:
            rows = store.list_runs(status=status, branch=branch, pipeline=pipeline, limit=limit)
            orphans = set(store.orphans())
    if output is Output.json:
        print_json([shape.run_summary(r) if server else {**shape.run_summary(r), "orphaned": r.id in orphans}
                    for r in rows])
        return
    table = Table(box=None, header_style="bold")
    for col in ("id", "pipeline", "#", "status", "branch", "commit", "started", "took"):
        table.add_column(col)
    for r in rows:
        started = shape.iso(r.started_at) or shape.iso(r.created_at) or ""
        table.add_row(r.id, escape(r.pipeline), str(r.number),
                      _status(r.status) + (" [red](orphaned)[/red]" if r.id in orphans else ""),
                      escape(str(r.git.get("branch") or r.branch or "")), str(r.commit or "")[:10],
                      started[:19].replace("T", " "), _took(r))
    out.print(table)
    for r in rows:
        if r.id in orphans:
            err.print(f"run {r.id} is {orphan_note(r.id)}", highlight=False)


def _remote(url: str) -> Remote:
    from wishstar.cli.remote import Remote

    return Remote.connect(url)


def orphan_note(run_id: str) -> str:
    """What ``runs show`` and ``runs list`` say about an orphaned run (``Store.orphans``)."""
    return (f"orphaned: the process running it is gone, its Pods may still be running (hint: `wishstar runs "
            f"resume {run_id}` re-attaches to them and finishes the run, `wishstar runs cancel {run_id}` "
            "deletes them)")


def _status(status: str) -> str:
    icon, style = ICONS.get(status, ("?", ""))
    return f"[{style}]{icon} {status}[/{style}]" if style else f"{icon} {status}"


def print_summary(run: RunRecord, *, orphaned: bool = False) -> None:
    """A run and its tasks as a table (used by ``runs show`` and at the end of ``run``)."""
    out.print(f"[bold]{escape(run.pipeline)} #{run.number}[/bold]  {run.id}  {_status(run.status)}"
              f"  {escape(str(run.git.get('branch') or ''))} {str(run.commit or '')[:12]}  {_took(run)}")
    if run.reason:
        out.print(f"  reason: {escape(run.reason)}")
    if orphaned:
        out.print(f"  [red]{escape(orphan_note(run.id))}[/red]")
    _print_library(run.git.get("library"))
    table = Table(box=None, header_style="bold")
    for col in ("task", "status", "attempts", "exit", "took", "results / reason"):
        table.add_column(col, overflow="fold")
    for task in run.tasks:
        results = ", ".join(f"{k}={v}" for k, v in task.results.items())
        detail = "; ".join(x for x in (results, task.reason or "") if x)
        table.add_row(escape(task.name), _status(task.status), str(task.attempts or 0),
                      "" if task.exit_code is None else str(task.exit_code), _took(task), escape(detail))
    out.print(table)


def _print_library(recorded: object) -> None:
    """The task catalogs a run read (a git catalog at its commit) and the task each ``uses`` became."""
    if not isinstance(recorded, dict):
        return
    for catalog in recorded.get("catalogs") or []:
        commit = f" at {catalog['commit']}" if catalog.get("commit") else ""
        ref = f" (ref {catalog['ref']})" if catalog.get("ref") else ""
        out.print(f"  catalog: {escape(str(catalog.get('source')))}{escape(commit + ref)}", soft_wrap=True)
    used = [f"{t['uses']} → {t['task']} ({t['catalog']}{'@' + t['commit'][:12] if t.get('commit') else ''})"
            for t in recorded.get("tasks") or [] if isinstance(t, dict)]
    if used:
        out.print(f"  library tasks: {escape('; '.join(used))}", soft_wrap=True, highlight=False)


@runs_app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="run id, unique prefix, or PIPELINE#NUMBER")],
    output: Annotated[Output, typer.Option()] = Output.text,
    state_dir: StateDir = None,
    server: Server = None,
) -> None:
    """One run with its tasks, results and reasons."""
    from wishstar.engine.store.deployments import Deployments, deployment_dict, deployment_from_json

    if server:
        remote = _remote(server)
        run, orphaned = shape.run_from_json(remote.get_run(run_id)), False
        deployed = [deployment_from_json(d) for d in remote.run_deployments(run.id)]
    else:
        with open_store(settings(state_dir)) as store:
            run = store.get_run(run_id)
            orphaned = run.id in store.orphans()
            deployed = Deployments(store).of_run(run.id)
    if output is Output.json:
        shown = shape.run_dict(run) if server else {**shape.run_dict(run), "orphaned": orphaned}
        print_json({**shown, "deployments": [deployment_dict(d) for d in deployed]})
        return
    print_summary(run, orphaned=orphaned)
    if deployed:
        from wishstar.cli.deployments_cmd import print_table

        out.print("[bold]deployments[/bold]")
        print_table(deployed, with_project=True, with_current=False)


@runs_app.command("cancel")
def cancel(
    run_id: Annotated[str, typer.Argument(help="run id, unique prefix, or PIPELINE#NUMBER")],
    state_dir: StateDir = None,
    server: Server = None,
) -> None:
    """Ask a running run to stop: running tasks are killed, finally tasks run, the run ends cancelled.

    An orphaned Kubernetes run (its process is gone) has its Pods deleted and ends cancelled at once."""
    if server:
        answer = _remote(server).cancel(run_id)
        _said_cancel(answer["id"], answer["status"])
        return
    with open_store(settings(state_dir)) as store:
        if (orphan := store.resolve(run_id)) in store.orphans():
            from wishstar.cli.resume_cmd import cancel_orphan

            cancel_orphan(store, orphan)
            out.print(f"run {orphan} cancelled: its owner object was deleted, and with it its Pods")
            return
        resolved = store.request_cancel(run_id)
        status = store.get_run(resolved).status
    _said_cancel(resolved, status)


def _said_cancel(resolved: str, status: str) -> None:
    if status in ENDED_RUN_STATUSES:
        err.print(f"run {resolved} already ended ({status})")
    else:
        out.print(f"cancel requested for run {resolved}")


@runs_app.command("delete")
def delete(
    run_ids: Annotated[list[str], typer.Argument(help="run ids, unique prefixes, or PIPELINE#NUMBER")],
    force: Annotated[bool, typer.Option("--force", help="forget a run even when its cluster objects cannot be "
                                                        "deleted")] = False,
    state_dir: StateDir = None,
) -> None:
    """Delete ended runs: history, step logs, kept working directory, and a Kubernetes run's objects."""
    from wishstar.cli.prune_cmd import check_ended, delete_runs

    cfg = settings(state_dir)
    with open_store(cfg) as store:
        done = delete_runs(store, cfg, check_ended(store, run_ids), force=force)
    out.print(f"deleted {len(done.runs)} run(s)" + (f", {done.cluster_objects} with objects in a cluster"
                                                    if done.cluster_objects else ""))
    if done.kept:
        raise typer.Exit(1)


@runs_app.command("prune")
def prune(
    age: Annotated[str, typer.Option("--older-than", help='runs that ended longer ago than this: "30d", "12h"')],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="only say which runs would be deleted")] = False,
    force: Annotated[bool, typer.Option("--force", help="forget a run even when its cluster objects cannot be "
                                                        "deleted")] = False,
    state_dir: StateDir = None,
) -> None:
    """Delete every run that ended before a cutoff (retention; run it from cron, also against the server's store).

    An orphaned Kubernetes run created before it is cancelled first (its Pods deleted); runs that a live process
    or a replica drives are never touched."""
    from wishstar.cli.prune_cmd import delete_runs, expire_orphans, older_than

    cfg = settings(state_dir)
    cutoff = time.time() - older_than(age)
    with open_store(cfg) as store:
        if dry_run:
            ids = [*store.orphans(created_before=cutoff), *store.ended_before(cutoff)]
            for run_id in ids:
                out.print(run_id)
            out.print(f"would delete {len(ids)} run(s) older than {age}")
            return
        expired, kept = expire_orphans(store, cutoff, force=force)
        done = delete_runs(store, cfg, [*expired, *store.ended_before(cutoff)], force=force)
    kept += done.kept
    out.print(f"deleted {len(done.runs)} run(s) that ended more than {age} ago" +
              (f", {len(expired)} of them orphans cancelled first" if expired else "") +
              (f"; kept {len(kept)} whose cluster objects could not be deleted" if kept else ""))
    if kept:
        raise typer.Exit(1)


@runs_app.command("resume")
def resume(
    run_id: Annotated[str, typer.Argument(help="run id, unique prefix, or PIPELINE#NUMBER")],
    secret: Annotated[list[str], typer.Option(help="NAME=ENVVAR: secret NAME from environment variable ENVVAR")]
    = [],  # noqa: B006
    secrets_file: Annotated[list[Path], typer.Option(help="YAML mapping NAME: value")] = [],  # noqa: B006
    output: Annotated[Output, typer.Option(help="json prints the run when it ends")] = Output.text,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="no live view")] = False,
    state_dir: StateDir = None,
) -> None:
    """Finish an orphaned Kubernetes run: re-attach to its Pods (none is created twice) and run the rest."""
    from wishstar.cli.resume_cmd import resume as resume_run
    from wishstar.cli.run_cmd import load_secrets
    from wishstar.tasks import Library

    cfg = settings(state_dir)
    secrets = load_secrets(secret, secrets_file)
    with open_store(cfg) as store:
        resolved, status = resume_run(run_id, secrets, not no_progress, cfg, store, Library())
        data = store.get_run(resolved)
    report_end(data, status, output)


def report_end(run: RunRecord, status: str, output: Output) -> None:
    """Print a run that just ended and exit with its code (``run`` and ``runs resume``)."""
    from wishstar.cli.run_cmd import EXIT_CANCELLED

    if output is Output.json:
        print_json(shape.run_dict(run))
    else:
        print_summary(run)
    if status == "cancelled":
        raise typer.Exit(EXIT_CANCELLED)
    if status != "succeeded":
        raise typer.Exit(1)


def logs(
    run_id: Annotated[str, typer.Argument(help="run id, unique prefix, or PIPELINE#NUMBER")],
    task: Annotated[str | None, typer.Argument(help="only this task (default: all, in order)")] = None,
    follow_: Annotated[bool, typer.Option("--follow", "-f", help="keep printing until the run ends")] = False,
    lines: Annotated[int, typer.Option("--tail", min=0, help="only the last N lines of each step (0: all)")] = 0,
    attempt: Annotated[int | None, typer.Option(min=1, help="this attempt (default: every attempt)")] = None,
    state_dir: StateDir = None,
    server: Server = None,
) -> None:
    """Print the logs of a run's steps; --follow streams a running run's output as it is written."""
    if server:
        if follow_:
            raise UserError("--follow works on the server's machine only (hint: drop --server, or repeat "
                            "without --follow)")
        _remote_logs(_remote(server), run_id, task, lines, attempt)
        return
    cfg = settings(state_dir)
    with open_store(cfg) as store:
        run = store.get_run(run_id)
        names = run.task_names
        if task is not None and task not in names:
            from wishstar.engine.spec.errors import did_you_mean

            hint = did_you_mean(task, names) or (f"its tasks: {', '.join(names[:12])}" if names else "it has none")
            raise UserError(f'run {run.id} has no task "{task}" ({hint})')
        if follow_:
            _follow(store, run.id, task, cfg)
            return
        chosen = [t for t in run.tasks if task is None or t.name == task]
        if attempt is not None and chosen and attempt > max(t.attempts for t in chosen):
            ran = max(t.attempts for t in chosen)
            which = f"task {task} ran" if task else f"no task of run {run.id} ran more than"
            raise UserError(f"--attempt {attempt}: {which} {ran} attempt(s)")
        for t in chosen:
            for step in t.steps:
                if attempt is not None and step.attempt != attempt:
                    continue
                _print_step_log(t.name, step, lines)


def _remote_logs(remote: Remote, ref: str, task: str | None, lines: int, attempt: int | None) -> None:
    """Each task's logs as the server streams them (all its steps, in order); --tail keeps the task's last
    lines."""
    from wishstar.cli.remote import last_lines

    run = shape.run_from_json(remote.get_run(ref))
    names = run.task_names
    if task is not None and task not in names:
        raise UserError(f'run {run.id} has no task "{task}"')
    for name in [task] if task is not None else names:
        err.print(f"── {name} ──", highlight=False)
        chunks = remote.log_chunks(run.id, name, attempt)
        if lines:
            for line in last_lines(chunks, lines):
                sys.stdout.write(line + "\n")
        else:
            for chunk in chunks:
                sys.stdout.buffer.write(chunk)
        sys.stdout.flush()


def _print_step_log(task: str, step: StepRecord, lines: int) -> None:
    path = step.log_path
    err.print(f"── {task} > {step.name} (attempt {step.attempt}, exit {step.exit_code}) ──",
              highlight=False)
    if not path or not Path(path).exists():
        err.print("  (no output)")
        return
    if lines:
        for line in tail(path, lines):
            sys.stdout.write(line + "\n")
    else:
        with open(path, "rb") as f:
            while chunk := f.read(64 * 1024):
                sys.stdout.buffer.write(chunk)
    sys.stdout.flush()


def _follow(store: Any, run_id: str, task: str | None, cfg: Any) -> None:
    """Stream each step's log as it appears, in order, until the run ends."""
    done: set[str] = set()
    while True:
        run = store.get_run(run_id)
        finished = run.status in ENDED_RUN_STATUSES
        for t in run.tasks:
            if task is not None and t.name != task:
                continue
            for step in t.steps:
                key = f"{t.name}/{step.attempt}/{step.name}"
                if key in done or not step.log_path:
                    continue
                done.add(key)
                _print_step_log(t.name, step, 0)
        if finished:
            return
        _follow_running(store, run_id, task, cfg, done)


def _follow_running(store: Any, run_id: str, task: str | None, cfg: Any, done: set[str]) -> None:
    """Follow the log files of running tasks (steps are recorded in the store only when their task ends)."""
    logs_root = cfg.state_dir / "logs" / run_id
    running = [t.name for t in store.get_run(run_id).tasks if t.status == "running"
               and (task is None or t.name == task)]
    if not running or not logs_root.exists():
        time.sleep(0.3)
        return
    from wishstar.engine.store.logs import LogStore

    layout = LogStore(cfg.state_dir)
    name = running[0]
    attempt_dirs = sorted(layout.run_dir(run_id).glob(f"{layout.step_path(run_id, name, 1, 'x').parent.parent.name}/*"))
    if not attempt_dirs:
        time.sleep(0.3)
        return
    for log in sorted(attempt_dirs[-1].glob("*.log")):
        key = f"{name}/{attempt_dirs[-1].name}/{log.stem}"
        if key in done:
            continue
        done.add(key)
        err.print(f"── {name} > {log.stem} (attempt {attempt_dirs[-1].name}, live) ──", highlight=False)

        def stop(task_name: str = name) -> bool:
            run = store.get_run(run_id)
            return all(t.status != "running" for t in run.tasks if t.name == task_name)

        for chunk in follow(log, stop):
            sys.stdout.write(chunk if isinstance(chunk, str) else chunk.decode(errors="replace"))
            sys.stdout.flush()
