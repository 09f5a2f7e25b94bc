"""Reading task Pods: step outcomes and results from termination messages, and why a Pod is still waiting."""

from __future__ import annotations

from typing import Any

import pytest

from wishstar.engine.executors.kubernetes.status import (
    StepRef,
    image_problem,
    parse_message,
    started_containers,
    task_outcome,
    timestamp,
    waiting_reason,
)

STEPS = [StepRef("build", "step-build"), StepRef("test", "step-test")]


def terminated(name: str, code: int = 0, message: str | None = None, reason: str = "Completed") -> dict[str, Any]:
    state: dict[str, Any] = {"exitCode": code, "reason": reason, "startedAt": "2026-01-01T10:00:00Z",
                             "finishedAt": "2026-01-01T10:00:05Z"}
    if message is not None:
        state["message"] = message
    return {"name": name, "state": {"terminated": state}}


def pod(phase: str, *statuses: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "uid": "u1"},
            "status": {"phase": phase, "containerStatuses": list(statuses), **status}}


@pytest.mark.parametrize(("text", "expected"), [
    ('{"exitCode":0,"results":{"tag":"1.0"}}', {"exitCode": 0, "results": {"tag": "1.0"}}),
    ('{"skipped":true}', {"skipped": True}),
    ('{"exitCode":0,"res', {}),
    ("[1, 2]", {}),
    ("", {}),
    (None, {}),
], ids=["results", "skipped", "cut-off", "not-an-object", "empty", "missing"])
def test_termination_messages_parse_to_dicts_and_anything_else_to_empty(text: str | None,
                                                                         expected: dict[str, Any]) -> None:
    assert parse_message(text) == expected


def test_a_succeeded_pod_gives_results_from_the_last_step_and_step_times() -> None:
    outcome = task_outcome(pod("Succeeded", terminated("step-build", message='{"exitCode":0}'),
                               terminated("step-test", message='{"exitCode":0,"results":{"tag":"1.0\\n"}}')),
                           STEPS, ["tag"], task="t")
    assert outcome.status == "succeeded"
    assert outcome.results == {"tag": "1.0\n"}
    assert [s.exit_code for s in outcome.steps] == [0, 0]
    assert outcome.steps[0].finished_at == timestamp("2026-01-01T10:00:05Z")


def test_undeclared_results_in_the_message_are_ignored_and_missing_declared_ones_fail() -> None:
    outcome = task_outcome(pod("Succeeded", terminated("step-build"),
                               terminated("step-test", message='{"exitCode":0,"results":{"other":"x"}}')),
                           STEPS, ["tag"], task="t")
    assert outcome.status == "failed"
    assert outcome.reason == 'result "tag" was not written'
    assert outcome.results == {}


def test_the_failing_step_decides_and_the_following_ones_read_as_skipped() -> None:
    outcome = task_outcome(pod("Failed", terminated("step-build", 3, '{"exitCode":3}', "Error"),
                               terminated("step-test", 0, '{"skipped":true}')), STEPS, [], task="t")
    assert (outcome.status, outcome.exit_code, outcome.reason) == ("failed", 3, "step build exited with 3")
    assert outcome.steps[1].reason == "skipped"
    assert outcome.steps[1].exit_code is None


def test_a_continue_step_keeps_its_real_exit_code_while_the_task_succeeds() -> None:
    outcome = task_outcome(pod("Succeeded", terminated("step-build", 0, '{"exitCode":7}'),
                               terminated("step-test", 0, '{"exitCode":0,"results":{}}')), STEPS, [], task="t")
    assert outcome.status == "succeeded"
    assert outcome.steps[0].exit_code == 7


def test_results_too_large_for_the_message_fail_with_the_entrypoints_error() -> None:
    message = '{"exitCode":0,"error":"results take 5000 bytes, more than the 4096 bytes Kubernetes keeps"}'
    outcome = task_outcome(pod("Failed", terminated("step-build"), terminated("step-test", 1, message, "Error")),
                           STEPS, ["big"], task="t")
    assert outcome.status == "failed"
    assert outcome.reason == "task failed: results take 5000 bytes, more than the 4096 bytes Kubernetes keeps"


def test_a_step_time_limit_reads_as_timed_out() -> None:
    outcome = task_outcome(pod("Failed", terminated("step-build", 124, '{"exitCode":124}', "Error"),
                               terminated("step-test", 0, '{"skipped":true}')), STEPS, [], task="t")
    assert outcome.reason == "step build timed out (exit code 124)"


def test_out_of_memory_is_named() -> None:
    outcome = task_outcome(pod("Failed", terminated("step-build", 137, None, "OOMKilled"),
                               terminated("step-test", 0, '{"skipped":true}')), STEPS, [], task="t")
    assert outcome.reason == "step build was killed: out of memory (OOMKilled)"
    assert outcome.exit_code == 137


def test_active_deadline_exceeded_is_a_task_timeout() -> None:
    running = {"name": "step-build", "state": {"running": {"startedAt": "2026-01-01T10:00:00Z"}}}
    outcome = task_outcome(pod("Failed", running, reason="DeadlineExceeded", message="Pod was active too long"),
                           STEPS, [], task="deploy", timeout_s=30)
    assert (outcome.status, outcome.reason) == ("failed", "task deploy timed out after 30s")
    assert outcome.steps[0].reason == "step build did not finish"


def test_a_failed_pod_without_a_failing_container_says_what_kubernetes_said() -> None:
    outcome = task_outcome(pod("Failed", reason="Evicted", message="The node was low on resource: memory."),
                           STEPS, [], task="t")
    assert outcome.reason == "the Pod failed (Evicted: The node was low on resource: memory.)"


def test_started_containers_are_those_running_or_terminated() -> None:
    waiting = {"name": "step-c", "state": {"waiting": {"reason": "ContainerCreating"}}}
    running = {"name": "step-b", "state": {"running": {}}}
    assert started_containers(pod("Running", terminated("step-a"), running, waiting)) == {"step-a", "step-b"}


# --- why is it waiting? --------------------------------------------------------------------------------

UNSCHEDULABLE = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                 "message": "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."}


def event(reason: str, message: str, at: str, kind: str = "Warning") -> dict[str, Any]:
    return {"type": kind, "reason": reason, "message": message, "lastTimestamp": at,
            "involvedObject": {"kind": "Pod", "name": "p", "uid": "u1"}}


def test_an_unschedulable_pod_says_what_the_scheduler_said() -> None:
    assert waiting_reason(pod("Pending", conditions=[UNSCHEDULABLE])) == (
        "unschedulable: 0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.")


@pytest.mark.parametrize("reason", ["ErrImagePull", "ImagePullBackOff", "CreateContainerConfigError"])
def test_a_container_stuck_waiting_names_itself_and_the_reason(reason: str) -> None:
    waiting = {"name": "step-build", "state": {"waiting": {"reason": reason, "message": "details here"}}}
    assert waiting_reason(pod("Pending", waiting)) == f"step-build: {reason}: details here"


def test_benign_waiting_is_not_a_reason_but_a_newer_warning_event_is() -> None:
    creating = {"name": "step-build", "state": {"waiting": {"reason": "ContainerCreating"}}}
    assert waiting_reason(pod("Pending", creating)) is None
    events = [event("FailedMount", "old", "2026-01-01T10:00:00Z"),
              event("FailedMount", 'MountVolume.SetUp failed for volume "ws-source"', "2026-01-01T10:00:09Z"),
              event("Scheduled", "assigned", "2026-01-01T10:00:10Z", kind="Normal")]
    assert waiting_reason(pod("Pending", creating), events) == (
        'FailedMount: MountVolume.SetUp failed for volume "ws-source"')


def test_a_finished_pod_is_never_waiting() -> None:
    assert waiting_reason(pod("Failed", conditions=[UNSCHEDULABLE])) is None


def test_image_problems_are_fatal_at_once_only_for_invalid_names() -> None:
    backoff = {"name": "step-build", "state": {"waiting": {"reason": "ImagePullBackOff", "message": "m"}}}
    invalid = {"name": "step-build", "state": {"waiting": {"reason": "InvalidImageName"}}}
    assert image_problem(pod("Pending", backoff)) == ("step-build", "ImagePullBackOff: m", False)
    assert image_problem(pod("Pending", invalid)) == ("step-build", "InvalidImageName", True)
    assert image_problem(pod("Running", {"name": "x", "state": {"running": {}}})) is None
