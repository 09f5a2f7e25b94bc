"""The local executor runs steps in order, streams their output, and reads results (real processes)."""

from __future__ import annotations

import ast
import asyncio
import os
import stat
from pathlib import Path

import pytest

from tests.executors.support import RecordingSink, make_run, make_step, make_task
from wishstar.engine.executors.base import ResolvedTask, RunEnv, TaskOutcome
from wishstar.engine.executors.local import LocalExecutor
from wishstar.engine.executors.procs import CHUNK


def execute(task: ResolvedTask, run: RunEnv, sink: RecordingSink | None = None,
            executor: LocalExecutor | None = None) -> TaskOutcome:
    ex = executor or LocalExecutor()

    async def main() -> TaskOutcome:
        await ex.setup(run)
        return await ex.execute(task, sink if sink is not None else RecordingSink())

    return asyncio.run(main())


class TestOutput:
    def test_stdout_and_stderr_reach_the_sink_merged_in_order(self, tmp_path: Path) -> None:
        run, sink = make_run(tmp_path), RecordingSink()
        script = 'for i in $(seq 1 300); do echo "o$i"; echo "e$i" >&2; done'
        outcome = execute(make_task(run, make_step("s", script, tmp=tmp_path)), run, sink)
        assert outcome.status == "succeeded"
        assert sink.text("s") == "".join(f"o{i}\ne{i}\n" for i in range(1, 301))
        assert sink.steps["s"].closed

    def test_output_reaches_the_sink_while_the_step_still_runs(self, tmp_path: Path) -> None:
        release = tmp_path / "release"
        run = make_run(tmp_path)
        sink = RecordingSink(on_write=lambda data: release.touch() if b"first" in data else None)
        script = f'echo first\nwhile [ ! -e "{release}" ]; do sleep 0.01; done\necho second'
        outcome = execute(make_task(run, make_step("s", script, tmp=tmp_path, timeout_s=20)), run, sink)
        assert outcome.status == "succeeded", outcome.reason
        assert sink.text("s") == "first\nsecond\n"

    def test_large_output_arrives_in_bounded_chunks(self, tmp_path: Path) -> None:
        run, sink = make_run(tmp_path), RecordingSink()
        execute(make_task(run, make_step("s", "head -c 3000000 /dev/zero", tmp=tmp_path)), run, sink)
        chunks = sink.steps["s"].chunks
        assert sum(map(len, chunks)) == 3_000_000
        assert max(map(len, chunks)) <= CHUNK

    def test_each_step_gets_its_own_log(self, tmp_path: Path) -> None:
        run, sink = make_run(tmp_path), RecordingSink()
        task = make_task(run, make_step("a", "echo A", tmp=tmp_path), make_step("b", "echo B", tmp=tmp_path))
        execute(task, run, sink)
        assert (sink.text("a"), sink.text("b")) == ("A\n", "B\n")


class TestEnvironment:
    def test_a_command_sees_exactly_the_given_env(self, tmp_path: Path) -> None:
        run, sink = make_run(tmp_path), RecordingSink()
        env = {"PATH": "/usr/bin:/bin", "ONLY_THIS": "yes"}
        step = make_step("s", command=("/usr/bin/env",), env=env, tmp=tmp_path)
        execute(make_task(run, step), run, sink)
        assert sorted(sink.text("s").splitlines()) == ["ONLY_THIS=yes", "PATH=/usr/bin:/bin"]

    def test_the_parent_environment_does_not_leak_into_a_script(self, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("WISHSTAR_TEST_PARENT_SECRET", "leaked")
        run, sink = make_run(tmp_path), RecordingSink()
        execute(make_task(run, make_step("s", 'echo "[${WISHSTAR_TEST_PARENT_SECRET-unset}]"', tmp=tmp_path)),
                run, sink)
        assert sink.text("s") == "[unset]\n"

    def test_a_missing_working_dir_is_created_and_used(self, tmp_path: Path) -> None:
        run, sink = make_run(tmp_path), RecordingSink()
        workdir = tmp_path / "deep" / "work"
        execute(make_task(run, make_step("s", "pwd", working_dir=str(workdir))), run, sink)
        assert sink.text("s") == f"{workdir}\n"

    def test_stdin_is_empty(self, tmp_path: Path) -> None:
        run, sink = make_run(tmp_path), RecordingSink()
        execute(make_task(run, make_step("s", "wc -c", tmp=tmp_path)), run, sink)
        assert sink.text("s").strip() == "0"


class TestStepFailure:
    def test_a_failing_step_fails_the_task_and_skips_the_next(self, tmp_path: Path) -> None:
        run, marker = make_run(tmp_path), tmp_path / "ran"
        task = make_task(run, make_step("build", "exit 2", tmp=tmp_path),
                         make_step("after", f'touch "{marker}"', tmp=tmp_path))
        outcome = execute(task, run)
        assert (outcome.status, outcome.exit_code) == ("failed", 2)
        assert outcome.reason == "step build exited with 2"
        assert not marker.exists()
        assert [(s.name, s.exit_code, s.reason) for s in outcome.steps] == [
            ("build", 2, "step build exited with 2"), ("after", None, "skipped")]

    def test_scripts_stop_at_the_first_failing_command(self, tmp_path: Path) -> None:
        run, sink = make_run(tmp_path), RecordingSink()
        outcome = execute(make_task(run, make_step("s", "false\necho not-reached", tmp=tmp_path)), run, sink)
        assert outcome.status == "failed" and sink.text("s") == ""

    def test_on_error_continue_runs_the_next_step_and_the_task_succeeds(self, tmp_path: Path) -> None:
        run, marker = make_run(tmp_path), tmp_path / "ran"
        task = make_task(run, make_step("lint", "exit 3", tmp=tmp_path, on_error="continue"),
                         make_step("after", f'touch "{marker}"', tmp=tmp_path))
        outcome = execute(task, run)
        assert outcome.status == "succeeded" and marker.exists()
        assert [s.exit_code for s in outcome.steps] == [3, 0]

    def test_death_by_signal_reads_as_128_plus_the_signal(self, tmp_path: Path) -> None:
        run = make_run(tmp_path)
        outcome = execute(make_task(run, make_step("s", "kill -9 $$", tmp=tmp_path)), run)
        assert (outcome.exit_code, outcome.reason) == (137, "step s was killed by SIGKILL")

    def test_an_unknown_command_fails_with_127(self, tmp_path: Path) -> None:
        run, sink = make_run(tmp_path), RecordingSink()
        step = make_step("s", command=("no-such-command-wishstar",), tmp=tmp_path)
        outcome = execute(make_task(run, step), run, sink)
        assert (outcome.status, outcome.exit_code) == ("failed", 127)
        assert outcome.reason == "step s: command not found: no-such-command-wishstar"
        assert "command not found" in sink.text("s")

    def test_a_step_without_script_or_command_fails_clearly(self, tmp_path: Path) -> None:
        run = make_run(tmp_path)
        outcome = execute(make_task(run, make_step("s", tmp=tmp_path)), run)
        assert outcome.reason == "step s has neither a script nor a command to run locally"


class TestResults:
    def test_results_are_read_with_one_trailing_newline_dropped(self, tmp_path: Path) -> None:
        run = make_run(tmp_path)
        results = f"{run.run_dir}/results/t/1"
        script = f'printf "1.2.3\\n" > "{results}/version"\nprintf "a\\n\\n" > "{results}/notes"'
        task = make_task(run, make_step("s", script, tmp=tmp_path), results=("version", "notes"))
        outcome = execute(task, run)
        assert outcome.status == "succeeded"
        assert outcome.results == {"version": "1.2.3", "notes": "a\n"}

    def test_a_result_not_written_fails_a_successful_task(self, tmp_path: Path) -> None:
        run = make_run(tmp_path)
        outcome = execute(make_task(run, make_step("s", "true", tmp=tmp_path), results=("digest",)), run)
        assert (outcome.status, outcome.reason) == ("failed", 'result "digest" was not written')

    def test_a_result_not_written_by_a_failed_task_keeps_the_step_reason(self, tmp_path: Path) -> None:
        run = make_run(tmp_path)
        outcome = execute(make_task(run, make_step("s", "exit 4", tmp=tmp_path), results=("digest",)), run)
        assert (outcome.reason, outcome.results) == ("step s exited with 4", {})

    def test_a_result_over_the_cap_fails_the_task(self, tmp_path: Path) -> None:
        run = make_run(tmp_path)
        script = f'head -c 11 /dev/zero > "{run.run_dir}/results/t/1/big"'
        task = make_task(run, make_step("s", script, tmp=tmp_path), results=("big",))
        outcome = execute(task, run, executor=LocalExecutor(result_cap=10))
        assert outcome.status == "failed"
        assert outcome.reason == 'result "big" is larger than the 10 bytes limit'

    def test_the_results_dir_exists_before_the_first_step_when_results_are_declared(self,
                                                                                   tmp_path: Path) -> None:
        run = make_run(tmp_path)
        step = make_step("s", f'test -d "{run.run_dir}/results/t/1"\necho ok > "{run.run_dir}/results/t/1/r"',
                         tmp=tmp_path)
        outcome = execute(make_task(run, step, results=("r",)), run)
        assert outcome.status == "succeeded", outcome.reason


class TestScripts:
    def test_a_script_runs_from_a_0700_file_under_the_run_dir_never_with_dash_c(self, tmp_path: Path) -> None:
        run, sink = make_run(tmp_path), RecordingSink()
        script = "tr '\\0' '\\n' < /proc/$$/cmdline"
        execute(make_task(run, make_step("build", script, tmp=tmp_path)), run, sink)
        shell, flag, path = sink.text("build").splitlines()
        assert (shell, flag, os.path.dirname(path)) == ("/bin/sh", "-e", f"{run.run_dir}/scripts")
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o700
        assert Path(path).read_text() == script

    def test_tasks_sharing_a_script_share_one_file_written_once(self, tmp_path: Path) -> None:
        run, ex = make_run(tmp_path), LocalExecutor()
        tasks = [make_task(run, make_step("s", "echo same", tmp=tmp_path), name=n) for n in ("a", "b")]

        async def main() -> list[int]:
            await ex.setup(run)
            mtimes = []
            for task in tasks:
                await ex.execute(task, RecordingSink())
                (script,) = Path(run.run_dir, "scripts").iterdir()
                mtimes.append(script.stat().st_mtime_ns)
            return mtimes

        first, second = asyncio.run(main())
        assert first == second

    def test_a_shebang_script_is_executed_directly(self, tmp_path: Path) -> None:
        run, sink = make_run(tmp_path), RecordingSink()
        script = "#!/usr/bin/env python3\nimport sys\nprint(sys.argv, 6 * 7)\n"
        outcome = execute(make_task(run, make_step("py", script, tmp=tmp_path)), run, sink)
        assert outcome.status == "succeeded", sink.text("py")
        argv, answer = sink.text("py").rsplit(" ", 1)
        (path,) = ast.literal_eval(argv)
        assert (os.path.dirname(path), answer) == (f"{run.run_dir}/scripts", "42\n")

    def test_a_command_runs_as_argv_without_a_shell(self, tmp_path: Path) -> None:
        run, sink = make_run(tmp_path), RecordingSink()
        step = make_step("s", command=("/bin/echo",), args=("$HOME", "a  b", "*"), tmp=tmp_path)
        execute(make_task(run, step), run, sink)
        assert sink.text("s") == "$HOME a  b *\n"


class TestLifecycle:
    def test_setup_creates_workspaces_and_is_repeatable(self, tmp_path: Path) -> None:
        run, ex = make_run(tmp_path, workspaces=("src", "cache")), LocalExecutor()

        async def main() -> None:
            await ex.setup(run)
            await ex.setup(run)

        asyncio.run(main())
        assert all(Path(ex.workspace_path(run, w)).is_dir() for w in ("src", "cache"))

    def test_teardown_removes_scripts_keeps_results_and_is_idempotent(self, tmp_path: Path) -> None:
        run, ex = make_run(tmp_path), LocalExecutor()
        task = make_task(run, make_step("s", f'echo v > "{run.run_dir}/results/t/1/r"', tmp=tmp_path),
                         results=("r",))

        async def main() -> TaskOutcome:
            await ex.setup(run)
            outcome = await ex.execute(task, RecordingSink())
            await ex.teardown(run)
            await ex.teardown(run)
            return outcome

        assert asyncio.run(main()).results == {"r": "v"}
        assert not Path(run.run_dir, "scripts").exists()
        assert Path(run.run_dir, "results/t/1/r").read_text() == "v\n"

    def test_execute_before_setup_is_a_programming_error(self, tmp_path: Path) -> None:
        run = make_run(tmp_path)
        with pytest.raises(RuntimeError, match="setup"):
            asyncio.run(LocalExecutor().execute(make_task(run, make_step("s", "true")), RecordingSink()))

    def test_step_times_come_from_the_injected_clock(self, tmp_path: Path) -> None:
        ticks = iter(range(100))
        run = make_run(tmp_path)
        outcome = execute(make_task(run, make_step("s", "true", tmp=tmp_path)), run,
                          executor=LocalExecutor(clock=lambda: float(next(ticks))))
        assert (outcome.steps[0].started_at, outcome.steps[0].finished_at) == (0.0, 1.0)



def test_a_scripts_args_arrive_as_positional_parameters(tmp_path: Path) -> None:
    run = make_run(tmp_path)
    sink = RecordingSink()
    step = make_step("s", 'printf "<%s>" "$@"', args=("-q", "two words"), tmp=tmp_path)
    outcome = execute(make_task(run, step), run, sink)
    assert outcome.status == "succeeded"
    assert sink.text("s") == "<-q><two words>"
