"""Deleting what a Kubernetes run left in its namespace, by run id, without a plan or an executor.

Why: ``runs delete``, ``runs prune`` and cancelling an orphaned run know only the run's id and target
(namespace, kubeconfig, context). Deleting the run's owner ConfigMap is enough: every other object of the run
(Pods, ConfigMaps, Secrets, claims) names it as its owner and the garbage collector removes them. Must not
create anything.
"""

from __future__ import annotations

from wishstar.engine.executors.base import RunObjects
from wishstar.engine.executors.kubernetes.client import KubeClient, load_api_client, path_for
from wishstar.engine.executors.kubernetes.objects import owner_name
from wishstar.engine.executors.kubernetes.ratelimit import DEFAULT_BURST, DEFAULT_QPS, TokenBucket


class KubernetesRunObjects(RunObjects):
    """A run's objects in ``namespace`` of the cluster ``kubeconfig``/``context`` name."""

    def __init__(self, namespace: str, kubeconfig: str | None = None, context: str | None = None, *,
                 client: KubeClient | None = None) -> None:
        self.namespace, self.kubeconfig, self.context, self._client = namespace, kubeconfig, context, client

    async def delete(self, run_id: str) -> bool:
        """Delete the run's owner object (the garbage collector does the rest); False if it was gone.
        ``KubernetesError`` when the cluster cannot be reached or refuses."""
        client = self._client
        api = None
        if client is None:
            api = load_api_client(self.kubeconfig, self.context)
            client = KubeClient(api, TokenBucket(DEFAULT_QPS, DEFAULT_BURST))
        try:
            return await client.delete(path_for(self.namespace, "configmaps", owner_name(run_id)))
        finally:
            if api is not None:
                api.close()  # type: ignore[no-untyped-call]
