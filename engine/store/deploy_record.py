"""Recording a deployment when a Helm task's success is stored: results in, one ``deployments`` row out.

Why: "what is deployed where" must be a query of the store, never a list of Helm's release secrets, so the
deployment is written in the same transaction as the task row that says the task succeeded (every path that
stores a task's end goes through ``Store._upsert_tasks``: a run, a retry, a takeover, a resume). A task counts
when it succeeded and its results hold ``RELEASE_NAME`` and ``RELEASE_REVISION`` (the helm-upgrade library
task's results; ``RELEASE_NAMESPACE``, ``CHART``, ``CHART_VERSION``, ``IMAGE_DIGEST`` and ``IMAGE_URL`` when
present; the image may come from an upstream image-build task, which the runner hands in). Results are
untrusted text: a value that cannot be recorded becomes a warning in the task's reason, never an exception
that would lose the run. Must not read anything but the run being written and must not commit: the caller's
transaction does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from wishstar.engine.store.models import deployments, projects, run_leases, runs

REQUIRED = ("RELEASE_NAME", "RELEASE_REVISION")
IMAGE_RESULTS = ("IMAGE_DIGEST", "IMAGE_URL")
DEPLOYED = "deployed"
WARNING_PREFIX = "deployment "
"""Every warning starts so (``deployment not recorded: ...``, ``deployment recorded without ...``)."""

_MAX_REVISION = 2**31 - 1
_LIMITS = {"namespace": 253, "release": 253, "chart": 255, "chart_version": 128, "image": 500,
           "image_digest": 100, "commit": 64, "ref": 255}
_RESULT_OF = {"release": "RELEASE_NAME", "namespace": "RELEASE_NAMESPACE", "chart": "CHART",
              "chart_version": "CHART_VERSION", "image": "IMAGE_URL", "image_digest": "IMAGE_DIGEST",
              "commit": "the run's commit", "ref": "the run's branch"}
_DIGEST = re.compile(r"[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{16,}")
"""The OCI image-spec digest grammar (algorithm:encoded), e.g. ``sha256:`` and 64 hex digits."""
_PRINTABLE = re.compile(r"[^\s\x00-\x1f\x7f]+")
_DIGITS = re.compile(r"[0-9]{1,10}")


class TaskEnd(Protocol):
    """What the recorder reads of a task row (``engine.store.api.TaskRow``)."""

    @property
    def name(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def results(self) -> Mapping[str, str]: ...
    @property
    def finished_at(self) -> float | None: ...


@dataclass(frozen=True)
class RunFacts:
    """What a deployment row copies from its run: identity, project and git context."""

    pipeline: str
    number: int
    project: str
    project_id: int | None
    commit: str | None
    ref: str | None


def is_deployment(task: TaskEnd) -> bool:
    return task.status == "succeeded" and all(key in task.results for key in REQUIRED)


def _shown(value: str) -> str:
    """An untrusted value as a message may quote it: escaped, and cut at 40 characters."""
    text = value if len(value) <= 40 else value[:40] + "..."
    return text.encode("unicode_escape").decode("ascii").replace('"', '\\"')


def _image_parts(url: str) -> tuple[str, str | None]:
    """``registry/path:tag@sha256:...`` -> (``registry/path``, the digest or None)."""
    name, _, digest = url.partition("@")
    last = name.rsplit("/", 1)
    if ":" in last[-1]:
        name = name[: len(name) - len(last[-1])] + last[-1].split(":", 1)[0]
    return name, digest or None


def _image(task: TaskEnd, upstream: Mapping[str, str]) -> tuple[str | None, str | None]:
    """The image repository and digest: the task's own results first, then the upstream image task's (a
    digest may also be part of an ``IMAGE_URL``: ``registry/path@sha256:...``)."""
    def get(results: Mapping[str, str], key: str) -> str | None:
        return (results.get(key) or "").strip() or None

    own_url, up_url = get(task.results, "IMAGE_URL"), get(upstream, "IMAGE_URL")
    own = _image_parts(own_url) if own_url else (None, None)
    up = _image_parts(up_url) if up_url else (None, None)
    digest = get(task.results, "IMAGE_DIGEST") or own[1] or get(upstream, "IMAGE_DIGEST") or up[1]
    return own[0] or up[0] or None, digest


def _not_recorded(task: str, why: str) -> str:
    return f"{WARNING_PREFIX}not recorded: {why} (task {task}; hint: see docs/store.md, \"Deployments\")"


def _key_fields(task: TaskEnd) -> tuple[dict[str, Any] | None, str | None]:
    """Release, namespace and revision, or why the deployment cannot be recorded."""
    results = task.results
    release = results["RELEASE_NAME"].strip()
    revision_text = results["RELEASE_REVISION"].strip()
    namespace = (results.get("RELEASE_NAMESPACE") or "").strip() or "default"
    if not _DIGITS.fullmatch(revision_text) or not 1 <= int(revision_text) <= _MAX_REVISION:
        return None, _not_recorded(task.name, f'RELEASE_REVISION "{_shown(revision_text)}" is not a Helm '
                                              "revision (a whole number from 1)")
    for field, value in (("release", release), ("namespace", namespace)):
        if not _PRINTABLE.fullmatch(value) or len(value) > _LIMITS[field]:
            what = "empty" if not value else (f"{len(value)} characters long (at most {_LIMITS[field]})"
                                              if len(value) > _LIMITS[field] else f'"{_shown(value)}", '
                                              "with spaces or control characters")
            return None, _not_recorded(task.name, f"{_RESULT_OF[field]} is {what}")
    return {"release": release, "namespace": namespace, "revision": int(revision_text)}, None


def deployment_values(task: TaskEnd, run: RunFacts, upstream: Mapping[str, str]
                      ) -> tuple[dict[str, Any] | None, list[str]]:
    """The row to insert for a task that deployed (None when it cannot be recorded) and the warnings."""
    key, why = _key_fields(task)
    if key is None:
        return None, [why] if why else []
    image, digest = _image(task, upstream)
    optional: dict[str, str | None] = {
        "chart": (task.results.get("CHART") or "").strip() or None,
        "chart_version": (task.results.get("CHART_VERSION") or "").strip() or None,
        "image": image, "image_digest": digest, "commit": run.commit, "ref": run.ref}
    warnings = []
    for field, value in list(optional.items()):
        if value is None:
            continue
        bad = (f"is {len(value)} characters long (at most {_LIMITS[field]})" if len(value) > _LIMITS[field]
               else "" if _PRINTABLE.fullmatch(value) else f'"{_shown(value)}" has spaces or control characters')
        if not bad and field == "image_digest" and not _DIGEST.fullmatch(value):
            bad = f'"{_shown(value)}" is not an image digest (like sha256:<64 hex digits>)'
        if bad:
            optional[field] = None
            warnings.append(f"{WARNING_PREFIX}recorded without its {field.replace('_', ' ')}: "
                            f"{_RESULT_OF[field]} {bad} (task {task.name})")
    row = {**key, **optional, "task": task.name, "pipeline": run.pipeline, "run_number": run.number,
           "project": run.project, "project_id": run.project_id, "status": DEPLOYED,
           "deployed_at": task.finished_at if task.finished_at is not None else time.time()}
    return row, warnings


def run_facts(conn: Connection, run_id: str) -> RunFacts | None:
    """The run's pipeline, number, project (its lease's server project, else the pipeline) and git context."""
    query = (select(runs.c.pipeline, runs.c.number, runs.c.git, projects.c.path, projects.c.id)
             .select_from(runs.outerjoin(run_leases, run_leases.c.run_id == runs.c.id)
                          .outerjoin(projects, projects.c.id == run_leases.c.project_id))
             .where(runs.c.id == run_id))
    row = conn.execute(query).first()
    if row is None:
        return None
    git = dict(row.git or {})
    ref = git.get("branch") or git.get("tag")
    return RunFacts(pipeline=row.pipeline, number=row.number, project=row.path or row.pipeline,
                    project_id=row.id, commit=str(git["commit"]) if git.get("commit") else None,
                    ref=str(ref) if ref else None)


def with_warnings(reason: str | None, warnings: Sequence[str]) -> str | None:
    """The task's reason with each warning appended once (a resumed run stores its rows again)."""
    for warning in warnings:
        if reason is None or warning not in reason:
            reason = f"{reason}; {warning}" if reason else warning
    return reason


def prepare(conn: Connection, run_id: str, items: Sequence[TaskEnd],
            upstream: Mapping[str, Mapping[str, str]]) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The deployment rows of the succeeded Helm tasks among ``items`` and each task's warnings; reads the
    run only when one of them deployed."""
    candidates = [item for item in items if is_deployment(item)]
    if not candidates:
        return [], {}
    run = run_facts(conn, run_id)
    if run is None:  # the task upsert that follows fails with RunNotFound
        return [], {}
    rows, warnings = [], {}
    for item in candidates:
        row, said = deployment_values(item, run, upstream.get(item.name, {}))
        if row is not None:
            rows.append({**row, "run_id": run_id})
        if said:
            warnings[item.name] = said
    return rows, warnings


def insert(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert the rows; a row already there (same run, task and revision) is left as it is."""
    if not rows:
        return
    stmt = postgresql.insert(deployments) if conn.dialect.name == "postgresql" else sqlite.insert(deployments)
    conn.execute(stmt.on_conflict_do_nothing(index_elements=["run_id", "task", "revision"]), rows)
