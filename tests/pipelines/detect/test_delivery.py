"""Every generated pipeline delivers: after the tests, ``image-build@1`` builds and pushes the app's image and, for
an app that listens on a port, ``helm-upgrade@1`` deploys that digest with charts/app and the framework's preset.

Both wait for a registry (``--param registry=...``), the deploy also for ``deploy=true``, so ``wishstar run`` on a
laptop still only tests. The values a generated deploy hands the chart are checked by the real helm against the
chart's strict schema, for every fixture repository.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.charts.helm import APP_CHART, DIGEST, helm
from tests.pipelines.detect.render_cases import FIXTURES, checkout, wishstar
from wishstar.pipelines.detect.registry import detect_repository
from wishstar.pipelines.generate import generate
from wishstar.pipelines.load import validate
from wishstar.tasks.catalog import Library

CASES = sorted(p.name for p in FIXTURES.iterdir() if p.is_dir() and detect_repository(p).apps)


@cache  # collection and several facts read the same case: detect, generate and validate it once
def _pipeline(case: str) -> dict[str, dict[str, object]]:
    root = FIXTURES / case
    text = generate(detect_repository(root), name=case, has_file=lambda rel: (root / rel).is_file()).pipeline
    validate(text, ".wishstar.yaml", Library())
    tasks: dict[str, dict[str, object]] = yaml.safe_load(text)["tasks"]
    return tasks


def _by_uses(tasks: dict[str, dict[str, object]], uses: str) -> dict[str, dict[str, object]]:
    return {name: task for name, task in tasks.items() if task.get("uses") == uses}


@pytest.mark.parametrize("case", CASES)
def test_each_app_gets_an_image_build_after_its_tests_and_only_when_a_registry_is_given(case: str) -> None:
    tasks = _pipeline(case)
    builds = _by_uses(tasks, "image-build@1")
    assert len(builds) == len(detect_repository(FIXTURES / case).apps)
    for name, build in builds.items():
        [test] = build["needs"]  # type: ignore[misc]
        assert test in tasks and "uses" not in tasks[test], name
        assert build["when"] == 'params.registry != ""'
        with_ = build["with"]
        assert isinstance(with_, dict) and with_["IMAGE"].startswith("$(params.registry)/")
        dockerfile = Path(with_["CONTEXT"]) / with_["DOCKERFILE"]
        assert dockerfile.name == "Dockerfile" and ".." not in dockerfile.parts


@pytest.mark.parametrize("case", CASES)
def test_a_deploy_follows_only_for_apps_that_listen_and_runs_the_digest_just_built(case: str) -> None:
    tasks = _pipeline(case)
    listening = [app for app in detect_repository(FIXTURES / case).apps if app.chosen.port is not None]
    deploys = _by_uses(tasks, "helm-upgrade@1")
    assert len(deploys) == len(listening)
    for deploy in deploys.values():
        [build] = deploy["needs"]  # type: ignore[misc]
        assert tasks[build]["uses"] == "image-build@1"
        assert deploy["when"] == 'params.registry != "" && params.deploy == "true"'
        with_ = deploy["with"]
        assert isinstance(with_, dict)
        assert with_["imageDigest"] == f"$(tasks.{build}.results.IMAGE_DIGEST)"
        assert with_["imageRepository"] == tasks[build]["with"]["IMAGE"]  # type: ignore[index]


def test_the_preset_follows_the_framework() -> None:
    presets = {case: sorted(str(t["with"].get("preset", "")) for t in  # type: ignore[union-attr]
                            _by_uses(_pipeline(case), "helm-upgrade@1").values())
               for case in ("spring-boot-maven", "kotlin-spring-gradle-kts", "node-express", "ts-nest",
                            "python-pip-flask", "go-gin-api", "dotnet-webapi", "static-site", "docker-only")}
    assert presets == {"spring-boot-maven": ["spring-boot"], "kotlin-spring-gradle-kts": ["spring-boot"],
                       "node-express": ["node"], "ts-nest": ["node"], "python-pip-flask": ["python"],
                       "go-gin-api": ["go"], "dotnet-webapi": ["dotnet"], "static-site": [""], "docker-only": [""]}


@pytest.mark.parametrize("case", [c for c in CASES if _by_uses(_pipeline(c), "helm-upgrade@1")])
def test_the_values_a_generated_deploy_gives_the_chart_pass_its_schema_and_set_the_detected_port(
        case: str, tmp_path: Path) -> None:
    for name, deploy in _by_uses(_pipeline(case), "helm-upgrade@1").items():
        with_ = deploy["with"]
        assert isinstance(with_, dict)
        values = json.loads(with_["values"])
        (tmp_path / "values.yaml").write_text(with_["values"])
        args = ["template", with_["release"], str(APP_CHART)]
        if with_.get("preset"):
            args += ["--values", str(APP_CHART / "ci" / f"{with_['preset']}-values.yaml")]
        args += ["--values", str(tmp_path / "values.yaml"), "--set-string",
                 f"image.repository=registry.example/app,image.digest={DIGEST}"]
        done = helm(*args)
        assert done.returncode == 0, (name, done.stderr)
        [deployment] = [d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "Deployment"]
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["ports"][0]["containerPort"] == values["containerPort"]
        assert container["image"] == f"registry.example/app@{DIGEST}"
        assert "tcpSocket" in container["readinessProbe"]


def test_without_a_registry_a_run_tests_and_skips_the_build_and_the_deploy_saying_why(tmp_path: Path) -> None:
    repo = checkout("go-cmd-layout", tmp_path)
    done = wishstar(tmp_path, "run", str(repo), "--output", "json", "--no-progress")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    states = {task["name"]: (task["status"], task.get("reason") or "") for task in run["tasks"]}
    assert states["test"][0] == "succeeded"
    assert states["image"][0] == states["deploy"][0] == "skipped"
    assert 'params.registry != ""' in states["image"][1]


def test_a_registry_without_deploy_builds_but_does_not_deploy(tmp_path: Path) -> None:
    """``--param registry=`` reaches the build (kaniko refuses to run on the host: the local executor is for
    tests; the image is built in a Pod or with BUILDER=buildah), and the deploy stays skipped."""
    repo = checkout("go-cmd-layout", tmp_path)
    done = wishstar(tmp_path, "run", str(repo), "--param", "registry=127.0.0.1:9/team", "--output", "json",
                    "--no-progress")
    run = json.loads(done.stdout)
    states = {task["name"]: task["status"] for task in run["tasks"]}
    assert states["test"] == "succeeded"
    assert states["image"] == "failed"  # kaniko's refusal on the host, not a skip
    assert states["deploy"] == "skipped"
    logs = wishstar(tmp_path, "logs", f"{repo.name}#1", "image")
    assert "kaniko" in logs.stdout + logs.stderr
