"""Reading a task Pod's status: what each step came to, the task's results, and why a Pod is still waiting.

Pure functions over the Pod and Event dicts the API server returns (camelCase keys), so every rule here is
tested with plain data. The step entrypoint (``steps/entrypoint/entrypoint.sh``) writes each container's
termination message: ``{"exitCode":N}``, ``{"skipped":true}``, and for the last step
``{"exitCode":N,"results":{...}}`` or ``{"exitCode":N,"error":"..."}``; only a failing step's container
exits non-zero. It must not talk to the API server or read the clock.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wishstar.engine.executors.base import StepOutcome, TaskOutcome

Json = Mapping[str, Any]

TIMED_OUT_CODE = 124
"""The entrypoint's exit code for a step that hit its own time limit (as ``timeout`` uses)."""

IMAGE_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                                "RegistryUnavailable"})
"""Container waiting reasons that mean the image will not come without a change (after a grace period)."""
FATAL_AT_ONCE = frozenset({"InvalidImageName", "ErrImageNeverPull"})
CONFIG_REASONS = frozenset({"CreateContainerConfigError", "CreateContainerError", "RunContainerError"})
BENIGN_WAITING = frozenset({"ContainerCreating", "PodInitializing"})
EVENT_REASONS = frozenset({"FailedScheduling", "FailedMount", "FailedAttachVolume", "FailedCreatePodSandBox",
                           "FailedBinding", "ProvisioningFailed", "Failed", "BackOff", "FailedCreate",
                           "FailedSync", "NetworkNotReady"})


@dataclass(frozen=True)
class StepRef:
    """A step of the task and the container that runs it."""

    name: str
    container: str


def parse_message(text: str | None) -> dict[str, Any]:
    """The entrypoint's termination message as a dict; ``{}`` for anything else (missing, cut, foreign)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def timestamp(text: object) -> float | None:
    """Epoch seconds from an RFC 3339 time as Kubernetes writes it (``2024-05-01T10:00:00Z``)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def container_statuses(pod: Json) -> dict[str, Json]:
    status = pod.get("status") or {}
    found: dict[str, Json] = {}
    for key in ("initContainerStatuses", "containerStatuses"):
        for item in status.get(key) or ():
            found[str(item.get("name"))] = item
    return found


def phase(pod: Json) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def is_finished(pod: Json) -> bool:
    return phase(pod) in ("Succeeded", "Failed")


def started_containers(pod: Json) -> set[str]:
    """Containers that are running or have run: their logs can be read."""
    out = set()
    for name, status in container_statuses(pod).items():
        state = status.get("state") or {}
        if "running" in state or "terminated" in state:
            out.add(name)
    return out


def container_finished(pod: Json, container: str) -> bool:
    state = (container_statuses(pod).get(container) or {}).get("state") or {}
    return "terminated" in state or is_finished(pod)


# --- outcomes -------------------------------------------------------------------------------------


def step_outcome(step: StepRef, status: Json | None) -> tuple[StepOutcome, dict[str, Any], int | None]:
    """(the step's outcome, its parsed termination message, the container's own exit code)."""
    state = (status or {}).get("state") or {}
    done = state.get("terminated")
    if done is None:
        running = state.get("running")
        started = timestamp(running.get("startedAt")) if running else None
        return StepOutcome(step.name, None, started, None, reason=f"step {step.name} did not finish"), {}, None
    message = parse_message(done.get("message"))
    container_code = int(done.get("exitCode", 0))
    started, finished = timestamp(done.get("startedAt")), timestamp(done.get("finishedAt"))
    if message.get("skipped"):
        return StepOutcome(step.name, None, None, None, reason="skipped"), message, container_code
    code = message.get("exitCode", container_code)
    code = int(code) if isinstance(code, int | str) and str(code).lstrip("-").isdigit() else container_code
    return StepOutcome(step.name, code, started, finished, _step_reason(step.name, code, done)), message, \
        container_code


def _step_reason(step: str, code: int, terminated: Json) -> str | None:
    if terminated.get("reason") == "OOMKilled":
        return f"step {step} was killed: out of memory (OOMKilled)"
    if code == 0:
        return None
    if code == TIMED_OUT_CODE:
        return f"step {step} timed out (exit code {code})"
    if code > 128 and terminated.get("signal") is None and not terminated.get("message"):
        return f"step {step} was killed (exit code {code})"
    return f"step {step} exited with {code}"


def task_outcome(pod: Json, steps: Sequence[StepRef], results: Sequence[str], *, task: str,
                 timeout_s: float | None = None) -> TaskOutcome:
    """What a finished task Pod came to: the first failing step decides; results come from the last step."""
    statuses = container_statuses(pod)
    outcomes: list[StepOutcome] = []
    failure: tuple[StepOutcome, dict[str, Any]] | None = None
    last_message: dict[str, Any] = {}
    for step in steps:
        outcome, message, container_code = step_outcome(step, statuses.get(step.container))
        outcomes.append(outcome)
        last_message = message
        if failure is None and container_code not in (None, 0):
            failure = (outcome, message)
    status = pod.get("status") or {}
    if status.get("reason") == "DeadlineExceeded":
        limit = f" after {timeout_s:g}s" if timeout_s is not None else ""
        return TaskOutcome("failed", None, f"task {task} timed out{limit}", {}, tuple(outcomes))
    if failure is not None:
        outcome, message = failure
        reason = f"task failed: {message['error']}" if message.get("error") else outcome.reason
        return TaskOutcome("failed", outcome.exit_code, reason, _results(last_message, results), tuple(outcomes))
    if phase(pod) != "Succeeded":
        why = ": ".join(str(x) for x in (status.get("reason"), status.get("message")) if x) or "no reason given"
        return TaskOutcome("failed", None, f"the Pod failed ({why})", {}, tuple(outcomes))
    found = _results(last_message, results)
    for name in results:
        if name not in found:
            return TaskOutcome("failed", None, f'result "{name}" was not written', found, tuple(outcomes))
    return TaskOutcome("succeeded", 0, None, found, tuple(outcomes))


def _results(message: Mapping[str, Any], declared: Sequence[str]) -> dict[str, str]:
    raw = message.get("results")
    if not isinstance(raw, dict):
        return {}
    return {k: str(v) for k, v in raw.items() if k in declared}


# --- why is it waiting? -----------------------------------------------------------------------------


def waiting_reason(pod: Json, events: Iterable[Json] = ()) -> str | None:
    """One line saying why a Pod that should run does not, or None when nothing is wrong (yet).

    In order: the scheduler's verdict (``PodScheduled=False``), a container stuck waiting (image pulls,
    config errors), then the newest warning Event about the Pod (``FailedScheduling``, ``FailedMount``...)."""
    if is_finished(pod):
        return None
    status = pod.get("status") or {}
    for condition in status.get("conditions") or ():
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            message = condition.get("message") or condition.get("reason") or "not scheduled"
            return f"unschedulable: {message}" if condition.get("reason") == "Unschedulable" else str(message)
    for name, item in container_statuses(pod).items():
        waiting = (item.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason and reason not in BENIGN_WAITING:
            detail = f": {waiting['message']}" if waiting.get("message") else ""
            return f"{name}: {reason}{detail}"
    warning = newest_warning(events)
    if warning is not None:
        return f"{warning.get('reason')}: {warning.get('message') or ''}".rstrip(": ")
    return None


def newest_warning(events: Iterable[Json]) -> Json | None:
    best: Json | None = None
    best_at = float("-inf")
    for event in events:
        if event.get("type") != "Warning" or event.get("reason") not in EVENT_REASONS:
            continue
        at = max((timestamp(event.get(k)) or float("-inf")) for k in ("lastTimestamp", "eventTime",
                                                                         "firstTimestamp"))
        if at >= best_at:
            best, best_at = event, at
    return best


def image_problem(pod: Json) -> tuple[str, str, bool] | None:
    """(container, "Reason: message", fatal at once) for a container that cannot get its image."""
    for name, item in container_statuses(pod).items():
        waiting = (item.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in IMAGE_PULL_REASONS or reason in CONFIG_REASONS:
            detail = f"{reason}: {waiting.get('message')}" if waiting.get("message") else str(reason)
            return name, detail, reason in FATAL_AT_ONCE
    return None
