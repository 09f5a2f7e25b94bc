"""``validate``, ``plan``, ``schema``, ``logs`` and sources other than a local directory."""

from __future__ import annotations

import time

import kubernetes_validate
import pytest

from tests.cli.conftest import ROOT

EXAMPLE = ROOT / "examples" / "shop-api"

BROKEN = """\
name: shop
nmae: typo
params:
  registry: {default: x}
tasks:
  clone:
    script: git clone
  test:
    needs: [clone, tset]
    script: echo $(params.regstry)
  version:
    needs: [image]
    script: printf x > $(results.tag.path)
    results: [tag]
  image:
    needs: [test]
    script: echo $(tasks.version.results.tagg)
    when: git.branch == &&
  deploy:
    uses: helm-upgrad
"""


def test_validate_reports_every_problem_with_file_line_and_hint_and_no_traceback(cli, tmp_path):
    path = tmp_path / ".wishstar.yaml"
    path.write_text(BROKEN)
    result = cli("validate", str(path))
    assert result.code == 1
    assert "Traceback" not in result.stderr
    assert f'{path}:2 nmae: unknown key "nmae" (did you mean "name"?)' in result.stderr
    assert f'{path}:9 tasks.test.needs[1]: unknown task "tset" (did you mean "test"?)' in result.stderr
    assert "undeclared parameter \"regstry\" (did you mean \"registry\"?)" in result.stderr


def test_validate_json_lists_problems_as_objects(cli, tmp_path):
    path = tmp_path / ".wishstar.yaml"
    path.write_text(BROKEN.replace("nmae: typo\n", ""))
    result = cli("validate", str(tmp_path), "--output", "json")
    assert result.code == 1
    data = result.json()
    assert data["valid"] is False
    messages = {p["path"]: p for p in data["problems"]}
    assert messages["tasks.test.needs[1]"]["line"] == 8
    assert any("dependency cycle: image -> version -> image" in p["message"] for p in data["problems"])
    assert any(p["path"] == "tasks.deploy.uses" and "helm-upgrad" in p["message"] for p in data["problems"])
    assert any(p["path"] == "tasks.image.when" for p in data["problems"])


def test_yaml_syntax_errors_name_line_and_column(cli, tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("name: x\ntasks:\n  a: [1\n  b: 2\n")
    result = cli("validate", str(path))
    assert result.code == 1 and "Traceback" not in result.stderr
    assert f"{path}:4" in result.stderr and "column" in result.stderr


def test_a_file_over_the_size_cap_is_refused_before_parsing(cli, tmp_path):
    path = tmp_path / "big.yaml"
    path.write_text("name: big\n# " + "x" * (1024 * 1024 + 10) + "\n")
    result = cli("validate", str(path))
    assert result.code == 1
    assert "over the 1048576-byte limit" in result.stderr and "Traceback" not in result.stderr


def test_validate_accepts_the_example(cli):
    result = cli("validate", str(EXAMPLE))
    assert result.code == 0, result.stderr
    assert "ok" in result.stdout


def test_plan_explains_each_edge(cli):
    result = cli("plan", str(EXAMPLE))
    assert result.code == 0, result.stderr
    assert "layer 1" in result.stdout
    assert "← version (uses result tag)" in result.stdout


def test_plan_json_has_layers_edges_and_manifests(cli):
    data = cli("plan", str(EXAMPLE), "--output", "json", "--manifests").json()
    assert data["layers"][0] == ["lint", "version"]
    assert {"from": "version", "to": "package", "why": ["uses result tag"]} in data["edges"]
    kinds = [m["kind"] for t in data["tasks"] for m in t["manifests"]]
    assert kinds.count("Pod") == len(data["tasks"]) and kinds.count("ConfigMap") == len(data["tasks"])


def test_plan_yaml_is_identical_twice_and_valid_kubernetes(cli):
    import yaml

    first = cli("plan", str(EXAMPLE), "--output", "yaml")
    second = cli("plan", str(EXAMPLE), "--output", "yaml")
    assert first.code == 0, first.stderr
    assert first.stdout == second.stdout
    docs = list(yaml.safe_load_all(first.stdout))
    assert docs
    for doc in docs:
        kubernetes_validate.validate(doc, "1.31", strict=True)


def test_schema_is_json_schema_for_the_pipeline_file(cli):
    schema = cli("schema").json()
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert {"name", "tasks", "on", "finally", "params"} <= set(schema["properties"])
    assert schema["required"] == ["name", "tasks"]


def test_a_git_url_is_cloned_at_the_ref(cli, make_repo):
    repo = make_repo("""
        name: remote
        tasks:
          where:
            script: cat marker.txt
    """, {"marker.txt": "from the repository\n"})
    result = cli("run", f"file://{repo}", "--ref", "main", "--output", "json")
    assert result.code == 0, result.stderr
    run = result.json()
    assert "from the repository" in cli("logs", run["id"], "where").stdout


def test_file_option_picks_another_pipeline_file(cli, make_repo):
    repo = make_repo("""
        name: default
        tasks:
          a:
            script: echo default
    """, {"ci/other.yaml": "name: other\ntasks:\n  b:\n    script: echo other\n"})
    run = cli("run", str(repo), "--file", "ci/other.yaml", "--output", "json").json()
    assert run["pipeline"] == "other"


def test_logs_follow_streams_a_running_task_until_the_run_ends(cli, make_repo, tmp_path):
    gate = tmp_path / "gate"
    repo = make_repo(f"""
        name: streaming
        tasks:
          talk:
            script: |
              echo first line
              while [ ! -e {gate} ]; do sleep 0.05; done
              echo second line
    """)
    proc = cli.start("run", str(repo), "--no-progress")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = cli("runs", "list", "--output", "json").json()
        if runs and runs[0]["status"] == "running":
            break
        time.sleep(0.1)
    follower = cli.start("logs", runs[0]["id"], "--follow")
    time.sleep(1.0)
    gate.write_text("go")
    out, _ = follower.communicate(timeout=30)
    proc.communicate(timeout=30)
    assert "first line" in out and "second line" in out


@pytest.mark.parametrize("args,message", [
    (["runs", "show", "nosuchrun"], "nosuchrun"),
    (["runs", "list", "--status", "exploded"], "--status exploded"),
    (["run", "/nonexistent/dir"], "no such directory"),
    (["run", ".", "--executor", "nomad"], "use local, kubernetes, podman, docker, container"),
], ids=["unknown-run", "bad-status", "missing-dir", "unknown-executor"])
def test_user_errors_are_one_line_messages_without_traceback(cli, args, message):
    result = cli(*args)
    assert result.code != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


def test_a_directory_outside_git_gets_a_hint(cli, tmp_path):
    (tmp_path / "proj").mkdir()
    result = cli("run", str(tmp_path / "proj"))
    assert result.code == 1
    assert "not inside a git repository" in result.stderr and "git init" in result.stderr
