"""Re-attaching to a running Pod while its log is being followed, on the real node (KWOK serves no logs).

A step prints numbered lines for about six seconds. The first engine's executor follows its log into the real
``LogStore`` and is stopped mid-stream, either by detaching (a replica giving the run up) or by dying (its event
loop never runs again, as under SIGKILL). A second executor re-attaches to the same attempt's Pod and finishes:
the stored log must hold every line exactly once, in order, and the second engine must have written only the
lines the first had not stored (it continues after the resume point, engine/executors/kubernetes/logs.py).

The pure tests first: any stream cut anywhere and resumed from the point the writer marked gives the whole log
once, through the real ``StepLogWriter`` files; timestamps count to the nanosecond.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.k8s.cluster import Cluster
from tests.k8s.node import RealNode
from tests.k8s.test_executor import compile_text, resolved
from tests.k8s.test_executor_real_node import on_node
from wishstar.engine.compiler.types import RunContext
from wishstar.engine.executors.base import RunEnv
from wishstar.engine.executors.kubernetes import AttemptOptions, KubernetesConfig, KubernetesExecutor
from wishstar.engine.executors.kubernetes.errors import Detached
from wishstar.engine.executors.kubernetes.logs import TimestampedLines, since_time
from wishstar.engine.store.api import Store
from wishstar.engine.store.logs import LogStore, StepLogWriter, TaskLogSink

pytestmark = pytest.mark.timeout(600)

LINES = 30
PIPELINE = f"""
    name: logs
    tasks:
      count:
        script: |
          for i in $(seq 1 {LINES}); do echo line-$i; sleep 0.2; done
"""


# the kubelet's timestamps=true form: RFC 3339 with nanoseconds; lines 2 and 3 share a microsecond
KUBELET = (b"2026-01-01T10:00:00.100000001Z line-1\n"
           b"2026-01-01T10:00:00.200000100Z line-2 is longer\n"
           b"2026-01-01T10:00:00.200000900Z line-3\n"
           b"2026-01-01T10:00:01.5Z line-4 \xe2\x9c\x93\n"
           b"2026-01-01T10:00:02Z line-5 without a newline")
TEXT = b"line-1\nline-2 is longer\nline-3\nline-4 \xe2\x9c\x93\nline-5 without a newline"


def follow(path: Path, chunks: list[bytes], *, close: bool) -> str | None:
    """One engine: a writer on ``path`` that resumes from any marked point, fed ``chunks`` of the kubelet's
    stream (marking after each, as ``ContainerLog`` does); ``close=False`` is an engine killed mid-stream."""
    writer = StepLogWriter(path)
    lines = TimestampedLines(writer.write, writer.resume_point())
    for chunk in chunks:
        lines.feed(chunk)
        if lines.point is not None:
            writer.mark(lines.point)
    if close:
        lines.close()
        writer.close()
    return lines.point


@given(cut=st.integers(min_value=0, max_value=len(KUBELET)), step=st.integers(min_value=1, max_value=40),
       close=st.booleans())
def test_a_stream_cut_anywhere_and_resumed_from_the_marked_point_stores_every_byte_once(
        tmp_path_factory: pytest.TempPathFactory, cut: int, step: int, close: bool) -> None:
    path = tmp_path_factory.mktemp("resume") / "run.log"
    first = KUBELET[:cut]
    follow(path, [first[i:i + step] for i in range(0, len(first), step)], close=close)
    # the next stream starts at sinceTime, whole seconds: it repeats what was stored; here the whole log
    follow(path, [KUBELET[i:i + step] for i in range(0, len(KUBELET), step)], close=True)
    assert path.read_bytes() == TEXT


def test_sincetime_rounds_down_to_the_second_so_the_resumed_stream_repeats_rather_than_skips() -> None:
    assert since_time("2026-01-01T10:00:00.999999999Z") == "2026-01-01T10:00:00Z"


def test_timestamps_are_compared_to_the_nanosecond() -> None:
    out: list[bytes] = []
    lines = TimestampedLines(out.append, "2026-01-01T10:00:00.200000100Z")  # line-2 whole, not line-3
    lines.feed(KUBELET)
    assert b"".join(out).startswith(b"line-3\n")


def test_a_writer_without_a_marked_point_starts_the_file_again(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_bytes(b"from an engine that marked nothing\n")
    writer = StepLogWriter(path)
    assert writer.resume_point() is None
    writer.write(b"fresh\n")
    writer.close()
    assert path.read_bytes() == b"fresh\n"



def stored_lines(path: Path) -> list[str]:
    """The step's own lines (the engine's "wishstar: waiting: ..." lines left out)."""
    text = path.read_text() if path.exists() else ""
    return [line for line in text.splitlines() if not line.startswith("wishstar: ")]


async def until_stored(path: Path, line: str, timeout: float = 120) -> None:
    """Keep the event loop (and so the first engine's log stream) running until ``line`` is stored."""
    deadline = time.monotonic() + timeout
    while line not in stored_lines(path):
        if time.monotonic() > deadline:
            raise AssertionError(f"{line} never reached {path}: {stored_lines(path)}")
        await asyncio.sleep(0.05)


@pytest.mark.kubernetes
@pytest.mark.parametrize("how", ["detached", "died"])
def test_a_reattached_executor_stores_every_log_line_exactly_once_and_in_order(
        tmp_path: Path, cluster: Cluster, namespace: str, node: RealNode, how: str) -> None:
    store = Store.open(None, tmp_path)
    run_id, number = store.create_run("logs")
    ctx = RunContext(run_id=run_id, number=number, namespace=namespace, default_image=node.images["busybox"])
    plan = compile_text(PIPELINE, ctx)
    config = KubernetesConfig(namespace=namespace, kubeconfig=str(cluster.kubeconfig),
                              attempt=AttemptOptions(delete_grace_s=1, image_pull_grace_s=60))
    env = RunEnv(run_id, str(tmp_path / "run"), None, ())
    task = resolved(plan, run_id, "count")
    logs = LogStore(tmp_path)
    path = logs.step_path(run_id, "count", 1, plan.task("count").steps[0].name)

    first = KubernetesExecutor(on_node(plan, ctx, node), config)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(first.setup(env))
    first_sink = logs.sink(run_id, "count", 1)
    abandoned = loop.create_task(first.execute(task, first_sink))
    loop.run_until_complete(until_stored(path, "line-3"))
    if how == "detached":
        first.detach("test: this engine gives the run up")
        [ended] = loop.run_until_complete(asyncio.gather(abandoned, return_exceptions=True))
        assert isinstance(ended, Detached)
        loop.run_until_complete(first.teardown(env))  # detached: deletes nothing
        first_sink.close()
        loop.close()
    else:
        first.close()  # the first engine dies here: its loop never runs again, its files are not closed
    before = stored_lines(path)
    assert before[:3] == ["line-1", "line-2", "line-3"] and len(before) < LINES

    second = KubernetesExecutor(on_node(plan, ctx, node), config)

    async def reattach() -> tuple[str, bool | None]:
        await second.setup(env)
        sink = TaskLogSink(logs, run_id, "count", 1, tail_lines=LINES + 10)  # its tail: what it wrote
        running = asyncio.create_task(second.execute(task, sink))
        await asyncio.sleep(0.5)
        attached = second.attached(run_id, "count", 1)
        outcome = await running
        sink.close()
        await second.teardown(env)
        return outcome.status, attached, [line for line in sink.tail() if not line.startswith("wishstar: ")]

    status, attached, written = asyncio.run(reattach())
    assert (status, attached) == ("succeeded", True)
    every = [f"line-{i}" for i in range(1, LINES + 1)]
    assert stored_lines(path) == every
    assert written == every[len(before):]  # continued after the first engine's lines, not from the start
