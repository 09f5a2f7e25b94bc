"""Task versions: ``uses: NAME@VERSION`` and ``uses: NAME`` (newest), both layouts, and the errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tasks.catalogs import flat, versioned
from wishstar.engine.spec.errors import ValidationFailed
from wishstar.pipelines.load import validate
from wishstar.tasks import Library, UnknownVersion
from wishstar.tasks.catalog import builtin_catalog, directory_catalog


def pipeline(uses: str) -> str:
    return f"name: p\ntasks:\n  greet:\n    uses: {uses}\n    with: {{who: me}}\n"


def problems_of(text: str, library: Library) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        validate(text, ".wishstar.yaml", library)
    return [str(p) for p in info.value.problems]


def test_an_unpinned_uses_takes_the_newest_version_by_numeric_components(tmp_path: Path) -> None:
    for version in ("0.9", "0.10", "0.2"):
        versioned(tmp_path, "greet", version)
    library = Library([tmp_path], builtin=False)
    assert library.resolve("greet").version == "0.10"
    assert library.source("greet") == str(tmp_path / "greet" / "0.10" / "greet.yaml")


def test_a_pinned_uses_takes_that_version(tmp_path: Path) -> None:
    for version in ("1", "2"):
        versioned(tmp_path, "greet", version)
    library = Library([tmp_path], builtin=False)
    assert "greet 1" in (library.get("greet@1").spec.steps[0].script or "")
    assert "greet 2" in (library.get("greet").spec.steps[0].script or "")


def test_an_unknown_version_is_a_problem_at_uses_naming_the_versions_that_exist(tmp_path: Path) -> None:
    for version in ("0.9", "0.10"):
        versioned(tmp_path, "greet", version)
    assert problems_of(pipeline("greet@0.1"), Library([tmp_path], builtin=False)) == [
        f'.wishstar.yaml:4 tasks.greet.uses: library task "greet" has no version "0.1" (did you mean "0.10"? '
        f'versions: 0.10 ({tmp_path}), 0.9 ({tmp_path}); `uses: greet` takes the newest, 0.10)']


def test_an_unknown_version_raises_from_get_with_the_same_message(tmp_path: Path) -> None:
    versioned(tmp_path, "greet", "1")
    with pytest.raises(UnknownVersion, match=r'no version "7" \(versions: 1 \(.*\); `uses: greet` takes the '
                                             r'newest, 1\)'):
        Library([tmp_path], builtin=False).get("greet@7")


@pytest.mark.parametrize(("uses", "message"), [
    ("greet@latest", '"latest" in "greet@latest" is not a version'),
    ("greet@", '"" in "greet@" is not a version'),
    ("Greet", '"Greet" does not name a library task'),
])
def test_a_malformed_uses_is_a_problem_with_the_syntax_as_hint(tmp_path: Path, uses: str, message: str) -> None:
    versioned(tmp_path, "greet", "1")
    (found,) = problems_of(pipeline(uses), Library([tmp_path], builtin=False))
    assert found.startswith(f".wishstar.yaml:4 tasks.greet.uses: {message} (")


def test_an_unknown_name_with_a_version_suggests_the_close_name(tmp_path: Path) -> None:
    versioned(tmp_path, "greet", "1")
    assert problems_of(pipeline("gret@1"), Library([tmp_path], builtin=False)) == [
        '.wishstar.yaml:4 tasks.greet.uses: no library task named "gret" (did you mean "greet"?)']


def test_a_version_label_that_disagrees_with_its_directory_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    path = versioned(tmp_path, "greet", "2", labels='    app.kubernetes.io/version: "1"')
    with pytest.raises(ValidationFailed) as info:
        Library([tmp_path], builtin=False).get("greet@2")
    assert str(info.value) == (
        f'{path}:6 metadata.labels.app.kubernetes.io/version: the version label says "1" but the file is in the '
        'directory of version "2" (set app.kubernetes.io/version: "2", or move the file to greet/1/greet.yaml)')


def test_a_flat_file_takes_its_version_from_the_label(tmp_path: Path) -> None:
    flat(tmp_path, "greet", "0.3")
    flat(tmp_path, "plain")
    library = Library([tmp_path], builtin=False)
    assert library.resolve("greet").version == "0.3"
    assert library.resolve("greet@0.3").file == str(tmp_path / "greet.yaml")
    assert library.resolve("plain").version == "0"


def test_listing_names_and_directory_versions_parses_no_file(tmp_path: Path) -> None:
    for version in ("1", "2"):
        (tmp_path / "broken" / version).mkdir(parents=True)
        (tmp_path / "broken" / version / "broken.yaml").write_text("spec: [")
    library = Library([tmp_path], builtin=False)
    assert library.names() == ["broken"]
    assert [v for v, _ in library.versions("broken")] == ["2", "1"]


def test_directories_that_are_not_versions_are_not_tasks(tmp_path: Path) -> None:
    versioned(tmp_path, "greet", "1")
    (tmp_path / "greet" / "samples").mkdir()
    (tmp_path / "greet" / "samples" / "greet.yaml").write_text("not: a task")
    (tmp_path / "README").mkdir()
    assert Library([tmp_path], builtin=False).versions("greet") == [("1", directory_catalog(tmp_path))]


def test_the_library_check_refuses_a_task_without_a_description(tmp_path: Path) -> None:
    path = versioned(tmp_path, "greet", "1", description='""')
    (problem,) = Library([tmp_path], builtin=False).check()
    assert str(problem) == (f"{path}:7 spec: a library task needs a description (add `description:` under spec: "
                            "one line on what the task does (`wishstar tasks list` shows it))")


def test_the_library_check_reports_every_version_of_every_catalog(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    versioned(first, "greet", "1", labels='    app.kubernetes.io/version: "9"')
    versioned(second, "greet", "1", description='""')
    found = Library([first, second], builtin=False).check()
    assert [(p.file, p.path) for p in found] == [
        (str(first / "greet" / "1" / "greet.yaml"), "metadata.labels.app.kubernetes.io/version"),
        (str(second / "greet" / "1" / "greet.yaml"), "spec")]


def test_unpinned_takes_the_first_catalog_holding_the_name_even_when_a_later_one_is_newer(tmp_path: Path) -> None:
    team, other = tmp_path / "team", tmp_path / "other"
    flat(team, "greet")
    versioned(other, "greet", "3")
    library = Library([team, other], builtin=False)
    assert library.resolve("greet").file == str(team / "greet.yaml")
    assert library.resolve("greet@3").file == str(other / "greet" / "3" / "greet.yaml")


def test_each_resolution_is_recorded_with_task_version_file_and_catalog(tmp_path: Path) -> None:
    versioned(tmp_path, "greet", "1")
    library = Library([tmp_path])
    validate(pipeline("greet") + "  show:\n    uses: echo@1\n    with: {message: hi}\n", ".wishstar.yaml", library)
    assert [r.as_dict() for r in library.resolutions()] == [
        {"uses": "greet", "task": "greet@1", "file": str(tmp_path / "greet" / "1" / "greet.yaml"),
         "catalog": str(tmp_path), "commit": None},
        {"uses": "echo@1", "task": "echo@1", "file": library.source("echo@1"), "catalog": "built-in",
         "commit": None}]


def test_every_builtin_task_is_in_the_versioned_layout_with_a_matching_label() -> None:
    library = Library()
    for name in library.names():
        for version, catalog in library.versions(name):
            assert catalog == builtin_catalog()
            file = Path(library.resolve(f"{name}@{version}").file)
            assert file.parts[-3:] == (name, version, f"{name}.yaml")
            assert library.get(f"{name}@{version}").metadata.labels["app.kubernetes.io/version"] == version


def test_public_catalog_tasks_work_flat_and_in_the_tekton_layout(tmp_path: Path) -> None:
    from tests.conformance import require_conformance

    flat_dir = require_conformance() / "tekton" / "catalog"
    flat_library = Library([flat_dir], builtin=False)
    for name in flat_library.names():
        version = flat_library.get(name).metadata.labels["app.kubernetes.io/version"]
        assert flat_library.resolve(name).version == version
        (tmp_path / name / version).mkdir(parents=True)
        (tmp_path / name / version / f"{name}.yaml").write_bytes((flat_dir / f"{name}.yaml").read_bytes())
        (tmp_path / name / version / "README.md").write_text("not a task")
    layout = Library([tmp_path], builtin=False)
    assert layout.names() == flat_library.names()
    assert [layout.resolve(n).version for n in layout.names()] == [flat_library.resolve(n).version
                                                                    for n in flat_library.names()]
    assert layout.check() == []
