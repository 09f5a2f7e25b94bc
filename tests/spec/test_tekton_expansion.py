"""Expanding a Tekton task with `with:` values: checks, substitution, step template, notes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wishstar.engine.compiler.library import DEFAULT_SHEBANG, check_with, expand_library_task
from wishstar.engine.compiler.types import EnvVar
from wishstar.engine.spec.errors import ValidationFailed
from wishstar.engine.spec.model import ParamValue
from wishstar.engine.spec.tekton import TektonTask, load_task

TASK = """\
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: build
spec:
  params:
    - name: target
      type: string
    - name: mode
      default: debug
      enum: [debug, release]
    - name: flags
      type: array
      default: ["-v"]
    - name: image
      type: object
      properties:
        repo: {}
        tag: {}
      default: {repo: example.org/app, tag: latest}
    - name: limit
      default: 90s
  results:
    - name: digest
  workspaces:
    - name: source
      optional: true
  stepTemplate:
    image: busybox
    env:
      - name: SHARED
        value: template
      - name: MODE
        value: from-template
  steps:
    - name: compile
      command: [make, "$(params.target)"]
      args: ["$(params.flags[*])", "--mode=$(params.mode)", "$(params.flags[0])"]
      env:
        - name: MODE
          value: $(params.mode)
        - name: TOKEN
          valueFrom:
            secretKeyRef: {name: registry, key: token}
      workingDir: $(workspaces.source.path)
      timeout: $(params.limit)
    - script: echo $(params["target"]) $(params.image.repo):$(params.image.tag) > $(results.digest.path)
      onError: continue
"""


@pytest.fixture(scope="module")
def task() -> TektonTask:
    return load_task(TASK, "build.yaml")


def test_array_param_spreads_over_args_and_indexes_pick_one(task: TektonTask) -> None:
    step = expand_library_task(task, {"target": "all", "flags": ["-j", "4"]}).steps[0]
    assert step.command == ("make", "all")
    assert step.args == ("-j", "4", "--mode=debug", "-j")


def test_step_env_wins_over_template_env_by_name(task: TektonTask) -> None:
    env = expand_library_task(task, {"target": "all", "mode": "release"}).steps[0].env
    assert env == (EnvVar("SHARED", value="template"), EnvVar("MODE", value="release"),
                   EnvVar("TOKEN", secret="registry", secret_key="token"))


def test_template_image_fills_steps_without_one(task: TektonTask) -> None:
    assert {s.image for s in expand_library_task(task, {"target": "x"}).steps} == {"busybox"}


def test_timeout_from_a_param_is_parsed_after_substitution(task: TektonTask) -> None:
    assert expand_library_task(task, {"target": "x", "limit": "1h30m"}).steps[0].timeout_s == 5400.0


def test_runtime_references_stay_verbatim(task: TektonTask) -> None:
    steps = expand_library_task(task, {"target": "x"}).steps
    assert steps[0].working_dir == "$(workspaces.source.path)"
    assert steps[1].script == DEFAULT_SHEBANG + "echo x example.org/app:latest > $(results.digest.path)"


def test_unnamed_step_gets_tekton_style_name_and_keeps_on_error(task: TektonTask) -> None:
    step = expand_library_task(task, {"target": "x"}).steps[1]
    assert (step.name, step.on_error) == ("unnamed-1", "continue")


def test_object_value_is_merged_over_the_default(task: TektonTask) -> None:
    script = expand_library_task(task, {"target": "x", "image": {"tag": "v2"}}).steps[1].script or ""
    assert "example.org/app:v2" in script


def test_results_and_workspaces_are_declared(task: TektonTask) -> None:
    expansion = expand_library_task(task, {"target": "x"})
    assert expansion.results == ("digest",)
    assert [(w.name, w.optional) for w in expansion.workspaces] == [("source", True)]


WITH_ERRORS: list[tuple[str, dict[str, ParamValue], str]] = [
    ("unknown-key-with-hint", {"target": "x", "mdoe": "debug"},
     'pipeline.yaml:7 tasks.b.with.mdoe: task "build" has no param "mdoe" (did you mean "mode"?)'),
    ("missing-required", {},
     'pipeline.yaml:6 tasks.b.with: missing required param "target" of task "build" '
     "(add `target: ...` under with)"),
    ("enum-violation", {"target": "x", "mode": "relase"},
     'pipeline.yaml:7 tasks.b.with.mode: "relase" is not an allowed value of param "mode" '
     '(did you mean "release"?)'),
    ("array-for-string", {"target": ["a", "b"]},
     'pipeline.yaml:7 tasks.b.with.target: param "target" is a string, not a list of strings'),
    ("string-for-array", {"target": "x", "flags": "-v"},
     'pipeline.yaml:7 tasks.b.with.flags: param "flags" is a list of strings, not a string '
     "(write a list: [a, b])"),
    ("object-with-unknown-key", {"target": "x", "image": {"registry": "r"}},
     'pipeline.yaml:7 tasks.b.with.image: param "image" has no key "registry" (its keys: repo, tag)'),
]


@pytest.mark.parametrize(("with_", "expected"), [e[1:] for e in WITH_ERRORS], ids=[e[0] for e in WITH_ERRORS])
def test_bad_with_values_are_reported_where_they_are_written(task: TektonTask, with_: dict[str, ParamValue],
                                                             expected: str) -> None:
    def line_of(path: tuple[str | int, ...]) -> int | None:
        return 6 if path == ("tasks", "b", "with") else 7

    with pytest.raises(ValidationFailed) as info:
        expand_library_task(task, with_, file="pipeline.yaml", at=("tasks", "b", "with"), line_of=line_of)
    assert any(str(p).startswith(expected) for p in info.value.problems), info.value.problems


def test_enum_is_not_checked_for_values_known_only_at_run_time(task: TektonTask) -> None:
    assert check_with(task, {"target": "x", "mode": "$(tasks.a.results.mode)"}) == []


def test_bad_timeout_from_a_param_is_a_problem(task: TektonTask) -> None:
    with pytest.raises(ValidationFailed, match="timeout"):
        expand_library_task(task, {"target": "x", "limit": "soon"})


def test_kubernetes_only_features_become_notes() -> None:
    text = TASK.replace("  steps:\n", """\
  sidecars:
    - name: docker
      image: docker:dind
  volumes:
    - name: cache
      emptyDir: {}
  steps:
""").replace("      onError: continue\n", """\
      onError: continue
      securityContext: {privileged: true}
      volumeMounts: [{name: cache, mountPath: /cache}]
      envFrom: [{secretRef: {name: all}}]
""")
    notes = expand_library_task(load_task(text, "t.yaml"), {"target": "x"}).notes
    assert [n.split(" ")[0] for n in notes] == ["sidecar", "volumes", "step", "step", "step"]
    assert 'step "unnamed-1": volumeMounts (/cache)' in notes[3]


SUBST_TASK = """\
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: subst}
spec:
  params:
    - {name: a}
    - {name: b, default: B}
    - {name: list, type: array}
  steps:
    - image: busybox
      script: "<$(params.a)|$(params.b)>"
      args: ["$(params.list[*])", "x$(params.a)"]
"""

values = st.text(alphabet=st.sampled_from(list("$()ab.[]*\"' params")), max_size=30)


@given(a=values, items=st.lists(values, max_size=4))
def test_substituted_values_are_never_expanded_again(a: str, items: list[str]) -> None:
    task = load_task(SUBST_TASK, "subst.yaml")
    step = expand_library_task(task, {"a": a, "list": items}).steps[0]
    assert step.script == f"{DEFAULT_SHEBANG}<{a}|B>"
    assert step.args == (*items, f"x{a}")
