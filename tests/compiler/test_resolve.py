"""Resolving a task when it starts: results, statuses, paths and secrets filled in; git values only as env."""

from __future__ import annotations

import textwrap

import pytest

from wishstar.engine.compiler.build import compile_pipeline
from wishstar.engine.compiler.resolve import MissingSecret, RuntimeView, reference_lookup, resolve_task, secret_refs
from wishstar.engine.compiler.types import AttemptPaths, Plan, RunContext, RuntimeValues
from wishstar.engine.spec.subst import find_refs, substitute
from wishstar.engine.spec.validate import validate_text

PIPELINE = """\
    name: ci
    workspaces: [src]
    tasks:
      version:
        script: echo 1.2.3 > $(results.tag.path)
        results: [tag, digest]
      image:
        workspaces: {src: src}
        steps:
          - name: build
            script: docker build -t app:$(tasks.version.results.tag) $(workspaces.src.path)
            env: {TOKEN: {secret: registry}, TAG: $(tasks.version.results.tag)}
          - name: again
            command: [echo, "$(context.task.attempt)", "$(tasks.version.results.digest)"]
    finally:
      notify:
        script: echo $(tasks.status) $(tasks.image.status)
    """


def plan() -> Plan:
    pipeline, _ = validate_text(textwrap.dedent(PIPELINE), ".wishstar.yaml", lambda _t: None, ())
    return compile_pipeline(pipeline, RunContext(run_id="r1"), lambda _n, _w: None)  # type: ignore[arg-type,return-value]


def view(**changes: object) -> RuntimeView:
    base = dict(run_id="r1", results={"version": {"tag": "1.2.3"}}, statuses={"image": "failed"},
                aggregate_status="Failed", secrets={"registry": "s3cret"}, base_env={"WISHSTAR_GIT_BRANCH": "main"})
    base.update(changes)
    return RuntimeView(**base)  # type: ignore[arg-type]


def resolve(name: str, v: RuntimeView | None = None, attempt: int = 1):  # type: ignore[no-untyped-def]
    task = plan().task(name)
    paths = AttemptPaths(workspaces={b.name: f"/ws/{b.pipeline_workspace}" for b in task.workspaces},
                         results_dir="/run/results/x")
    return resolve_task(task, v or view(), attempt=attempt, paths=paths, default_cwd="/repo")


def test_results_of_earlier_tasks_are_filled_at_run_time() -> None:
    build = resolve("image").steps[0]
    assert build.script == "docker build -t app:1.2.3 /ws/src"
    assert build.env["TAG"] == "1.2.3"


def test_own_result_path_points_into_the_results_dir() -> None:
    task = resolve("version")
    assert task.steps[0].script == "echo 1.2.3 > /run/results/x/tag"
    assert (task.results, task.results_dir) == (("tag", "digest"), "/run/results/x")


def test_an_unknown_result_stays_verbatim_and_the_attempt_is_filled() -> None:
    again = resolve("image", attempt=3).steps[1]
    assert again.command == ("echo", "3", "$(tasks.version.results.digest)")


def test_finally_tasks_see_the_aggregate_and_each_task_status() -> None:
    assert resolve("notify").steps[0].script == "echo Failed failed"


def test_a_mapped_workspace_becomes_the_working_directory() -> None:
    assert resolve("image").steps[0].working_dir == "/ws/src"
    assert resolve("version").steps[0].working_dir == "/repo"


def test_secrets_are_resolved_into_env() -> None:
    assert resolve("image").steps[0].env["TOKEN"] == "s3cret"


def test_a_missing_secret_says_how_to_provide_it() -> None:
    with pytest.raises(MissingSecret) as info:
        resolve("image", view(secrets={}))
    assert str(info.value) == ('task image, step build: env TOKEN needs secret "registry", which this run was not '
                               "given (hint: --secret registry=ENVVAR or --secrets-file FILE)")


def test_a_secret_the_executor_provides_is_left_out_of_the_resolved_env() -> None:
    env = resolve("image", view(secrets={}, provided=frozenset({"registry"}))).steps[0].env
    assert "TOKEN" not in env and env["TAG"] == "1.2.3"


def test_a_given_secret_wins_over_a_provided_one() -> None:
    assert resolve("image", view(provided=frozenset({"registry"}))).steps[0].env["TOKEN"] == "s3cret"


def test_secret_refs_name_each_secret_with_the_keys_read_from_it() -> None:
    assert secret_refs(plan().all_tasks()) == {"registry": frozenset({"TOKEN"})}


@pytest.mark.parametrize("branch", ["$(touch /tmp/x)", "`touch /tmp/x`", "$(tasks.status)", "main; rm -rf /"],
                         ids=["command-substitution", "backticks", "reference-syntax", "semicolon"])
def test_a_hostile_branch_name_is_only_ever_an_env_value(branch: str) -> None:
    task = resolve("image", view(base_env={"WISHSTAR_GIT_BRANCH": branch}))
    for step in task.steps:
        assert step.env["WISHSTAR_GIT_BRANCH"] == branch
        texts = [step.script or "", *(step.command or ()), *step.args, step.working_dir]
        assert not any(branch in t for t in texts)


def test_step_env_overrides_the_base_env() -> None:
    task = resolve("image", view(base_env={"TAG": "from-host", "PATH": "/bin"}))
    assert task.steps[0].env["TAG"] == "1.2.3"
    assert task.steps[0].env["PATH"] == "/bin"


# --- one lookup for the runner and the manifests ------------------------------------------------------------


def test_the_task_run_namespace_is_local_by_default_and_the_executors_namespace_when_it_says_one() -> None:
    task = plan().task("image")
    ref = next(find_refs("$(context.taskRun.namespace)"))
    local = AttemptPaths(workspaces={}, results_dir="/r")
    assert reference_lookup(task, local, attempt=1, runtime=RuntimeValues())(ref) == "local"
    on_cluster = AttemptPaths(workspaces={}, results_dir="/r", namespace="builds")
    assert reference_lookup(task, on_cluster, attempt=1, runtime=RuntimeValues())(ref) == "builds"


def test_without_run_time_values_results_and_statuses_stay_as_written_and_the_rest_is_filled() -> None:
    task = plan().task("image")
    paths = AttemptPaths(workspaces={"src": "/workspace/src"}, results_dir="/wishstar/results", namespace="ci")
    text = "$(tasks.version.results.tag) $(tasks.status) $(tasks.image.status) $(workspaces.src.path) " \
           "$(workspaces.other.bound) $(results.r.path) $(context.task.attempt)"
    assert substitute(text, reference_lookup(task, paths, attempt=2, runtime=None)) == \
        "$(tasks.version.results.tag) $(tasks.status) $(tasks.image.status) /workspace/src false " \
        "/wishstar/results/r 2"
