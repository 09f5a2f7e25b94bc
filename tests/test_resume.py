"""Continuing a run from its stored rows (``engine.resume``): what a new engine process starts from."""

from __future__ import annotations

import textwrap

from wishstar.engine.compiler.build import compile_pipeline
from wishstar.engine.compiler.placement import apply_placement
from wishstar.engine.compiler.types import Plan, RunContext
from wishstar.engine.records import RunRecord, StepRecord, TaskRecord
from wishstar.engine.resume import merged_exit_codes, resume_state
from wishstar.engine.spec.validate import validate_text
from wishstar.engine.status import TaskStatus

PIPELINE = """
    name: p
    tasks:
      build: {script: make}
      test: {needs: [build], script: make test}
      lint: {script: make lint}
"""


def plan(text: str = PIPELINE) -> Plan:
    pipeline, _ = validate_text(textwrap.dedent(text), ".wishstar.yaml", lambda t: None, [])
    return compile_pipeline(pipeline, RunContext(run_id="r1"), lambda n, w: None)  # type: ignore[arg-type,return-value]


START = 1795600800.0  # 2026-11-25T10:00:00Z


def row(name: str, status: TaskStatus, attempts: int = 1, steps: tuple[StepRecord, ...] = ()) -> TaskRecord:
    return TaskRecord(name=name, base=name, is_finally=False, status=status, attempts=attempts, reason=None,
                      exit_code=0, results={"tag": "1"} if status == "succeeded" else {}, started_at=START,
                      finished_at=START + 5 if status in ("succeeded", "failed") else None, position=0,
                      steps=steps)


def run_of(*tasks: TaskRecord, started_at: float | None = START) -> RunRecord:
    return RunRecord(id="r1", pipeline="p", number=1, status="running", reason=None, event="push", branch=None,
                     git={}, created_at=START, started_at=started_at, finished_at=None, params={}, tasks=tasks)


def step(name: str, exit_code: int) -> StepRecord:
    return StepRecord(task="build+test", attempt=1, name=name, position=0, exit_code=exit_code, started_at=None,
                      finished_at=None, log_path=None, truncated=False, bytes=0)


RUN = run_of(row("build", "succeeded"), row("test", "running", attempts=2))


def test_finished_tasks_keep_their_stored_state_and_unseen_ones_are_pending() -> None:
    state = resume_state(plan(), RUN, now=0.0)
    assert (state.task("build").status, state.task("build").results) == ("succeeded", {"tag": "1"})
    assert state.task("lint").status == "pending" and state.task("lint").attempts == 0


def test_a_running_task_is_started_again_as_a_new_attempt_when_its_process_died_with_the_engine() -> None:
    test = resume_state(plan(), RUN, now=0.0).task("test")
    assert (test.status, test.attempts) == ("pending", 2)  # the next start is attempt 3
    assert test.reason == "engine restarted: attempt 2 was interrupted; running it again as attempt 3"


def test_with_reattach_a_running_task_starts_the_same_attempt_again_to_find_its_pod() -> None:
    test = resume_state(plan(), RUN, now=0.0, reattach=True).task("test")
    assert (test.status, test.attempts) == ("pending", 1)  # the next start is attempt 2 again
    assert "re-attaching to the Pod of attempt 2" in (test.reason or "")


def test_a_merged_chain_that_ended_gives_its_last_attempts_step_exit_codes() -> None:
    placed = apply_placement(plan(PIPELINE.replace("name: p", "name: p\n    placement: one-pod")))
    merged = next(t for t in placed.all_tasks() if t.members)
    assert (merged.name, [s.name for s in merged.steps]) == ("build+test", ["build.run", "test.run"])
    steps = (step("build.run", 0), step("test.run", 2))
    run = run_of(row(merged.name, "failed", steps=steps), row("lint", "running"))
    assert merged_exit_codes(placed, run) == {merged.name: {"build.run": 0, "test.run": 2}}
    assert merged_exit_codes(placed, run_of(row(merged.name, "running", steps=steps))) == {}
