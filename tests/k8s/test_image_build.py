"""The image-build library task in a Pod on the real node, through Wishstar's Kubernetes executor.

A pipeline clones the sample app from a git daemon into the run's ``source`` workspace (a PersistentVolumeClaim the
executor creates; the test binds it to a hostPath PersistentVolume of its own, since the test cluster has no
volume provisioner), builds its Dockerfile, whose ``FROM python:3.11-slim-bookworm`` is an unchanged
public name resolved through the registry mirror (the Harbor proxy-cache stand-in, scripts/images.sh builds it),
and pushes it to the local registry tagged with the commit's short sha. What is checked is what really happened:
the registry's own digest for the tag, the build's time with the layer cache warm, a broken Dockerfile's error
in the stored log.

The Pods join the host network to reach the registry and the git daemon on 127.0.0.1 (image_build_support).
"""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.cluster import Cluster
from tests.k8s.image_build_support import (
    DOCKERFILE,
    IMAGE_BUILD_TASK,
    SampleRepo,
    app_source,
    build_images,
    fill,
    registry_digest,
    served_repo,
)
from tests.k8s.node import RealNode
from tests.k8s.test_executor_real_node import on_node
from tests.k8s.test_real_node import _run_pod as run_pod
from wishstar.engine.compiler.placement import shared_workspaces
from wishstar.engine.compiler.pods import claim_name
from wishstar.engine.compiler.types import GitContext, Plan, ResolvedTask, RunContext
from wishstar.engine.executors.base import RunEnv
from wishstar.engine.executors.kubernetes import AttemptOptions, KubernetesConfig, KubernetesExecutor
from wishstar.engine.executors.kubernetes.objects import TaskObjects
from wishstar.engine.runner import Runner, RunOptions, base_env
from wishstar.engine.store import shape
from wishstar.engine.store.api import Store
from wishstar.pipelines.load import compile_run, validate
from wishstar.tasks import Library

pytestmark = [pytest.mark.kubernetes, pytest.mark.timeout(1800)]

PIPELINE = """\
name: app
workspaces: [source]
tasks:
  checkout:
    image: '@DEBIAN@'
    workspaces: {source: source}
    script: |
      git clone -q "$WISHSTAR_GIT_URL" "$(workspaces.source.path)"
      git -C "$(workspaces.source.path)" -c advice.detachedHead=false checkout -q "$WISHSTAR_GIT_COMMIT"
""" + IMAGE_BUILD_TASK + """\
      KANIKO_IMAGE: '@KANIKO@'
      BUILDAH_IMAGE: '@BUILDAH@'
"""


@pytest.fixture
def sample_repo(tmp_path: Path) -> Iterator[SampleRepo]:
    with served_repo(tmp_path) as repo:
        yield repo


@pytest.fixture(scope="module")
def images(real_node: RealNode) -> dict[str, str]:
    return {**real_node.images, **build_images("kaniko", "buildah", "mirror-python")}


def on_host_network(plan: Plan, ctx: RunContext, node: RealNode) -> Any:
    """The real node's manifests, in the host's network: the registry and the git daemon listen on 127.0.0.1."""
    inner = on_node(plan, ctx, node)

    def build(task: ResolvedTask) -> TaskObjects:
        objects: TaskObjects = inner(task)
        objects.pod["spec"]["hostNetwork"] = True
        return objects

    return build


class BuildRun:
    """One run of PIPELINE for a commit of the sample repo, through the runner, a store and the executor."""

    def __init__(self, tmp_path: Path, cluster: Cluster, namespace: str, node: RealNode, text: str,
                 git: GitContext) -> None:
        self.tmp_path = tmp_path
        self.store = Store.open(None, tmp_path)
        run_id, number = self.store.create_run("app", git={"commit": git.commit or ""})
        self.ctx = RunContext(run_id=run_id, number=number, namespace=namespace, git=git,
                              )
        library = Library()
        self.plan = compile_run(validate(text, ".wishstar.yaml", library), self.ctx, library, placement=True)
        self.volume = workspace_volume(cluster, namespace, claim_name(run_id, "source"), tmp_path / "pv")
        config = KubernetesConfig(namespace=namespace, kubeconfig=str(cluster.kubeconfig),
                                  attempt=AttemptOptions(delete_grace_s=1, image_pull_grace_s=300))
        executor = KubernetesExecutor(on_host_network(self.plan, self.ctx, node), config)
        env = RunEnv(run_id, str(tmp_path / "run"), None, shared_workspaces(self.plan))
        self.runner = Runner(self.plan, self.ctx, executor, self.store, _logs(tmp_path), env, secrets={},
                             base_env=base_env(self.ctx, self.plan.pipeline, {"PATH": "/usr/bin"}),
                             options=RunOptions(concurrency=4, flush_interval=0.0, cancel_poll=0.05))

    def go(self) -> tuple[dict[str, Any], float]:
        t0 = time.monotonic()
        try:
            asyncio.run(asyncio.wait_for(self.runner.run(), 1200))
        finally:
            self.volume()
        return shape.run_dict(self.store.get_run(self.ctx.run_id)), time.monotonic() - t0

    def results(self) -> dict[str, str]:
        tasks = shape.run_dict(self.store.get_run(self.ctx.run_id))["tasks"]
        return {k.rsplit(".", 1)[-1]: v for t in tasks for k, v in (t.get("results") or {}).items()}

    def log(self) -> str:
        root = self.tmp_path / "logs"
        return "\n".join(p.read_text(errors="replace") for p in sorted(root.rglob("*")) if p.is_file())


def workspace_volume(cluster: Cluster, namespace: str, claim: str, path: Path) -> Callable[[], None]:
    """A hostPath PersistentVolume reserved for ``claim`` (bound by the controller-manager); returns its deleter."""
    name = f"wishstar-test-{claim}"[:63]
    cluster.core.create_persistent_volume({
        "apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                 "persistentVolumeReclaimPolicy": "Retain",
                 "hostPath": {"path": str(path), "type": "DirectoryOrCreate"},
                 "claimRef": {"namespace": namespace, "name": claim}}})
    return lambda: cluster.core.delete_persistent_volume(name)


def _logs(tmp_path: Path) -> Any:
    from wishstar.engine.store.logs import LogStore

    return LogStore(tmp_path)


def pipeline_text(images: dict[str, str], repository: str, builder: str) -> str:
    # the idle builder's step runs in the active builder's image: nothing else to pull
    active = images[builder]
    return fill(PIPELINE, {"DEBIAN": images["debian"], "REPOSITORY": repository, "BUILDER": builder,
                           "KANIKO": active, "BUILDAH": active, "REGISTRY": repository.split("/", 1)[0]})


def build(tmp_path: Path, cluster: Cluster, namespace: str, node: RealNode, images: dict[str, str],
          repo: SampleRepo, commit: str, repository: str, builder: str = "kaniko") -> tuple[BuildRun, dict[str, Any],
                                                                                           float]:
    run = BuildRun(tmp_path, cluster, namespace, node, pipeline_text(images, repository, builder),
                   GitContext(url=repo.url, branch="main", commit=commit))
    data, seconds = run.go()
    return run, data, seconds


def test_kaniko_builds_a_public_base_through_the_mirror_and_pushes_the_commit_tag_with_the_registrys_digest(
        tmp_path: Path, cluster: Cluster, namespace: str, real_node: RealNode, images: dict[str, str],
        sample_repo: SampleRepo) -> None:
    registry = images["kaniko"].split("/", 1)[0]
    repository = f"{registry}/wishstar-test/{namespace}"
    first = sample_repo.commit({"Dockerfile": DOCKERFILE, "app.py": app_source("hello 1")}, "first")
    run, data, cold = build(tmp_path / "1", cluster, namespace, real_node, images, sample_repo, first, repository)
    assert data["status"] == "succeeded", (data, run.log()[-4000:])
    results = run.results()
    path = repository.split("/", 1)[1]
    assert results["IMAGE_URL"] == f"{repository}:{first[:8]}"
    assert results["IMAGE_DIGEST"] == registry_digest(registry, path, first[:8])
    # the image runs on the node, pulled by that very digest
    pod, out = run_pod(cluster.core, namespace, real_node, f"{repository}@{results['IMAGE_DIGEST']}",
                       "python3 /app/app.py && cat /deps.txt")
    assert pod.status.phase == "Succeeded" and out == "hello 1\ndependencies\n", (pod.status, out)
    assert pod.status.container_statuses[0].image_id.endswith(results["IMAGE_DIGEST"])

    # a code change: the RUN layer before COPY comes from the cache repository
    second = sample_repo.commit({"app.py": app_source("hello 2")}, "second")
    run2, data2, warm = build(tmp_path / "2", cluster, namespace, real_node, images, sample_repo, second,
                              repository)
    assert data2["status"] == "succeeded", (data2, run2.log()[-4000:])
    digest2 = run2.results()["IMAGE_DIGEST"]
    assert digest2 == registry_digest(registry, path, second[:8]) != results["IMAGE_DIGEST"]
    assert "Using caching version of cmd: RUN" in run2.log(), run2.log()[-3000:]
    print(f"\nkaniko in a Pod: cold cache {cold:.1f} s, warm cache {warm:.1f} s")
    assert warm < cold, (cold, warm)


def test_a_broken_dockerfile_fails_the_task_with_the_builders_message_in_the_log(
        tmp_path: Path, cluster: Cluster, namespace: str, real_node: RealNode, images: dict[str, str],
        sample_repo: SampleRepo) -> None:
    registry = images["kaniko"].split("/", 1)[0]
    broken = textwrap.dedent("""\
        FROM python:3.11-slim-bookworm
        RUN echo "about to fail" && exit 7
        """)
    commit = sample_repo.commit({"Dockerfile": broken, "app.py": app_source("x")}, "broken")
    run, data, _ = build(tmp_path, cluster, namespace, real_node, images, sample_repo, commit,
                         f"{registry}/wishstar-test/{namespace}-broken")
    assert data["status"] == "failed"
    log = run.log()
    assert "about to fail" in log and "exit status 7" in log, log[-3000:]
    assert "IMAGE_DIGEST" not in run.results()


def test_one_param_swaps_the_builder_to_buildah_in_the_pod(
        tmp_path: Path, cluster: Cluster, namespace: str, real_node: RealNode, images: dict[str, str],
        sample_repo: SampleRepo) -> None:
    # no securityContext: buildah (lacking CAP_SYS_ADMIN) builds in a user namespace of its own (docs/images.md)
    registry = images["buildah"].split("/", 1)[0]
    repository = f"{registry}/wishstar-test/{namespace}-buildah"
    commit = sample_repo.commit({"Dockerfile": DOCKERFILE, "app.py": app_source("hello buildah")}, "first")
    run, data, seconds = build(tmp_path, cluster, namespace, real_node, images, sample_repo, commit, repository,
                               builder="buildah")
    assert data["status"] == "succeeded", (data, run.log()[-4000:])
    digest = run.results()["IMAGE_DIGEST"]
    assert digest == registry_digest(registry, repository.split("/", 1)[1], commit[:8])
    assert "BUILDER is buildah: the kaniko step has nothing to do" in run.log()
    print(f"\nbuildah in a Pod (vfs storage): {seconds:.1f} s")
