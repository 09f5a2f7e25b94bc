"""Go modules are detected from go.mod (module, go directive, toolchain, require lines) and the main package's
files; go.work declares the apps; the generated pipeline runs `go test ./...` with the real toolchain."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.pipelines.detect.render_cases import FIXTURES, checkout, golden_mismatches, render, run_and_log, write
from wishstar.pipelines.detect.evidence import Candidate
from wishstar.pipelines.detect.golang import DETECTOR, directives
from wishstar.pipelines.detect.tree import Tree
from wishstar.pipelines.load import validate
from wishstar.tasks import Library

GO_CASES = ["go-gin-api", "go-cmd-layout", "go-stdlib-passing", "go-failing", "go-workspace"]


def only(case: str, path: str = ".") -> Candidate:
    found = DETECTOR.detect(Tree(FIXTURES / case), path)
    assert len(found) == 1, found
    return found[0]


class TestFrameworkAndPort:
    def test_gin_comes_from_its_require_line_and_the_port_from_r_run_not_a_commented_out_one(self) -> None:
        c = only("go-gin-api")
        assert c.framework == "gin"
        assert "go.mod:6 require github.com/gin-gonic/gin" in [str(e) for e in c.evidence]
        assert c.port is not None and c.port.value == "9090"
        assert str(c.port.evidence) == 'main.go:20 listens on Run(":9090")'

    def test_an_indirect_requirement_is_not_the_framework(self, tmp_path: Path) -> None:
        tree = write(tmp_path, {"go.mod": "module m\n\ngo 1.26\n\nrequire github.com/gorilla/mux v1.8.1 // indirect\n",
                                "main.go": "package main\n\nfunc main() {}\n"})
        c = DETECTOR.detect(tree, ".")[0]
        assert c.framework is None
        assert c.port is None  # no net/http, no framework: a command-line tool

    def test_a_major_version_suffix_still_names_the_framework(self, tmp_path: Path) -> None:
        tree = write(tmp_path, {"go.mod": "module m\ngo 1.26\nrequire github.com/gofiber/fiber/v2 v2.52.0\n",
                                "main.go": 'package main\nfunc main() { app.Listen(":3000") }\n'})
        c = DETECTOR.detect(tree, ".")[0]
        assert (c.framework, c.port and c.port.value) == ("fiber", "3000")

    def test_net_http_without_a_literal_address_gets_8080_marked_as_a_default(self) -> None:
        c = only("go-failing")
        assert c.port is not None and c.port.value == "8080" and c.port.is_default

    def test_an_http_server_struct_address_is_the_port(self, tmp_path: Path) -> None:
        tree = write(tmp_path, {"go.mod": "module m\ngo 1.26\n", "main.go": (
            'package main\n\nimport "net/http"\n\nfunc main() {\n\tsrv := &http.Server{\n\t\tAddr: ":7000",\n'
            '\t}\n\tsrv.ListenAndServe()\n}\n')})
        c = DETECTOR.detect(tree, ".")[0]
        assert c.port is not None and str(c.port.evidence) == 'main.go:7 listens on Addr: ":7000"'

    def test_a_command_line_tool_has_no_port(self) -> None:
        assert only("go-stdlib-passing").port is None


class TestVersionsAndMains:
    def test_the_toolchain_line_wins_over_the_go_directive(self) -> None:
        go = only("go-cmd-layout").versions["go"]
        assert go.value == "1.26" and str(go.evidence) == "go.mod:5 toolchain go1.26.1"

    def test_an_end_of_life_go_directive_gets_the_oldest_supported_release_with_a_warning(self) -> None:
        c = only("go-gin-api")
        assert c.versions["go"].value == "1.25" and str(c.versions["go"].evidence) == "go.mod:3 go 1.24"
        assert any("go 1.24" in w and "end-of-life" in w for w in c.warnings)

    def test_cmd_layout_builds_the_serving_main_first_and_lists_the_others(self) -> None:
        c = only("go-cmd-layout")
        assert c.facts["main"] == "./cmd/server"  # before ./cmd/migrate by name: it is the one that listens
        assert c.facts["other_mains"] == "./cmd/migrate"
        assert c.port is not None and str(c.port.evidence) == 'cmd/server/main.go:14 listens on ListenAndServe(":8081")'

    def test_a_module_without_a_main_package_is_a_library_that_says_so(self) -> None:
        c = only("go-workspace", "shared")
        assert c.facts["main"] == "" and c.confidence == "medium"
        assert any("no main package" in w for w in c.warnings)

    @given(st.text())
    def test_directives_never_raise_on_any_text(self, text: str) -> None:
        assert all(d.line >= 1 for d in directives(text))

    def test_directives_flatten_blocks_and_keep_their_lines(self) -> None:
        text = "module m // the module\n\nrequire (\n\ta v1 // indirect\n\tb v2\n)\n"
        found = [(d.verb, d.args, d.line, d.indirect) for d in directives(text)]
        assert found == [("module", ("m",), 1, False), ("require", ("a", "v1"), 4, True),
                         ("require", ("b", "v2"), 5, False)]


class TestWorkspaceAndMisses:
    def test_go_work_use_directives_are_the_members_with_go_work_as_context(self) -> None:
        members = DETECTOR.members(Tree(FIXTURES / "go-workspace"), ".")
        assert members is not None
        assert members.paths == ("api", "worker", "shared")
        assert members.context == ("go.work",)
        assert str(members.evidence) == "go.work:4 use ./api ./worker ./shared"

    def test_a_workspace_member_copies_every_members_go_mod_before_its_sources(self) -> None:
        dockerfile = render("go-workspace").files["api/Dockerfile"]
        copies = [line for line in dockerfile.splitlines() if line.startswith("COPY")]
        assert copies[:4] == ["COPY go.work go.work.sum* ./", "COPY api/go.mod api/go.sum* ./api/",
                              "COPY worker/go.mod worker/go.sum* ./worker/",
                              "COPY shared/go.mod shared/go.sum* ./shared/"]

    def test_a_go_mod_without_a_module_line_is_a_near_miss_not_a_candidate(self) -> None:
        tree = Tree(FIXTURES / "go-malformed")
        assert DETECTOR.detect(tree, ".") == []
        [miss] = DETECTOR.near_misses(tree, ".")
        assert "go.mod has no module line" in miss.message and "go mod init" in miss.message

    def test_go_sources_without_go_mod_are_a_near_miss(self, tmp_path: Path) -> None:
        tree = write(tmp_path, {"main.go": "package main\n"})
        assert DETECTOR.detect(tree, ".") == []
        assert "main.go found but no go.mod" in DETECTOR.near_misses(tree, ".")[0].message

    def test_a_hostile_directory_name_never_reaches_a_build_script(self, tmp_path: Path) -> None:
        write(tmp_path, {"go.mod": "module m\ngo 1.26\n", "cmd/x;touch pwned/main.go": "package main\n"})
        dockerfile = render("hostile", tmp_path).files["Dockerfile"]
        runs = [line for line in dockerfile.splitlines() if line.startswith("RUN")]
        assert runs and not any("pwned" in line for line in runs)
        assert 'ARG MAIN="./cmd/x;touch pwned"' in dockerfile


class TestGenerated:
    @pytest.mark.parametrize("case", GO_CASES)
    def test_the_generated_files_match_the_golden_files(self, case: str) -> None:
        assert golden_mismatches(case, render(case)) == []

    @pytest.mark.parametrize("case", GO_CASES)
    def test_the_generated_pipeline_passes_the_validator_and_runs_go_test(self, case: str) -> None:
        text = render(case).pipeline
        validate(text, ".wishstar.yaml", Library())
        assert "go test ./..." in text and "image: \"golang:" in text


@pytest.mark.toolchain
@pytest.mark.skipif(shutil.which("go") is None, reason="needs go on PATH")
class TestRealToolchain:
    def test_the_generated_pipeline_runs_go_test_and_succeeds(self, tmp_path: Path) -> None:
        run, log = run_and_log(tmp_path, checkout("go-stdlib-passing", tmp_path))
        assert run.returncode == 0, run.stdout + run.stderr
        assert "ok  \texample.com/greeter/greet" in log, log

    def test_a_failing_go_test_fails_the_run_at_the_test_task_with_its_output(self, tmp_path: Path) -> None:
        run, log = run_and_log(tmp_path, checkout("go-failing", tmp_path))
        assert run.returncode == 1 and 'task "test" failed' in run.stdout, run.stdout + run.stderr
        assert "add(2, 2) = 0, want 4" in log and "FAIL\texample.com/adder" in log, log
