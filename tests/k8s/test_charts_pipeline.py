"""The app store through Wishstar: a pipeline with ``uses: helm-upgrade@1`` deploys charts/app into the real
cluster, and what the run records is what runs.

``wishstar run`` (the real CLI, local executor: the step is a process on this machine with the real helm on
PATH and the cluster's kubeconfig as ~/.kube/config) runs the library task on a committed repository whose
``deploy/values.yaml`` puts the Pods on the real node. The run's results name the release, revision 1 then 2,
the chart and the digest; the Deployment's Pod runs exactly that digest and answers on the preset's port.
A misspelled key in the repository's values file fails the task before anything reaches the cluster.
On the real node, ``wishstar run --executor kubernetes`` runs helm-lint in a Pod of the wishstar/helm image.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import git
import pytest
import yaml

from tests.charts.helm import APP_CHART, helm_binary
from tests.k8s.cluster import ROOT, Cluster
from tests.k8s.node import REAL_NODE_LABEL, RealNode
from tests.k8s.test_charts_real_node import Image, _get, _ready_pod, helm_image, tiny_apps  # noqa: F401 - fixtures

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(900)]


PIPELINE = """\
name: deploy-tiny
params:
  digest:
    default: ""
tasks:
  deploy:
    uses: helm-upgrade@1
    with:
      release: tiny
      namespace: {namespace}
      chart: {chart}
      preset: go
      valuesFile: deploy/values.yaml
      imageRepository: {repository}
      imageTag: {tag}
      imageDigest: $(params.digest)
      timeout: 3m
"""


def _repo(path: Path, pipeline: str, values: dict[str, Any]) -> Path:
    path.mkdir()
    repo = git.Repo.init(path, initial_branch="main")
    (path / ".wishstar.yaml").write_text(pipeline)
    (path / "deploy").mkdir()
    (path / "deploy" / "values.yaml").write_text(yaml.safe_dump(values))
    repo.index.add([".wishstar.yaml", "deploy/values.yaml"])
    author = git.Actor("Test Author", "author@example.com")
    repo.index.commit("deploy tiny", author=author, committer=author)
    return path


def _wishstar(tmp_path: Path, cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    home = tmp_path / "home"
    (home / ".kube").mkdir(parents=True, exist_ok=True)
    shutil.copy(cluster.kubeconfig, home / ".kube" / "config")
    env = {"PATH": f"{Path(helm_binary()).parent}:{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(home),
           "WISHSTAR_STATE_DIR": str(tmp_path / "state"), "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "wishstar.cli", *args], capture_output=True, text=True,
                          timeout=600, env={**env, **{k: v for k, v in os.environ.items() if k.startswith("PYTHON")}},
                          cwd=ROOT, check=False)


def _deploy(tmp_path: Path, cluster: Cluster, repo: Path, digest: str) -> dict[str, Any]:
    done = _wishstar(tmp_path, cluster, "run", str(repo), "--param", f"digest={digest}", "--output", "json",
                     "--no-progress")
    data = dict(json.loads(done.stdout)) if done.stdout.strip().startswith("{") else {}
    task = {t["name"]: t for t in data.get("tasks", [])}.get("deploy", {})
    if data.get("status") != "succeeded":
        logs = _wishstar(tmp_path, cluster, "logs", f"deploy-tiny#{data.get('number', '')}", "deploy")
        pytest.fail(f"run not succeeded: {done.stderr[-3000:]}\n{task}\nlog:\n{logs.stdout[-4000:]}")
    return dict(task["results"])


def test_a_helm_upgrade_pipeline_records_the_revision_and_digest_that_run(
        tmp_path: Path, cluster: Cluster, real_node: RealNode, namespace: str,
        tiny_apps: tuple[Image, Image]) -> None:  # noqa: F811 - the fixture
    first, second = tiny_apps
    node = {"nodeSelector": {REAL_NODE_LABEL[0]: REAL_NODE_LABEL[1], "kubernetes.io/hostname": real_node.name}}
    pipeline = PIPELINE.format(namespace=namespace, chart=APP_CHART, repository=first.repository, tag=first.tag)
    repo = _repo(tmp_path / "repo", pipeline, node)

    results = _deploy(tmp_path, cluster, repo, first.digest)
    assert results == {"RELEASE_NAME": "tiny", "RELEASE_NAMESPACE": namespace, "RELEASE_REVISION": "1",
                       "CHART": "app", "CHART_VERSION": "0.1.0", "IMAGE_DIGEST": first.digest}
    pod = _ready_pod(cluster, namespace, "tiny", f"{first.repository}@{first.digest}")
    assert pod.status.container_statuses[0].image_id.endswith(first.digest)
    assert _get(f"http://{pod.status.pod_ip}:8080/healthz") == (200, first.marker + "\n")

    results = _deploy(tmp_path, cluster, repo, second.digest)
    assert (results["RELEASE_REVISION"], results["IMAGE_DIGEST"]) == ("2", second.digest)
    pod = _ready_pod(cluster, namespace, "tiny", f"{second.repository}@{second.digest}")
    assert _get(f"http://{pod.status.pod_ip}:8080/healthz") == (200, second.marker + "\n")


def test_a_misspelled_value_in_the_repository_fails_the_task_and_deploys_nothing(
        tmp_path: Path, cluster: Cluster, namespace: str, tiny_apps: tuple[Image, Image]) -> None:  # noqa: F811
    first, _ = tiny_apps
    pipeline = PIPELINE.format(namespace=namespace, chart=APP_CHART, repository=first.repository, tag=first.tag)
    repo = _repo(tmp_path / "repo", pipeline, {"servce": {"port": 80}})
    done = _wishstar(tmp_path, cluster, "run", str(repo), "--param", f"digest={first.digest}", "--output", "json",
                     "--no-progress")
    data = json.loads(done.stdout)
    assert data["status"] == "failed"
    logs = _wishstar(tmp_path, cluster, "logs", f"deploy-tiny#{data['number']}", "deploy").stdout
    assert "additional properties 'servce' not allowed" in logs
    assert "nothing was deployed" in logs
    assert cluster.core.list_namespaced_pod(namespace).items == []
    secrets = cluster.core.list_namespaced_secret(namespace, label_selector="owner=helm").items
    assert secrets == []


def test_helm_lint_runs_in_a_pod_of_the_helm_image_on_the_real_node(
        tmp_path: Path, cluster: Cluster, real_node: RealNode, namespace: str,
        helm_image: str) -> None:  # noqa: F811 - the fixture
    pipeline = f"""\
name: lint-app
kubernetes:
  nodeSelector: {{{REAL_NODE_LABEL[0]}: {REAL_NODE_LABEL[1]}, kubernetes.io/hostname: {real_node.name}}}
tasks:
  lint:
    uses: helm-lint@1
    with: {{image: "{helm_image}", preset: spring-boot}}
  wrong-preset:
    uses: helm-lint@1
    with: {{image: "{helm_image}", preset: rails}}
"""
    repo = _repo(tmp_path / "repo", pipeline, {})
    done = _wishstar(tmp_path, cluster, "run", str(repo), "--executor", "kubernetes", "--kubeconfig",
                     str(cluster.kubeconfig), "--namespace", namespace, "--output", "json", "--no-progress")
    data = json.loads(done.stdout)
    tasks = {t["name"]: t for t in data["tasks"]}
    assert (tasks["lint"]["status"], tasks["wrong-preset"]["status"]) == ("succeeded", "failed"), (
        done.stderr, real_node.log())
    lint_log = _wishstar(tmp_path, cluster, "logs", data["id"], "lint").stdout
    assert "1 chart(s) linted, 0 chart(s) failed" in lint_log
    assert "helm-lint: /opt/wishstar/charts/app is clean (2 objects rendered)" in lint_log
    wrong_log = _wishstar(tmp_path, cluster, "logs", data["id"], "wrong-preset").stdout
    assert "the chart has no preset 'rails'" in wrong_log
