"""The arguments that drive the step entrypoint, and the paths and limits it works with.

Why it exists: Kubernetes starts all containers of a Pod at once, but a task's steps must run one after
another, share a working directory, stop after a failing step and hand their results back. Tekton solves
this with a Go binary copied into each step; Wishstar needs no image of its own: a small POSIX sh script,
shipped in the task's ConfigMap, does the same with files in a shared emptyDir. The script is a real file,
``steps/entrypoint/entrypoint.sh`` (read by ``wishstar.steps.entrypoint()``; its header says what it does);
the compiler receives its text as a parameter, since engine must not import the layer above it.

What it must not do: put anything from the pipeline file or the git event into shell text. Scripts arrive
as files, commands as argv after ``--``.
"""

from __future__ import annotations

import math

SCRIPTS_DIR = "/wishstar/scripts"
"""Where the ConfigMap (entrypoint and step scripts) is mounted, read-only."""
RUN_DIR = "/wishstar/run"
"""The emptyDir the steps use to hand over to each other."""
RESULTS_DIR = "/wishstar/results"
"""The emptyDir where steps write results: ``$(results.NAME.path)`` is ``RESULTS_DIR/NAME``."""
ENTRYPOINT_KEY = "entrypoint"
"""The entrypoint's key in the ConfigMap (and so its file name under ``SCRIPTS_DIR``)."""

MAX_CONTAINER_MESSAGE = 4096
"""Kubernetes keeps at most 4 KiB of one container's termination message..."""
MAX_POD_MESSAGES = 12 * 1024
"""...and 12 KiB across all containers of a Pod, divided equally among them."""


def message_limit(containers: int) -> int:
    """Bytes the last step may write to its termination message when the Pod has ``containers`` containers."""
    return min(MAX_CONTAINER_MESSAGE, MAX_POD_MESSAGES // max(1, containers))


def entrypoint_args(
    *,
    index: int,
    name: str,
    timeout_s: float | None,
    on_error: str,
    script_path: str | None,
    argv: tuple[str, ...],
    last_results: tuple[str, ...] | None,
    limit: int,
) -> list[str]:
    """The container ``args`` that drive the entrypoint for one step (its ``command`` is sh and the script).

    ``last_results`` is None for every step but the last; ``argv`` is the step's command and arguments,
    passed after ``--`` as argv, never as shell text. Time limits are rounded up to whole seconds: not every
    ``timeout`` and ``sleep`` accepts fractions.
    """
    args = ["--index", str(index), "--name", name, "--on-error", on_error]
    if timeout_s is not None:
        args += ["--timeout", str(max(1, math.ceil(timeout_s)))]
    if script_path is not None:
        args += ["--script", script_path]
    if last_results is not None:
        args += ["--last", "--results", ",".join(last_results), "--message-limit", str(limit)]
    if argv:
        args += ["--", *argv]
    return args
