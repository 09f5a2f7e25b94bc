"""A directory no language claims: only a Dockerfile (kept as it is, port from EXPOSE, its own `make test`), a
static site (index.html, served by unprivileged nginx, its local links checked), or only Markdown (nothing)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.pipelines.detect.render_cases import (
    FIXTURES,
    checkout,
    detection_of,
    golden_mismatches,
    render,
    run_and_log,
    write,
)
from wishstar.pipelines.detect.container import DOCKERFILE, STATIC
from wishstar.pipelines.detect.tree import Tree
from wishstar.pipelines.load import validate
from wishstar.tasks import Library

CASES = ["docker-only", "static-site", "static-public"]


class TestOnlyADockerfile:
    def test_the_port_comes_from_expose_and_the_base_images_are_evidence(self) -> None:
        [c] = DOCKERFILE.detect(Tree(FIXTURES / "docker-only"), ".")
        assert (c.language, c.build) == ("docker", "docker")
        assert c.port is not None and str(c.port.evidence) == "Dockerfile:9 EXPOSE 8080"
        assert [str(e) for e in c.evidence][:2] == ["Dockerfile:2 FROM rust:1.83-bookworm",
                                                     "Dockerfile:6 FROM debian:bookworm-slim"]

    def test_a_makefile_test_target_is_the_test_task_in_the_dockerfiles_build_image(self) -> None:
        pipeline = render("docker-only").pipeline
        assert "make test" in pipeline and 'image: "rust:1.83-bookworm"' in pipeline

    def test_the_repositorys_dockerfile_is_kept_and_none_is_written(self) -> None:
        assert set(render("docker-only").files) == {".wishstar.yaml"}

    def test_without_a_test_entry_the_task_says_so_and_lists_the_stages(self, tmp_path: Path) -> None:
        write(tmp_path, {"Dockerfile": "FROM $(params.x) AS base\nFROM base\nCMD [\"true\"]\n"})
        [c] = DOCKERFILE.detect(Tree(tmp_path), ".")
        assert "$(" not in c.facts["stages"]  # repository text never becomes a pipeline reference
        assert c.port is None and any("no EXPOSE" in w for w in c.warnings)
        pipeline = render("no-tests", tmp_path).pipeline
        validate(pipeline, ".wishstar.yaml", Library())
        assert "no test entry" in pipeline and 'image: "alpine:' in pipeline

    def test_a_dockerfile_next_to_a_language_manifest_is_that_languages_app(self, tmp_path: Path) -> None:
        write(tmp_path, {"go.mod": "module m\ngo 1.26\n", "main.go": "package main\n",
                         "Dockerfile": "FROM golang:1.26\nEXPOSE 9000\n"})
        [app] = detection_of(tmp_path).apps
        assert app.chosen.key == "go/go"


class TestStaticSite:
    def test_an_index_html_at_the_root_is_a_site_on_nginx_unprivilegeds_port(self) -> None:
        [c] = STATIC.detect(Tree(FIXTURES / "static-site"), ".")
        assert (c.language, c.build, c.facts["site_dir"]) == ("static", "static", ".")
        assert c.port is not None and c.port.value == "8080" and c.port.is_default

    def test_an_index_html_in_public_is_a_site_with_lower_confidence(self) -> None:
        [c] = STATIC.detect(Tree(FIXTURES / "static-public"), ".")
        assert c.facts["site_dir"] == "public" and c.confidence == "low"
        assert str(c.evidence[0]) == "public/index.html site index page in public/"

    @pytest.mark.parametrize("other", ["package.json", "Dockerfile", "pyproject.toml", "App.csproj"])
    def test_an_index_html_next_to_a_manifest_or_dockerfile_is_not_a_static_site(self, tmp_path: Path,
                                                                                  other: str) -> None:
        tree = write(tmp_path, {"index.html": "<html></html>\n", other: "{}\n"})
        assert STATIC.detect(tree, ".") == []

    def test_the_dockerfile_prepares_the_site_in_one_stage_and_serves_it_from_nginx_unprivileged(self) -> None:
        dockerfile = render("static-public").files["Dockerfile"]
        assert "COPY public ./" in dockerfile
        assert "FROM nginxinc/nginx-unprivileged:" in dockerfile and "USER 10001" in dockerfile


class TestOnlyMarkdown:
    def test_a_repository_of_only_markdown_matches_nothing_and_says_why(self) -> None:
        detection = detection_of(FIXTURES / "markdown-only")
        assert detection.apps == ()
        [miss] = detection.near_misses
        assert miss.message.startswith("only Markdown files (README.md, docs/*.md): not a static site")

    def test_a_site_in_public_with_a_readme_is_not_a_markdown_near_miss(self) -> None:
        assert STATIC.near_misses(Tree(FIXTURES / "static-public"), ".") == []


class TestGenerated:
    @pytest.mark.parametrize("case", CASES)
    def test_the_generated_files_match_the_golden_files(self, case: str) -> None:
        assert golden_mismatches(case, render(case)) == []

    @pytest.mark.parametrize("case", CASES)
    def test_the_generated_pipeline_passes_the_validator(self, case: str) -> None:
        validate(render(case).pipeline, ".wishstar.yaml", Library())


@pytest.mark.toolchain
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
class TestStaticCheckRuns:
    def test_the_site_check_passes_when_every_local_link_resolves(self, tmp_path: Path) -> None:
        run, log = run_and_log(tmp_path, checkout("static-site", tmp_path))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "every local href and src in 2 page(s) resolves" in log, log

    def test_the_site_check_fails_naming_a_broken_link(self, tmp_path: Path) -> None:
        repo = tmp_path / "src"
        shutil.copytree(FIXTURES / "static-site", repo)
        (repo / "css" / "site.css").unlink()
        run, log = run_and_log(tmp_path, checkout("site", tmp_path, source=repo))
        assert run.returncode == 1, run.stdout + run.stderr
        assert "./index.html: css/site.css" in log and "./about/index.html: /css/site.css" in log, log
