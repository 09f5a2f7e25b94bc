"""Extra catalogs: directories and real git repositories (file:// URLs), search order, pins, clear errors."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import git
import pytest

from tests.cli.conftest import Cli
from tests.tasks.catalogs import flat, versioned
from wishstar.pipelines.catalogs import CatalogError, from_record, open_library, record, refresh
from wishstar.pipelines.settings import Settings
from wishstar.tasks import Library

MakeRepo = Callable[..., Path]
AUTHOR = git.Actor("Catalog Author", "catalog@example.com")


def commit_all(path: Path, message: str) -> str:
    repo = git.Repo(path)
    repo.git.add("-A")
    return str(repo.index.commit(message, author=AUTHOR, committer=AUTHOR).hexsha)


def git_catalog(path: Path, *, subdir: str = "") -> tuple[str, str]:
    """A git repository with greet@1 (under ``subdir``); returns (file:// URL, commit)."""
    git.Repo.init(path, initial_branch="main")
    versioned(path / subdir if subdir else path, "greet", "1", description="Greet, first edition.")
    return path.as_uri(), commit_all(path, "greet 1")


def cfg(tmp_path: Path, catalogs: list[object] | None = None) -> Settings:
    return Settings(state_dir=tmp_path / "state", catalogs=catalogs or [])


def test_a_git_catalog_is_read_at_the_commit_its_ref_names(tmp_path: Path) -> None:
    url, sha = git_catalog(tmp_path / "team")
    library = open_library(cfg(tmp_path), [url])
    (catalog, _builtin) = library.catalogs
    assert (catalog.kind, catalog.commit, catalog.label) == ("git", sha, url)
    assert library.get("greet").spec.description == "Greet, first edition."
    assert library.source("greet") == f"{url}@{sha[:12]}:greet/1/greet.yaml"


def test_a_catalog_pushed_to_after_the_run_started_does_not_change_it(tmp_path: Path) -> None:
    url, first = git_catalog(tmp_path / "team")
    library = open_library(cfg(tmp_path), [url])
    recorded = record(library)
    versioned(tmp_path / "team", "greet", "1", description="Greet, second edition.")
    versioned(tmp_path / "team", "greet", "2")
    second = commit_all(tmp_path / "team", "greet 2")
    assert library.resolve("greet").version == "1"  # the run's library: its commit's tree, however late it reads
    assert library.get("greet@1").spec.description == "Greet, first edition."
    again = from_record(recorded, cfg(tmp_path))  # a resumed run: the recorded commit, not the branch's new tip
    assert again.catalogs[0].commit == first
    assert again.get("greet").spec.description == "Greet, first edition."
    fresh = open_library(cfg(tmp_path), [url])  # a new run sees the new commit
    assert (fresh.catalogs[0].commit, fresh.resolve("greet").version) == (second, "2")


def test_a_long_lived_library_is_refreshed_to_the_new_commit_for_the_next_run(tmp_path: Path) -> None:
    url, first = git_catalog(tmp_path / "team")
    flat(tmp_path / "dir", "plain")
    library = open_library(cfg(tmp_path, [str(tmp_path / "dir"), url]))
    versioned(tmp_path / "team", "greet", "2")
    second = commit_all(tmp_path / "team", "greet 2")
    fresh = refresh(library, tmp_path / "state")
    assert [(c.kind, c.commit) for c in fresh.catalogs] == [("dir", None), ("git", second), ("builtin", None)]
    assert (fresh.resolve("greet").version, library.resolve("greet").version) == ("2", "1")
    assert library.catalogs[1].commit == first
    plain = Library([tmp_path / "dir"])
    assert refresh(plain, tmp_path / "state") is plain


def test_a_git_catalog_ref_may_be_a_tag_a_branch_or_a_commit(tmp_path: Path) -> None:
    url, first = git_catalog(tmp_path / "team")
    repo = git.Repo(tmp_path / "team")
    repo.create_tag("v1")
    versioned(tmp_path / "team", "greet", "2")
    commit_all(tmp_path / "team", "greet 2")
    for ref in ("v1", first):
        assert open_library(cfg(tmp_path), [f"{url}#{ref}"]).resolve("greet").version == "1"
    assert open_library(cfg(tmp_path), [f"{url}#main"]).resolve("greet").version == "2"


def test_a_settings_catalog_table_names_a_subdirectory_and_a_ref(tmp_path: Path) -> None:
    url, sha = git_catalog(tmp_path / "team", subdir="tekton/tasks")
    library = open_library(cfg(tmp_path, [{"url": url, "ref": "main", "path": "tekton/tasks"}]))
    assert library.resolve("greet").file == f"{url}@{sha[:12]}:tekton/tasks/greet/1/greet.yaml"
    assert record(library)["catalogs"] == [{"kind": "git", "source": url, "ref": "main", "path": "tekton/tasks",
                                            "commit": sha}]


def test_the_catalogs_setting_is_read_from_the_environment_as_a_json_list(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    flat(tmp_path / "a", "one")
    monkeypatch.setenv("WISHSTAR_CATALOGS", json.dumps([str(tmp_path / "a"), {"url": "https://x.test/t.git"}]))
    assert [str(c) if isinstance(c, str) else c.url for c in Settings().catalogs] == [str(tmp_path / "a"),
                                                                                     "https://x.test/t.git"]


def test_search_order_is_project_then_flags_then_settings_then_builtin(tmp_path: Path) -> None:
    for where in ("project/.wishstar/tasks", "flag", "setting"):
        flat(tmp_path / where, "echo", description=f"echo from {where}")
        flat(tmp_path / where, f"only-{where.split('/')[0]}")
    flat(tmp_path / "setting", "greet")
    library = open_library(cfg(tmp_path, [str(tmp_path / "setting")]), [str(tmp_path / "flag")],
                           project=tmp_path / "project")
    assert [c.kind for c in library.catalogs] == ["project", "dir", "dir", "builtin"]
    assert library.get("echo").spec.description == "echo from project/.wishstar/tasks"
    assert library.source("echo") == ".wishstar/tasks/echo.yaml"
    assert library.resolve("greet").catalog.label == str(tmp_path / "setting")
    assert library.resolve("echo@1").catalog.label == "built-in"
    without_project = open_library(cfg(tmp_path, [str(tmp_path / "setting")]), [str(tmp_path / "flag")])
    assert without_project.get("echo").spec.description == "echo from flag"


def test_a_missing_catalog_directory_names_the_flag_or_the_setting(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=rf"^--catalog {tmp_path}/nope: task catalog directory {tmp_path}/nope "
                                           "does not exist"):
        open_library(cfg(tmp_path), [str(tmp_path / "nope")])
    with pytest.raises(CatalogError, match=r"^catalogs\[1\] setting "):
        open_library(cfg(tmp_path, [str(tmp_path), str(tmp_path / "nope")]))


def test_an_unreachable_git_catalog_names_the_flag_and_hides_the_password(tmp_path: Path) -> None:
    missing = (tmp_path / "gone").as_uri()
    with pytest.raises(CatalogError, match=rf"^--catalog {missing}: cannot fetch HEAD of the task catalog \("):
        open_library(cfg(tmp_path), [missing])
    with pytest.raises(CatalogError) as info:
        open_library(cfg(tmp_path, ["http://user:s3cret@127.0.0.1:9/team.git"]))
    assert str(info.value).startswith("catalogs[0] setting http://user:***@127.0.0.1:9/team.git: cannot fetch")
    assert "s3cret" not in str(info.value)


def test_an_unknown_ref_of_a_git_catalog_is_an_error_naming_it(tmp_path: Path) -> None:
    url, _ = git_catalog(tmp_path / "team")
    with pytest.raises(CatalogError, match=rf"^--catalog {url}#nope: cannot fetch nope of the task catalog"):
        open_library(cfg(tmp_path), [f"{url}#nope"])


def test_a_project_library_records_only_its_own_run_and_the_project_catalog_is_optional(tmp_path: Path) -> None:
    server = Library()
    server.resolve("echo")
    run = server.for_project(tmp_path / "no-tasks-here")
    assert run.catalogs == server.catalogs
    assert run.resolutions() == []
    run.resolve("pytest")
    assert [r.uses for r in run.resolutions()] == ["pytest"]
    assert [r.uses for r in server.resolutions()] == ["echo"]


# -- through the CLI: plan and validate take --catalog; a run records and shows the commit it read ----------

PIPELINE = """\
name: greeter
tasks:
  hello:
    uses: greet
    with: {who: world}
"""


def test_validate_and_plan_use_catalog_flags(cli: Cli, tmp_path: Path) -> None:
    url, sha = git_catalog(tmp_path / "team")
    project = tmp_path / "project"
    project.mkdir()
    (project / ".wishstar.yaml").write_text(PIPELINE)
    refused = cli("validate", str(project))
    assert refused.code == 1
    assert 'tasks.hello.uses: no library task named "greet"' in refused.stderr
    assert cli("validate", str(project), "--catalog", url).code == 0
    plan = cli("plan", str(project), "--catalog", url, "--output", "json").json()
    assert plan["library"] == [{"uses": "greet", "task": "greet@1", "file": f"{url}@{sha[:12]}:greet/1/greet.yaml",
                                "catalog": url, "commit": sha}]
    missing = cli("plan", str(project), "--catalog", str(tmp_path / "nope"))
    assert (missing.code, missing.stderr.splitlines()[0]) == (
        1, f"error: --catalog {tmp_path / 'nope'}: task catalog directory {tmp_path / 'nope'} does not exist "
           f"(hint: check the path given to --catalog {tmp_path / 'nope'})")


def test_a_run_records_the_catalog_commit_and_runs_show_prints_it(cli: Cli, make_repo: MakeRepo,
                                                                  tmp_path: Path) -> None:
    url, first = git_catalog(tmp_path / "team")
    repo = make_repo(PIPELINE)
    ran = cli("run", str(repo), "--catalog", url, "--no-progress", "--output", "json")
    assert ran.code == 0, ran.stderr
    run_id = ran.json()["id"]
    versioned(tmp_path / "team", "greet", "2")
    commit_all(tmp_path / "team", "greet 2")
    shown = cli("runs", "show", run_id)
    assert f"  catalog: {url} at {first}" in shown.stdout.splitlines()
    assert f"  library tasks: greet → greet@1 ({url}@{first[:12]})" in shown.stdout.splitlines()
    recorded = cli("runs", "show", run_id, "--output", "json").json()["git"]["library"]
    assert recorded["catalogs"][0]["commit"] == first


def test_a_project_own_task_runs_from_its_checkout(cli: Cli, make_repo: MakeRepo) -> None:
    own = textwrap.dedent("""\
        apiVersion: tekton.dev/v1
        kind: Task
        metadata: {name: shout}
        spec:
          description: Print a word in capitals.
          params: [{name: word, type: string}]
          steps:
            - image: docker.io/library/busybox:1.36
              env: [{name: WORD, value: $(params.word)}]
              script: printf '%s\\n' "$WORD" | tr a-z A-Z
        """)
    repo = make_repo("name: p\ntasks:\n  loud:\n    uses: shout\n    with: {word: quiet}\n",
                     {".wishstar/tasks/shout.yaml": own})
    ran = cli("run", str(repo), "--no-progress", "--output", "json")
    assert ran.code == 0, ran.stderr
    run_id = ran.json()["id"]
    assert "QUIET" in cli("logs", run_id).stdout
    assert "  library tasks: shout → shout@0 (.wishstar/tasks)" in cli("runs", "show", run_id).stdout.splitlines()
