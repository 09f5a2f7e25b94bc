"""On the real node, a step that names only an image runs that image's ENTRYPOINT, looked up in the registry the
node pulls from: `wishstar run --executor kubernetes` with an image pushed by buildah (ENTRYPOINT and CMD known),
its output read back with `wishstar logs`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.k8s.cluster import ROOT, Cluster
from tests.k8s.node import REAL_NODE_LABEL, RealNode
from tests.k8s.test_cli_kubernetes import Wishstar, make_repo
from tests.k8s.test_cli_kubernetes import wishstar as wishstar  # the fixture
from tests.oci import Buildah, Registry

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(900)]


def test_an_image_only_step_runs_its_images_entrypoint_on_the_real_node(
        tmp_path: Path, wishstar: Wishstar, cluster: Cluster, namespace: str, node: RealNode) -> None:
    address = subprocess.run([str(ROOT / "scripts" / "registry.sh"), "url"], check=True, capture_output=True,
                             text=True).stdout.strip()
    image = Buildah(tmp_path / "buildah").push_image(
        Registry(tmp_path, address), "wishstar-test/entrypoint:1",
        entrypoint=["/bin/busybox", "echo", "from-the-entrypoint"], cmd=["default-cmd"])
    pipeline = f"""
    name: entry
    kubernetes:
      nodeSelector: {{{REAL_NODE_LABEL[0]}: {REAL_NODE_LABEL[1]}, kubernetes.io/hostname: {node.name}}}
    tasks:
      greet:
        steps:
          - {{name: plain, image: "{image}"}}
          - {{name: with-args, image: "{image}", args: [given, args]}}
    """
    result = wishstar.run(make_repo(tmp_path / "repo", pipeline))
    assert result.code == 0, f"{result.stderr}\n--- kubelet ---\n{node.log()}"
    assert result.json()["status"] == "succeeded"
    shown = wishstar("logs", result.json()["id"], "greet").stdout.splitlines()
    lines = [line for line in shown if not line.startswith("wishstar: waiting: ")]
    assert lines == ["from-the-entrypoint default-cmd", "from-the-entrypoint given args"]
