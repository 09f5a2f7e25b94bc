"""Builders and a recording log sink shared by the executor tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from wishstar.engine.compiler.types import OnError
from wishstar.engine.executors.base import ResolvedStep, ResolvedTask, RunEnv

PATH_ONLY = {"PATH": "/usr/local/bin:/usr/bin:/bin"}


class RecordingWriter:
    def __init__(self, on_write: Callable[[bytes], None] | None = None) -> None:
        self.chunks: list[bytes] = []
        self.closed = False
        self._on_write = on_write

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.chunks.append(data)
        if self._on_write is not None:
            self._on_write(data)

    def close(self) -> None:
        self.closed = True

    @property
    def text(self) -> str:
        return b"".join(self.chunks).decode()


class RecordingSink:
    """Keeps every chunk per step; ``on_write`` lets a test react while a step still runs."""

    def __init__(self, on_write: Callable[[bytes], None] | None = None) -> None:
        self.steps: dict[str, RecordingWriter] = {}
        self._on_write = on_write

    def open_step(self, step: str) -> RecordingWriter:
        assert step not in self.steps, f"step {step} opened twice"
        self.steps[step] = RecordingWriter(self._on_write)
        return self.steps[step]

    def text(self, step: str) -> str:
        return self.steps[step].text


def make_step(name: str = "s", script: str | None = None, *, command: tuple[str, ...] | None = None,
              args: tuple[str, ...] = (), env: Mapping[str, str] | None = None,
              working_dir: str | None = None,
              timeout_s: float | None = None, on_error: OnError = "stopAndFail",
              tmp: Path | None = None) -> ResolvedStep:
    workdir = working_dir or str(tmp or Path("/tmp"))
    return ResolvedStep(name=name, image=None, script=script, command=command, args=args,
                        env=dict(PATH_ONLY if env is None else env), working_dir=workdir, timeout_s=timeout_s,
                        on_error=on_error)


def make_run(tmp: Path, run_id: str = "r1", workspaces: tuple[str, ...] = ()) -> RunEnv:
    return RunEnv(run_id=run_id, run_dir=str(tmp / "run"), checkout_dir=None, workspaces=workspaces)


def make_task(run: RunEnv, *steps: ResolvedStep, name: str = "t", attempt: int = 1,
              results: tuple[str, ...] = (), timeout_s: float | None = None) -> ResolvedTask:
    return ResolvedTask(run_id=run.run_id, name=name, attempt=attempt, steps=steps, results=results,
                        results_dir=f"{run.run_dir}/results/{name}/{attempt}", timeout_s=timeout_s)


def process_gone(pid: int) -> bool:
    """Dead: no /proc entry, or a zombie (orphans may stay zombies where PID 1 does not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except FileNotFoundError:
        return True
    return stat[stat.rfind(b")") + 2:].split()[0] in (b"Z", b"X")


async def wait_for_file(path: Path, timeout_s: float = 10.0) -> str:
    """Wait until a step has written ``path`` (a real process: there is no clock to inject)."""
    async with asyncio.timeout(timeout_s):
        while not path.exists() or not path.read_text().endswith("\n"):
            await asyncio.sleep(0.005)
    return path.read_text()


def kill_quietly(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, 9)
