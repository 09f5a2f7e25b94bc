"""Per-step overhead of the container executor (podman, docker) against the local executor.

One task of ``--steps`` no-op steps (``script: "true"``) is run by each executor in this process
(``ContainerExecutor.execute`` / ``LocalExecutor.execute`` with a recording sink, setup and teardown around
it), ``--repeat`` times, interleaved; the image is pulled before timing starts, so the figures are what each
further step costs: create, start, attach, exit, remove. A second figure per runtime is the bare CLI
(``podman run --rm IMAGE true``, in a loop), the floor the executor cannot go below.

podman runs with the tests' configuration (tests/executors/container_support.py); docker needs a daemon at
``DOCKER_HOST`` (start one as that module does, or pass ``--no-docker``). Prints medians; asserts nothing.

    .venv/bin/python bench/container_overhead.py [--steps 10] [--repeat 3] [--no-docker] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.executors.container_support import podman_engine
from tests.executors.support import RecordingSink
from wishstar.engine.executors.base import Executor, ResolvedStep, ResolvedTask, RunEnv
from wishstar.engine.executors.container import ContainerExecutor, find_runtime
from wishstar.engine.executors.local import LocalExecutor


def one_task(ex: Executor, steps: int, image: str | None, root: Path) -> float:
    """Seconds for one attempt of ``steps`` no-op steps, setup and teardown included."""
    run = RunEnv(run_id=f"b{time.monotonic_ns() % 10**11}", run_dir=str(root / "run"), checkout_dir=str(root))
    task = ResolvedTask(run_id=run.run_id, name="bench", attempt=1, results=(), results_dir=str(root / "results"),
                        steps=tuple(ResolvedStep(name=f"s{i}", image=image, script="true", command=None, args=(),
                                                 env={"PATH": "/usr/bin:/bin"}, working_dir=str(root), timeout_s=None)
                                    for i in range(steps)))

    async def go() -> float:
        await ex.setup(run)
        started = time.perf_counter()
        outcome = await ex.execute(task, RecordingSink())
        took = time.perf_counter() - started
        await ex.teardown(run)
        assert outcome.status == "succeeded", outcome
        return took

    return asyncio.run(go())


def bare_cli(kind: str, env: dict[str, str], image: str, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        subprocess.run([kind, "run", "--rm", "--network", "host", image, "true"], env=env, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-docker", action="store_true")
    parser.add_argument("--json", action="store_true")
    opts = parser.parse_args()
    podman = podman_engine()
    image = podman.image("busybox")
    runtimes = {"podman": {**os.environ, **podman.env}}
    if not opts.no_docker and os.environ.get("DOCKER_HOST"):
        runtimes["docker"] = dict(os.environ)
    executors: dict[str, tuple[Executor, str | None]] = {"local": (LocalExecutor(), None)}
    for kind, env in runtimes.items():
        runtime = find_runtime(kind, env, (podman.registry,))
        executors[kind] = (ContainerExecutor(runtime, default_image=image), image)
        subprocess.run([kind, "pull", "-q", *(["--tls-verify=false"] if kind == "podman" else []), image], env=env,
                       check=True, stdout=subprocess.DEVNULL)
    times: dict[str, list[float]] = {name: [] for name in executors}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(opts.repeat):
            for name, (ex, img) in executors.items():
                times[name].append(one_task(ex, opts.steps, img, Path(tmp)) / opts.steps)
        floors = {kind: bare_cli(kind, env, image, opts.steps) for kind, env in runtimes.items()}
    report = {name: {"per_step_ms": round(statistics.median(t) * 1000, 1)} for name, t in times.items()}
    for kind, floor in floors.items():
        report[kind]["bare_cli_ms"] = round(floor * 1000, 1)
        report[kind]["over_local_ms"] = round(report[kind]["per_step_ms"] - report["local"]["per_step_ms"], 1)
    if opts.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{opts.steps} no-op steps, median of {opts.repeat} rounds, per step:")
    for name, row in report.items():
        extra = (f"  (bare `{name} run --rm`: {row['bare_cli_ms']} ms; +{row['over_local_ms']} ms over local)"
                 if "bare_cli_ms" in row else "")
        print(f"  {name:7} {row['per_step_ms']:8.1f} ms{extra}")


if __name__ == "__main__":
    main()
