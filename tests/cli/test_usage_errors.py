"""Every command answers a mistyped option or a missing argument with click's usage message and exit code 2,
never a traceback (whichever click typer ships: typer >= 0.29 vendors its own)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
import typer

from wishstar.cli.main import app, main


def _leaves(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subcommands = getattr(command, "commands", None)
    if subcommands:
        for name, sub in sorted(subcommands.items()):
            yield from _leaves(sub, (*path, name))
    else:
        yield path, command


COMMANDS = list(_leaves(typer.main.get_command(app)))
WITH_REQUIRED_ARGUMENT = [(path, cmd) for path, cmd in COMMANDS
                          if any(getattr(p, "required", False) and not getattr(p, "opts", [""])[0].startswith("-")
                                 for p in cmd.params)]


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["wishstar", *argv])
    with pytest.raises(SystemExit) as stop:
        main()
    captured = capsys.readouterr()
    return int(stop.value.code or 0), captured.out + captured.err


def test_the_cli_has_commands_to_check() -> None:
    assert len(COMMANDS) >= 16
    assert WITH_REQUIRED_ARGUMENT, "some command takes a required argument"


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=" ".join)
def test_a_mistyped_option_is_a_usage_error(path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, output = _run(monkeypatch, capsys, *path, "--no-such-option-here")
    assert code == 2, output
    assert f"Usage: wishstar {' '.join(path)}" in output
    assert "No such option: --no-such-option-here" in output
    assert "Traceback" not in output


@pytest.mark.parametrize("path", [p for p, _ in WITH_REQUIRED_ARGUMENT], ids=" ".join)
def test_a_missing_argument_is_a_usage_error(path: tuple[str, ...], monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code, output = _run(monkeypatch, capsys, *path)
    assert code == 2, output
    assert f"Usage: wishstar {' '.join(path)}" in output
    assert "Missing argument" in output
    assert "Traceback" not in output
