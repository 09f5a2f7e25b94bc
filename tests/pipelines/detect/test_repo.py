"""The repository walk: which directories are apps, and which candidate wins where detectors disagree.

Uses small detectors written here (each matches one marker file) so the rules of ``detect.repo`` are tested
apart from any ecosystem's; the ecosystems' own tests use their real detectors on fixture repositories.
"""

from __future__ import annotations

from pathlib import Path

from wishstar.pipelines.detect.base import Detector, Members
from wishstar.pipelines.detect.evidence import Candidate, Confidence, Evidence, NearMiss
from wishstar.pipelines.detect.repo import detect
from wishstar.pipelines.detect.tree import Tree, join


def marker(language: str, build: str, file: str, confidence: Confidence = "medium",
           fallback: bool = False) -> Detector:
    def found(tree: Tree, path: str) -> list[Candidate]:
        if not tree.is_file(join(path, file)):
            return []
        return [Candidate(language, build, (Evidence(join(path, file), None, f"{file} present"),), confidence)]

    def misses(tree: Tree, path: str) -> list[NearMiss]:
        return [NearMiss(f"{file}.bak found but no {file}")] if tree.is_file(join(path, file + ".bak")) else []

    def members(tree: Tree, path: str) -> Members | None:
        text = tree.text(join(path, "members.txt")) if language == "javascript" else None
        if not text:
            return None
        return Members(tuple(text.split()), ("members.txt",), Evidence("members.txt", 1, "workspaces"))

    return Detector(language, f"{file}", found, misses, members)


DETECTORS = (marker("java", "maven", "pom.xml"), marker("python", "pip", "requirements.txt"),
             marker("javascript", "npm", "package.json"), marker("docker", "docker", "Dockerfile"),
             marker("static", "static", "index.html", "low"))


def repo(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def paths(tmp_path: Path, files: dict[str, str]) -> list[tuple[str, str]]:
    return [(a.path, a.chosen.build) for a in detect(repo(tmp_path, files), DETECTORS).apps]


class TestWhichDirectoriesAreApps:
    def test_a_root_that_matches_is_the_only_app(self, tmp_path: Path) -> None:
        assert paths(tmp_path, {"pom.xml": "", "tools/package.json": "{}"}) == [(".", "maven")]

    def test_without_a_root_match_each_top_level_directory_that_matches_is_an_app(self, tmp_path: Path) -> None:
        assert paths(tmp_path, {"api/pom.xml": "", "web/package.json": "{}", "docs/README.md": ""}) == [
            ("api", "maven"), ("web", "npm")]

    def test_a_directory_that_matches_nothing_is_searched_one_level_down(self, tmp_path: Path) -> None:
        assert paths(tmp_path, {"services/a/pom.xml": "", "services/b/requirements.txt": ""}) == [
            ("services/a", "maven"), ("services/b", "pip")]

    def test_a_declared_layout_makes_its_members_the_apps_with_the_shared_root_files(
            self, tmp_path: Path) -> None:
        root = repo(tmp_path, {"members.txt": "apps/one apps/two", "package.json": "{}",
                               "apps/one/package.json": "{}", "apps/two/package.json": "{}",
                               "apps/three/package.json": "{}"})
        apps = detect(root, DETECTORS).apps
        assert [a.path for a in apps] == ["apps/one", "apps/two"]
        assert all(a.context == "." and "members.txt" in a.chosen.context for a in apps)

    def test_a_service_directory_with_only_a_dockerfile_is_an_app_of_a_monorepo(self, tmp_path: Path) -> None:
        assert paths(tmp_path, {"api/pom.xml": "", "proxy/Dockerfile": "FROM x"}) == [
            ("api", "maven"), ("proxy", "docker")]

    def test_a_root_dockerfile_or_static_site_counts_only_when_no_app_is_found(self, tmp_path: Path) -> None:
        assert paths(tmp_path, {"Dockerfile": "FROM x", "index.html": ""}) == [(".", "docker")]

    def test_skipped_directories_are_never_entered(self, tmp_path: Path) -> None:
        assert paths(tmp_path, {"node_modules/x/package.json": "{}", "target/pom.xml": ""}) == []


class TestConflicts:
    def test_higher_confidence_wins_and_the_loser_is_an_alternative_with_its_evidence(
            self, tmp_path: Path) -> None:
        detectors = (marker("python", "pip", "requirements.txt"),
                     marker("javascript", "npm", "package.json", "high"))
        app = detect(repo(tmp_path, {"requirements.txt": "", "package.json": "{}"}), detectors).apps[0]
        assert app.chosen.build == "npm"
        assert [a.key for a in app.alternatives] == ["python/pip"]
        assert str(app.alternatives[0].evidence[0]) == "requirements.txt requirements.txt present"
        assert app.rule is not None and app.rule.startswith("higher confidence wins")

    def test_equal_confidence_is_settled_by_the_language_order(self, tmp_path: Path) -> None:
        app = detect(repo(tmp_path, {"requirements.txt": "", "package.json": "{}"}), DETECTORS).apps[0]
        assert app.chosen.build == "pip"
        assert app.rule is not None and "puts python before javascript" in app.rule

    def test_a_dockerfile_next_to_a_manifest_is_not_a_conflict(self, tmp_path: Path) -> None:
        app = detect(repo(tmp_path, {"pom.xml": "", "Dockerfile": "FROM x"}), DETECTORS).apps[0]
        assert (app.chosen.build, app.alternatives, app.rule) == ("maven", (), None)


class TestNothingMatched:
    def test_lists_what_was_looked_for_what_was_found_and_the_near_misses(self, tmp_path: Path) -> None:
        found = detect(repo(tmp_path, {"README.md": "", "pom.xml.bak": "", "docs/guide.md": ""}), DETECTORS)
        assert not found.matched
        assert found.found == ("README.md", "docs/", "pom.xml.bak")
        assert found.looked_for["java"] == "pom.xml"
        assert [m.message for m in found.near_misses] == ["pom.xml.bak found but no pom.xml"]

    def test_an_empty_repository_matches_nothing(self, tmp_path: Path) -> None:
        found = detect(tmp_path, DETECTORS)
        assert (found.apps, found.found) == ((), ())
