"""The road from a commit to a run: admission decides the same way for every caller (pure, no I/O), and the
road's rules (placement, namespace, concurrency default, executor names) are written once."""

from __future__ import annotations

import textwrap

import pytest

from wishstar.engine.compiler.types import GitContext
from wishstar.engine.spec.errors import ValidationFailed, WishstarError
from wishstar.pipelines import road
from wishstar.pipelines.admission import Admitted, MissingSecrets, NotStarted, Request, Trigger, admit
from wishstar.pipelines.load import Loaded, validate
from wishstar.pipelines.settings import Settings
from wishstar.tasks import Library

LIBRARY = Library()


def load(text: str) -> Loaded:
    return validate(textwrap.dedent(text), ".wishstar.yaml", LIBRARY)


GATED = load("""
    name: gated
    on:
      push: {branches: [main], paths: ["src/**"]}
      merge_request: {targetBranches: [main]}
    params:
      level: {default: "1", enum: ["1", "2"]}
    env:
      TOKEN: {secret: api-token}
    concurrency:
      group: "'deploy-' + git.branch"
      limit: 2
      newer: cancel
    tasks:
      a:
        script: echo a
""")


def decide(trigger: Trigger, request: Request | None = None) -> Admitted | NotStarted:
    return admit(GATED.pipeline, GATED.file, trigger, request)


class TestAdmission:
    def test_a_push_to_a_branch_on_does_not_name_is_not_started_with_the_reason(self) -> None:
        got = decide(Trigger("push", GitContext(branch="feature/x")))
        assert isinstance(got, NotStarted)
        assert 'branch "feature/x" matches none of on.push.branches' in got.reason

    def test_a_merge_request_is_admitted_by_its_target_branch(self) -> None:
        into_main = decide(Trigger("merge_request", GitContext(branch="feature/x", target_branch="main")))
        into_release = decide(Trigger("merge_request", GitContext(branch="feature/x", target_branch="release")))
        assert isinstance(into_main, Admitted)
        assert isinstance(into_release, NotStarted) and 'target branch "release"' in into_release.reason

    def test_changed_paths_filter_a_push_and_unknown_paths_do_not_block_it(self) -> None:
        docs_only = decide(Trigger("push", GitContext(branch="main"), changed=("docs/readme.md",)))
        source = decide(Trigger("push", GitContext(branch="main"), changed=("src/app.py",)))
        unknown = decide(Trigger("push", GitContext(branch="main"), changed=None))
        assert isinstance(docs_only, NotStarted)
        assert isinstance(source, Admitted) and isinstance(unknown, Admitted)

    def test_an_explicit_request_runs_whatever_on_says(self) -> None:
        got = decide(Trigger("merge_request", GitContext(branch="x", target_branch="release"), explicit=True))
        assert isinstance(got, Admitted)

    def test_params_are_typed_against_the_pipeline_and_every_bad_one_is_reported(self) -> None:
        with pytest.raises(ValidationFailed) as failed:
            decide(Trigger("manual", GitContext()), Request({"level": "3", "nope": "x"}))
        text = " ".join(str(p) for p in failed.value.problems)
        assert "params.level" in text and "params.nope" in text
        ok = decide(Trigger("manual", GitContext()), Request({"level": "2"}))
        assert isinstance(ok, Admitted) and ok.params["level"] == "2"

    def test_missing_secrets_are_named_when_the_caller_holds_the_secrets(self) -> None:
        with pytest.raises(MissingSecrets, match=r'secret "api-token" \(used by env\.TOKEN'):
            decide(Trigger("manual", GitContext()), Request(secrets=set()))
        assert isinstance(decide(Trigger("manual", GitContext()), Request(secrets={"api-token"})), Admitted)
        # the platform holds them (a Kubernetes namespace): not checked here
        assert isinstance(decide(Trigger("manual", GitContext()), Request(secrets=None)), Admitted)

    def test_the_concurrency_group_is_evaluated_and_prefixed_with_the_pipeline_name(self) -> None:
        got = decide(Trigger("push", GitContext(branch="main")))
        assert isinstance(got, Admitted)
        assert (got.group, got.limit, got.newer) == ("gated:deploy-main", 2, "cancel")

    def test_a_group_that_does_not_evaluate_to_a_string_is_an_error(self) -> None:
        bad = load("""
            name: bad-group
            concurrency: {group: "1 + 1"}
            tasks: {a: {script: echo}}
        """)
        with pytest.raises(WishstarError, match="not a non-empty string"):
            admit(bad.pipeline, bad.file, Trigger("manual", GitContext()))


CHAIN = load("""
    name: chain
    placement: auto
    tasks:
      a: {script: echo a}
      b: {script: echo b, needs: [a]}
""")


class TestTheRoadsRules:
    def test_placement_merges_chains_on_kubernetes_only(self) -> None:
        cfg = Settings()
        local, kube = road.Target("local"), road.Target("kubernetes", "ci")
        on_local = road.compile_plan(CHAIN, road.run_context("r1", 1, "manual", GitContext(), {}, local, cfg),
                                     LIBRARY, local, cfg)
        on_kube = road.compile_plan(CHAIN, road.run_context("r1", 1, "manual", GitContext(), {}, kube, cfg),
                                    LIBRARY, kube, cfg)
        assert sorted(on_local.tasks) == ["a", "b"]
        assert len(on_kube.tasks) == 1

    def test_the_run_context_namespace_is_the_targets_else_the_settings(self) -> None:
        cfg = Settings(namespace="team")
        assert road.run_context("r", 1, "manual", GitContext(), {}, road.Target("kubernetes", "ci"),
                                cfg).namespace == "ci"
        assert road.run_context("r", 1, "manual", GitContext(), {}, road.Target("kubernetes"),
                                cfg).namespace == "team"

    def test_concurrency_defaults_to_32_on_kubernetes_and_the_cpu_count_locally(self) -> None:
        cfg = Settings()
        ctx = road.run_context("r", 1, "manual", GitContext(), {}, road.Target(), cfg)
        plan = road.compile_plan(CHAIN, ctx, LIBRARY, road.Target(), cfg)
        assert road.concurrency_limit(plan, road.Target("kubernetes"), cfg, 3) == 32
        assert road.concurrency_limit(plan, road.Target("local"), cfg, 3) == 3
        assert road.concurrency_limit(plan, road.Target("local"), cfg, None) == 2
        assert road.concurrency_limit(plan, road.Target("local", concurrency=5), Settings(concurrency=4), 3) == 5
        assert road.concurrency_limit(plan, road.Target("local"), Settings(concurrency=4), 3) == 4

    def test_an_unknown_executor_is_refused_with_the_names_that_work(self) -> None:
        with pytest.raises(road.TargetError, match="use local, kubernetes, podman, docker, container"):
            road.check_target(road.Target("nomad"))
