"""The JavaScript/TypeScript detector: package manager (packageManager field, then lockfiles, ranked by the
documented rules), framework, language, port and node version, each with the evidence a user can check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wishstar.pipelines.detect.evidence import Candidate
from wishstar.pipelines.detect.node import DETECTOR, RULE_FIELD, RULE_ORDER, RULE_STRAY_NPM
from wishstar.pipelines.detect.tree import Tree

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(case: str, path: str = ".") -> list[Candidate]:
    return DETECTOR.detect(Tree(FIXTURES / case), path)


def repo(tmp_path: Path, files: dict[str, str | dict[str, object]]) -> Tree:
    for rel, content in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        text = content if isinstance(content, str) else json.dumps(content, indent=2)
        (tmp_path / rel).write_text(text)
    return Tree(tmp_path)


def evidence(candidate: Candidate) -> list[str]:
    return [str(e) for e in candidate.evidence]


class TestFixtures:
    def test_express_on_npm_is_detected_with_its_lockfile_port_and_engines(self) -> None:
        [c] = fixture("node-express")
        assert (c.language, c.build, c.framework, c.confidence, c.rule) == ("javascript", "npm", "express",
                                                                           "high", None)
        assert evidence(c) == ["package-lock.json lockfile: npm", "package.json manifest",
                               "package.json:14 dependencies express ^4.21.2"]
        assert c.port is not None and c.port.value == "8081" and str(c.port.evidence) == "server.js:11 listen(8081)"
        assert c.versions["node"].value == "22" and str(c.versions["node"].evidence) == \
            "package.json:11 engines.node 22.x"
        assert c.facts["test_script"] == "test" and c.facts["lockfile"] == "package-lock.json"

    def test_pnpm_lock_beats_a_stray_package_lock_and_npm_stays_an_alternative(self) -> None:
        pnpm, npm = fixture("pnpm-stray-lockfile")
        assert (pnpm.build, npm.build) == ("pnpm", "npm")
        assert pnpm.rule == RULE_STRAY_NPM and npm.rule is None
        assert evidence(pnpm)[0] == "pnpm-lock.yaml lockfile: pnpm"
        assert evidence(npm)[0] == "package-lock.json lockfile: npm"
        assert pnpm.facts["tool_package"] == "pnpm@9.15.9"  # lockfileVersion '9.0'
        assert pnpm.port is not None and str(pnpm.port.evidence) == "src/server.js:4 listen(4000)"
        assert pnpm.framework == "fastify"

    def test_the_package_manager_field_wins_over_every_lockfile(self) -> None:
        yarn, npm = fixture("yarn-berry-field")
        assert (yarn.build, npm.build, yarn.rule) == ("yarn", "npm", RULE_FIELD)
        assert evidence(yarn)[0] == "package.json:4 packageManager yarn@4.5.1"
        assert yarn.facts["yarn_flavor"] == "berry" and yarn.facts["tool_package"] == "@yarnpkg/cli-dist@4.5.1"
        assert yarn.port is not None and str(yarn.port.evidence) == "package.json:7 scripts.start port 7070"
        assert yarn.framework == "koa"

    def test_nest_is_typescript_on_yarn_with_its_listen_port_and_nvmrc_alias(self) -> None:
        [c] = fixture("ts-nest")
        assert (c.language, c.build, c.framework) == ("typescript", "yarn", "nestjs")
        assert "tsconfig.json present" in evidence(c)
        assert c.facts["yarn_flavor"] == "classic" and c.facts["tool_package"] == "yarn@1.22.22"
        assert c.port is not None and str(c.port.evidence) == "src/main.ts:6 listen(3001)"
        assert c.versions["node"].value == "22" and str(c.versions["node"].evidence) == ".nvmrc:1 .nvmrc lts/jod"
        assert c.facts["cmd"] == '["npm", "run", "start:prod"]' and c.facts["build_script"] == "build"

    def test_a_vite_react_spa_is_served_as_static_files_on_8080_whatever_its_dev_port(self) -> None:
        [c] = fixture("ts-vite")
        assert (c.language, c.build, c.framework) == ("typescript", "bun", "vite-react")
        assert c.port is not None and c.port.value == "8080" and c.port.is_default
        assert c.facts["serve"] == "static" and c.facts["static_dir"] == "dist"
        assert str(c.versions["node"].evidence) == ".node-version:1 .node-version 22.11.0"
        assert "package.json:13 dependencies react ^18.3.1" in evidence(c)

    def test_a_node_project_built_only_by_its_dockerfile_is_still_node_without_a_test_script(self) -> None:
        [c] = fixture("node-dockerfile-only-build")
        assert (c.language, c.build, c.confidence) == ("javascript", "npm", "medium")
        assert c.facts["test_script"] == "" and c.facts["lockfile"] == ""
        assert c.port is not None and str(c.port.evidence) == "index.js:3 port = process.env.PORT || 9000"

    def test_malformed_package_json_is_a_near_miss_naming_the_line(self) -> None:
        tree = Tree(FIXTURES / "node-bad-json")
        assert DETECTOR.detect(tree, ".") == []
        [miss] = DETECTOR.near_misses(tree, ".")
        assert miss.message.startswith("package.json:6: is not valid JSON")
        assert miss.evidence is not None and miss.evidence.line == 6


class TestWorkspaces:
    def test_npm_workspaces_declare_the_members_with_the_root_files_as_context(self) -> None:
        members = DETECTOR.members(Tree(FIXTURES / "npm-workspaces-monorepo"), ".")
        assert members is not None
        assert members.paths == ("apps/api", "apps/web", "packages/shared")
        assert members.context == ("package.json", "package-lock.json", ".nvmrc")
        assert str(members.evidence) == "package.json:4 workspaces apps/*, packages/shared"

    def test_a_member_uses_the_root_lockfile_and_its_own_framework_and_port(self) -> None:
        [web] = fixture("npm-workspaces-monorepo", "apps/web")
        assert (web.build, web.framework, web.context) == ("npm", "next",
                                                           ("package.json", "package-lock.json", ".nvmrc"))
        assert evidence(web)[0] == "package-lock.json lockfile: npm"
        assert web.port is not None and str(web.port.evidence) == "apps/web/package.json:10 scripts.start port 3001"
        assert web.facts["test_script"] == "" and web.facts["build_script"] == "build"  # npm's placeholder
        assert web.facts["workspace_root"] == "." and web.facts["app_dir"] == "apps/web"

    def test_a_member_without_engines_takes_the_root_nvmrc_and_warns_that_it_is_end_of_life(self) -> None:
        [api] = fixture("npm-workspaces-monorepo", "apps/api")
        assert api.versions["node"].value == "22" and str(api.versions["node"].evidence) == ".nvmrc:1 .nvmrc 20"
        assert any("end-of-life" in w for w in api.warnings)
        assert api.port is not None and api.port.value == "3100"

    def test_pnpm_workspace_yaml_members_use_the_root_pnpm_and_exclusions_apply(self, tmp_path: Path) -> None:
        tree = repo(tmp_path, {
            "package.json": {"name": "root", "private": True},
            "pnpm-workspace.yaml": "packages:\n  - 'apps/*'\n  - '!apps/legacy'\n  - tools/cli\n",
            "pnpm-lock.yaml": "lockfileVersion: '6.0'\n",
            "apps/a/package.json": {"name": "a"}, "apps/legacy/package.json": {"name": "legacy"},
            "apps/no-manifest/README.md": "x", "tools/cli/package.json": {"name": "cli"},
        })
        members = DETECTOR.members(tree, ".")
        assert members is not None and members.paths == ("apps/a", "tools/cli")
        assert str(members.evidence) == "pnpm-workspace.yaml:1 pnpm-workspace.yaml packages"
        [a] = DETECTOR.detect(tree, "apps/a")
        assert a.build == "pnpm" and a.facts["tool_package"] == "pnpm@8.15.9"  # lockfile 6.0 is pnpm 8's

    def test_workspaces_in_the_object_form_and_double_star_read_one_level(self, tmp_path: Path) -> None:
        tree = repo(tmp_path, {"package.json": {"workspaces": {"packages": ["packages/**"]}},
                               "packages/x/package.json": {}, "packages/x/deep/package.json": {}})
        members = DETECTOR.members(tree, ".")
        assert members is not None and members.paths == ("packages/x",)

    def test_a_directory_without_workspaces_declares_no_members(self) -> None:
        assert DETECTOR.members(Tree(FIXTURES / "node-express"), ".") is None


class TestPackageManager:
    def test_without_field_or_lockfile_npm_is_chosen_with_medium_confidence(self, tmp_path: Path) -> None:
        [c] = DETECTOR.detect(repo(tmp_path, {"package.json": {"name": "x"}}), ".")
        assert (c.build, c.confidence, c.rule) == ("npm", "medium", None)

    def test_between_non_npm_lockfiles_the_fixed_order_decides(self, tmp_path: Path) -> None:
        tree = repo(tmp_path, {"package.json": {}, "yarn.lock": "", "bun.lockb": "", "pnpm-lock.yaml": ""})
        ranked = DETECTOR.detect(tree, ".")
        assert [c.build for c in ranked] == ["pnpm", "yarn", "bun"] and ranked[0].rule == RULE_ORDER

    def test_the_field_pins_the_tool_version_and_an_inexact_version_is_refused(self, tmp_path: Path) -> None:
        [exact] = DETECTOR.detect(repo(tmp_path / "a", {"package.json": {"packageManager": "pnpm@9.12.0+sha512.ab"}}),
                                  ".")
        assert exact.facts["tool_package"] == "pnpm@9.12.0"
        [loose] = DETECTOR.detect(repo(tmp_path / "b", {"package.json": {"packageManager": "pnpm@latest; rm -rf"}}),
                                  ".")
        assert loose.facts["tool_package"] == "pnpm@9.15.9" and "not exact" in loose.warnings[0]

    def test_a_lockfile_without_package_json_is_a_near_miss(self, tmp_path: Path) -> None:
        tree = repo(tmp_path, {"yarn.lock": ""})
        assert DETECTOR.detect(tree, ".") == []
        assert "yarn.lock found but no package.json" in DETECTOR.near_misses(tree, ".")[0].message


FRAMEWORKS = [
    ({"next": "15"}, "next", "3000", False), ({"nuxt": "3"}, "nuxt", "3000", False),
    ({"@remix-run/node": "2", "express": "4"}, "remix", "3000", False),
    ({"@sveltejs/kit": "2", "@sveltejs/adapter-node": "5"}, "sveltekit", "3000", False),
    ({"@sveltejs/kit": "2", "@sveltejs/adapter-static": "3"}, "sveltekit", "8080", True),
    ({"astro": "4"}, "astro", "8080", True), ({"astro": "4", "@astrojs/node": "8"}, "astro", "4321", False),
    ({"@angular/core": "18"}, "angular", "8080", True), ({"@nestjs/core": "10", "express": "4"}, "nestjs", "3000",
                                                         False),
    ({"vite": "6", "vue": "3"}, "vite-vue", "8080", True), ({"react-scripts": "5"}, "create-react-app", "8080", True),
    ({"lodash": "4"}, None, "3000", False),
]


@pytest.mark.parametrize(("deps", "framework", "port", "static"), FRAMEWORKS,
                         ids=[f"{f[1]}-{f[2]}" for f in FRAMEWORKS])
def test_the_framework_comes_from_the_dependencies_with_its_default_port(
        tmp_path: Path, deps: dict[str, str], framework: str | None, port: str, static: bool) -> None:
    [c] = DETECTOR.detect(repo(tmp_path, {"package.json": {"name": "app", "dependencies": deps}}), ".")
    assert c.framework == framework and c.port is not None and (c.port.value, c.port.is_default) == (port, True)
    assert (c.facts["serve"] == "static") is static


def test_angular_serves_the_browser_build_of_its_output_path(tmp_path: Path) -> None:
    tree = repo(tmp_path, {"package.json": {"dependencies": {"@angular/core": "18"}, "scripts": {"build": "ng b"}},
                           "angular.json": '{"projects": {"shop": {"architect": {"build": {"options": '
                                           '{"outputPath": "dist/shop"}}}}}}'})
    [c] = DETECTOR.detect(tree, ".")
    assert c.facts["static_dir"] == "dist/shop/browser"


PORTS = [
    ({"scripts": {"start": "next start -p 4100"}}, {}, "4100", "package.json:3 scripts.start port 4100"),
    ({"scripts": {"start": "PORT=5050 node app.js"}}, {}, "5050", "package.json:3 scripts.start port 5050"),
    ({"scripts": {"dev": "nuxt dev --port=3333"}}, {}, "3333", "package.json:3 scripts.dev port 3333"),
    ({"main": "lib/srv.js"}, {"lib/srv.js": "x\napp.listen(process.env.PORT || 8181)\n"}, "8181",
     "lib/srv.js:2 listen(8181)"),
    ({}, {"app.js": "const PORT = 7001;\napp.listen(PORT);\n"}, "7001", "app.js:1 PORT = 7001"),
]


@pytest.mark.parametrize(("manifest", "files", "port", "where"), PORTS, ids=[p[2] for p in PORTS])
def test_the_port_comes_from_scripts_then_the_entry_file(tmp_path: Path, manifest: dict[str, object],
                                                         files: dict[str, str], port: str, where: str) -> None:
    [c] = DETECTOR.detect(repo(tmp_path, {"package.json": manifest, **files}), ".")
    assert c.port is not None and (c.port.value, str(c.port.evidence)) == (port, where)


def test_typescript_is_seen_from_sources_in_src_alone(tmp_path: Path) -> None:
    [c] = DETECTOR.detect(repo(tmp_path, {"package.json": {}, "src/types.d.ts": "", "src/app.ts": ""}), ".")
    assert c.language == "typescript" and "src/app.ts TypeScript sources in src/ (1 files)" in evidence(c)
    [js] = DETECTOR.detect(repo(tmp_path / "js", {"package.json": {}, "src/types.d.ts": ""}), ".")
    assert js.language == "javascript"


def test_npm_placeholder_test_script_counts_as_no_test_script(tmp_path: Path) -> None:
    placeholder = 'echo "Error: no test specified" && exit 1'
    [c] = DETECTOR.detect(repo(tmp_path, {"package.json": {"scripts": {"test": placeholder}}}), ".")
    assert c.facts["test_script"] == ""


def test_a_newline_in_a_dependency_version_never_reaches_a_generated_line(tmp_path: Path) -> None:
    [c] = DETECTOR.detect(repo(tmp_path, {"package.json": {"dependencies": {"express": "4\nRUN curl evil"}}}), ".")
    assert all("\n" not in str(e) for e in c.evidence)


def test_a_directory_name_unfit_for_a_dockerfile_is_warned_about(tmp_path: Path) -> None:
    [c] = DETECTOR.detect(repo(tmp_path, {"my app/package.json": {}}), "my app")
    assert any("cannot carry safely" in w for w in c.warnings)
