"""Admission: does this event start this pipeline, and with what? One pure decision for every caller.

Why: ``wishstar run``, the server's workers and (later) the API's trigger must accept and refuse exactly the
same runs. Given the validated pipeline and the trigger facts (the event, its git context including a merge
request's target branch, the changed paths when known), admission checks the pipeline's ``on:`` rules, types
the parameters against the pipeline, checks that the secrets the pipeline reads are there (when the caller
holds them; on Kubernetes the namespace's Secrets count too and the runner asks the executor), and evaluates
the concurrency group. The answer is ``Admitted`` (with the typed params and the group) or ``NotStarted``
(with the reason); a bad parameter, a missing secret or a group that cannot be evaluated raises
``WishstarError`` naming every problem: the CLI reports it without recording a run, the server records the
run as failed with it.

Must stay pure: no I/O, no clock, no environment (callers pass what they know).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from typing import Literal

from wishstar.engine.compiler.build import resolve_params
from wishstar.engine.compiler.types import GitContext
from wishstar.engine.spec.errors import WishstarError
from wishstar.engine.spec.model import ParamValue, Pipeline
from wishstar.engine.spec.triggers import should_run
from wishstar.engine.spec.validate import declared_secrets

EventKind = Literal["push", "tag", "merge_request", "manual"]
EVENT_KINDS: tuple[EventKind, ...] = ("push", "tag", "merge_request", "manual")


class MissingSecrets(WishstarError):
    """The run needs secrets it was not given."""


@dataclass(frozen=True)
class Trigger:
    """What starts a run: the event kind, its git context (untrusted strings, reaching steps only as
    ``WISHSTAR_GIT_*``), the changed paths (None: unknown, so path filters do not block), and ``explicit``: a
    request by a person (a ``/wishstar run`` note) that runs whatever ``on:`` says."""

    event: EventKind
    git: GitContext
    changed: tuple[str, ...] | None = None
    explicit: bool = False


@dataclass(frozen=True)
class Admitted:
    params: dict[str, ParamValue]
    """Every pipeline parameter: defaults overlaid with the given values, typed against the pipeline."""
    reason: str
    group: str | None = None
    """The concurrency group (prefixed with the pipeline's name), None when the pipeline sets none."""
    limit: int = 1
    newer: str = "queue"


@dataclass(frozen=True)
class NotStarted:
    reason: str


@dataclass(frozen=True)
class Request:
    """What the caller asks for beyond the trigger: parameter values, and the names of the secrets it holds
    (None: the platform holds them, as a Kubernetes namespace does, so they are not checked here)."""

    params: Mapping[str, ParamValue] = field(default_factory=dict)
    secrets: Collection[str] | None = None


def admit(pipeline: Pipeline, file: str, trigger: Trigger, request: Request | None = None
          ) -> Admitted | NotStarted:
    """The decision for one event and one validated pipeline (``file``: its path, for error messages)."""
    request = request or Request()
    git = trigger.git
    if trigger.explicit:
        reason = "requested by a /wishstar command"
    else:
        verdict = should_run(pipeline.on, trigger.event, branch=git.branch, tag=git.tag,
                             target_branch=git.target_branch, changed=trigger.changed)
        if not verdict.run:
            return NotStarted(verdict.reason)
        reason = verdict.reason
    params = resolve_params(pipeline, request.params, file)
    if request.secrets is not None:
        check_secrets(pipeline, request.secrets)
    group, limit, newer = concurrency_group(pipeline, git, trigger.event, params)
    return Admitted(params, reason, group, limit, newer)


def check_secrets(pipeline: Pipeline, given: Collection[str]) -> None:
    """``MissingSecrets`` naming every secret the pipeline reads that is not in ``given``, with its users."""
    missing = {k: v for k, v in declared_secrets(pipeline).items() if k not in given}
    if missing:
        lines = [f'secret "{k}" (used by {", ".join(v)})' for k, v in sorted(missing.items())]
        raise MissingSecrets("this run was not given: " + "; ".join(lines) +
                             " (hint: --secret NAME=ENVVAR or --secrets-file FILE)")


def concurrency_group(pipeline: Pipeline, git: GitContext, event: str,
                      params: Mapping[str, ParamValue]) -> tuple[str | None, int, str]:
    """(group, limit, newer) for the run; the group is the pipeline's CEL expression, evaluated to a string
    and prefixed with the pipeline's name so that pipelines never share a group by accident."""
    spec = pipeline.concurrency_group
    if spec is None or spec.group is None:
        return None, 1, "queue"
    import cel

    values = {f.name: "" for f in fields(GitContext)}  # every git key reads, unset ones as ""
    values.update(git.as_dict())
    try:
        value = cel.compile(spec.group).execute({"git": values, "event": event, "params": dict(params)})
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        raise WishstarError(f"concurrency.group {spec.group!r} could not be evaluated: {exc}") from None
    if not isinstance(value, str) or not value:
        raise WishstarError(f"concurrency.group {spec.group!r} gave {value!r}, not a non-empty string")
    return f"{pipeline.name}:{value}"[:300], spec.limit, spec.newer
