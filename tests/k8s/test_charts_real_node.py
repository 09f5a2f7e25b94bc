"""Both charts installed with the real helm into the real cluster, their Pods on the real node.

charts/app with the go preset and a tiny image built here (busybox httpd on 8080 answering /healthz, from the
node's own busybox image): two images are pushed under one tag, and the release given the first one's digest
runs exactly that one although the tag now names the other; a second upgrade with the other digest is
revision 2 and rolls the Pod forward. charts/wishstar with Wishstar's image (scripts/wishstar-image.sh, built
from the repository's Dockerfile): its Pod becomes Ready and answers ``/healthz``. Pods are reached at their IP
from this machine, as the real node's bridge routes them.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import subprocess
import tarfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.helm import APP_CHART, WISHSTAR_CHART, helm
from tests.k8s.cluster import Cluster
from tests.k8s.node import REAL_NODE_LABEL, RealNode, unavailable

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Image:
    repository: str
    tag: str
    digest: str
    marker: str  # what its /healthz answers


def _sh(args: list[str], timeout: float = 600) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        unavailable(f"{' '.join(args[:3])} ... failed (exit {done.returncode}): {done.stderr.strip()[-1500:]}")
    return done.stdout.strip()


def _build_tiny_app(base: str, repository: str, tag: str, work: Path, marker: str) -> str:
    """busybox httpd as uid 10001 serving /www on 8080; pushed as repository:tag; its digest."""
    (work / "ctx" / "www").mkdir(parents=True, exist_ok=True)
    (work / "ctx" / "www" / "healthz").write_text(marker + "\n")
    (work / "ctx" / "Containerfile").write_text(
        f"FROM {base}\nCOPY www/ /www/\nUSER 10001:10001\nEXPOSE 8080\n"
        'ENTRYPOINT ["/bin/busybox", "httpd", "-f", "-v", "-p", "8080", "-h", "/www"]\n')
    bah = ["buildah", "--root", str(work / "root"), "--runroot", str(work / "runroot"), "--storage-driver", "vfs"]
    _sh([*bah, "bud", "--isolation", "chroot", "--runtime", "runc", "--tls-verify=false", "--quiet", "--layers=false",
         "-t", f"{repository}:{tag}", str(work / "ctx")])
    digest_file = work / f"digest-{marker}"
    _sh([*bah, "push", "--quiet", "--tls-verify=false", "--digestfile", str(digest_file), f"{repository}:{tag}"])
    return digest_file.read_text().strip()


@pytest.fixture(scope="session")
def tiny_apps(real_node: RealNode, tmp_path_factory: pytest.TempPathFactory) -> tuple[Image, Image]:
    """Two different images pushed to the same repository:tag, the second last (the tag names it)."""
    registry = _sh([str(ROOT / "scripts" / "registry.sh"), "url"])
    repository, tag = f"{registry}/wishstar-tests/tiny-app", "charts"
    work = tmp_path_factory.mktemp("tiny-app")
    images = []
    for _ in range(2):
        marker = f"tiny-app {secrets.token_hex(4)}"
        images.append(Image(repository, tag, _build_tiny_app(real_node.images["busybox"], repository, tag, work,
                                                              marker), marker))
    assert images[0].digest != images[1].digest
    return images[0], images[1]


@pytest.fixture(scope="session")
def wishstar_image() -> str:
    return _sh([str(ROOT / "scripts" / "wishstar-image.sh"), "build"], timeout=900).splitlines()[-1]


@pytest.fixture
def on_real_node(real_node: RealNode, tmp_path: Path) -> Path:
    """A values file that puts the chart's Pods on this session's real node."""
    path = tmp_path / "real-node-values.yaml"
    path.write_text(yaml.safe_dump({"nodeSelector": {REAL_NODE_LABEL[0]: REAL_NODE_LABEL[1],
                                                     "kubernetes.io/hostname": real_node.name}}))
    return path


def _helm(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return helm(*args, "--kubeconfig", str(cluster.kubeconfig))


def _install(cluster: Cluster, release: str, chart: Path, namespace: str, values: list[Path],
             sets: dict[str, str], node: RealNode) -> dict[str, Any]:
    args = ["upgrade", "--install", release, str(chart), "--namespace", namespace, "--atomic", "--wait",
            "--timeout", "4m"]
    for path in values:
        args += ["--values", str(path)]
    for key, value in sets.items():
        args += ["--set-string", f"{key}={value}"]
    done = _helm(cluster, *args)
    if done.returncode != 0:
        events = cluster.core.list_namespaced_event(namespace)
        why = "\n".join(f"{e.involved_object.name}: {e.reason}: {e.message}" for e in events.items)
        pytest.fail(f"helm upgrade failed:\n{done.stderr}\nevents:\n{why}\nkubelet:\n{node.log()}")
    status = _helm(cluster, "status", release, "--namespace", namespace, "--output", "json")
    assert status.returncode == 0, status.stderr
    return dict(json.loads(status.stdout))


def _ready_pod(cluster: Cluster, namespace: str, release: str, image: str) -> Any:
    """The release's one Ready Pod running ``image`` (older ones may still be terminating)."""
    deadline = time.monotonic() + 120
    while True:
        pods = cluster.core.list_namespaced_pod(namespace, label_selector=f"app.kubernetes.io/instance={release}")
        for pod in pods.items:
            ready = {c.type: c.status for c in pod.status.conditions or []}.get("Ready") == "True"
            if ready and pod.metadata.deletion_timestamp is None and pod.spec.containers[0].image == image:
                return pod
        assert time.monotonic() < deadline, [(p.metadata.name, p.status.phase) for p in pods.items]
        time.sleep(0.5)


def _get(url: str) -> tuple[int, str]:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status, answer.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_the_app_chart_runs_the_given_digest_not_what_the_tag_names(
        cluster: Cluster, real_node: RealNode, namespace: str, tiny_apps: tuple[Image, Image],
        on_real_node: Path) -> None:
    first, second = tiny_apps  # the tag names `second` now
    preset = APP_CHART / "ci" / "go-values.yaml"
    image_values = {"image.repository": first.repository, "image.tag": first.tag}

    status = _install(cluster, "tiny", APP_CHART, namespace, [preset, on_real_node],
                      {**image_values, "image.digest": first.digest}, real_node)
    assert (status["version"], status["info"]["status"]) == (1, "deployed")
    pod = _ready_pod(cluster, namespace, "tiny", f"{first.repository}@{first.digest}")
    assert pod.spec.node_name == real_node.name
    assert pod.status.container_statuses[0].image_id.endswith(first.digest)
    assert _get(f"http://{pod.status.pod_ip}:8080/healthz") == (200, first.marker + "\n")

    status = _install(cluster, "tiny", APP_CHART, namespace, [preset, on_real_node],
                      {**image_values, "image.digest": second.digest}, real_node)
    assert status["version"] == 2
    pod = _ready_pod(cluster, namespace, "tiny", f"{second.repository}@{second.digest}")
    assert pod.status.container_statuses[0].image_id.endswith(second.digest)
    assert _get(f"http://{pod.status.pod_ip}:8080/healthz") == (200, second.marker + "\n")


def test_the_wishstar_chart_starts_wishstar_which_answers_healthz(
        cluster: Cluster, real_node: RealNode, namespace: str, wishstar_image: str, on_real_node: Path) -> None:
    repository, tag = wishstar_image.rsplit(":", 1)
    status = _install(cluster, "ci", WISHSTAR_CHART, namespace, [on_real_node],
                      {"image.repository": repository, "image.tag": tag}, real_node)
    assert status["info"]["status"] == "deployed"
    pod = _ready_pod(cluster, namespace, "ci", wishstar_image)
    assert pod.status.container_statuses[0].restart_count == 0
    code, body = _get(f"http://{pod.status.pod_ip}:8080/healthz")
    assert (code, json.loads(body)) == (200, {"status": "ok", "database": "ok"})
    role = cluster.rbac.read_namespaced_role("ci-wishstar-executor", namespace)
    assert {(tuple(r.resources), tuple(r.verbs)) for r in role.rules} >= {
        (("pods",), ("get", "list", "watch", "create", "delete")), (("pods/log",), ("get",))}


def _blob(registry: str, repository: str, digest: str) -> bytes:
    with urllib.request.urlopen(f"http://{registry}/v2/{repository}/blobs/{digest}", timeout=60) as answer:
        return bytes(answer.read())


def test_the_wishstar_image_runs_as_10001_and_holds_no_build_secret(wishstar_image: str) -> None:
    """The CA bundle pip used in the build was a secret mount: no layer has it, nor anything under /run/secrets."""
    name, tag = wishstar_image.rsplit(":", 1)
    registry, repository = name.split("/", 1)
    request = urllib.request.Request(f"http://{registry}/v2/{repository}/manifests/{tag}", headers={
        "Accept": "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        manifest = json.load(answer)
    config = json.loads(_blob(registry, repository, manifest["config"]["digest"]))["config"]
    assert (config["User"], config["Entrypoint"], config["Cmd"]) == (
        "10001:10001", ["wishstar"], ["serve", "--host", "0.0.0.0", "--port", "8080"])
    bundle = Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt")).read_bytes()
    for layer in manifest["layers"]:
        with tarfile.open(fileobj=io.BytesIO(_blob(registry, repository, layer["digest"]))) as tar:
            for member in tar:
                assert not member.name.lstrip("./").startswith("run/secrets/"), member.name
                if member.isfile() and member.size == len(bundle):
                    extracted = tar.extractfile(member)
                    assert extracted is None or extracted.read() != bundle, member.name


@pytest.fixture(scope="session")
def helm_image(real_node: RealNode) -> str:
    return _sh([str(ROOT / "scripts" / "images.sh"), "build", "helm"], timeout=900).splitlines()[-1]


def test_the_helm_step_image_renders_the_baked_in_app_chart_with_a_preset(
        cluster: Cluster, real_node: RealNode, namespace: str, helm_image: str) -> None:
    """wishstar/helm on the real node, as the library tasks' steps run in it: helm, kubectl, charts/app."""
    script = ("set -e; helm version --short; kubectl version --client=true | head -n 1; "
              "helm template shop /opt/wishstar/charts/app -f /opt/wishstar/charts/app/ci/spring-boot-values.yaml "
              "--set image.repository=harbor.example.com/shop/api --set-string image.tag=1 | grep 'path: /actuator'")
    name = f"helm-image-{secrets.token_hex(3)}"
    cluster.core.create_namespaced_pod(namespace, {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
        "spec": {"nodeSelector": {REAL_NODE_LABEL[0]: REAL_NODE_LABEL[1], "kubernetes.io/hostname": real_node.name},
                 "restartPolicy": "Never", "dnsPolicy": "Default", "terminationGracePeriodSeconds": 1,
                 "securityContext": {"runAsUser": 10001, "runAsNonRoot": True},
                 "containers": [{"name": "main", "image": helm_image, "command": ["/bin/sh", "-c", script]}]}})
    deadline = time.monotonic() + 180
    while (pod := cluster.core.read_namespaced_pod(name, namespace)).status.phase not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline, (pod.status, real_node.log())
        time.sleep(0.5)
    log = cluster.core.read_namespaced_pod_log(name, namespace)
    assert pod.status.phase == "Succeeded", log
    assert log.splitlines()[0].startswith("v3.19.5")
    assert "Client Version: v1.34.4" in log
    assert log.count("path: /actuator/health/") == 3, log
