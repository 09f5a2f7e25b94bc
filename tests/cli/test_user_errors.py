"""Bad inputs a new user gives the CLI: each is a clear message naming the file, option or value, with an exit
code and no stack trace; problems of one command are listed all at once, like a pipeline file's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.cli.conftest import Cli, Result

# two tasks that cannot become a Pod (a step with only an image, whose registry refuses connections: port 9 on
# loopback has no listener), for the manifest errors
IMAGE_ONLY = """
name: pods
tasks:
  a:
    steps: [{name: s, image: "127.0.0.1:9/alpine:3.20"}]
  b:
    steps: [{name: s, image: "127.0.0.1:9/alpine:3.20"}]
  ok:
    script: echo hi
"""
PIPELINE = "name: simple\ntasks:\n  a:\n    script: echo hi\n"


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.stderr and "Error:" not in result.stderr.replace("error:", ""), result.stderr


# --- Kubernetes names and manifests --------------------------------------------------------------------------


def test_plan_lists_a_bad_namespace_and_every_task_that_cannot_become_a_pod_at_once(cli: Cli,
                                                                                     tmp_path: Path) -> None:
    (tmp_path / ".wishstar.yaml").write_text(IMAGE_ONLY)
    result = cli("plan", str(tmp_path), "--output", "yaml", "--namespace", "Bad_NS")
    assert result.code == 1 and result.stdout == ""
    no_traceback(result)
    lines = result.stderr.splitlines()
    assert any("--namespace" in line and '"Bad_NS"' in line and 'did you mean "bad-ns"?' in line for line in lines)
    for task in ("a", "b"):
        assert any(f"tasks.{task}:" in line and "cannot look up the entrypoint of image 127.0.0.1:9/alpine:3.20 for "
                   f"step s of task {task}: 127.0.0.1:9 unreachable" in line and "hint: give the step a command"
                   in line for line in lines), result.stderr
    assert lines[-1] == "3 problem(s) found"


def test_plan_reports_a_bad_namespace_together_with_the_files_problems(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / ".wishstar.yaml").write_text("name: x\ntasks:\n  a:\n    scrip: echo\n")
    result = cli("plan", str(tmp_path), "--output", "json", "--manifests", "--namespace", "Bad_NS")
    assert result.code == 1
    no_traceback(result)
    assert "--namespace" in result.stderr and "tasks.a" in result.stderr


def test_plan_without_manifests_does_not_need_a_valid_namespace(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / ".wishstar.yaml").write_text(PIPELINE)
    assert cli("plan", str(tmp_path), "--namespace", "Bad_NS").code == 0


def test_a_kubernetes_run_in_a_bad_namespace_is_refused_before_a_run_is_recorded(
        cli: Cli, make_repo: Callable[..., Path]) -> None:
    repo = make_repo(PIPELINE)
    result = cli("run", str(repo), "--executor", "kubernetes", "--namespace", "Bad_NS", "--no-progress")
    assert result.code == 1
    no_traceback(result)
    assert '--namespace: "Bad_NS" is not a valid Kubernetes namespace name' in result.stderr
    assert cli("runs", "list", "--output", "json").json() == []


def test_a_bad_wishstar_namespace_is_an_invalid_setting(cli: Cli) -> None:
    result = cli("runs", "list", env={"WISHSTAR_NAMESPACE": "Bad_NS"})
    assert result.code == 1
    no_traceback(result)
    assert "WISHSTAR_NAMESPACE='Bad_NS'" in result.stderr and "not a valid Kubernetes namespace" in result.stderr


# --- secrets files ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "says"), [
    ("missing", "no such secrets file"),
    ("directory", "is a directory, not a secrets file"),
    ("too-large", "over the 1048576-byte limit for a secrets file"),
])
def test_a_secrets_file_that_cannot_be_read_is_named_with_the_option(
        cli: Cli, make_repo: Callable[..., Path], tmp_path: Path, kind: str, says: str) -> None:
    repo = make_repo(PIPELINE)
    path = {"missing": tmp_path / "nope.yaml", "directory": tmp_path, "too-large": tmp_path / "big.yaml"}[kind]
    if kind == "too-large":
        path.write_text("a: " + "x" * 1024 * 1024 + "\n")
    result = cli("run", str(repo), "--secrets-file", str(path), "--no-progress")
    assert result.code == 2
    no_traceback(result)
    assert f"--secrets-file {path}: {says}" in result.stderr and "pipeline file" not in result.stderr
    assert cli("runs", "list", "--output", "json").json() == []


# --- pipeline files and sources -----------------------------------------------------------------------------


def test_validate_and_plan_name_a_path_that_does_not_exist(cli: Cli, tmp_path: Path) -> None:
    for command in ("validate", "plan"):
        result = cli(command, str(tmp_path / "nope"))
        assert result.code == 1
        no_traceback(result)
        assert f"{tmp_path / 'nope'}: no such file or directory" in result.stderr


def test_a_file_option_naming_a_directory_or_nothing_says_so_in_the_project(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "ci").mkdir()
    result = cli("validate", str(tmp_path), "--file", "ci")
    assert result.code == 1
    no_traceback(result)
    assert f"ci: a directory in {tmp_path}, not a pipeline file (hint: --file ci/.wishstar.yaml)" in result.stderr
    result = cli("validate", str(tmp_path), "--file", "ci/nope.yaml")
    assert f"ci/nope.yaml: no pipeline file in {tmp_path} (hint: check the name)" in result.stderr


def test_a_file_option_with_a_pipeline_file_is_refused_rather_than_ignored(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(PIPELINE)
    result = cli("plan", str(tmp_path / "a.yaml"), "--file", "b.yaml")
    assert result.code == 2
    no_traceback(result)
    assert f"--file b.yaml: {tmp_path / 'a.yaml'} is a file, not a project directory" in result.stderr


def test_a_device_given_as_the_pipeline_file_is_read_as_a_file(cli: Cli) -> None:
    result = cli("validate", "/dev/null")
    assert result.code == 1
    no_traceback(result)
    assert "/dev/null:1 <root>: the file is empty" in result.stderr


def test_a_run_names_a_missing_pipeline_file_as_given_never_its_temporary_checkout(
        cli: Cli, make_repo: Callable[..., Path]) -> None:
    repo = make_repo(PIPELINE)
    result = cli("run", str(repo), "--file", "ci/nope.yaml", "--no-progress")
    assert result.code == 1
    no_traceback(result)
    assert f"ci/nope.yaml: no pipeline file in {repo} at " in result.stderr  # the source and its commit
    assert str(cli.state_dir) not in result.stderr
    assert cli("runs", "list", "--output", "json").json() == []


def test_a_pipeline_file_given_to_run_is_refused_with_what_to_pass_instead(
        cli: Cli, make_repo: Callable[..., Path]) -> None:
    repo = make_repo(PIPELINE)
    result = cli("run", str(repo / ".wishstar.yaml"), "--no-progress")
    assert result.code == 1
    no_traceback(result)
    assert ".wishstar.yaml: not a directory (hint: pass the project directory" in result.stderr


def test_a_project_directory_that_is_not_committed_is_named_with_the_commit(
        cli: Cli, make_repo: Callable[..., Path]) -> None:
    repo = make_repo(PIPELINE)
    (repo / "new").mkdir()
    (repo / "new" / ".wishstar.yaml").write_text(PIPELINE)
    result = cli("run", str(repo / "new"), "--no-progress")
    assert result.code == 1
    no_traceback(result)
    assert "new: not in commit " in result.stderr and "`git add` and commit the directory" in result.stderr
    assert cli("runs", "list", "--output", "json").json() == []


def test_a_git_url_builds_any_branch_and_names_an_unknown_ref(cli: Cli, make_repo: Callable[..., Path]) -> None:
    import git

    repo = make_repo(PIPELINE)
    git.Repo(repo).create_head("feature")  # not the default branch: only a remote branch in a fresh clone
    result = cli("run", f"file://{repo}", "--ref", "feature", "--no-progress")
    assert result.code == 0, result.stderr
    result = cli("run", f"file://{repo}", "--ref", "nosuch", "--no-progress")
    assert result.code == 1
    no_traceback(result)
    assert f'file://{repo}: unknown ref "nosuch" (hint: a branch, tag or commit' in result.stderr
    assert len(cli("runs", "list", "--output", "json").json()) == 1


def test_a_repository_that_cannot_be_cloned_gives_gits_reason_without_the_password(cli: Cli,
                                                                                   tmp_path: Path) -> None:
    result = cli("run", f"file://bob:s3cret@{tmp_path}/nope.git", "--no-progress")
    assert result.code == 1
    no_traceback(result)
    assert "does not appear to be a git repository" in result.stderr, result.stderr
    assert "s3cret" not in result.stderr and "bob:***@" in result.stderr


# --- state directory, store and settings --------------------------------------------------------------------


def test_a_state_dir_that_is_a_file_is_named_with_its_option(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for args in (("runs", "list"), ("serve", "--port", "1")):
        result = cli(*args, "--state-dir", str(tmp_path / "file"))
        assert result.code == 2
        no_traceback(result)
        assert f"state directory {tmp_path / 'file'}: not a directory" in result.stderr
        assert "--state-dir or WISHSTAR_STATE_DIR" in result.stderr


@pytest.mark.parametrize(("url", "says"), [
    ("not a url", "(WISHSTAR_DATABASE_URL is not a URL): Could not parse"),
    ("nosuchdb://x/y", "nosuchdb://x/y: Can't load plugin"),
    ("sqlite:////nonexistent/dir/x.db", "sqlite:////nonexistent/dir/x.db: unable to open database file"),
    ("postgresql+psycopg://bob:s3cret@127.0.0.1:1/x", "postgresql+psycopg://bob:***@127.0.0.1:1/x: connection"),
], ids=["unparseable", "unknown-dialect", "sqlite-unopenable", "postgres-refused"])
def test_a_database_url_that_cannot_be_opened_is_named_without_its_password(cli: Cli, url: str,
                                                                             says: str) -> None:
    for args in (("runs", "list"), ("serve", "--port", "1")):
        result = cli(*args, env={"WISHSTAR_DATABASE_URL": url}, timeout=60)
        assert result.code == 1
        no_traceback(result)
        assert f"cannot open the run store {says}" in result.stderr, result.stderr
        assert "s3cret" not in result.stderr


def test_a_corrupt_store_in_the_state_dir_points_at_the_state_dir(cli: Cli) -> None:
    cli.state_dir.mkdir()
    (cli.state_dir / "wishstar.db").write_text("not a database\n" * 100)
    result = cli("runs", "list")
    assert result.code == 1
    no_traceback(result)
    assert "file is not a database (hint: the store is wishstar.db in the state directory" in result.stderr


@pytest.mark.parametrize(("kind", "says"), [
    ("missing", "no such file"),
    ("directory", "a directory, not a file"),
    ("bad-toml", "not valid TOML (Expected newline or end of document after a statement (at line 1, column 24))"),
])
def test_a_settings_file_that_cannot_be_used_is_an_error_not_ignored(cli: Cli, tmp_path: Path, kind: str,
                                                                      says: str) -> None:
    path = {"missing": tmp_path / "nope.toml", "directory": tmp_path, "bad-toml": tmp_path / "s.toml"}[kind]
    if kind == "bad-toml":
        path.write_text('gitlab_token = "s3cret"; workers = [\n')
    result = cli("runs", "list", env={"WISHSTAR_SETTINGS_FILE": str(path)})
    assert result.code == 1
    no_traceback(result)
    assert f"WISHSTAR_SETTINGS_FILE={path}: {says}" in result.stderr, result.stderr
    assert "s3cret" not in result.stderr


# --- logs and projects --------------------------------------------------------------------------------------


def test_logs_names_the_tasks_and_the_attempts_a_run_has(cli: Cli, make_repo: Callable[..., Path]) -> None:
    repo = make_repo(PIPELINE)
    assert cli("run", str(repo), "--no-progress").code == 0
    run_id = cli("runs", "list", "--output", "json").json()[0]["id"]
    result = cli("logs", run_id, "nope")
    assert result.code == 2 and f'run {run_id} has no task "nope" (its tasks: a)' in result.stderr
    result = cli("logs", run_id, "a", "--attempt", "3")
    assert result.code == 2 and "--attempt 3: task a ran 1 attempt(s)" in result.stderr
    result = cli("logs", run_id, "--attempt", "2")
    assert result.code == 2 and f"--attempt 2: no task of run {run_id} ran more than 1 attempt(s)" in result.stderr
    for option, value in (("--attempt", "0"), ("--tail", "-1")):
        result = cli("logs", run_id, option, value)
        assert result.code == 2 and f"Invalid value for '{option}'" in result.stderr
    assert "hi" in cli("logs", run_id, "a", "--attempt", "1").stdout


@pytest.mark.parametrize(("args", "env", "says"), [
    (("--url", "gitlab.example.com"), {}, "--url 'gitlab.example.com': not an http(s) URL"),
    (("--url", "ftp://gitlab.example.com"), {}, "--url 'ftp://gitlab.example.com': not an http(s) URL"),
    (("--url", "https://gitlab.example.com", "--hook-url", "/hooks"), {}, "--hook-url '/hooks': not an http(s)"),
], ids=["no-scheme", "ftp", "hook-url"])
def test_projects_add_refuses_a_url_that_is_not_http_before_calling_gitlab(
        cli: Cli, args: tuple[str, ...], env: dict[str, str], says: str) -> None:
    result = cli("projects", "add", "group/app", *args, env={"WISHSTAR_GITLAB_TOKEN": "t0ken", **env})
    assert result.code == 2
    no_traceback(result)
    assert says in result.stderr and "t0ken" not in result.stderr


def test_server_settings_that_cannot_work_are_refused_at_once(cli: Cli) -> None:
    env = {"WISHSTAR_EXECUTOR": "nomad", "WISHSTAR_PUBLIC_URL": "wishstar.example.com",
           "WISHSTAR_GITLAB_URL": "gitlab.example.com", "WISHSTAR_GITLAB_TOKEN": "t0ken"}
    for args in (("serve", "--port", "1"), ("projects", "add", "group/app")):
        result = cli(*args, env=env)
        assert result.code == 1
        no_traceback(result)
        assert ("WISHSTAR_EXECUTOR='nomad': Input should be 'local', 'kubernetes', 'podman', 'docker' or "
                "'container'") in result.stderr
        assert "WISHSTAR_PUBLIC_URL='wishstar.example.com': not an http(s) URL" in result.stderr
        assert "WISHSTAR_GITLAB_URL='gitlab.example.com': not an http(s) URL" in result.stderr
        assert "t0ken" not in result.stderr


def test_the_worker_process_reports_a_store_it_cannot_open_without_a_traceback(cli: Cli) -> None:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "wishstar.webhook.worker"], capture_output=True, text=True,
                          env={**cli.env, "WISHSTAR_DATABASE_URL": "not a url"}, timeout=60)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert "error: cannot open the run store (WISHSTAR_DATABASE_URL is not a URL)" in proc.stderr
