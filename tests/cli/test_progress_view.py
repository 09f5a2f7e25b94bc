"""The live view: every task with its state and duration, and the tail of running tasks' logs."""

from __future__ import annotations

import io
import textwrap

from rich.console import Console

from wishstar.cli.progress import ProgressView, render
from wishstar.engine.compiler.build import compile_pipeline
from wishstar.engine.compiler.types import RunContext
from wishstar.engine.runner import Snapshot
from wishstar.engine.scheduler.decide import initial_state
from wishstar.engine.spec.validate import validate_text

PIPELINE = textwrap.dedent("""
    name: view
    tasks:
      build:
        script: make
      test:
        needs: [build]
        script: make test
    finally:
      report:
        script: echo done
""")


def _plan():
    pipeline, _ = validate_text(PIPELINE, "p.yaml", lambda t: None, [])
    return compile_pipeline(pipeline, RunContext(), lambda n, w: None)  # type: ignore[arg-type,return-value]


def _text(renderable) -> str:
    buffer = io.StringIO()
    Console(file=buffer, width=120, color_system=None).print(renderable)
    return buffer.getvalue()


def test_the_view_shows_states_durations_layers_and_the_running_tail():
    plan = _plan()
    state = initial_state(plan, now=100.0)
    state = state.with_task("build", status="running", attempts=1, started_at=100.0)
    text = _text(render(plan, Snapshot(state, {"build": ["compiling a.c", "compiling b.c"]}, now=112.0)))
    assert "build" in text and "running" in text and "12s" in text
    assert "test" in text and "pending" in text and "finally" in text
    assert "compiling b.c" in text


def test_without_a_terminal_the_view_prints_one_line_per_change():
    plan = _plan()
    buffer = io.StringIO()
    view = ProgressView(plan, Console(file=buffer, width=120, color_system=None))
    state = initial_state(plan, now=0.0)
    view(Snapshot(state, {}, now=0.0))
    state = state.with_task("build", status="running", attempts=1, started_at=0.0)
    view(Snapshot(state, {}, now=0.5))
    view(Snapshot(state, {}, now=0.7))
    state = state.with_task("build", status="failed", finished_at=2.0, reason="step run exited with 2")
    view(Snapshot(state, {}, now=2.0))
    lines = buffer.getvalue().splitlines()
    assert lines == ["▶ build running", "✗ build failed in 2.0s (step run exited with 2)"]
