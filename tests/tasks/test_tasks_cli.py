"""``wishstar tasks list`` and ``wishstar tasks show``, run as the real command."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Cli
from tests.tasks.catalogs import flat, versioned
from wishstar.cli.tasks_cmd import example
from wishstar.pipelines.load import validate
from wishstar.tasks import Library


@pytest.fixture
def team(tmp_path: Path) -> Path:
    root = tmp_path / "team"
    for version in ("0.9", "0.10"):
        versioned(root, "greet", version, description="Say hello. Then more words that the list leaves out.",
                  extra_params="    - name: loud\n      type: string\n      default: 'no'\n      description: shout")
    flat(root, "echo", "7", description="The team's own echo.")
    return root


def test_list_shows_newest_version_other_versions_description_and_catalog(cli: Cli, team: Path) -> None:
    result = cli("tasks", "list", "--catalog", str(team))
    assert result.code == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert rows["greet"].split()[1:4] == ["0.10", "0.9", str(team)]
    assert rows["greet"].endswith("  Say hello.")
    assert rows["git-clone"].split()[1:4] == ["1", "-", "built-in"]


def test_list_json_names_what_a_team_catalog_shadows(cli: Cli, team: Path) -> None:
    rows = {r["name"]: r for r in cli("tasks", "list", "--catalog", str(team), "--output", "json").json()}
    assert rows["echo"]["version"] == "7"
    assert rows["echo"]["catalog"] == str(team)
    assert rows["echo"]["shadowed"] == [{"version": "1", "catalog": "built-in"}]
    assert rows["greet"]["other_versions"] == ["0.9"]
    assert rows["greet"]["description"] == "Say hello. Then more words that the list leaves out."


def test_list_marks_a_task_file_that_does_not_load_and_lists_the_rest(cli: Cli, team: Path) -> None:
    (team / "broken.yaml").write_text("apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {name: broken}\nspec: []\n")
    result = cli("tasks", "list", "--catalog", str(team))
    assert result.code == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert rows["broken"].split()[1:4] == ["?", "-", "?"]
    assert f"invalid: {team / 'broken.yaml'}:4 spec:" in rows["broken"]
    assert "greet" in rows


def test_show_lists_params_results_workspaces_images_and_an_example(cli: Cli) -> None:
    result = cli("tasks", "show", "git-clone@1")
    assert result.code == 0, result.stderr
    text = result.stdout
    assert text.startswith("git-clone@1  built-in: ")
    for line in ("  revision        string  default ''  commit, branch or tag; empty means $WISHSTAR_GIT_COMMIT, else "
                 "HEAD", "  commit  string  the full sha checked out", "  output  where the repository is checked out",
                 "  clone  docker.io/alpine/git:2.47.2", "      uses: git-clone@1"):
        assert line in text.splitlines()


def test_show_json_marks_required_params_and_the_example_sets_them(cli: Cli, team: Path) -> None:
    data = cli("tasks", "show", "greet@0.9", "--catalog", str(team), "--output", "json").json()
    assert (data["task"], data["versions"]) == ("greet@0.9", ["0.10", "0.9"])
    assert [(p["name"], p["required"], p["default"]) for p in data["params"]] == [("who", True, None),
                                                                                    ("loud", False, "no")]
    assert yaml.safe_load(data["example"])["tasks"]["greet"] == {"uses": "greet@0.9", "with": {"who": "<who>"}}


def test_show_yaml_prints_the_task_file_itself(cli: Cli, team: Path) -> None:
    result = cli("tasks", "show", "greet", "--catalog", str(team), "--output", "yaml")
    assert result.stdout == (team / "greet" / "0.10" / "greet.yaml").read_text()


@pytest.mark.parametrize(("task", "message"), [
    ("git-clon", 'error: unknown library task "git-clon" (did you mean "git-clone"?)'),
    ("echo@2", 'error: library task "echo" has no version "2" (versions: 1 (built-in); `uses: echo` takes the '
               "newest, 1)"),
    ("echo@newest", 'error: "newest" in "echo@newest" is not a version'),
])
def test_show_of_an_unknown_task_or_version_exits_1_with_a_hint_and_no_traceback(cli: Cli, task: str,
                                                                                 message: str) -> None:
    result = cli("tasks", "show", task)
    assert (result.code, result.stdout) == (1, "")
    assert result.stderr.startswith(message)
    assert "Traceback" not in result.stderr


def test_the_example_of_every_builtin_task_is_a_valid_pipeline() -> None:
    library = Library()
    for name in library.names():
        validate(example(library.resolve(name), library.get(name)), f"example of {name}", library)
