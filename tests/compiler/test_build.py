"""Compiling a validated pipeline into a Plan: matrix fan-out, edges, params, argv expansion, env, determinism."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import pytest

from wishstar.engine.compiler.build import compile_pipeline, resolve_params
from wishstar.engine.compiler.types import Edge, EnvVar, Plan, RunContext
from wishstar.engine.spec.errors import ValidationFailed
from wishstar.engine.spec.model import ParamValue, Pipeline
from wishstar.engine.spec.validate import validate_text


def parse(text: str) -> Pipeline:
    pipeline, _ = validate_text(textwrap.dedent(text), ".wishstar.yaml", lambda _t: None, ())
    return pipeline


def no_expander(_name: str, _with: Mapping[str, ParamValue]) -> None:
    raise AssertionError("no library tasks here")


def compile_text(text: str, params: Mapping[str, ParamValue] | None = None) -> Plan:
    return compile_pipeline(parse(text), RunContext(run_id="r1", number=7, params=params or {}),
                            no_expander)  # type: ignore[arg-type]


MATRIX = """\
    name: ci
    params:
      flags: [-x, -q]
    tasks:
      version:
        script: git describe > $(results.tag.path)
        results: [tag]
      test:
        matrix: {py: ["3.11", "3.12"], os: [linux]}
        steps:
          - command: [pytest, "$(params.flags[*])", "--py=$(params.py)", "$(context.task.name)"]
      image:
        needs: [test]
        script: docker build -t app:$(tasks.version.results.tag) .
    """


def test_matrix_fans_out_into_named_instances() -> None:
    plan = compile_text(MATRIX)
    assert [t.name for t in plan.tasks.values()] == ["test[3.11,linux]", "test[3.12,linux]", "version", "image"]
    assert plan.tasks["test[3.12,linux]"].matrix == (("py", "3.12"), ("os", "linux"))
    assert plan.tasks["test[3.12,linux]"].base == "test"


def test_needing_a_matrix_task_depends_on_every_instance() -> None:
    plan = compile_text(MATRIX)
    assert plan.tasks["image"].needs == ("test[3.11,linux]", "test[3.12,linux]", "version")


def test_a_result_reference_is_an_implicit_edge_with_its_reason() -> None:
    plan = compile_text(MATRIX)
    assert Edge("version", "image", ("uses result tag",)) in plan.edges
    assert Edge("test[3.11,linux]", "image", ("needs",)) in plan.edges
    assert plan.layers == (("test[3.11,linux]", "test[3.12,linux]", "version"), ("image",))


def test_array_param_with_star_expands_into_separate_args() -> None:
    step = compile_text(MATRIX).tasks["test[3.11,linux]"].steps[0]
    assert step.command == ("pytest", "-x", "-q", "--py=3.11", "test[3.11,linux]")


def test_bracket_array_param_with_star_expands_too() -> None:
    plan = compile_text("""\
        name: ci
        params: {flags: [-x, -q]}
        tasks:
          t:
            steps: [{command: [pytest, '$(params["flags"][*])', '$(params.flags)']}]
        """)
    assert plan.tasks["t"].steps[0].command == ("pytest", "-x", "-q", "-x -q")


def test_an_array_element_of_a_pipeline_param_is_substituted_like_in_a_tekton_task() -> None:
    plan = compile_text("""\
        name: ci
        params: {targets: [linux, darwin], image: {default: {repo: app, tag: "1"}, type: object}}
        tasks:
          t:
            steps: [{script: 'build $(params.targets[1]) $(params.image.repo)',
                     command: [make, '$(params.targets[0])', '$(params["targets"][*])']}]
        """, {"targets": ["arm", "x86"]})
    step = plan.tasks["t"].steps[0]
    assert (step.script, step.command) == ("build x86 app", ("make", "arm", "arm", "x86"))


def test_run_time_references_are_left_for_resolve() -> None:
    plan = compile_text(MATRIX)
    assert plan.tasks["image"].steps[0].script == "docker build -t app:$(tasks.version.results.tag) ."
    assert plan.tasks["version"].steps[0].script == "git describe > $(results.tag.path)"


def test_compiling_twice_gives_equal_plans() -> None:
    assert compile_text(MATRIX) == compile_text(MATRIX)
    assert repr(compile_text(MATRIX)) == repr(compile_text(MATRIX))


# Parameters

PARAMS = """\
    name: ci
    params:
      env: {default: staging, enum: [staging, production]}
      registry: {description: where to push}
      flags: {type: array, default: [-v]}
    tasks:
      t: {script: echo $(params.env) $(params.registry) $(params.flags)}
    """


@pytest.mark.parametrize(("given", "expected"), [
    ({"registry": "ghcr.io"}, {"env": "staging", "registry": "ghcr.io", "flags": ["-v"]}),
    ({"registry": "r", "env": "production"}, {"env": "production", "registry": "r", "flags": ["-v"]}),
    ({"registry": "r", "flags": "-q"}, {"env": "staging", "registry": "r", "flags": ["-q"]}),
], ids=["defaults", "override", "string-for-array-becomes-one-item"])
def test_params_are_defaults_overlaid_with_given_values(given: dict[str, ParamValue],
                                                        expected: dict[str, ParamValue]) -> None:
    assert resolve_params(parse(PARAMS), given, ".wishstar.yaml") == expected


@pytest.mark.parametrize(("given", "expected"), [
    ({}, [".wishstar.yaml params.registry: this parameter has no default (pass --param registry=VALUE)"]),
    ({"registry": "r", "regsitry": "x"}, [
        '.wishstar.yaml params.regsitry: --param regsitry: the pipeline declares no such parameter '
        '(did you mean "registry"?)']),
    ({"registry": "r", "env": "prod"}, [
        ".wishstar.yaml params.env: \"prod\" is not one of ['staging', 'production']"]),
    ({"env": "prod", "zzz": "1"}, [
        ".wishstar.yaml params.env: \"prod\" is not one of ['staging', 'production']",
        ".wishstar.yaml params.registry: this parameter has no default (pass --param registry=VALUE)",
        ".wishstar.yaml params.zzz: --param zzz: the pipeline declares no such parameter (see `params:` in the "
        "pipeline file)"]),
], ids=["missing", "unknown", "off-enum", "all-at-once"])
def test_bad_params_are_reported_together(given: dict[str, ParamValue], expected: list[str]) -> None:
    with pytest.raises(ValidationFailed) as info:
        resolve_params(parse(PARAMS), given, ".wishstar.yaml")
    assert [str(p) for p in info.value.problems] == expected


def test_one_value_for_an_object_param_is_refused_instead_of_leaving_its_keys_unresolved() -> None:
    text = "name: ci\nparams:\n  cfg: {type: object, default: {a: '1'}}\ntasks:\n  t: {script: echo $(params.cfg.a)}\n"
    with pytest.raises(ValidationFailed) as info:
        resolve_params(parse(text), {"cfg": "3"}, ".wishstar.yaml")
    assert [str(p) for p in info.value.problems] == [
        ".wishstar.yaml params.cfg: --param cfg: an object parameter takes a mapping, not one value (set its keys "
        "under `default:` in the file)"]
    assert resolve_params(parse(text), {}, ".wishstar.yaml") == {"cfg": {"a": "1"}}


def test_params_are_substituted_at_compile_time() -> None:
    plan = compile_text(PARAMS, {"registry": "ghcr.io"})
    assert plan.tasks["t"].steps[0].script == "echo staging ghcr.io -v"
    assert plan.params == {"env": "staging", "registry": "ghcr.io", "flags": ["-v"]}


def test_a_param_value_holding_a_reference_is_not_expanded_again() -> None:
    plan = compile_text(PARAMS, {"registry": "$(params.env)"})
    assert plan.tasks["t"].steps[0].script == "echo staging $(params.env) -v"


# Environment


ENV = """\
    name: ci
    env: {LEVEL: pipeline, ONLY_PIPELINE: p, TOKEN: {secret: gh, secretKey: token}}
    tasks:
      t:
        env: {LEVEL: task, ONLY_TASK: t}
        steps:
          - name: a
            script: x
            env: {LEVEL: step, RUN: $(context.run.id)}
          - name: b
            script: y
    """


def test_env_merges_pipeline_then_task_then_step() -> None:
    a, b = compile_text(ENV).tasks["t"].steps
    assert {e.name: e.value for e in a.env if e.secret is None} == {
        "LEVEL": "step", "ONLY_PIPELINE": "p", "ONLY_TASK": "t", "RUN": "r1"}
    assert {e.name: e.value for e in b.env if e.secret is None} == {"LEVEL": "task", "ONLY_PIPELINE": "p",
                                                                      "ONLY_TASK": "t"}


def test_secret_env_stays_a_reference_to_the_secret() -> None:
    a = compile_text(ENV).tasks["t"].steps[0]
    assert EnvVar("TOKEN", secret="gh", secret_key="token") in a.env
    assert all(e.value is None for e in a.env if e.secret is not None)


def test_task_settings_reach_the_plan() -> None:
    plan = compile_text("""\
        name: ci
        timeout: 1h
        concurrency: 2
        onFailure: cancel
        tasks:
          t:
            script: x
            timeout: 90s
            allowFailure: true
            retries: {limit: 3, backoff: 2s, factor: 3, maxBackoff: 1m}
            interruptible: false
          u: {script: x}
        finally:
          f: {script: echo $(tasks.status)}
        """)
    t = plan.tasks["t"]
    assert (plan.timeout_s, plan.concurrency, plan.on_failure) == (3600.0, 2, "cancel")
    assert (t.timeout_s, t.allow_failure, t.retries.limit, t.retries.backoff_s, t.retries.max_backoff_s) == (
        90.0, True, 3, 2.0, 60.0)
    assert (t.interruptible, plan.tasks["u"].interruptible) == (False, True)
    assert list(plan.finally_tasks) == ["f"] and plan.finally_tasks["f"].is_finally


def test_the_pipeline_image_is_the_default_for_inline_tasks() -> None:
    pipeline, _ = validate_text(textwrap.dedent("""
        name: p
        image: registry.local/base:1
        tasks:
          a:
            script: echo a
          b:
            image: registry.local/other:2
            script: echo b
    """), ".wishstar.yaml", lambda t: None, [])
    plan = compile_pipeline(pipeline, RunContext(), lambda n, w: None)  # type: ignore[arg-type,return-value]
    assert plan.tasks["a"].steps[0].image == "registry.local/base:1"
    assert plan.tasks["b"].steps[0].image == "registry.local/other:2"
