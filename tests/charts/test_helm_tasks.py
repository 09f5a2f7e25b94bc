"""The helm-lint, helm-upgrade and kubectl-rollout-status library tasks: valid Tekton Tasks in the versioned
layout, and helm-upgrade's script refusing bad input before it touches a cluster (run here with the real helm
and no cluster at all: KUBECONFIG names a file that does not exist)."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.charts.helm import APP_CHART, DIGEST, helm, helm_binary, registry_url
from wishstar.engine.spec.loader import load_yaml
from wishstar.engine.spec.tekton import TektonTask, parse_task

ROOT = Path(__file__).resolve().parents[2]
TASKS = ("helm-lint", "helm-upgrade", "kubectl-rollout-status")
UPGRADE_RESULTS = ["RELEASE_NAME", "RELEASE_NAMESPACE", "RELEASE_REVISION", "CHART", "CHART_VERSION", "IMAGE_DIGEST"]


def task_file(name: str) -> Path:
    return ROOT / "tasks" / "library" / name / "1" / f"{name}.yaml"


def load(name: str) -> TektonTask:
    path = task_file(name)
    return parse_task(load_yaml(path.read_text(), str(path)))


@pytest.mark.parametrize("name", TASKS)
def test_each_task_is_a_tekton_task_at_version_1_with_a_description(name: str) -> None:
    task = load(name)
    assert task.name == name
    assert task.metadata.labels["app.kubernetes.io/version"] == "1"
    assert task.spec.description and len(task.spec.description) > 80
    image = next(p for p in task.spec.params if p.name == "image").default
    assert isinstance(image, str) and ":" in image and not image.endswith((":latest", ":3", ":1"))


def test_helm_upgrade_has_the_catalog_results_the_store_records() -> None:
    assert [r.name for r in load("helm-upgrade").spec.results] == UPGRADE_RESULTS


def test_no_param_is_spliced_into_script_text() -> None:
    for name in TASKS:
        for step in load(name).spec.steps:
            assert "$(params." not in (step.script or ""), (name, step.name)


def _run_upgrade(tmp_path: Path, **params: str) -> subprocess.CompletedProcess[str]:
    script = load("helm-upgrade").spec.steps[0].script or ""
    (tmp_path / "step.sh").write_text(script)
    results = tmp_path / "results"
    results.mkdir(exist_ok=True)
    env = {
        "PATH": f"{Path(helm_binary()).parent}:/usr/bin:/bin", "HOME": str(tmp_path),
        "KUBECONFIG": str(tmp_path / "no-cluster-here"), "WORKSPACE_SOURCE_BOUND": "true",
        "WORKSPACE_SOURCE_PATH": str(tmp_path / "src"), "PARAM_RELEASE": "shop", "PARAM_NAMESPACE": "",
        "PARAM_CHART": str(APP_CHART), "PARAM_CHART_VERSION": "", "PARAM_PRESET": "go", "PARAM_VALUES_FILE": "",
        "PARAM_VALUES": "",
        "PARAM_REPOSITORY": "127.0.0.1:5000/shop/api", "PARAM_TAG": "abc123", "PARAM_DIGEST": DIGEST,
        "PARAM_TIMEOUT": "1m", "PARAM_PLAIN_HTTP": "false",
        **{f"RESULT_{r}": str(results / r) for r in UPGRADE_RESULTS},
        **{f"PARAM_{k.upper()}": v for k, v in params.items()},
    }
    return subprocess.run(["sh", str(tmp_path / "step.sh")], env=env, capture_output=True, text=True, timeout=60,
                          check=False)


def test_a_misspelled_key_in_the_apps_values_file_stops_the_deploy_before_the_cluster(tmp_path: Path) -> None:
    (tmp_path / "src" / "deploy").mkdir(parents=True)
    (tmp_path / "src" / "deploy" / "values.yaml").write_text("probes:\n  readiness:\n    pathh: /ready\n")
    done = _run_upgrade(tmp_path, values_file="deploy/values.yaml")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "at '/probes/readiness': additional properties 'pathh' not allowed" in done.stderr
    assert "the values were refused (above): nothing was deployed" in done.stderr
    assert "helm upgrade --install" not in done.stdout


@pytest.mark.parametrize(("params", "said"), [
    ({"digest": "sha256:123"}, "imageDigest must be sha256:<64 hex digits>, got 'sha256:123'"),
    ({"repository": "a/b,image.repository=evil"}, "imageRepository 'a/b,image.repository=evil' is not an image"),
    ({"tag": "1\nimage:"}, "is not a valid tag"),
    ({"release": "Shop_API"}, "release 'Shop_API' is not a DNS-1123 label"),
    ({"values_file": "../../etc/passwd"}, "valuesFile '../../etc/passwd' must be relative and stay inside the"),
    ({"preset": "rails"}, "the chart has no preset 'rails' (presets: dotnet go node python spring-boot"),
    ({"chart": "/nowhere"}, "no chart at '/nowhere'"),
    ({"timeout": "5m; rm -rf /"}, "timeout '5m; rm -rf /' is not a duration"),
])
def test_bad_params_are_refused_by_name_before_helm_runs(tmp_path: Path, params: dict[str, str], said: str) -> None:
    done = _run_upgrade(tmp_path, **params)
    assert done.returncode == 2
    assert said in done.stderr
    assert not any((tmp_path / "results").iterdir())


def test_the_values_param_is_checked_against_the_schema_like_a_values_file(tmp_path: Path) -> None:
    done = _run_upgrade(tmp_path, values='{"containerPort": 3000, "probes": {"liveness": {"typ": "tcp"}}}')
    assert done.returncode == 2, done.stdout + done.stderr
    assert "additional properties 'typ' not allowed" in done.stderr
    assert "nothing was deployed" in done.stderr


def test_the_values_param_overrides_the_preset_and_reaches_the_manifests(tmp_path: Path) -> None:
    """A shell-looking value is data: it lands in the Deployment, and nothing runs it."""
    values = '{"containerPort": 3000, "env": {"GREETING": "$(touch pwned); `id`"}}'
    done = _run_upgrade(tmp_path, values=values)
    assert "helm upgrade --install shop" in done.stdout, done.stderr
    assert not (tmp_path / "pwned").exists()
    (tmp_path / "v.yaml").write_text(values)
    rendered = helm("template", "shop", str(APP_CHART), "--values", str(APP_CHART / "ci" / "go-values.yaml"),
                    "--values", str(tmp_path / "v.yaml"), "--set-string", "image.repository=r/a,image.tag=1")
    assert "containerPort: 3000" in rendered.stdout, rendered.stderr
    assert "$(touch pwned); `id`" in rendered.stdout


def test_with_good_values_it_gets_as_far_as_the_cluster_and_no_further(tmp_path: Path) -> None:
    """Schema and templates pass; the upgrade itself needs a cluster, which is not there: helm says so."""
    done = _run_upgrade(tmp_path)
    assert "checking the values against" in done.stdout
    assert "helm upgrade --install shop" in done.stdout
    assert done.returncode != 0
    assert "helm upgrade failed (above)" in done.stderr
    assert os.listdir(tmp_path / "results") == []


def test_an_oci_chart_is_pulled_from_a_registry_and_its_preset_used(tmp_path: Path) -> None:
    """charts/app packaged and pushed to the local registry (an OCI registry, as Harbor is), then deployed from
    oci://: the task pulls it, finds the preset in the pulled chart and validates against its schema."""
    registry = registry_url()
    package = helm("package", str(APP_CHART), "--destination", str(tmp_path))
    assert package.returncode == 0, package.stderr
    repository = f"wishstar-tests/charts-{secrets.token_hex(3)}"
    pushed = helm("push", str(tmp_path / "app-0.1.0.tgz"), f"oci://{registry}/{repository}", "--plain-http")
    assert pushed.returncode == 0, pushed.stderr
    done = _run_upgrade(tmp_path, chart=f"oci://{registry}/{repository}/app", chart_version="0.1.0",
                        plain_http="true", preset="spring-boot")
    assert "checking the values against " in done.stdout and "/pulled/app" in done.stdout, done.stderr
    assert "helm upgrade --install shop" in done.stdout
    assert "helm upgrade failed (above)" in done.stderr  # no cluster here: as far as it can go


def test_an_oci_chart_that_is_not_there_is_a_clear_failure(tmp_path: Path) -> None:
    done = _run_upgrade(tmp_path, chart=f"oci://{registry_url()}/wishstar-tests/nothing/app", plain_http="true")
    assert done.returncode == 2
    assert f"could not pull chart oci://{registry_url()}/wishstar-tests/nothing/app" in done.stderr
