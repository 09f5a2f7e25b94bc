"""Benchmark 1, engine side: how much does Wishstar add to running a DAG of no-op processes?

For each shape (``wide``: 200 independent tasks, ``chain``: 200 tasks chained by ``needs``, ``diamond``:
layers of 1 and 49 tasks, each needing the whole layer before) the same graph as
``bench/overhead_baseline.py`` is written as a ``.wishstar.yaml`` (every task ``script: "true"``) into a
temporary git repository (gitpython: init, commit) and run three ways, interleaved, ``--repeat`` times:

- ``baseline``: ``overhead_baseline.run_baseline(shape, n, concurrency)``, a bare Popen/os.wait loop;
- ``engine``: ``cli.run_cmd.execute(RunRequest(..., progress=False))`` in this process, i.e. the code path
  of ``wishstar run`` (clone, validate, compile, SQLite store in a temporary state dir, Runner +
  LocalExecutor). Two clocks: ``engine`` is ``Runner.run()`` from its first line to its return (the engine
  proper), ``execute`` is the whole ``execute()`` call (adds checkout, validation, compile, run record);
- ``cli``: the ``wishstar run REPO --no-progress`` subprocess, wall time (adds interpreter start-up and
  imports).

Medians are reported with the ratio to the baseline median measured in the same process run. The target is
``engine / baseline <= 1.2`` on every shape. No timing is asserted anywhere: this prints numbers.

    .venv/bin/python bench/overhead.py [--tasks 200] [--repeat 5] [--shapes wide,chain,diamond] [--json]
    .venv/bin/python bench/overhead.py --profile chain      # cProfile of one in-process engine run
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import git

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from overhead_baseline import SHAPES, run_baseline, shape_edges, task_names  # noqa: E402

import wishstar.cli.run_cmd as run_cmd  # noqa: E402
from wishstar.engine.runner import Runner  # noqa: E402
from wishstar.engine.store.api import Store  # noqa: E402
from wishstar.pipelines.settings import Settings  # noqa: E402
from wishstar.tasks import Library  # noqa: E402


def pipeline_yaml(shape: str, n: int) -> str:
    """The DAG of ``shape`` as a pipeline file: every task runs the script ``true``."""
    needs: dict[str, list[str]] = {name: [] for name in task_names(n)}
    for source, target in shape_edges(shape, n):
        needs[target].append(source)
    lines = [f"name: overhead-{shape}", "tasks:"]
    for name, deps in needs.items():
        lines.append(f"  {name}:")
        lines.append('    script: "true"')
        if deps:
            lines.append(f"    needs: [{', '.join(deps)}]")
    return "\n".join(lines) + "\n"


def make_repo(path: Path, text: str) -> Path:
    path.mkdir(parents=True)
    repo = git.Repo.init(path, initial_branch="main")
    (path / ".wishstar.yaml").write_text(text)
    repo.index.add([".wishstar.yaml"])
    author = git.Actor("Bench", "bench@example.com")
    repo.index.commit("bench pipeline", author=author, committer=author)
    return path


class _TimedRunner(Runner):
    """``Runner`` whose ``run()`` records its own duration: the engine clock, from start to finish."""

    last: float = 0.0

    async def run(self, start=None):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        try:
            return await super().run(start)
        finally:
            _TimedRunner.last = time.perf_counter() - began


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """``execute`` prints a run header on stderr (rich console); keep the report readable."""
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def run_in_process(repo: Path, state_dir: Path, concurrency: int) -> tuple[float, float]:
    """(engine seconds, execute seconds) for one ``wishstar run`` done in this process."""
    cfg = Settings(state_dir=state_dir, concurrency=concurrency)
    req = run_cmd.RunRequest(source=str(repo), progress=False, concurrency=concurrency)
    original = run_cmd.Runner
    run_cmd.Runner = _TimedRunner  # type: ignore[misc]
    try:
        with Store.open(None, state_dir) as store, _quiet_stderr():
            began = time.perf_counter()
            _, status = run_cmd.execute(req, cfg, store, Library())
            whole = time.perf_counter() - began
    finally:
        run_cmd.Runner = original  # type: ignore[misc]
    if status != "succeeded":
        raise RuntimeError(f"engine run ended {status}")
    return _TimedRunner.last, whole


def run_cli(repo: Path, state_dir: Path, concurrency: int) -> float:
    exe = str(Path(sys.executable).parent / "wishstar")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHSTAR_")}
    argv = [exe, "run", str(repo), "--no-progress", "--state-dir", str(state_dir),
            "--concurrency", str(concurrency)]
    began = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"wishstar run exited {proc.returncode}: {proc.stderr[-2000:]}")
    return took


def measure(shapes: list[str], n: int, repeat: int, concurrency: int, cli: bool) -> dict[str, dict[str, list[float]]]:
    samples: dict[str, dict[str, list[float]]] = {
        s: {"baseline": [], "engine": [], "execute": [], "cli": []} for s in shapes}
    with tempfile.TemporaryDirectory(prefix="wishstar-overhead-") as tmp:
        root = Path(tmp)
        repos = {s: make_repo(root / f"repo-{s}", pipeline_yaml(s, n)) for s in shapes}
        states = {s: root / f"state-{s}" for s in shapes}
        for s in shapes:  # warm-up: migrate the store, import everything, fill the page cache
            Store.open(None, states[s]).close()
            run_in_process(repos[s], states[s], concurrency)
            run_baseline(s, n, concurrency)
        for i in range(repeat):
            for s in shapes:
                samples[s]["baseline"].append(run_baseline(s, n, concurrency))
                engine, whole = run_in_process(repos[s], states[s], concurrency)
                samples[s]["engine"].append(engine)
                samples[s]["execute"].append(whole)
                if cli:
                    samples[s]["cli"].append(run_cli(repos[s], states[s], concurrency))
            print(f"  round {i + 1}/{repeat} done", file=sys.stderr)
    return samples


def report(samples: dict[str, dict[str, list[float]]], n: int, concurrency: int) -> dict[str, dict[str, float]]:
    print(f"tasks={n} concurrency={concurrency} cpus={os.cpu_count()} python={sys.version.split()[0]}")
    header = (f"{'shape':8} {'baseline':>9} {'engine':>9} {'ratio':>6} {'execute':>9} {'ratio':>6} "
              f"{'cli':>9} {'ratio':>6}")
    print(header)
    summary: dict[str, dict[str, float]] = {}
    for shape, kinds in samples.items():
        med = {k: statistics.median(v) for k, v in kinds.items() if v}
        base = med["baseline"]
        row = {**med, **{f"{k}_ratio": med[k] / base for k in ("engine", "execute", "cli") if k in med}}
        summary[shape] = row
        cli = f"{med['cli']:9.3f} {med['cli'] / base:6.2f}" if "cli" in med else f"{'-':>9} {'-':>6}"
        print(f"{shape:8} {base:9.3f} {med['engine']:9.3f} {med['engine'] / base:6.2f} "
              f"{med['execute']:9.3f} {med['execute'] / base:6.2f} {cli}")
    print("medians in seconds; ratio = median / baseline median; engine = Runner.run(), "
          "execute = cli.run_cmd.execute() in-process, cli = `wishstar run` subprocess wall time")
    return summary


def profile(shape: str, n: int, concurrency: int, sort: str, limit: int) -> None:
    with tempfile.TemporaryDirectory(prefix="wishstar-overhead-") as tmp:
        root = Path(tmp)
        repo = make_repo(root / "repo", pipeline_yaml(shape, n))
        state = root / "state"
        run_in_process(repo, state, concurrency)  # warm-up
        prof = cProfile.Profile()
        original: Callable[..., object] = _TimedRunner.run

        async def profiled(self, start=None):  # type: ignore[no-untyped-def]
            prof.enable()
            try:
                return await original(self, start)
            finally:
                prof.disable()

        _TimedRunner.run = profiled  # type: ignore[method-assign]
        try:
            engine, whole = run_in_process(repo, state, concurrency)
        finally:
            _TimedRunner.run = original  # type: ignore[method-assign]
        print(f"{shape}: engine {engine:.3f}s (under cProfile), execute {whole:.3f}s, "
              f"baseline {run_baseline(shape, n, concurrency):.3f}s")
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(sort).print_stats(limit)
        print(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--no-cli", action="store_true", help="skip the `wishstar run` subprocess")
    parser.add_argument("--json", action="store_true", help="also print the medians as JSON")
    parser.add_argument("--profile", choices=SHAPES, help="cProfile one engine run of this shape instead")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.profile, args.tasks, args.concurrency, args.sort, args.limit)
        return 0
    shapes = [s for s in args.shapes.split(",") if s]
    samples = measure(shapes, args.tasks, args.repeat, args.concurrency, not args.no_cli)
    summary = report(samples, args.tasks, args.concurrency)
    if args.json:
        print(json.dumps({"tasks": args.tasks, "concurrency": args.concurrency, "samples": samples,
                          "medians": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
