"""Benchmark 1, baseline side: how fast can a bare Python script run a DAG of no-op processes?

The engine must run the same DAG (200 tasks, each ``/bin/sh -e <file containing 'true'>``) within 1.2x of
this. The baseline is deliberately the lightest reasonable Python: ``subprocess.Popen`` to start, one
blocking ``os.wait()`` to learn which child ended, a ready-count per task, no event loop, no logs.
``shape_edges`` and ``task_names`` are shared with the engine side so both run the same graph.

It must not measure anything but spawning and waiting (the script file is written before the clock starts)
and must not import the engine.

    python bench/overhead_baseline.py --shape diamond --tasks 200 --concurrency 8 --repeat 5
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable

SHAPES = ("wide", "chain", "diamond")
DIAMOND_WIDTH = 49
"""Layers of a diamond alternate 1 and this many tasks: 1 -> 49 -> 1 -> 49 ... (200 = 4 x 50)."""


def task_names(n: int) -> list[str]:
    """``t000``, ``t001``, ...: the tasks of every shape, in a topological order."""
    width = max(3, len(str(n - 1)))
    return [f"t{i:0{width}d}" for i in range(n)]


def shape_layers(shape: str, n: int) -> list[list[str]]:
    """The tasks of ``shape`` grouped in layers; every task of a layer needs every task of the one before."""
    names = task_names(n)
    if shape == "wide":
        return [names] if names else []
    if shape == "chain":
        return [[name] for name in names]
    if shape == "diamond":
        layers: list[list[str]] = []
        i = 0
        while i < n:
            size = 1 if len(layers) % 2 == 0 else DIAMOND_WIDTH
            layers.append(names[i:i + size])
            i += size
        return layers
    raise ValueError(f"unknown shape {shape!r}; expected one of {', '.join(SHAPES)}")


def shape_edges(shape: str, n: int) -> list[tuple[str, str]]:
    """Edges ``(source, target)``: ``target`` needs ``source``. ``wide`` has none."""
    layers = shape_layers(shape, n)
    return [(a, b) for before, after in itertools.pairwise(layers) for a in before for b in after]


def run_dag(names: Iterable[str], edges: Iterable[tuple[str, str]], concurrency: int,
            start: Callable[[str], int], wait_any: Callable[[], int]) -> list[str]:
    """Start tasks in dependency order, at most ``concurrency`` at once. ``start(name)`` returns a pid and
    ``wait_any()`` the pid of a finished one. Returns the start order."""
    needs: dict[str, int] = {name: 0 for name in names}
    dependents: dict[str, list[str]] = {name: [] for name in needs}
    for source, target in edges:
        needs[target] += 1
        dependents[source].append(target)
    ready = deque(name for name, count in needs.items() if count == 0)
    running: dict[int, str] = {}
    order: list[str] = []
    while ready or running:
        while ready and len(running) < concurrency:
            name = ready.popleft()
            running[start(name)] = name
            order.append(name)
        finished = running.pop(wait_any())
        for target in dependents[finished]:
            needs[target] -= 1
            if needs[target] == 0:
                ready.append(target)
    return order


def run_baseline(shape: str, n_tasks: int = 200, concurrency: int | None = None) -> float:
    """Run the DAG with real ``/bin/sh -e <file>`` processes; return the wall time in seconds."""
    limit = concurrency or os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="wishstar-baseline-") as tmp:
        script = os.path.join(tmp, "noop")
        with open(script, "w") as f:
            f.write("true\n")
        children: dict[int, subprocess.Popen[bytes]] = {}

        def start(_name: str) -> int:
            child = subprocess.Popen(["/bin/sh", "-e", script], stdin=subprocess.DEVNULL)
            children[child.pid] = child
            return child.pid

        def wait_any() -> int:
            pid, status = os.wait()
            child = children.pop(pid)
            child.returncode = os.waitstatus_to_exitcode(status)
            if child.returncode != 0:
                raise RuntimeError(f"baseline task exited with {child.returncode}")
            return pid

        began = time.perf_counter()
        run_dag(task_names(n_tasks), shape_edges(shape, n_tasks), limit, start, wait_any)
        return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--shape", choices=SHAPES, default="wide")
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--repeat", type=int, default=1, help="runs; the best is printed last")
    args = parser.parse_args(argv)
    times = [run_baseline(args.shape, args.tasks, args.concurrency) for _ in range(args.repeat)]
    for t in times:
        print(f"{args.shape} tasks={args.tasks} concurrency={args.concurrency} wall={t:.4f}s")
    if len(times) > 1:
        print(f"best={min(times):.4f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
