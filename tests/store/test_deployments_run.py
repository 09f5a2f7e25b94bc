"""Deployments recorded by a real run (``cli.run_cmd.execute``, the local executor, SQLite and PostgreSQL): a
task that writes Helm's results, with its image digest from the build task upstream of it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.cli.conftest import make_repo  # noqa: F401  (the fixture)
from wishstar.cli import run_cmd
from wishstar.engine.store import Store
from wishstar.engine.store.deployments import Deployments
from wishstar.pipelines.settings import Settings
from wishstar.tasks import Library

DIGEST = "sha256:" + "7" * 64
BUILD_TASK = f"""
apiVersion: tekton.dev/v1
kind: Task
metadata: {{name: fake-build}}
spec:
  results: [{{name: IMAGE_DIGEST}}, {{name: IMAGE_URL}}]
  steps:
    - name: build
      image: docker.io/library/busybox:1.36
      script: |
        #!/bin/sh
        printf '{DIGEST}' > "$(results.IMAGE_DIGEST.path)"
        printf 'registry.local/shop/api:1' > "$(results.IMAGE_URL.path)"
"""
HELM_TASK = """
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: fake-helm}
spec:
  params: [{name: revision}, {name: marker}]
  results: [{name: RELEASE_NAME}, {name: RELEASE_NAMESPACE}, {name: RELEASE_REVISION}, {name: CHART},
            {name: CHART_VERSION}]
  steps:
    - name: upgrade
      image: docker.io/library/busybox:1.36
      env:
        - {name: REVISION, value: $(params.revision)}
        - {name: MARKER, value: $(params.marker)}
      script: |
        #!/bin/sh
        test -f "$MARKER" || { touch "$MARKER"; exit 1; }
        printf shop > "$(results.RELEASE_NAME.path)"
        printf '%s\\n' "$REVISION" > "$(results.RELEASE_REVISION.path)"
        printf prod > "$(results.RELEASE_NAMESPACE.path)"
        printf app > "$(results.CHART.path)"
        printf 0.3.0 > "$(results.CHART_VERSION.path)"
"""
PIPELINE = """
    name: shop
    params: {revision: "1", marker: ""}
    tasks:
      build:
        uses: fake-build
      deploy:
        uses: fake-helm
        needs: [build]
        retries: {limit: 1, backoff: 10ms}
        with: {revision: $(params.revision), marker: $(params.marker)}
"""


def _run(repo: Path, store: Store, tmp_path: Path, revision: str) -> str:
    tasks = tmp_path / "tasks"
    tasks.mkdir(exist_ok=True)
    (tasks / "fake-build.yaml").write_text(BUILD_TASK)
    (tasks / "fake-helm.yaml").write_text(HELM_TASK)
    request = run_cmd.RunRequest(source=str(repo), progress=False,
                                 params={"revision": revision, "marker": str(tmp_path / f"marker-{revision}")})
    cfg = Settings(state_dir=store.state_dir)
    run_id, status = run_cmd.execute(request, cfg, store, Library([tasks]))
    assert status == "succeeded", store.get_run(run_id)
    return run_id


def test_a_real_run_records_its_deployment_once_with_the_upstream_digest(
        open_store: Callable[[], Store], make_repo: Callable[..., Path], tmp_path: Path) -> None:  # noqa: F811
    store = open_store()
    repo = make_repo(PIPELINE)
    first = _run(repo, store, tmp_path, "1")
    second = _run(repo, store, tmp_path, "2")
    assert store.get_run(first).task("deploy").attempts == 2  # type: ignore[union-attr]
    history = Deployments(store).history("shop", namespace="prod")
    assert [(h.run_id, h.revision, h.image_digest, h.image, h.chart_version) for h in history] == [
        (second, 2, DIGEST, "registry.local/shop/api", "0.3.0"), (first, 1, DIGEST, "registry.local/shop/api", "0.3.0")]
    commit = store.get_run(second).commit
    [current] = Deployments(store).current("shop")
    assert (current.revision, current.commit, current.ref, current.task) == (2, commit, "main", "deploy")


def test_a_run_whose_revision_is_not_a_number_succeeds_with_a_warning(
        open_store: Callable[[], Store], make_repo: Callable[..., Path], tmp_path: Path) -> None:  # noqa: F811
    store = open_store()
    run_id = _run(make_repo(PIPELINE), store, tmp_path, "v2")
    reason = store.get_run(run_id).task("deploy").reason  # type: ignore[union-attr]
    assert reason is not None and 'deployment not recorded: RELEASE_REVISION "v2"' in reason
    assert Deployments(store).current("shop") == []
