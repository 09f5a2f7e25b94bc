"""Kubernetes Secrets as step env: check that the ones a run reads exist, and learn their values to mask them.

Why: on a cluster, ``env: {TOKEN: {secret: gitlab-token, secretKey: token}}`` should read the namespace's own
Secret (created by the platform team, rotated by them), not a copy the user passes to every run. The compiled
Pod already references it with ``secretKeyRef`` (``engine.compiler.pods``), so its value reaches the container
without passing through the engine. But the engine still has to (1) refuse the run up front, naming every
missing Secret or key at once, instead of leaving Pods stuck in ``CreateContainerConfigError``, and (2) mask
the values in the logs it stores, as it does for local secrets: neither Tekton nor Argo masks Secret values
in step logs. Both need the value, so the engine ``get``s each Secret once per run (the Role grants ``get`` on
``secrets``; docs/rbac.md).

It must not create, change or log a Secret, nor keep values beyond what masking needs.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from wishstar.engine.executors.kubernetes.client import KubeClient, path_for
from wishstar.engine.executors.kubernetes.errors import KubernetesError


class MissingClusterSecrets(KubernetesError):
    """Secrets (or keys) a run's steps read are not in the namespace."""


def _decode(value: str) -> str:
    try:
        return base64.b64decode(value, validate=True).decode(errors="replace")
    except (binascii.Error, ValueError):
        return value


async def read_cluster_secrets(client: KubeClient, namespace: str, wanted: Mapping[str, frozenset[str]]
                               ) -> dict[str, tuple[str, ...]]:
    """Secret name -> the decoded values of the ``wanted`` keys. Raises ``MissingClusterSecrets`` naming every
    Secret that does not exist and every key that one lacks (with the keys it has), or ``PermissionDenied``
    when the Role cannot ``get`` secrets."""
    problems: list[str] = []
    found: dict[str, tuple[str, ...]] = {}
    for name in sorted(wanted):
        secret = await client.get(path_for(namespace, "secrets", name))
        if secret is None:
            problems.append(f'Secret "{name}" does not exist')
            continue
        data: Mapping[str, str] = secret.get("data") or {}
        missing = sorted(wanted[name] - set(data))
        if missing:
            has = ", ".join(sorted(data)) or "none"
            problems.append(f'Secret "{name}" has no key {", ".join(missing)} (its keys: {has})')
            continue
        found[name] = tuple(_decode(data[key]) for key in sorted(wanted[name]))
    if problems:
        raise MissingClusterSecrets(
            f'namespace "{namespace}": ' + "; ".join(problems) +
            f" (hint: create it with `kubectl -n {namespace} create secret generic NAME --from-literal=KEY=...`, "
            "name the key with `secretKey:` (without it the key is the variable's name), or give the value to "
            "this run with --secret NAME=ENVVAR)")
    return found
