"""``wishstar run`` end to end: a real git checkout, real processes, the SQLite store, the CLI's exit codes."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import ROOT


def test_the_example_pipeline_succeeds_and_is_kept_in_history(cli):
    result = cli("run", str(ROOT / "examples" / "shop-api"), "--output", "json")
    assert result.code == 0, result.stderr
    run = result.json()
    tasks = {t["name"]: t for t in run["tasks"]}
    assert run["status"] == "succeeded"
    assert run["pipeline"] == "shop-api" and run["number"] == 1
    assert tasks["test"]["status"] == "succeeded"
    assert tasks["version"]["results"]["tag"] == "1.4.1"
    assert tasks["image"]["status"] == "skipped" and "when condition was false" in tasks["image"]["reason"]
    assert tasks["deploy"]["status"] == "skipped" and 'result "ref"' in tasks["deploy"]["reason"]
    assert tasks["report"]["status"] == "succeeded"
    listed = cli("runs", "list", "--output", "json").json()
    assert [r["id"] for r in listed] == [run["id"]]
    shown = cli("runs", "show", run["id"][:6], "--output", "json").json()
    assert set(shown) >= {"id", "pipeline", "number", "status", "git", "started_at", "finished_at", "tasks"}
    assert set(shown["tasks"][0]) >= {"name", "status", "reason", "attempts", "exit_code", "results",
                                      "started_at", "finished_at"}
    assert shown["git"]["commit"] and shown["git"]["branch"]


def test_build_numbers_increase_per_pipeline(cli, make_repo):
    repo = make_repo("""
        name: numbers
        tasks:
          show:
            script: echo "build $WISHSTAR_BUILD_NUMBER"
    """)
    first = cli("run", str(repo), "--output", "json").json()
    second = cli("run", str(repo), "--output", "json").json()
    assert (first["number"], second["number"]) == (1, 2)
    log = cli("logs", second["id"], "show")
    assert "build 2" in log.stdout


def test_a_failing_task_fails_the_run_skips_dependents_and_still_runs_finally(cli, make_repo):
    repo = make_repo("""
        name: failing
        tasks:
          broken:
            script: |
              echo about to fail
              exit 3
          after:
            needs: [broken]
            script: echo never
        finally:
          report:
            script: echo "status=$(tasks.status) broken=$(tasks.broken.status)"
    """)
    result = cli("run", str(repo), "--output", "json")
    assert result.code == 1
    run = result.json()
    tasks = {t["name"]: t for t in run["tasks"]}
    assert run["status"] == "failed"
    assert tasks["broken"]["exit_code"] == 3
    assert tasks["after"]["status"] == "skipped" and 'task "broken" failed' in tasks["after"]["reason"]
    assert tasks["report"]["status"] == "succeeded"
    assert "status=failed broken=failed" in cli("logs", run["id"], "report").stdout


def test_results_flow_between_tasks_and_only_needing_a_skipped_task_still_runs(cli, make_repo):
    repo = make_repo("""
        name: results
        tasks:
          version:
            results: [tag]
            script: printf 'v%s' "$WISHSTAR_BUILD_NUMBER" > "$(results.tag.path)"
          maybe:
            when: git.branch == "release"
            results: [out]
            script: printf x > "$(results.out.path)"
          uses-tag:
            script: echo "tag is $(tasks.version.results.tag)"
          needs-only:
            needs: [maybe]
            script: echo ran
          consumes:
            script: echo "$(tasks.maybe.results.out)"
    """)
    run = cli("run", str(repo), "--output", "json").json()
    tasks = {t["name"]: t for t in run["tasks"]}
    assert tasks["maybe"]["status"] == "skipped"
    assert tasks["needs-only"]["status"] == "succeeded"
    assert tasks["consumes"]["status"] == "skipped"
    assert "tag is v1" in cli("logs", run["id"], "uses-tag").stdout


def test_retries_wait_and_try_again(cli, make_repo, tmp_path: Path):
    counter = tmp_path / "attempts"
    repo = make_repo(f"""
        name: flaky
        tasks:
          flaky:
            retries: {{limit: 2, backoff: 100ms}}
            script: |
              echo x >> {counter}
              test "$(wc -l < {counter})" -ge 2
    """)
    run = cli("run", str(repo), "--output", "json").json()
    task = run["tasks"][0]
    assert run["status"] == "succeeded"
    assert task["attempts"] == 2
    assert counter.read_text().count("x") == 2


def test_a_task_timeout_kills_the_step_and_fails_the_task(cli, make_repo):
    repo = make_repo("""
        name: slow
        tasks:
          slow:
            timeout: 1s
            script: sleep 30
    """)
    result = cli("run", str(repo), "--output", "json", timeout=60)
    task = result.json()["tasks"][0]
    assert result.code == 1
    assert task["status"] == "failed" and "timed out" in task["reason"]


def test_matrix_instances_run_separately_and_are_addressable(cli, make_repo):
    repo = make_repo("""
        name: matrix
        tasks:
          test:
            matrix: {py: ["3.11", "3.12"]}
            script: echo "python $(params.py)"
          after:
            needs: [test]
            script: echo done
    """)
    run = cli("run", str(repo), "--output", "json").json()
    names = [t["name"] for t in run["tasks"]]
    assert names[:2] == ["test[3.11]", "test[3.12]"] and run["status"] == "succeeded"
    assert "python 3.12" in cli("logs", run["id"], "test[3.12]").stdout


def test_params_override_defaults_and_unknown_params_are_refused(cli, make_repo):
    repo = make_repo("""
        name: params
        params:
          greeting: {default: hello}
        tasks:
          say:
            script: echo "$(params.greeting) world"
    """)
    run = cli("run", str(repo), "--param", "greeting=howdy", "--output", "json").json()
    assert "howdy world" in cli("logs", run["id"], "say").stdout
    bad = cli("run", str(repo), "--param", "greting=x")
    assert bad.code == 1
    assert 'did you mean "greeting"' in bad.stderr and "Traceback" not in bad.stderr
    assert len(cli("runs", "list", "--output", "json").json()) == 1


def test_an_event_that_does_not_match_on_starts_nothing(cli, make_repo):
    repo = make_repo("""
        name: gated
        on:
          push: {branches: [main]}
        tasks:
          a:
            script: echo hi
    """)
    result = cli("run", str(repo), "--event", "push", "--branch", "feature/x")
    assert result.code == 0
    assert 'branch "feature/x" matches none of on.push.branches' in result.stderr
    assert cli("runs", "list", "--output", "json").json() == []
    assert cli("run", str(repo), "--event", "push", "--branch", "main").code == 0


def test_a_merge_request_event_names_its_target_branch_for_on_merge_request(cli, make_repo):
    repo = make_repo("""
        name: mr-gated
        on:
          merge_request: {targetBranches: [main]}
        tasks:
          a:
            script: echo "target=$WISHSTAR_GIT_TARGET_BRANCH"
    """)
    other = cli("run", str(repo), "--event", "merge_request", "--target-branch", "release")
    assert other.code == 0
    assert 'target branch "release"' in other.stderr
    assert cli("runs", "list", "--output", "json").json() == []
    matched = cli("run", str(repo), "--event", "merge_request", "--target-branch", "main", "--output", "json")
    assert matched.code == 0, matched.stderr
    run = matched.json()
    assert run["status"] == "succeeded"
    assert run["git"]["target_branch"] == "main"
    assert "target=main" in cli("logs", run["id"], "a").stdout


def test_the_pipeline_concurrency_key_limits_tasks_at_once(cli, make_repo, tmp_path):
    log = tmp_path / "overlap"
    tasks = "\n".join(f"""
          t{i}:
            script: |
              echo start >> {log}
              sleep 0.3
              echo end >> {log}""" for i in range(3))
    repo = make_repo(f"""
        name: serial
        concurrency: 1
        tasks:{tasks}
    """)
    result = cli("run", str(repo), "--output", "json")
    assert result.code == 0, result.stderr
    assert log.read_text().split() == ["start", "end"] * 3


def test_a_relative_working_dir_is_inside_the_working_copy_not_the_callers_directory(cli, make_repo,
                                                                                      tmp_path: Path):
    repo = make_repo("""
        name: wd
        tasks:
          where:
            workingDir: app
            steps:
              - name: task-dir
                script: pwd > "$(results.dir.path)"; test -f marker.txt
              - name: step-dir
                workingDir: sub
                script: test -f inner.txt
            results: [dir]
    """, {"app/marker.txt": "x", "app/sub/inner.txt": "y"})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    result = cli("run", str(repo), "--output", "json", env={"PWD": str(elsewhere)})
    assert result.code == 0, result.stderr
    assert not (elsewhere / "app").exists() and not (ROOT / "app").exists()
    assert result.json()["tasks"][0]["results"]["dir"].endswith("/checkout/app")
