"""The Kubernetes executor: task attempts as Pods in one namespace, watched, logged and cleaned up.

Modules by activity: ``client`` (rate-limited JSON requests, errors), ``ratelimit`` (token bucket),
``objects`` (owner, claims, filling compiled Pods with run-time values), ``watching`` (the namespace
informer), ``status`` (outcomes, results, waiting reasons), ``logs`` (container log streams), ``attempt``
(one attempt's life), ``executor`` (the contract), ``factory`` (building one for a run). This package must
not import the runner, the store, the webhook, pipelines or the CLI.
"""

from wishstar.engine.executors.kubernetes.attempt import AttemptOptions
from wishstar.engine.executors.kubernetes.cleanup import KubernetesRunObjects
from wishstar.engine.executors.kubernetes.errors import KubernetesError, PermissionDenied, QuotaExceeded
from wishstar.engine.executors.kubernetes.executor import KubernetesConfig, KubernetesExecutor
from wishstar.engine.executors.kubernetes.factory import make_kubernetes_executor
from wishstar.engine.executors.kubernetes.objects import ManifestSource, PlanManifests, TaskObjects

__all__ = [
    "AttemptOptions", "KubernetesConfig", "KubernetesError", "KubernetesExecutor", "KubernetesRunObjects",
    "ManifestSource", "PermissionDenied", "PlanManifests", "QuotaExceeded", "TaskObjects", "make_kubernetes_executor",
]
