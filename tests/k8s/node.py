"""The real node for tests: start it with scripts/node.sh against a running cluster, stop it afterwards.

``RealNode.start(kubeconfig, state_dir)`` builds (or reuses) the images (scripts/images.sh), starts containerd
and a kubelet registered with the cluster (scripts/node.sh up) and returns the node's name and the image
references to use in Pods. Each session's node has its own state dir, name, bridge and Pod subnet, so two test
sessions on one machine do not step on each other.

What the cluster must give: an admin kubeconfig, and the cluster's client CA (``pki/client-ca.crt`` and
``.key`` next to it, as scripts/cluster.sh lays them out) to sign the node's credential. When the ``cluster``
fixture of tests/k8s/conftest.py is not available, ``cluster_from_env`` takes WISHSTAR_TEST_KUBECONFIG (and
WISHSTAR_TEST_CLUSTER_DIR, default: the kubeconfig's directory).

``unavailable(reason)``: with CI_REQUIRE_KUBERNETES=1 a missing piece fails the test with the exact reason;
otherwise the test is skipped with it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
REAL_NODE_LABEL = ("wishstar.dev/node-kind", "real")


def unavailable(reason: str) -> NoReturn:
    """Fail (CI_REQUIRE_KUBERNETES=1) or skip with ``reason``."""
    if os.environ.get("CI_REQUIRE_KUBERNETES") == "1":
        pytest.fail(f"real Kubernetes node required (CI_REQUIRE_KUBERNETES=1) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"real Kubernetes node unavailable: {reason}")


@dataclass(frozen=True)
class ClusterRef:
    """What the node needs from a running cluster."""

    kubeconfig: Path
    dir: Path

    @property
    def client_ca(self) -> tuple[Path, Path]:
        return self.dir / "pki" / "client-ca.crt", self.dir / "pki" / "client-ca.key"


def cluster_ref(cluster: Any) -> ClusterRef:
    """A ClusterRef from the conftest's ``cluster`` (its ``kubeconfig``; ``directory``, else the kubeconfig's)."""
    if isinstance(cluster, ClusterRef):
        return cluster

    def get(*names: str) -> Any:
        for name in names:
            value = cluster.get(name) if isinstance(cluster, dict) else getattr(cluster, name, None)
            if value is not None:
                return value
        return None

    kubeconfig = get("kubeconfig", "kubeconfig_path")
    if kubeconfig is None:
        raise TypeError(f"the cluster fixture's {type(cluster).__name__} has no kubeconfig")
    directory = get("directory", "dir", "cluster_dir")
    kubeconfig = Path(kubeconfig)
    return ClusterRef(kubeconfig=kubeconfig, dir=Path(directory) if directory else kubeconfig.parent)


def cluster_from_env() -> ClusterRef | None:
    kubeconfig = os.environ.get("WISHSTAR_TEST_KUBECONFIG")
    if not kubeconfig:
        return None
    path = Path(kubeconfig)
    return ClusterRef(kubeconfig=path, dir=Path(os.environ.get("WISHSTAR_TEST_CLUSTER_DIR") or path.parent))


def _run(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def _tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


@dataclass
class RealNode:
    name: str
    state_dir: Path
    env: dict[str, str]
    images: dict[str, str]
    start_seconds: float

    @classmethod
    def start(cls, cluster: ClusterRef, state_dir: Path, *, name: str | None = None) -> RealNode:
        """Build/reuse the images and bring the node up; ``unavailable`` with the exact reason on failure."""
        if not cluster.kubeconfig.is_file():
            unavailable(f"no kubeconfig at {cluster.kubeconfig}")
        ca_cert, ca_key = cluster.client_ca
        if not (ca_cert.is_file() and ca_key.is_file()):
            unavailable(f"the cluster's client CA ({ca_cert}, {ca_key}) is missing: the node cannot get a credential")
        suffix = secrets.token_hex(3)
        name = name or f"real-{suffix}"
        env = {
            **os.environ,
            "WISHSTAR_NODE_DIR": str(state_dir),
            # A killed test session must not leave a kubelet and containerd running: node.sh's watchdog.
            "WISHSTAR_NODE_OWNER_PID": str(os.getpid()),
            "WISHSTAR_NODE_BRIDGE": f"wsn{suffix}",
            # One /16 per node, picked at random in 10.100-10.199: clear of the service range (10.0.0.0/24).
            "WISHSTAR_NODE_POD_SUBNET": f"10.{100 + int(suffix, 16) % 100}.0.0/16",
        }
        t0 = time.monotonic()
        images = _run([str(SCRIPTS / "images.sh"), "build"], env, timeout=900)
        if images.returncode != 0:
            unavailable(f"scripts/images.sh build failed (exit {images.returncode}):\n{_tail(images.stderr)}")
        refs = dict(zip(("pause", "busybox", "debian"), images.stdout.split(), strict=True))
        up = _run(
            [
                str(SCRIPTS / "node.sh"), "up", "--kubeconfig", str(cluster.kubeconfig), "--name", name,
                "--client-ca-cert", str(ca_cert), "--client-ca-key", str(ca_key),
            ],
            env,
            timeout=300,
        )
        node = cls(name=name, state_dir=state_dir, env=env, images=refs, start_seconds=time.monotonic() - t0)
        if up.returncode != 0:
            node.stop()
            unavailable(f"scripts/node.sh up failed (exit {up.returncode}):\n{_tail(up.stderr)}")
        return node

    def stop(self) -> None:
        _run([str(SCRIPTS / "node.sh"), "down"], self.env, timeout=180)

    def log(self, component: str = "kubelet", lines: int = 40) -> str:
        """The last lines of the kubelet's (or containerd's) log, for failure messages."""
        path = self.state_dir / "logs" / f"{component}.log"
        try:
            return _tail(path.read_text(errors="replace"), lines)
        except OSError as exc:
            return f"(no {component} log: {exc})"
