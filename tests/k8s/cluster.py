"""The real Kubernetes test cluster, from Python: start/stop via ``scripts/cluster.sh`` and small helpers.

A :class:`Cluster` holds the admin kubeconfig and an official ``kubernetes`` client ``ApiClient`` for it, and makes
fresh namespaces. It is used by the session fixture in ``tests/k8s/conftest.py``; see docs/kubernetes.md.

KWOK nodes carry the label ``wishstar.dev/node-kind=kwok``. Pods bound to them follow the stages in
``scripts/kwok/`` (annotations ``wishstar.dev/kwok: succeed|fail|run`` and ``kwok.wishstar.dev/*``):
:func:`kwok_pod` builds such a Pod.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SH = ROOT / "scripts" / "cluster.sh"
BUILD_SH = ROOT / "scripts" / "build-k8s.sh"

KWOK_NODE_SELECTOR = {"wishstar.dev/node-kind": "kwok"}
TEST_NAMESPACE_LABEL = "wishstar.dev/test-namespace"

T = TypeVar("T")


class ClusterError(RuntimeError):
    """The cluster could not be started (the message says why, with the component's log)."""


def binary_paths() -> dict[str, Path]:
    """NAME -> path of every cluster binary, as scripts/build-k8s.sh pins them (built or not)."""
    out = subprocess.run([str(BUILD_SH), "paths"], check=True, capture_output=True, text=True).stdout
    paths = {}
    for line in out.splitlines():
        name, _, path = line.partition("=")
        paths[name] = Path(path)
    return paths


def missing_binaries(names: tuple[str, ...] = ("ETCD", "KWOK", "KUBE_APISERVER", "KUBE_CONTROLLER_MANAGER",
                                               "KUBE_SCHEDULER", "KUBECTL")) -> list[Path]:
    paths = binary_paths()
    return [paths[n] for n in names if not os.access(paths[n], os.X_OK)]


def wait_until(probe: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    """Calls probe until it returns something other than None/False; raises TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Cluster:
    kubeconfig: Path
    directory: Path | None = None  # set when this process started the cluster (and stops it)
    api_client: client.ApiClient = field(init=False)
    state_dir: Path | None = field(init=False)  # the cluster.sh dir (pids, logs), also for a reused cluster
    _namespaces: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.api_client = config.new_client_from_config(config_file=str(self.kubeconfig))
        parent = self.kubeconfig.resolve().parent
        self.state_dir = self.directory or (parent if (parent / "ports").is_file() else None)

    # -- lifecycle --------------------------------------------------------------------------------------------
    @classmethod
    def start(cls, directory: Path, timeout: float = 300) -> Cluster:
        """`scripts/cluster.sh up DIRECTORY`; a watchdog stops the cluster if this process dies without stop()."""
        env = {**os.environ, "WISHSTAR_CLUSTER_OWNER_PID": str(os.getpid())}
        proc = subprocess.run([str(CLUSTER_SH), "up", str(directory)], env=env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        if proc.returncode != 0:
            raise ClusterError(f"scripts/cluster.sh up {directory} failed (exit {proc.returncode}):\n"
                               f"{proc.stderr[-6000:]}")
        return cls(kubeconfig=directory / "kubeconfig", directory=directory)

    def stop(self) -> None:
        self.api_client.close()
        if self.directory is not None:
            subprocess.run([str(CLUSTER_SH), "down", str(self.directory)], check=False, capture_output=True,
                           timeout=120)

    def restart(self, component: str, timeout: float = 120) -> None:
        """Stops one component (kube-apiserver, etcd, kube-controller-manager, kube-scheduler, kwok) by PID and
        starts it again with the same flags and port; returns when it is healthy again."""
        if self.state_dir is None:
            raise ClusterError(f"cannot restart {component}: {self.kubeconfig} is not in a scripts/cluster.sh dir")
        proc = subprocess.run([str(CLUSTER_SH), "restart", component, str(self.state_dir)], capture_output=True,
                              text=True, timeout=timeout, check=False)
        if proc.returncode != 0:
            raise ClusterError(f"scripts/cluster.sh restart {component} failed (exit {proc.returncode}):\n"
                               f"{proc.stderr[-6000:]}")

    def restart_apiserver(self) -> None:
        """Restarts kube-apiserver (same port and certificates): open watches and connections break."""
        self.restart("kube-apiserver")

    def log_path(self, component: str) -> Path | None:
        return self.state_dir / "logs" / f"{component}.log" if self.state_dir else None

    # -- clients ----------------------------------------------------------------------------------------------
    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api_client)

    @property
    def rbac(self) -> client.RbacAuthorizationV1Api:
        return client.RbacAuthorizationV1Api(self.api_client)

    def client_for_token(self, token: str) -> client.ApiClient:
        """An ApiClient that authenticates with a bearer token only (no client certificate)."""
        admin = self.api_client.configuration
        cfg = client.Configuration()
        cfg.host = admin.host
        cfg.ssl_ca_cert = admin.ssl_ca_cert
        cfg.verify_ssl = True
        cfg.api_key = {"BearerToken": token}
        cfg.api_key_prefix = {"BearerToken": "Bearer"}
        return client.ApiClient(cfg)

    def service_account_token(self, namespace: str, name: str, seconds: int = 600) -> str:
        """A short-lived token for a ServiceAccount, from the TokenRequest API."""
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds))
        response = self.core.create_namespaced_service_account_token(name, namespace, request)
        return str(response.status.token)

    # -- namespaces -------------------------------------------------------------------------------------------
    def create_namespace(self, prefix: str = "t", wait_default_sa: bool = True) -> str:
        """A fresh namespace. With wait_default_sa, returns once the controller-manager made its `default`
        ServiceAccount (the ServiceAccount admission plugin rejects Pods before that)."""
        name = f"{prefix}-{secrets.token_hex(4)}"
        self.core.create_namespace(client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={TEST_NAMESPACE_LABEL: "true"})))
        self._namespaces.append(name)
        if wait_default_sa:
            wait_until(lambda: _exists(lambda: self.core.read_namespaced_service_account("default", name)),
                       30, f"the default ServiceAccount in {name}")
        return name

    def delete_namespace(self, name: str) -> None:
        try:
            self.core.delete_namespace(name, propagation_policy="Background")
        except ApiException as exc:
            if exc.status != 404:
                raise
        if name in self._namespaces:
            self._namespaces.remove(name)

    # -- pods -------------------------------------------------------------------------------------------------
    def wait_for_pod(self, namespace: str, name: str, phases: tuple[str, ...] = ("Succeeded", "Failed"),
                     timeout: float = 60) -> client.V1Pod:
        def probe() -> client.V1Pod | None:
            pod = self.core.read_namespaced_pod(name, namespace)
            return pod if pod.status and pod.status.phase in phases else None
        return wait_until(probe, timeout, f"pod {namespace}/{name} to reach {'/'.join(phases)}")

    def wait_for_pod_gone(self, namespace: str, name: str, timeout: float = 60) -> None:
        wait_until(lambda: not _exists(lambda: self.core.read_namespaced_pod(name, namespace)), timeout,
                   f"pod {namespace}/{name} to be deleted")


def _exists(read: Callable[[], object]) -> bool:
    try:
        read()
    except ApiException as exc:
        if exc.status == 404:
            return False
        raise
    return True


def kwok_pod(name: str, *, mode: str = "succeed", delay: str | None = "0s", exit_code: int | None = None,
             message: str | None = None, containers: tuple[str, ...] = ("step-1",),
             annotations: dict[str, str] | None = None, labels: dict[str, str] | None = None,
             owner: dict[str, Any] | None = None) -> dict[str, Any]:
    """A Pod for a KWOK node: `mode` is succeed, fail or run (stays Running until deleted)."""
    ann = {"wishstar.dev/kwok": mode}
    if delay is not None:
        ann["kwok.wishstar.dev/delay"] = delay
    if exit_code is not None:
        ann["kwok.wishstar.dev/exit-code"] = str(exit_code)
    if message is not None:
        ann["kwok.wishstar.dev/message"] = message
    ann.update(annotations or {})
    metadata: dict[str, Any] = {"name": name, "annotations": ann, "labels": dict(labels or {})}
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": {
            "nodeSelector": dict(KWOK_NODE_SELECTOR),
            "restartPolicy": "Never",
            "containers": [{"name": c, "image": "127.0.0.1/none/busybox:kwok", "command": ["true"]}
                           for c in containers],
        },
    }
