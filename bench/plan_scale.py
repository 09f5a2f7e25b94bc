"""Benchmark 2: how validate + plan scale with the number of tasks.

Generates pipelines of 50, 500 and 5,000 tasks in two shapes and times, in this process (best of
``--repeat`` after one warm-up, each phase measured on its own):

- ``validate``: ``pipelines.load.validate`` (YAML parse with line numbers, structure, cross-field checks);
- ``compile``: ``pipelines.load.compile_run`` without manifests (the plan ``wishstar run`` executes);
- ``compile+manifests``: ``compile_run(..., manifests=True)`` (what ``wishstar plan --output json|yaml``
  builds: each task's ConfigMap and Pod);

and reports load+validate+compile in seconds with growth ratios time(500)/time(50) and
time(5000)/time(500) (10x more tasks: 10 means linear). Shapes:

- ``chain``: task i declares ``results: [out]`` and its script uses ``$(tasks.<i-1>.results.out)``, so every
  edge comes from a result reference (no ``needs``);
- ``wide``: independent tasks.

It also times ``wishstar plan FILE --output json > /dev/null`` as a subprocess for the largest size.
Targets: under 2 s for 5,000 tasks and near-linear growth. Nothing is asserted; this prints numbers.

    .venv/bin/python bench/plan_scale.py [--sizes 50,500,5000] [--repeat 3] [--profile chain:5000]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from wishstar.engine.compiler.types import RunContext  # noqa: E402
from wishstar.pipelines.load import compile_run, validate  # noqa: E402
from wishstar.tasks import Library  # noqa: E402

SHAPES = ("chain", "wide")


def names(n: int) -> list[str]:
    width = max(4, len(str(n - 1)))
    return [f"t{i:0{width}d}" for i in range(n)]


def pipeline_yaml(shape: str, n: int) -> str:
    lines = [f"name: scale-{shape}-{n}", "tasks:"]
    previous: str | None = None
    for name in names(n):
        lines.append(f"  {name}:")
        if shape == "chain":
            lines.append("    results: [out]")
            source = f"$(tasks.{previous}.results.out)" if previous else "start"
            lines.append(f'    script: "echo {source}-x > $(results.out.path)"')
        elif shape == "wide":
            lines.append(f'    script: "echo {name}"')
        else:
            raise ValueError(shape)
        previous = name
    return "\n".join(lines) + "\n"


def _best(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def measure(shape: str, n: int, repeat: int, library: Library) -> dict[str, float]:
    text = pipeline_yaml(shape, n)
    ctx = RunContext(run_id="bench", number=1)
    loaded = validate(text, "bench.yaml", library)
    plan = compile_run(loaded, ctx, library)
    assert len(plan.tasks) == n and len(plan.edges) == (n - 1 if shape == "chain" else 0), (len(plan.edges),)
    return {
        "bytes": float(len(text)),
        "validate": _best(lambda: validate(text, "bench.yaml", library), repeat),
        "compile": _best(lambda: compile_run(loaded, ctx, library), repeat),
        "manifests": _best(lambda: compile_run(loaded, ctx, library, manifests=True), repeat),
    }


def time_cli_plan(shape: str, n: int, repeat: int) -> float:
    exe = str(Path(sys.executable).parent / "wishstar")
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISHSTAR_")}
    times = []
    with tempfile.TemporaryDirectory(prefix="wishstar-plan-") as tmp:
        path = Path(tmp) / ".wishstar.yaml"
        path.write_text(pipeline_yaml(shape, n))
        env["WISHSTAR_STATE_DIR"] = str(Path(tmp) / "state")
        for _ in range(repeat):
            began = time.perf_counter()
            with open(os.devnull, "w") as devnull:
                subprocess.run([exe, "plan", str(path), "--output", "json"], stdout=devnull, check=True, env=env)
            times.append(time.perf_counter() - began)
    return min(times)


def profile(spec: str, sort: str, limit: int) -> None:
    shape, _, size = spec.partition(":")
    n = int(size or 5000)
    library = Library()
    text = pipeline_yaml(shape, n)
    ctx = RunContext(run_id="bench", number=1)
    validate(text, "bench.yaml", library)
    prof = cProfile.Profile()
    prof.enable()
    loaded = validate(text, "bench.yaml", library)
    compile_run(loaded, ctx, library, manifests=True)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats(sort).print_stats(limit)
    print(buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="50,500,5000")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per figure (best is kept)")
    parser.add_argument("--cli-repeat", type=int, default=3)
    parser.add_argument("--no-cli", action="store_true")
    parser.add_argument("--profile", metavar="SHAPE:N", help="cProfile validate+compile+manifests instead")
    parser.add_argument("--sort", default="cumtime")
    parser.add_argument("--limit", type=int, default=40)
    args = parser.parse_args(argv)
    if args.profile:
        profile(args.profile, args.sort, args.limit)
        return 0
    sizes = [int(s) for s in args.sizes.split(",")]
    library = Library()
    print(f"python={sys.version.split()[0]} cpus={os.cpu_count()} best of {args.repeat}")
    print(f"{'shape':6} {'tasks':>6} {'bytes':>8} {'validate':>9} {'compile':>8} {'v+c':>8} {'growth':>7} "
          f"{'compile+m':>10} {'v+c+m':>8} {'growth':>7}")
    for shape in args.shapes.split(","):
        prev: tuple[float, float] | None = None
        for n in sizes:
            r = measure(shape, n, args.repeat, library)
            vc, vcm = r["validate"] + r["compile"], r["validate"] + r["manifests"]
            g1 = f"{vc / prev[0]:7.1f}" if prev else f"{'-':>7}"
            g2 = f"{vcm / prev[1]:7.1f}" if prev else f"{'-':>7}"
            print(f"{shape:6} {n:6d} {int(r['bytes']):8d} {r['validate']:9.3f} {r['compile']:8.3f} {vc:8.3f} {g1} "
                  f"{r['manifests']:10.3f} {vcm:8.3f} {g2}")
            prev = (vc, vcm)
    print("seconds; v+c = validate + compile (no manifests); v+c+m = validate + compile with manifests; "
          "growth = this row / the row above (10x tasks)")
    if not args.no_cli:
        n = max(sizes)
        for shape in args.shapes.split(","):
            took = time_cli_plan(shape, n, args.cli_repeat)
            print(f"wishstar plan FILE --output json > /dev/null, {shape} {n} tasks: {took:.3f} s "
                  f"(best of {args.cli_repeat}, subprocess wall time)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
