"""Hostile values (a branch name is user input) reach steps only as data, never as shell code."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.executors.support import PATH_ONLY, RecordingSink, make_run, make_step, make_task
from wishstar.engine.executors.base import ResolvedStep, RunEnv, TaskOutcome
from wishstar.engine.executors.local import LocalExecutor

HOSTILE = [
    ("semicolon_ifs", "x;touch${{IFS}}{marker}"),
    ("command_substitution", "$(touch {marker})"),
    ("backticks", "`touch {marker}`"),
    ("newline", "main\ntouch {marker}"),
    ("quote_breakout", "\"'; touch {marker}; echo '"),
]


def run_step(tmp: Path, step: ResolvedStep) -> tuple[TaskOutcome, RecordingSink, RunEnv]:
    run, sink, ex = make_run(tmp), RecordingSink(), LocalExecutor()

    async def main() -> TaskOutcome:
        await ex.setup(run)
        return await ex.execute(make_task(run, step), sink)

    return asyncio.run(main()), sink, run


@pytest.mark.parametrize("template", [t for _, t in HOSTILE], ids=[i for i, _ in HOSTILE])
class TestHostileValues:
    def test_a_hostile_branch_in_env_is_echoed_not_executed(self, tmp_path: Path, template: str) -> None:
        marker = tmp_path / "pwned"
        value = template.format(marker=marker)
        step = make_step("s", 'echo "$WISHSTAR_GIT_BRANCH"', env={**PATH_ONLY, "WISHSTAR_GIT_BRANCH": value},
                         tmp=tmp_path)
        outcome, sink, _ = run_step(tmp_path, step)
        assert outcome.status == "succeeded"
        assert sink.text("s") == value + "\n"
        assert not marker.exists()

    def test_a_hostile_arg_of_a_command_stays_one_argument(self, tmp_path: Path, template: str) -> None:
        marker = tmp_path / "pwned"
        value = template.format(marker=marker)
        step = make_step("s", command=("/bin/echo",), args=(value,), tmp=tmp_path)
        _outcome, sink, _ = run_step(tmp_path, step)
        assert sink.text("s") == value + "\n"
        assert not marker.exists()


def test_the_script_file_is_run_by_path_and_its_text_is_on_no_command_line(tmp_path: Path) -> None:
    needle = "wishstar-needle-7f3a"
    script = f'# {needle}\nfor f in /proc/[0-9]*/cmdline; do {{ tr "\\0" " " < "$f"; }} 2>/dev/null || true; echo; done'
    outcome, sink, run = run_step(tmp_path, make_step("s", script, tmp=tmp_path))
    assert outcome.status == "succeeded"
    command_lines = sink.text("s").splitlines()
    assert any(line.startswith(f"/bin/sh -e {run.run_dir}/scripts/") for line in command_lines)
    assert not any(needle in line for line in command_lines)
    assert not any(" -c " in line and f"{run.run_dir}/scripts" in line for line in command_lines)
