"""The Tekton Task schema: what loads, how v1beta1 is normalised, and how problems are reported."""

from __future__ import annotations

import pytest

from wishstar.engine.spec.errors import ValidationFailed
from wishstar.engine.spec.tekton import load_task, parse_go_duration

MINIMAL = """\
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: minimal
spec:
  steps:
    - name: hello
      image: busybox
      script: echo hello
"""


def _problems(text: str) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        load_task(text, "task.yaml")
    return [str(p) for p in info.value.problems]


def test_minimal_task_loads_with_its_name_and_step() -> None:
    task = load_task(MINIMAL, "task.yaml")
    assert task.name == "minimal"
    assert [s.name for s in task.spec.steps] == ["hello"]


def test_cluster_task_is_read_like_a_task() -> None:
    task = load_task(MINIMAL.replace("kind: Task", "kind: ClusterTask"), "task.yaml")
    assert task.kind == "ClusterTask"


def test_v1beta1_step_resources_become_compute_resources() -> None:
    text = MINIMAL.replace("v1", "v1beta1") + "      resources:\n        limits: {cpu: '1'}\n"
    step = load_task(text, "task.yaml").spec.steps[0]
    assert step.compute_resources == {"limits": {"cpu": "1"}}


def test_unmodelled_container_fields_are_kept_as_extras() -> None:
    text = MINIMAL + "      ports:\n        - containerPort: 8080\n"
    step = load_task(text, "task.yaml").spec.steps[0]
    assert step.model_extra == {"ports": [{"containerPort": 8080}]}


def test_param_type_is_inferred_from_an_array_default() -> None:
    text = MINIMAL + "  params:\n    - name: args\n      default: [-q]\n"
    assert load_task(text, "task.yaml").spec.params[0].kind == "array"


def test_yaml_scalars_in_env_and_args_become_strings() -> None:
    text = MINIMAL + "      args: [1, true]\n      env:\n        - name: PORT\n          value: 8080\n"
    step = load_task(text, "task.yaml").spec.steps[0]
    assert step.args == ["1", "true"]
    assert step.env[0].value == "8080"


ERRORS = [
    ("typo-in-spec", MINIMAL.replace("  steps:", "  stpes: []\n  steps:"),
     'task.yaml:6 spec.stpes: unknown field "stpes" (did you mean "steps"?)'),
    ("typo-in-env", MINIMAL + "      env:\n        - name: A\n          vaule: b\n",
     'task.yaml:12 spec.steps[0].env[0].vaule: unknown field "vaule" (did you mean "value"?)'),
    ("bad-timeout", MINIMAL + "      timeout: 5 minutes\n",
     'task.yaml:10 spec.steps[0].timeout: "5 minutes" is not a Go duration'),
    ("wrong-api-version", MINIMAL.replace("tekton.dev/v1", "tekton.dev/v2"),
     "task.yaml:1 apiVersion: Input should be 'tekton.dev/v1' or 'tekton.dev/v1beta1'"),
    ("no-steps", MINIMAL.split("  steps:")[0] + "  steps: []\n",
     "task.yaml:6 spec.steps: List should have at least 1 item"),
    ("missing-name", MINIMAL.replace("  name: minimal\n", "  labels: {}\n"),
     "task.yaml:3 metadata.name: this field is required"),
    ("duplicate-param", MINIMAL + "  params:\n    - name: a\n    - name: a\n",
     'task.yaml:12 spec.params[1].name: duplicate name "a"'),
    ("bad-default-type", MINIMAL + "  params:\n    - name: a\n      default: [[x]]\n",
     "task.yaml:12 spec.params[0].default: expected a string or a list of strings"),
    ("pipeline-resources-in-v1", MINIMAL + "  resources:\n    inputs: []\n",
     "task.yaml:10 spec.resources: PipelineResources do not exist in tekton.dev/v1"),
    ("bad-yaml", MINIMAL.replace("      script: echo hello", "     script: [unclosed"),
     "task.yaml:9 <yaml>: YAML syntax error"),
]


@pytest.mark.parametrize(("text", "expected"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_problem_names_file_line_path_and_hint(text: str, expected: str) -> None:
    assert any(p.startswith(expected) for p in _problems(text)), _problems(text)


def test_every_problem_is_reported_at_once() -> None:
    text = MINIMAL.replace("  steps:", "  parms: []\n  steps:")
    text += "      timeout: soon\n      onError: maybe\n"
    assert len(_problems(text)) == 3


DURATIONS = [("10s", 10.0), ("1h30m", 5400.0), ("1.5h", 5400.0), ("300ms", 0.3), ("0", 0.0),
             ("2m3.5s", 123.5), ("1h0m0s", 3600.0)]


@pytest.mark.parametrize(("text", "seconds"), DURATIONS, ids=[d[0] for d in DURATIONS])
def test_go_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "-5s", "1d", "1h 30m", "s"])
def test_non_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Go duration"):
        parse_go_duration(text)
