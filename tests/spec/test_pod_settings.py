"""``kubernetes:`` in the pipeline file: what is accepted, and what is reported (with line and hint)."""

from __future__ import annotations

import textwrap

import pytest

from wishstar.engine.spec.errors import ValidationFailed
from wishstar.engine.spec.model import PodSettings
from wishstar.engine.spec.validate import validate_text


def _validate(kubernetes: str, *, on_task: bool = False) -> None:
    block = textwrap.indent(textwrap.dedent(kubernetes).strip(), "      " if on_task else "  ")
    if on_task:
        text = f"name: p\ntasks:\n  t:\n    script: make\n    kubernetes:\n{block}\n"
    else:
        text = f"name: p\nkubernetes:\n{block}\ntasks:\n  t:\n    script: make\n"
    validate_text(text, ".wishstar.yaml", lambda task: None, ())


def _problems(kubernetes: str, *, on_task: bool = False) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        _validate(kubernetes, on_task=on_task)
    return [str(p) for p in info.value.problems]


def test_every_setting_is_accepted_with_kubernetes_spelling() -> None:
    _validate("""
        serviceAccount: deployer
        nodeSelector: {kubernetes.io/arch: amd64, gpu: true}
        tolerations:
          - {key: dedicated, operator: Equal, value: ci, effect: NoSchedule}
          - {operator: Exists}
          - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 30}
        resources:
          requests: {cpu: 500m, memory: 512Mi, ephemeral-storage: 1Gi}
          limits: {cpu: 2, memory: 1.5Gi}
        securityContext: {runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true, fsGroup: 1000,
                          seccompProfile: {type: RuntimeDefault}}
        containerSecurityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true,
                                   capabilities: {drop: [ALL]}}
        imagePullSecrets: [harbor-robot]
        priorityClassName: ci-high
        labels: {team: payments}
        annotations: {wishstar.dev/kwok: fail, note: "any text at all"}
    """, on_task=True)


def test_yaml_numbers_and_booleans_become_the_strings_kubernetes_expects() -> None:
    settings = PodSettings.model_validate({"nodeSelector": {"gpu": True}, "resources": {"limits": {"cpu": 2}}})
    assert settings.node_selector == {"gpu": "true"}
    assert settings.resources is not None and settings.resources.limits is not None
    assert settings.resources.limits.cpu == "2"


@pytest.mark.parametrize(
    ("kubernetes", "expected"),
    [
        ("resources: {requests: {cpu: lots}}",
         '.wishstar.yaml:3 kubernetes.resources.requests.cpu: "lots" is not a Kubernetes quantity (e.g. cpu'),
        ("resources: {limits: {memory: 512m}}",
         '.wishstar.yaml:3 kubernetes.resources.limits.memory: "512m" means thousandths of a byte '
         '(write "512Mi" for mebibytes)'),
        ("serviceAccount: Deployer", '.wishstar.yaml:3 kubernetes.serviceAccount: "Deployer" is not a valid name'),
        ("imagePullSecrets: [harbor_robot]", 'kubernetes.imagePullSecrets[0]: "harbor_robot" is not a valid name'),
        ("nodeSelector:\n  pool: big pool", 'kubernetes.nodeSelector.pool: "big pool" is not a valid label value'),
        ("labels:\n  wishstar.dev/run: mine", 'kubernetes.labels.wishstar.dev/run: "wishstar.dev/run" is set by '
                                             "Wishstar (use another key)"),
        ("annotations:\n  -bad-: x", 'kubernetes.annotations.-bad-: "-bad-" is not a valid key'),
        ("tolerations: [{key: k, operator: Exists, value: v}]", "operator Exists takes no value"),
        ("tolerations: [{value: v}]", "a toleration without a key needs operator: Exists"),
        ("tolerations: [{key: k, tolerationSeconds: 5}]", "tolerationSeconds applies only to NoExecute"),
        ("tolerations: [{key: k, operator: Maybe}]", "kubernetes.tolerations[0].operator: should be 'Equal' or "
                                                    "'Exists'"),
        ("securityContext: {runAsUser: -1}", "kubernetes.securityContext.runAsUser: should be greater than or "
                                             "equal to 0"),
        ("nodeSelektor: {pool: ci}", 'unknown key "nodeSelektor" (did you mean "nodeSelector"?)'),
        ("securityContext: {privileged: true}", 'kubernetes.securityContext.privileged: unknown key "privileged"'),
    ],
    ids=["quantity", "memory-millis", "service-account", "pull-secret", "label-value", "reserved-label",
         "annotation-key", "exists-with-value", "no-key", "seconds-without-noexecute", "operator",
         "negative-uid", "typo", "container-field-at-pod-level"],
)
def test_bad_values_are_reported_with_line_and_hint(kubernetes: str, expected: str) -> None:
    problems = _problems(kubernetes)
    assert any(expected in p for p in problems), problems


def test_task_settings_are_checked_at_their_own_path() -> None:
    problems = _problems("resources: {requests: {memory: 1GB}}", on_task=True)
    assert problems == ['.wishstar.yaml:6 tasks.t.kubernetes.resources.requests.memory: "1GB" is not a '
                        'Kubernetes quantity (e.g. cpu "500m" or "2", memory "512Mi" or "1Gi")']


def test_every_problem_is_reported_at_once() -> None:
    problems = _problems("serviceAccount: A\nresources: {limits: {cpu: x}}\nlabels: {wishstar.dev/task: t}")
    assert len(problems) == 3, problems
