"""The step entrypoint, run for real with /bin/sh: steps start together, run in order, stop after a failure,
record exit codes and hand results back as JSON in the last termination message."""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from wishstar.engine.compiler.entrypoint import entrypoint_args
from wishstar.steps import entrypoint


@dataclass(frozen=True)
class Step:
    name: str
    script: str | None = None
    argv: tuple[str, ...] = ()
    on_error: str = "stopAndFail"
    timeout_s: float | None = None


@dataclass(frozen=True)
class Outcome:
    exit_codes: list[int]
    recorded: list[str]
    messages: list[str]
    stderr: list[str]

    def message(self, index: int) -> dict[str, object]:
        value = json.loads(self.messages[index])
        assert isinstance(value, dict)
        return value


def run_pod(
    tmp_path: Path,
    steps: list[Step],
    results: tuple[str, ...] = (),
    limit: int = 4096,
    extra_env: dict[str, str] | None = None,
) -> Outcome:
    """Start every step at once, as Kubernetes starts a Pod's containers, each with its own message file."""
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "entrypoint").write_text(entrypoint())
    env = {
        **os.environ,
        "WISHSTAR_RUN_DIR": str(tmp_path / "run"),
        "WISHSTAR_RESULTS_DIR": str(tmp_path / "results"),
        **(extra_env or {}),
    }
    procs = []
    for index, step in enumerate(reversed(steps)):
        index = len(steps) - 1 - index  # start the last first: order must come from the entrypoint alone
        script_path = None
        if step.script is not None:
            path = scripts / f"step-{index}"
            path.write_text(step.script)
            path.chmod(0o555)
            script_path = str(path)
        args = entrypoint_args(
            index=index,
            name=step.name,
            timeout_s=step.timeout_s,
            on_error=step.on_error,
            script_path=script_path,
            argv=step.argv,
            last_results=results if index == len(steps) - 1 else None,
            limit=limit,
        )
        log = tmp_path / f"termination-log-{index}"
        procs.append(
            (
                index,
                subprocess.Popen(
                    ["/bin/sh", str(scripts / "entrypoint"), *args],
                    cwd=tmp_path,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env={**env, "WISHSTAR_TERMINATION_LOG": str(log)},
                    text=True,
                ),
            )
        )
    outcome: dict[int, tuple[int, str]] = {}
    for index, proc in procs:
        _, err = proc.communicate(timeout=60)
        outcome[index] = (proc.returncode, err)
    order = range(len(steps))
    return Outcome(
        exit_codes=[outcome[i][0] for i in order],
        recorded=[(tmp_path / "run" / str(i) / "exitCode").read_text().strip() for i in order],
        messages=[(tmp_path / f"termination-log-{i}").read_text() for i in order],
        stderr=[outcome[i][1] for i in order],
    )


def test_a_failing_step_stops_the_following_ones_and_every_exit_code_is_recorded(tmp_path: Path) -> None:
    outcome = run_pod(
        tmp_path,
        [
            Step("first", script="echo one >> order\n"),
            Step("second", script="echo two >> order\nexit 3\necho never >> order\n"),
            Step("third", script="echo three >> order\n"),
        ],
        results=("r",),
    )
    assert (tmp_path / "order").read_text() == "one\ntwo\n"
    assert outcome.exit_codes == [0, 3, 0]
    assert outcome.recorded == ["0", "3", "skipped"]
    assert [outcome.message(i) for i in range(3)] == [{"exitCode": 0}, {"exitCode": 3}, {"skipped": True}]
    assert "step third skipped: step second failed" in outcome.stderr[2]


def test_steps_run_in_order_and_the_last_one_reports_results_as_json(tmp_path: Path) -> None:
    tricky = 'say "hi"\\n\tback\\slash ünïcödé\r\nsecond line'
    outcome = run_pod(
        tmp_path,
        [
            Step(
                "a",
                script=f"sleep 0.3; printf '%s' '{tricky}' > $WISHSTAR_RESULTS_DIR/text; echo a >> order\n",
            ),
            Step("b", script="printf 'v1.2.3\\n' > $WISHSTAR_RESULTS_DIR/tag; echo b >> order\n"),
            Step("c", script="echo undeclared > $WISHSTAR_RESULTS_DIR/other; echo c >> order\n"),
        ],
        results=("tag", "text", "missing"),
    )
    assert (tmp_path / "order").read_text() == "a\nb\nc\n"
    assert outcome.exit_codes == [0, 0, 0]
    assert outcome.message(2) == {"exitCode": 0, "results": {"tag": "v1.2.3\n", "text": tricky}}


def test_a_failing_continue_step_lets_the_task_go_on_and_succeed(tmp_path: Path) -> None:
    outcome = run_pod(
        tmp_path,
        [
            Step("lint", script="exit 7\n", on_error="continue"),
            Step("test", script="echo ran > ran\n"),
        ],
    )
    assert (tmp_path / "ran").exists()
    assert outcome.exit_codes == [0, 0]
    assert outcome.recorded == ["7", "0"]
    assert outcome.message(0) == {"exitCode": 7}


def test_scripts_run_with_sh_e_unless_they_have_a_shebang(tmp_path: Path) -> None:
    outcome = run_pod(
        tmp_path,
        [
            Step("plain", script="false\necho not-reached > plain\n", on_error="continue"),
            Step("shebang", script="#!/bin/sh\nfalse\necho reached > shebang\n"),
        ],
    )
    assert not (tmp_path / "plain").exists()
    assert (tmp_path / "shebang").read_text() == "reached\n"
    assert outcome.recorded == ["1", "0"]


def test_command_arguments_are_passed_as_argv_and_never_evaluated(tmp_path: Path) -> None:
    outcome = run_pod(
        tmp_path, [Step("cmd", argv=("sh", "-c", 'printf "%s" "$1" > arg', "sh", "$(touch pwned)"))]
    )
    assert outcome.exit_codes == [0]
    assert (tmp_path / "arg").read_text() == "$(touch pwned)"
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("mode", ["timeout", "kill"], ids=["timeout-command", "background-kill"])
def test_a_step_over_its_time_limit_is_stopped_with_exit_code_124(tmp_path: Path, mode: str) -> None:
    # exec: the background killer stops the step's own process; in a Pod its children die with the container
    # (the entrypoint is PID 1 there), but here they would outlive the test's pipes.
    started = time.monotonic()
    outcome = run_pod(
        tmp_path,
        [Step("slow", script="exec sleep 30\n", timeout_s=0.5), Step("next", script="true")],
        extra_env={"WISHSTAR_TIMEOUT_MODE": mode},
    )
    assert time.monotonic() - started < 20
    assert outcome.exit_codes == [124, 0]
    assert outcome.recorded == ["124", "skipped"]
    assert "stopped after its 1s time limit" in outcome.stderr[0]


def test_results_over_the_termination_message_limit_fail_the_task_clearly(tmp_path: Path) -> None:
    outcome = run_pod(
        tmp_path,
        [Step("big", script="head -c 5000 /dev/zero | tr '\\0' x > $WISHSTAR_RESULTS_DIR/blob\n")],
        results=("blob",),
        limit=4096,
    )
    assert outcome.exit_codes == [1]
    message = outcome.message(0)
    assert message["exitCode"] == 0
    assert "more than the 4096 bytes Kubernetes keeps" in str(message["error"])
    assert "task failed: results take" in outcome.stderr[0]


def test_a_timeout_command_that_lets_the_step_die_of_sigterm_still_reports_the_time_limit(tmp_path: Path) -> None:
    # busybox's `timeout` (the busybox image) returns the signal status (143) where GNU's returns 124
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "timeout"
    fake.write_text('#!/bin/sh\nlimit=$1; shift\n"$@" &\npid=$!\n( sleep "$limit"; kill -TERM "$pid" ) &\n'
                    'wait "$pid"\nexit $?\n')
    fake.chmod(0o755)
    outcome = run_pod(
        tmp_path,
        [Step("slow", script="exec sleep 30\n", timeout_s=0.5), Step("next", script="true")],
        extra_env={"PATH": f"{bin_dir}:{os.environ['PATH']}"},
    )
    assert outcome.exit_codes == [124, 0]
    assert outcome.recorded == ["124", "skipped"]
    assert "stopped after its 1s time limit" in outcome.stderr[0]
