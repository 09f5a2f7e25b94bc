"""charts/wishstar: renders valid Kubernetes 1.34 objects; the executor's Role in every build namespace is
exactly docs/rbac.md's; its settings.toml is one Wishstar's own settings loader accepts; secrets stay in the
Secret; more than one replica is refused without PostgreSQL."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.charts.helm import WISHSTAR_CHART, by_kind, k8s_problems, lint, refused, render
from wishstar.pipelines.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]
POSTGRES = {"database.kind": "postgresql",
            "database.url": "postgresql+psycopg://wishstar:s3cret-pw@db.example.com:5432/wishstar"}
EVERYTHING_ON = {**POSTGRES, "replicaCount": 3, "gitlab.url": "https://gitlab.example.com",
                 "gitlab.token": "glpat-very-secret", "ingress.enabled": True, "ingress.host": "ci.example.com",
                 "ingress.tlsSecret": "ci-tls", "persistence.enabled": False, "buildNamespaces[0]": "ci",
                 "buildNamespaces[1]": "ci-heavy", "settings.namespace": "ci-heavy"}


def _env(manifests: list[dict[str, Any]]) -> dict[str, Any]:
    container = by_kind(manifests)["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_helm_lint_strict_passes_with_the_defaults_and_with_everything_on() -> None:
    for sets in ({}, EVERYTHING_ON):
        done = lint(WISHSTAR_CHART, sets=sets)
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("sets", [{}, EVERYTHING_ON, {"persistence.enabled": True}], ids=["defaults", "all", "pvc"])
def test_renders_objects_valid_for_kubernetes_1_34(sets: dict[str, Any]) -> None:
    assert k8s_problems(render(WISHSTAR_CHART, sets=sets, namespace="wishstar")) == []


def test_probes_ask_healthz_and_the_server_listens_on_all_addresses() -> None:
    manifests = render(WISHSTAR_CHART)
    container = by_kind(manifests)["Deployment"]["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["args"] == ["serve", "--host", "0.0.0.0", "--port", "8080"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_each_build_namespace_gets_the_executor_role_of_docs_rbac_bound_to_the_service_account() -> None:
    manifests = render(WISHSTAR_CHART, sets=EVERYTHING_ON, namespace="wishstar")
    documented = next(d for d in yaml.safe_load_all((ROOT / "docs/examples/wishstar-role.yaml").read_text())
                      if d["kind"] == "Role")
    roles = [m for m in manifests if m["kind"] == "Role"]
    bindings = [m for m in manifests if m["kind"] == "RoleBinding"]
    assert [r["metadata"]["namespace"] for r in roles] == ["ci", "ci-heavy"]
    assert all(r["rules"] == documented["rules"] for r in roles)
    assert not [m for m in manifests if m["kind"].startswith("Cluster")]
    account = by_kind(manifests)["ServiceAccount"]["metadata"]["name"]
    for binding in bindings:
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "wishstar"}]
        assert binding["roleRef"]["name"] == roles[0]["metadata"]["name"]


def test_without_build_namespaces_the_role_is_in_the_release_namespace() -> None:
    roles = [m for m in render(WISHSTAR_CHART, namespace="wishstar") if m["kind"] == "Role"]
    assert [r["metadata"]["namespace"] for r in roles] == ["wishstar"]


def test_the_settings_file_is_accepted_by_wishstars_settings_loader(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    manifests = render(WISHSTAR_CHART, sets=EVERYTHING_ON)
    settings_file = tmp_path / "settings.toml"
    settings_file.write_text(by_kind(manifests)["ConfigMap"]["data"]["settings.toml"])
    for name in [n for n in os.environ if n.startswith("WISHSTAR_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("WISHSTAR_SETTINGS_FILE", str(settings_file))
    settings = load_settings()
    assert (settings.executor, settings.namespace, settings.gitlab_url) == (
        "kubernetes", "ci-heavy", "https://gitlab.example.com")
    assert str(settings.state_dir) == "/var/lib/wishstar"


def test_database_url_and_gitlab_token_are_only_in_the_secret() -> None:
    manifests = render(WISHSTAR_CHART, sets=EVERYTHING_ON)
    secret = by_kind(manifests)["Secret"]
    assert base64.b64decode(secret["data"]["database-url"]).decode() == POSTGRES["database.url"]
    assert base64.b64decode(secret["data"]["gitlab-token"]).decode() == "glpat-very-secret"
    others = yaml.safe_dump_all([m for m in manifests if m["kind"] != "Secret"])
    assert "s3cret-pw" not in others
    assert "glpat-very-secret" not in others
    env = _env(manifests)
    assert env["WISHSTAR_DATABASE_URL"] == {"secretKeyRef": {"name": "demo-wishstar", "key": "database-url"}}
    assert env["WISHSTAR_GITLAB_TOKEN"] == {"secretKeyRef": {"name": "demo-wishstar", "key": "gitlab-token"}}


def test_an_existing_secret_is_referenced_and_no_secret_is_rendered() -> None:
    manifests = render(WISHSTAR_CHART, sets={"database.kind": "postgresql", "database.existingSecret": "pg",
                                             "database.existingSecretKey": "url"})
    assert "Secret" not in by_kind(manifests)
    assert _env(manifests)["WISHSTAR_DATABASE_URL"] == {"secretKeyRef": {"name": "pg", "key": "url"}}


def test_more_than_one_replica_needs_postgresql() -> None:
    stderr = refused(WISHSTAR_CHART, sets={"replicaCount": 2})
    assert "replicaCount is 2 but database.kind is sqlite: more than one replica needs PostgreSQL" in stderr
    deployment = by_kind(render(WISHSTAR_CHART, sets={**POSTGRES, "replicaCount": 2}))["Deployment"]
    assert deployment["spec"]["replicas"] == 2


@pytest.mark.parametrize(("sets", "said"), [
    ({"database.kind": "postgresql"}, "database.kind=postgresql needs database.url"),
    ({"settings.namespace": "elsewhere"}, 'settings.namespace "elsewhere" is not in buildNamespaces'),
    ({"ingress.enabled": True}, "ingress.enabled needs ingress.host"),
    ({**POSTGRES, "replicaCount": 2, "persistence.enabled": True}, "share one ReadWriteOnce state volume"),
    ({"database.kind": "mysql"}, "database/kind"),
    ({"database.url": "mysql://x"}, "database/url"),
    ({"settings.executr": "local"}, "'executr'"),
    ({"ingress.hosst": "x"}, "'hosst'"),
    ({"resources.limits.cpus": "1"}, "'cpus'"),
])
def test_contradictions_and_misspellings_are_refused(sets: dict[str, Any], said: str) -> None:
    assert said in refused(WISHSTAR_CHART, sets=sets)
