"""The benchmarks still run against today's code (at toy sizes: this checks they work, not their figures).

They drive the engine through its internals (``cli.run_cmd.execute``, ``Runner`` subclasses, the store), so an
internal change can break them without any other test noticing; the figures in docs/benchmarks.md come from
them. The Kubernetes and server benchmarks need the cluster or a long run and are not repeated here.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli.conftest import ROOT


@pytest.mark.parametrize("args", [
    ["bench/overhead.py", "--tasks", "6", "--repeat", "1", "--no-cli"],
    ["bench/plan_scale.py", "--sizes", "20", "--repeat", "1", "--no-cli"],
    ["bench/runs_list.py", "--runs", "20000", "--repeat", "5", "--cli-repeat", "2"],
    ["bench/detect.py", "--files", "500", "--apps", "8", "--repeat", "1"],
    ["bench/deployments.py", "--projects", "10", "--repeat", "5"],
], ids=["overhead", "plan_scale", "runs_list", "detect", "deployments"])
def test_a_benchmark_runs_to_its_report(args: list[str]) -> None:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and proc.stdout.strip(), proc.stdout
