"""A task plan becomes a ConfigMap and a Pod Kubernetes accepts: byte-stable, scripts only in data."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from wishstar.engine.compiler.pods import (
    ManifestError,
    claim_name,
    dns_label,
    label_value,
    object_name,
    pod_manifest,
    task_manifests,
)
from wishstar.engine.compiler.types import (
    EnvVar,
    GitContext,
    PodSettings,
    RetryPlan,
    RunContext,
    StepPlan,
    TaskPlan,
    Toleration,
    WorkspaceBinding,
)
from wishstar.steps import entrypoint

GOLDEN = Path(__file__).parent / "golden" / "pods"
K8S_VERSION = "1.31"
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
CTX = RunContext(
    run_id="r-20260101-abc123",
    number=42,
    event="push",
    namespace="ci",
    git=GitContext(
        url="https://git.example.com/shop/api.git",
        branch="main",
        commit="0123abcd",
        message="Fix the $(thing); rm -rf / `oops`",
        author="Ada",
    ),
)


def step(
    name: str,
    *,
    script: str | None = None,
    command: tuple[str, ...] | None = None,
    args: tuple[str, ...] = (),
    env: tuple[EnvVar, ...] = (),
    image: str | None = None,
    working_dir: str | None = None,
    timeout_s: float | None = None,
    on_error: str = "stopAndFail",
) -> StepPlan:
    return StepPlan(
        name=name,
        image=image,
        script=script,
        command=command,
        args=args,
        env=env,
        working_dir=working_dir,
        timeout_s=timeout_s,
        on_error=on_error,
    )  # type: ignore[arg-type]


def task(name: str, steps: tuple[StepPlan, ...], **kw: Any) -> TaskPlan:
    fields: dict[str, Any] = dict(
        base=name,
        is_finally=False,
        uses=None,
        image=None,
        needs=(),
        result_refs=(),
        when=None,
        results=(),
        workspaces=(),
        working_dir=None,
        timeout_s=None,
        retries=RetryPlan(),
        allow_failure=False,
    )
    fields.update(kw)
    return TaskPlan(name=name, steps=steps, **fields)


CASES: dict[str, tuple[TaskPlan, tuple[str, ...], RunContext]] = {
    "script-task": (
        task("build", (step("run", script="make build\n"),), image="docker.io/library/golang:1.23"),
        (),
        RunContext(run_id="r1", number=1),
    ),
    "multi-step-continue": (
        task(
            "check",
            (
                step(
                    "lint", script="ruff check .\n", on_error="continue", image="ghcr.io/astral-sh/ruff:0.6"
                ),
                step(
                    "test",
                    command=("pytest",),
                    args=("-q", "--junitxml", "$(workspaces.src.path)/report.xml"),
                    timeout_s=299.5,
                ),
                step("summary", script="#!/usr/bin/env python3\nprint('done')\n", working_dir="reports"),
            ),
            image="docker.io/library/python:3.12",
            timeout_s=900,
            workspaces=(WorkspaceBinding("src", "source"),),
        ),
        ("source",),
        CTX,
    ),
    "workspaces-secret-results": (
        task(
            "publish",
            (
                step(
                    "push",
                    script="cd $(workspaces.source.path)\n"
                    "echo -n v1.2.3 > $(results.tag.path)\n"
                    "sha256sum app.tar | cut -c1-64 > $(results.digest.path)\n"
                    "ls $(workspaces.cache.path) $(workspaces.cache.claim)\n"
                    "echo $(tasks.build.results.version) $(tasks.status) $(params.unknown)\n",
                    env=(
                        EnvVar("REGISTRY", value="registry.example.com"),
                        EnvVar("REGISTRY_TOKEN", secret="registry-credentials", secret_key="token"),
                        EnvVar("NPM_TOKEN", secret="npm"),
                        EnvVar("WISHSTAR_GIT_BRANCH", value="overridden"),
                    ),
                ),
            ),
            results=("tag", "digest"),
            timeout_s=120.2,
            workspaces=(
                WorkspaceBinding("source", "checkout"),
                WorkspaceBinding("cache", "go_cache", mount_path="/cache/go", read_only=True),
            ),
        ),
        ("checkout", "go_cache"),
        RunContext(
            run_id="r-7",
            number=7,
            project="shop/api",
            namespace="builds",
            git=GitContext(tag="v1.2.3", commit="feedface"),
        ),
    ),
    "pod-settings": (
        task(
            "deploy",
            (step("render", script="helm template .\n"), step("apply", command=("kubectl", "apply"))),
            image="registry.example.com/tools/kubectl:1.31",
            kubernetes=PodSettings(
                service_account="deployer",
                node_selector={"kubernetes.io/arch": "amd64", "pool": "ci"},
                tolerations=(
                    Toleration(key="dedicated", operator="Equal", value="ci", effect="NoSchedule"),
                    Toleration(key="node.kubernetes.io/unreachable", operator="Exists", effect="NoExecute",
                               toleration_seconds=30),
                ),
                requests={"cpu": "500m", "memory": "512Mi"},
                limits={"memory": "1Gi", "ephemeral-storage": "2Gi"},
                security_context={"runAsUser": 1000, "runAsGroup": 1000, "runAsNonRoot": True, "fsGroup": 1000,
                                  "seccompProfile": {"type": "RuntimeDefault"}},
                container_security_context={"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "capabilities": {"drop": ["ALL"]}},
                image_pull_secrets=("harbor-robot", "ghcr"),
                priority_class_name="ci-high",
                labels={"team": "payments", "wishstar.dev/run": "not-this"},
                annotations={"cluster-autoscaler.kubernetes.io/safe-to-evict": "false",
                             "wishstar.dev/task": "not-this"},
            ),
        ),
        (),
        RunContext(run_id="r-9", number=9, namespace="deploy"),
    ),
    "matrix-odd-name": (
        task(
            "Test_Suite[3.11,linux/amd64]",
            (step("run", script="tox -e py\n"),),
            base="Test_Suite",
            matrix=(("python", "3.11"), ("platform", "linux/amd64")),
        ),
        (),
        RunContext(run_id="r-2", number=3),
    ),
}


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(manifests: list[dict[str, Any]]) -> str:
    return yaml.dump_all(manifests, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=120)


def manifests_of(name: str) -> list[dict[str, Any]]:
    plan, workspaces, ctx = CASES[name]
    return task_manifests(plan, workspaces, ctx, pipeline="shop-api", entrypoint=entrypoint())


def argv_strings(pod: dict[str, Any]) -> Iterator[str]:
    for container in pod["spec"]["containers"]:
        yield from container["command"]
        yield from container["args"]


# --- golden files and stability ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES), ids=sorted(CASES))
def test_manifests_match_their_golden_file(name: str) -> None:
    text = dump(manifests_of(name))
    golden = GOLDEN / f"{name}.yaml"
    if os.environ.get("WISHSTAR_UPDATE_GOLDEN") == "1":
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden file {golden}; run with WISHSTAR_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(CASES), ids=sorted(CASES))
def test_repeated_calls_give_byte_identical_output(name: str) -> None:
    assert dump(manifests_of(name)) == dump(manifests_of(name))


@pytest.mark.parametrize("name", sorted(CASES), ids=sorted(CASES))
def test_every_manifest_validates_against_the_kubernetes_schema(name: str) -> None:
    for manifest in manifests_of(name):
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)


# --- what goes where --------------------------------------------------------------------------------------


def test_hostile_script_appears_only_in_configmap_data() -> None:
    hostile = "echo '; rm -rf /\necho $(touch x)\n"
    plan = task("evil", (step("run", script=hostile), step("again", script='x="$(touch x)"')))
    config_map, pod = task_manifests(plan, (), CTX, pipeline="p", entrypoint=entrypoint())
    assert config_map["data"]["step-0"] == hostile
    assert "$(touch x)" in config_map["data"]["step-1"]
    for text in argv_strings(pod):
        assert "rm -rf" not in text and "touch" not in text
    assert "touch" not in yaml.safe_dump(pod)


def test_git_values_reach_steps_only_as_literal_env_values() -> None:
    pod = manifests_of("multi-step-continue")[1]
    for container in pod["spec"]["containers"]:
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["WISHSTAR_GIT_MESSAGE"] == CTX.git.message
        assert env["WISHSTAR_GIT_BRANCH"] == "main"
    assert not any("Fix the" in text for text in argv_strings(pod))


def test_workspace_and_result_references_are_filled_and_runtime_ones_kept() -> None:
    config_map, pod = manifests_of("workspaces-secret-results")
    script = config_map["data"]["step-0"]
    assert "cd /workspace/source\n" in script
    assert "> /wishstar/results/tag\n" in script
    assert "ls /cache/go wishstar-r-7-go-cache-" in script
    assert "$(tasks.build.results.version) $(tasks.status) $(params.unknown)" in script
    container = pod["spec"]["containers"][0]
    assert container["workingDir"] == "/workspace/source"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/cache/go"]["readOnly"] is True
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in pod["spec"]["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == [claim_name("r-7", "checkout"), claim_name("r-7", "go_cache")]


def test_secret_env_becomes_a_secret_key_ref_defaulting_the_key_to_the_variable_name() -> None:
    container = manifests_of("workspaces-secret-results")[1]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["REGISTRY_TOKEN"]["valueFrom"]["secretKeyRef"] == {
        "name": "registry-credentials",
        "key": "token",
    }
    assert env["NPM_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "npm", "key": "NPM_TOKEN"}
    assert env["WISHSTAR_GIT_BRANCH"]["value"] == "overridden"
    assert [e["name"] for e in container["env"]].count("WISHSTAR_GIT_BRANCH") == 1


def test_only_the_last_step_writes_results_and_the_message_limit_shrinks_with_more_steps() -> None:
    pod = manifests_of("multi-step-continue")[1]
    args = [c["args"] for c in pod["spec"]["containers"]]
    assert ["--last" in a for a in args] == [False, False, True]
    assert args[2][args[2].index("--message-limit") + 1] == "4096"
    many = task("many", tuple(step(f"s{i}", script="true") for i in range(6)), results=("r",))
    last = pod_manifest(many, (), CTX, pipeline="p")["spec"]["containers"][-1]["args"]
    assert last[last.index("--message-limit") + 1] == "2048"


def test_image_falls_back_from_step_to_task_to_context_default() -> None:
    containers = manifests_of("multi-step-continue")[1]["spec"]["containers"]
    assert [c["image"] for c in containers] == [
        "ghcr.io/astral-sh/ruff:0.6",
        "docker.io/library/python:3.12",
        "docker.io/library/python:3.12",
    ]
    matrix = manifests_of("matrix-odd-name")[1]["spec"]["containers"][0]
    assert matrix["image"] == RunContext().default_image
    assert "workingDir" not in matrix


def test_library_tasks_and_implicit_bindings_keep_the_image_working_directory() -> None:
    implicit = task(
        "t",
        (step("run", script="ls $(workspaces.data.path)"),),
        workspaces=(WorkspaceBinding("data", "data", implicit=True),),
    )
    uses = task(
        "u", (step("run", script="true"),), uses="git-clone", workspaces=(WorkspaceBinding("source", "s"),)
    )
    for plan, workspaces in ((implicit, ("data",)), (uses, ("s",))):
        assert (
            "workingDir" not in pod_manifest(plan, workspaces, CTX, pipeline="p")["spec"]["containers"][0]
        )


def test_task_timeout_becomes_active_deadline_rounded_up() -> None:
    assert manifests_of("workspaces-secret-results")[1]["spec"]["activeDeadlineSeconds"] == 121
    assert "activeDeadlineSeconds" not in manifests_of("script-task")[1]["spec"]


def test_matrix_instance_keeps_its_exact_name_in_annotations_and_env() -> None:
    config_map, pod = manifests_of("matrix-odd-name")
    assert pod["metadata"]["annotations"]["wishstar.dev/task"] == "Test_Suite[3.11,linux/amd64]"
    assert DNS_LABEL.fullmatch(pod["metadata"]["name"])
    assert LABEL_VALUE.fullmatch(pod["metadata"]["labels"]["wishstar.dev/task"])
    assert config_map["metadata"]["name"] == pod["metadata"]["name"]
    env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
    assert env["WISHSTAR_TASK"] == "Test_Suite[3.11,linux/amd64]"


def test_a_retry_gets_its_own_object_name() -> None:
    plan, workspaces, ctx = CASES["script-task"]
    first = pod_manifest(plan, workspaces, ctx, pipeline="p")["metadata"]
    second = pod_manifest(plan, workspaces, ctx, pipeline="p", attempt=2)["metadata"]
    assert first["name"] != second["name"]
    assert second["labels"]["wishstar.dev/attempt"] == "2"


# --- errors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "workspaces", "message"),
    [
        (task("t", ()), (), "has no steps"),
        (task("t", (step("run"),)), (), "give the step a command or a script"),
        (task("t", (step("a", script="x"), step("a", script="y"))), (), "two steps are named"),
        (
            task("t", (step("a", script="x"),), workspaces=(WorkspaceBinding("src", "sauce"),)),
            ("source",),
            'pipeline workspace "sauce", which the pipeline does not declare',
        ),
        (
            task(
                "t",
                (step("a", script="x"),),
                workspaces=(WorkspaceBinding("a", "a", "/w"), WorkspaceBinding("b", "b", "/w")),
            ),
            ("a", "b"),
            "both mounted at /w",
        ),
        (task("t", (step("a", script="x"),), results=("../etc/passwd",)), (), "result name"),
    ],
    ids=[
        "no-steps",
        "nothing-to-run",
        "duplicate-steps",
        "undeclared-workspace",
        "same-mount-path",
        "bad-result",
    ],
)
def test_plans_that_cannot_become_a_pod_are_refused_with_the_reason(
    plan: TaskPlan, workspaces: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ManifestError, match=re.escape(message)):
        task_manifests(plan, workspaces, CTX, pipeline="p", entrypoint=entrypoint())


# --- names --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("build", "build"),
        ("a_b", "a-b-########"),
        ("test[3.11]", "test-3-11-########"),
        ("", "########"),
        ("-x-", "x-########"),
        ("x" * 64, "x" * 54 + "-########"),
    ],
    ids=["valid-kept", "underscore", "matrix", "empty", "edge-dashes", "too-long"],
)
def test_dns_label_keeps_valid_names_and_hashes_the_rest(text: str, expected: str) -> None:
    label = dns_label(text)
    assert DNS_LABEL.fullmatch(label)
    assert re.fullmatch(re.escape(expected).replace("\\#", "#").replace("########", "[0-9a-f]{8}"), label)


def test_names_that_differ_only_in_punctuation_stay_distinct() -> None:
    assert len({object_name("p", 1, t) for t in ("a_b", "a-b", "a.b", "A-b", "a b")}) == 5


@settings(max_examples=300, deadline=None)
@given(pipeline=st.text(max_size=80), task_name=st.text(max_size=200), number=st.integers(0, 10**9))
def test_any_task_name_gives_valid_object_names_and_label_values(
    pipeline: str, task_name: str, number: int
) -> None:
    name = object_name(pipeline, number, task_name)
    assert len(name) <= 63 and DNS_LABEL.fullmatch(name)
    value = label_value(task_name)
    assert len(value) <= 63 and LABEL_VALUE.fullmatch(value)
    assert DNS_LABEL.fullmatch(dns_label(task_name))


@settings(max_examples=40, deadline=None)
@given(task_name=st.text(min_size=1, max_size=100), step_name=st.text(min_size=1, max_size=100))
def test_any_task_and_step_name_gives_a_pod_kubernetes_accepts(task_name: str, step_name: str) -> None:
    plan = task(task_name, (step(step_name, script="true"),), results=("r",))
    for manifest in task_manifests(plan, (), CTX, pipeline="pipe", entrypoint=entrypoint()):
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
        assert DNS_LABEL.fullmatch(manifest["metadata"]["name"])
        assert all(LABEL_VALUE.fullmatch(v) for v in manifest["metadata"]["labels"].values())
    container = task_manifests(plan, (), CTX, pipeline="pipe", entrypoint=entrypoint())[1]["spec"]["containers"][0]
    assert DNS_LABEL.fullmatch(container["name"]) and len(container["name"]) <= 63
