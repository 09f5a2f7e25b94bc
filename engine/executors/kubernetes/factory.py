"""Building a ``KubernetesExecutor`` for one run from the plan, the run context and command-line settings.

Why: the CLI and the server should not know how manifests reach the executor. The executor's namespace and
default image must be the ones the compiler writes into the manifests, so the run context is adjusted here
once, and the same context feeds ``PlanManifests``: ``wishstar plan --namespace N`` with that context prints
the objects this executor creates. It must not read the environment or files itself
(``load_api_client`` does, when the executor is built).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from wishstar.engine.compiler.types import Plan, RunContext
from wishstar.engine.executors.kubernetes.attempt import AttemptOptions
from wishstar.engine.executors.kubernetes.client import KubeClient
from wishstar.engine.executors.kubernetes.executor import KubernetesConfig, KubernetesExecutor
from wishstar.engine.executors.kubernetes.objects import PlanManifests


def make_kubernetes_executor(plan: Plan, ctx: RunContext, *, entrypoint: str, namespace: str | None = None,
                             kubeconfig: str | None = None, context: str | None = None,
                             qps: float | None = None, burst: int | None = None,
                             default_image: str | None = None, storage_class: str | None = None,
                             workspace_size: str | None = None, labels: Mapping[str, str] | None = None,
                             keep: bool = False,
                             client: KubeClient | None = None, **attempt: Any) -> KubernetesExecutor:
    """The executor for one run. ``entrypoint`` is the step entrypoint's text (``wishstar.steps.entrypoint()``,
    read by the caller: engine does not import steps), the same text ``wishstar plan`` puts in its ConfigMaps.
    Unset arguments keep ``KubernetesConfig``'s defaults; ``namespace`` None means the context's. Extra keyword
    arguments are ``AttemptOptions`` fields (``image_pull_grace_s``, ``delete_grace_s``, ``stream_logs``, ...)."""
    config = KubernetesConfig(namespace=namespace or ctx.namespace, kubeconfig=kubeconfig, context=context,
                              default_image=default_image, storage_class=storage_class,
                              labels=dict(labels or {}), keep=keep, attempt=AttemptOptions(**attempt))
    if qps is not None:
        config = replace(config, qps=qps)
    if burst is not None:
        config = replace(config, burst=burst)
    if workspace_size is not None:
        config = replace(config, workspace_size=workspace_size)
    run_ctx = replace(ctx, namespace=config.namespace, default_image=default_image or ctx.default_image)
    return KubernetesExecutor(PlanManifests(plan, run_ctx, entrypoint), config, client=client)
