"""Step primitives: how a step runs inside a Pod, shipped as real files that shellcheck checks.

Why it exists: the in-Pod entrypoint (wait for the previous step, run the script from a file, record the exit
code, hand results back through the termination message) is shell, so it lives as shell in
``steps/entrypoint/entrypoint.sh`` (package data), not as a string inside Python. The compiler must stay
pure and below this layer, so it never reads the file: the callers above (``wishstar plan``, ``wishstar run``,
the server) read it with ``entrypoint()`` and hand the text to ``engine.compiler.pods.task_manifests`` and
``make_kubernetes_executor(..., entrypoint=...)``. What the arguments of the script mean is decided by
``engine.compiler.entrypoint.entrypoint_args``.

It must not import the Kubernetes client or the store, nor hold logic of its own beyond reading its files.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

ENTRYPOINT_FILE = "entrypoint/entrypoint.sh"


@cache
def entrypoint() -> str:
    """The text of the step entrypoint (the ConfigMap's ``entrypoint`` key of every task Pod)."""
    return resources.files("wishstar.steps").joinpath(ENTRYPOINT_FILE).read_text(encoding="utf-8")
