"""Running the real helm (v3.19.5, built by scripts/build-k8s.sh) on the repository's charts, for the chart tests.

``helm_binary()`` finds it (skip, or fail under CI_REQUIRE_KUBERNETES=1 where .ci/run builds it);
``render(...)`` is ``helm template`` parsed into manifests; ``refused(...)`` is the error of a render that
must fail. ``k8s_problems(manifests)`` validates each manifest against the Kubernetes 1.34 OpenAPI schema
(kubernetes-validate, strict: unknown fields are errors too).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
APP_CHART = ROOT / "charts" / "app"
WISHSTAR_CHART = ROOT / "charts" / "wishstar"
PRESETS = ("spring-boot", "node", "python", "go", "dotnet")
KUBERNETES_VERSION = "1.34.0"
DIGEST = "sha256:" + "ab12" * 16
# Kinds whose schema is a CRD, not part of Kubernetes (the test cluster has no Prometheus Operator).
CRD_KINDS = frozenset({"ServiceMonitor"})


@cache
def helm_binary() -> str:
    out = subprocess.run([str(ROOT / "scripts" / "build-k8s.sh"), "paths"], capture_output=True, text=True,
                         check=False).stdout
    paths = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    helm = paths.get("HELM", "")
    if not helm or not os.access(helm, os.X_OK):
        message = f"helm is not built ({helm or 'no HELM path'}): run scripts/build-k8s.sh helm"
        if os.environ.get("CI_REQUIRE_KUBERNETES") == "1":
            pytest.fail(f"CI_REQUIRE_KUBERNETES=1 but {message}", pytrace=False)
        pytest.skip(message)
    return helm


@cache
def registry_url() -> str:
    """The local registry's host:port (scripts/registry.sh starts it); skip, or fail under CI_REQUIRE_REGISTRY=1."""
    done = subprocess.run([str(ROOT / "scripts" / "registry.sh"), "start"], capture_output=True, text=True,
                          timeout=120, check=False)
    if done.returncode != 0:
        message = f"the local registry does not start (scripts/registry.sh start): {done.stderr.strip()[-500:]}"
        if os.environ.get("CI_REQUIRE_REGISTRY") == "1":
            pytest.fail(f"CI_REQUIRE_REGISTRY=1 but {message}", pytrace=False)
        pytest.skip(message)
    return done.stdout.strip().splitlines()[-1]


def helm(*args: str, env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    home = {"HELM_CACHE_HOME": "/tmp/wishstar-test-helm/cache", "HELM_CONFIG_HOME": "/tmp/wishstar-test-helm/config",
            "HELM_DATA_HOME": "/tmp/wishstar-test-helm/data"}
    return subprocess.run([helm_binary(), *args], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, **home, **(env or {})})


Sets = Mapping[str, str | int | bool]


def _value_args(values: Iterable[Path], sets: Sets) -> list[str]:
    """``--values`` per file, then ``--set-string`` for strings and ``--set`` (typed) for numbers and booleans."""
    args: list[str] = []
    for path in values:
        args += ["--values", str(path)]
    for key, value in sets.items():
        if isinstance(value, str):
            args += ["--set-string", f"{key}={value}"]
        else:
            args += ["--set", f"{key}={str(value).lower()}"]
    return args


def template(chart: Path, values: Iterable[Path] = (), sets: Sets | None = None,
             release: str = "demo", namespace: str = "apps") -> subprocess.CompletedProcess[str]:
    return helm("template", release, str(chart), "--namespace", namespace, "--kube-version", KUBERNETES_VERSION,
                *_value_args(values, sets or {}))


def render(chart: Path, values: Iterable[Path] = (), sets: Sets | None = None,
           release: str = "demo", namespace: str = "apps") -> list[dict[str, Any]]:
    done = template(chart, values, sets, release, namespace)
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def refused(chart: Path, values: Iterable[Path] = (), sets: Sets | None = None) -> str:
    done = template(chart, values, sets)
    assert done.returncode != 0, f"helm template accepted it:\n{done.stdout[:2000]}"
    return done.stderr


def lint(chart: Path, values: Iterable[Path] = (), sets: Sets | None = None
         ) -> subprocess.CompletedProcess[str]:
    return helm("lint", "--strict", str(chart), *_value_args(values, sets or {}))


def by_kind(manifests: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """kind -> the one manifest of that kind (the kinds the charts render once)."""
    return {m["kind"]: m for m in manifests}


def k8s_problems(manifests: Iterable[dict[str, Any]]) -> list[str]:
    problems = []
    for manifest in manifests:
        if manifest["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            problems.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {where}: {exc.message}")
    return problems
