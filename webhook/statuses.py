"""What Wishstar tells GitLab about a run: commit statuses and the merge-request note, as outbox items.

Why: the workers call ``on_run_queued``, ``on_run_started`` and ``on_run_finished`` at those moments; this
module decides the status name (``wishstar/<pipeline>``, and ``wishstar/<pipeline>/<task>`` per task when the
project asks for it), the GitLab state, the link to the run page and a short description, and queues them in
the durable outbox. ``webhook.outbox_worker`` does the sending.

Must not talk to GitLab or read the clock (``now`` is passed in), and must not put secrets in descriptions:
run reasons are reduced to one line with credentials removed from URLs, and capped at GitLab's 255 characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from wishstar.engine.status import ACTIVE_TASK_STATUSES
from wishstar.engine.store.outbox import Outbox
from wishstar.engine.store.server import Project

DESCRIPTION_LIMIT = 255
STATE = {"pending": "pending", "running": "running", "succeeded": "success", "failed": "failed",
         "cancelled": "canceled", "skipped": "canceled"}
"""Wishstar run/task status -> GitLab commit status state (GitLab has no ``skipped`` for external statuses)."""
_ICON = {"succeeded": "✅", "failed": "❌", "cancelled": "⏹️", "skipped": "⏭️", "running": "▶️", "pending": "⏳"}
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")


def status_name(pipeline: str, task: str | None = None) -> str:
    return f"wishstar/{pipeline}" if task is None else f"wishstar/{pipeline}/{task}"


def run_url(public_url: str, run_id: str) -> str:
    return f"{public_url.rstrip('/')}/runs/{run_id}"


def on_run_queued(outbox: Outbox, project: Project, run: Mapping[str, Any], *, public_url: str, now: float,
                  sha: str | None = None) -> None:
    """The run is recorded and waits for a worker: the pipeline's status is ``pending``."""
    _post(outbox, project, run, "pending", "queued", public_url=public_url, now=now, sha=sha)


def on_run_started(outbox: Outbox, project: Project, run: Mapping[str, Any], *, public_url: str, now: float,
                   sha: str | None = None) -> None:
    """The run started: ``running`` for the pipeline, ``pending`` for each task already in ``run["tasks"]``."""
    commit = _sha(run, sha)
    _post(outbox, project, run, "running", "running", public_url=public_url, now=now, sha=commit)
    if project.statuses_per_task:
        for task in run.get("tasks") or ():
            outbox.enqueue_status(project.id, commit, status_name(run["pipeline"], task["name"]), "pending",
                                  run_url(public_url, run["id"]), "waiting", now)


def on_run_finished(outbox: Outbox, project: Project, run: Mapping[str, Any], *, public_url: str, now: float,
                    sha: str | None = None, mr_iid: int | None = None) -> None:
    """The run ended: its final state and description, each task's when asked, and the MR note when asked.

    ``run`` is ``Store.get_run``'s shape. ``mr_iid`` defaults to ``run["git"]["mr_iid"]``.
    """
    commit = _sha(run, sha)
    tasks: Sequence[Mapping[str, Any]] = run.get("tasks") or ()
    url = run_url(public_url, run["id"])
    if project.statuses_per_task:
        for task in tasks:
            if task["status"] in ACTIVE_TASK_STATUSES:
                continue
            outbox.enqueue_status(project.id, commit, status_name(run["pipeline"], task["name"]),
                                  STATE[task["status"]], url, describe_task(task), now)
    _post(outbox, project, run, STATE.get(run["status"], "failed"), describe_run(run), public_url=public_url,
          now=now, sha=commit)
    iid = mr_iid if mr_iid is not None else _mr_iid(run)
    if project.mr_notes and iid is not None:
        outbox.enqueue_note(project.id, iid, run["pipeline"], note_markdown(run, url), now)


def _mr_iid(run: Mapping[str, Any]) -> int | None:
    """The merge request a run built, from its git context (where it is a string, empty when none)."""
    value = str((run.get("git") or {}).get("mr_iid") or "")
    return int(value) if value.isdigit() else None


def _post(outbox: Outbox, project: Project, run: Mapping[str, Any], state: str, description: str, *,
          public_url: str, now: float, sha: str | None) -> None:
    outbox.enqueue_status(project.id, _sha(run, sha), status_name(run["pipeline"]), state,
                          run_url(public_url, run["id"]), _cap(description), now)


def _sha(run: Mapping[str, Any], sha: str | None) -> str:
    commit = sha or (run.get("git") or {}).get("commit")
    if not commit:
        raise ValueError(f"run {run.get('id')} has no commit to report a status on")
    return str(commit)


# -- descriptions ----------------------------------------------------------------------------------------

def describe_run(run: Mapping[str, Any]) -> str:
    """``passed in 1m 12s``, ``failed: test (exit 1) after 40s``, ``canceled after 3s``."""
    took = duration(run.get("started_at"), run.get("finished_at"))
    after = f" after {took}" if took else ""
    status = run["status"]
    if status == "succeeded":
        return _cap(f"passed in {took}" if took else "passed")
    if status == "cancelled":
        return _cap(f"canceled{after}")
    failed = [t for t in run.get("tasks") or () if t["status"] == "failed"]
    if failed:
        first = failed[0]
        code = f" (exit {first['exit_code']})" if first.get("exit_code") is not None else ""
        more = f" and {len(failed) - 1} more" if len(failed) > 1 else ""
        return _cap(f"failed: {first['name']}{code}{more}{after}")
    reason = safe_reason(run.get("reason"))
    return _cap(f"failed: {reason}" if reason else f"failed{after}")


def describe_task(task: Mapping[str, Any]) -> str:
    took = duration(task.get("started_at"), task.get("finished_at"))
    word = {"succeeded": "passed", "failed": "failed", "cancelled": "canceled", "skipped": "skipped"}
    text = word.get(task["status"], task["status"])
    if task["status"] == "skipped" and task.get("reason"):
        return _cap(f"skipped: {safe_reason(task['reason'])}")
    return _cap(f"{text} in {took}" if took else text)


def safe_reason(reason: str | None) -> str:
    """A run reason fit for GitLab: its first line, without credentials in URLs."""
    if not reason:
        return ""
    first = reason.strip().splitlines()[0] if reason.strip() else ""
    return _URL_CREDENTIALS.sub(r"\1", first)


def duration(start: float | str | None, end: float | str | None) -> str:
    """``1h 2m``, ``1m 12s``, ``4s``, ``0.4s``; empty when either end is unknown."""
    begin, finish = _epoch(start), _epoch(end)
    if begin is None or finish is None:
        return ""
    seconds = max(0.0, finish - begin)
    if seconds < 10:
        return f"{seconds:.1f}s".replace(".0s", "s")
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def _epoch(value: float | str | None) -> float | None:
    if value is None or isinstance(value, float | int):
        return value
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _cap(text: str) -> str:
    return text if len(text) <= DESCRIPTION_LIMIT else text[: DESCRIPTION_LIMIT - 1] + "…"


# -- the merge-request note ------------------------------------------------------------------------------

def note_markdown(run: Mapping[str, Any], url: str) -> str:
    """The note's body: the run's outcome and a table of its tasks (status, duration)."""
    number = f"#{run['number']}" if run.get("number") is not None else ""
    lines = [f"**Wishstar** `{_cell(run['pipeline'])}`{number}: {_ICON.get(run['status'], '')} "
             f"{_cell(describe_run(run))} ([details]({url}))", "", "| Task | Status | Duration |",
             "| --- | --- | --- |"]
    for task in run.get("tasks") or ():
        took = duration(task.get("started_at"), task.get("finished_at")) or "-"
        lines.append(f"| `{_cell(task['name'])}` | {_ICON.get(task['status'], '')} {task['status']} | {took} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("`", "'").replace("\n", " ")
