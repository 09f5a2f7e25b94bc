"""charts/app, the app store's base chart: every preset lints and renders valid Kubernetes 1.34 objects, the
Pod runs the digest it is given, the defaults are the secure ones, and the schema refuses what a form must not
let through (a misspelled key at any depth, a wrong type or value)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.charts.helm import APP_CHART, DIGEST, PRESETS, by_kind, k8s_problems, lint, refused, render

IMAGE = {"image.repository": "harbor.example.com/shop/api", "image.tag": "3f2a1bc"}
EVERYTHING_ON = {
    **IMAGE, "config.GREETING": "hello", "ingress.enabled": True, "ingress.hosts[0].host": "api.example.com",
    "autoscaling.enabled": True, "podDisruptionBudget.enabled": True, "serviceAccount.create": True,
    "secretEnv.DB_PASSWORD.secret": "db", "secretEnv.DB_PASSWORD.key": "password",
}


def preset(name: str) -> Path:
    return APP_CHART / "ci" / f"{name}-values.yaml"


def container(manifests: list[dict]) -> dict:
    return by_kind(manifests)["Deployment"]["spec"]["template"]["spec"]["containers"][0]


def test_the_presets_are_exactly_the_five_frameworks() -> None:
    assert sorted(p.name for p in (APP_CHART / "ci").glob("*-values.yaml")) == sorted(
        f"{name}-values.yaml" for name in PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_passes_helm_lint_strict(name: str) -> None:
    done = lint(APP_CHART, [preset(name)], IMAGE)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_renders_objects_valid_for_kubernetes_1_34(name: str) -> None:
    manifests = render(APP_CHART, [preset(name)], EVERYTHING_ON)
    assert {m["kind"] for m in manifests} == {
        "Deployment", "Service", "Ingress", "HorizontalPodAutoscaler", "PodDisruptionBudget", "ConfigMap",
        "ServiceAccount"}
    assert k8s_problems(manifests) == []


def test_the_defaults_alone_render_valid_objects_without_a_service_monitor() -> None:
    manifests = render(APP_CHART, sets=IMAGE)
    assert {m["kind"] for m in manifests} == {"Deployment", "Service"}
    assert k8s_problems(manifests) == []


def test_a_digest_makes_the_pod_run_repository_at_digest() -> None:
    manifests = render(APP_CHART, [preset("go")], {**IMAGE, "image.digest": DIGEST})
    assert container(manifests)["image"] == f"harbor.example.com/shop/api@{DIGEST}"


def test_without_a_digest_the_tag_is_used_and_without_either_nothing_renders() -> None:
    assert container(render(APP_CHART, sets=IMAGE))["image"] == "harbor.example.com/shop/api:3f2a1bc"
    stderr = refused(APP_CHART, sets={"image.repository": "harbor.example.com/shop/api"})
    assert "image.tag or image.digest is required" in stderr
    assert "image.repository is required" in refused(APP_CHART, sets={"image.tag": "1"})


def test_secure_defaults_non_root_uid_10001_read_only_root_no_capabilities_no_token() -> None:
    manifests = render(APP_CHART, [preset("python")], IMAGE)
    pod = by_kind(manifests)["Deployment"]["spec"]["template"]["spec"]
    app = pod["containers"][0]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001,
                                      "fsGroup": 10001, "seccompProfile": {"type": "RuntimeDefault"}}
    assert app["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                      "runAsNonRoot": True, "capabilities": {"drop": ["ALL"]}}
    assert {"name": "tmp", "mountPath": "/tmp"} in app["volumeMounts"]
    assert {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}} in pod["volumes"]


def test_spring_boot_preset_probes_actuator_groups_and_sizes_the_jvm_from_the_limit() -> None:
    app = container(render(APP_CHART, [preset("spring-boot")], IMAGE))
    assert app["livenessProbe"]["httpGet"] == {"path": "/actuator/health/liveness", "port": "http"}
    assert app["readinessProbe"]["httpGet"] == {"path": "/actuator/health/readiness", "port": "http"}
    assert app["startupProbe"]["failureThreshold"] * app["startupProbe"]["periodSeconds"] >= 180
    env = {e["name"]: e.get("value") for e in app["env"]}
    assert "-XX:MaxRAMPercentage=75.0" in env["JAVA_TOOL_OPTIONS"]
    assert app["resources"]["limits"]["memory"] == "768Mi"
    assert app["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]


@pytest.mark.parametrize(("name", "port"), [("node", 3000), ("python", 8000), ("go", 8080), ("dotnet", 8080)])
def test_each_preset_sets_its_framework_port(name: str, port: int) -> None:
    assert container(render(APP_CHART, [preset(name)], IMAGE))["ports"][0]["containerPort"] == port


def test_config_becomes_a_config_map_read_as_environment_and_rolls_the_pods_when_changed() -> None:
    one = render(APP_CHART, sets={**IMAGE, "config.GREETING": "hello"})
    two = render(APP_CHART, sets={**IMAGE, "config.GREETING": "bye"})
    assert by_kind(one)["ConfigMap"]["data"] == {"GREETING": "hello"}
    assert container(one)["envFrom"] == [{"configMapRef": {"name": "demo-app"}}]
    checksum = [by_kind(m)["Deployment"]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
                for m in (one, two)]
    assert checksum[0] != checksum[1]


def test_the_service_monitor_switch_adds_a_monitoring_coreos_com_v1_object() -> None:
    manifests = render(APP_CHART, sets={**IMAGE, "serviceMonitor.enabled": True})
    monitor = by_kind(manifests)["ServiceMonitor"]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]


def test_autoscaling_replaces_the_fixed_replica_count() -> None:
    manifests = render(APP_CHART, sets={**IMAGE, "autoscaling.enabled": True, "replicaCount": 3})
    assert "replicas" not in by_kind(manifests)["Deployment"]["spec"]
    assert by_kind(manifests)["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == 2


@pytest.mark.parametrize("key", [
    "replicaCont",                          # top level
    "image.tagg",                           # one level down
    "probes.liveness.pathh",                # two levels, inside a $ref'd definition
    "resources.limits.memroy",              # three levels
    "ingress.hosts[0].paths[0].pathTyp",    # inside arrays of objects
    "secretEnv.TOKEN.secrett",              # inside a map's values
])
def test_a_misspelled_key_is_refused_naming_it(key: str) -> None:
    stderr = refused(APP_CHART, sets={**IMAGE, key: "x"})
    assert "values don't meet the specifications of the schema" in stderr
    assert f"'{key.rsplit('.', 1)[-1].split('[')[0]}'" in stderr


@pytest.mark.parametrize(("key", "value", "said"), [
    ("service.type", "Ingress", "service/type"),
    ("probes.readiness.type", "grpc", "probes/readiness/type"),
    ("image.digest", "sha256:abc", "image/digest"),
    ("image.pullPolicy", "Sometimes", "image/pullPolicy"),
    ("resources.requests.cpu", "a lot", "resources/requests/cpu"),
    ("env.NOT-AN-ENV-NAME", "x", "invalid propertyName 'NOT-AN-ENV-NAME'"),
])
def test_a_wrong_value_is_refused_naming_its_path(key: str, value: str, said: str) -> None:
    assert said in refused(APP_CHART, sets={**IMAGE, key: value})


@pytest.mark.parametrize(("values", "said"), [
    ("containerPort: 70000", "containerPort"),
    ("replicaCount: -1", "replicaCount"),
    ("autoscaling: {enabled: true, maxReplicas: 1000}", "autoscaling/maxReplicas"),
    ("probes: {startup: {enabled: true, type: http, path: /, initialDelaySeconds: 0, periodSeconds: 0,"
     " timeoutSeconds: 1, failureThreshold: 1}}", "probes/startup/periodSeconds"),
    ("podDisruptionBudget: {enabled: true, minAvailable: 1, maxUnavailable: 1}", "podDisruptionBudget"),
])
def test_numbers_out_of_range_and_contradictions_are_refused(tmp_path: Path, values: str, said: str) -> None:
    (tmp_path / "values.yaml").write_text(values + "\n")
    assert said in refused(APP_CHART, [tmp_path / "values.yaml"], IMAGE)
