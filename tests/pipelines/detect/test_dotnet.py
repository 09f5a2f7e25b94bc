"""`.NET` detection and generation: solutions and project files, ASP.NET Core from the SDK attribute, the
release from ``TargetFramework`` (an end-of-life one replaced with a warning and run with roll-forward), the
port, test projects, and the .NET Framework as a near miss.

The .NET SDK is not installed on this machine, so unlike the Maven fixtures these cases prove detection,
the golden files and the validation of the generated pipeline only; ``dotnet test`` itself is not run here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.pipelines.detect.jvm_dotnet_golden import compare, dockerfile_problems, render, tree, write_tree
from wishstar.pipelines.detect.dotnet import DETECTOR
from wishstar.pipelines.load import validate
from wishstar.tasks import Library

CASES = ("dotnet-webapi", "dotnet-sln")
WEB = '<Project Sdk="Microsoft.NET.Sdk.Web">\n  <PropertyGroup>\n    {}\n  </PropertyGroup>\n</Project>\n'


def test_an_asp_net_core_project_is_detected_from_the_web_sdk_attribute() -> None:
    [c] = DETECTOR.detect(tree("dotnet-webapi"), ".")
    assert (c.language, c.build, c.framework, c.confidence) == ("dotnet", "dotnet", "aspnetcore", "high")
    assert 'WeatherApi.csproj:1 Sdk="Microsoft.NET.Sdk.Web" (ASP.NET Core)' in map(str, c.evidence)


def test_net8_is_end_of_life_so_the_oldest_supported_release_is_chosen_with_a_warning() -> None:
    [c] = DETECTOR.detect(tree("dotnet-webapi"), ".")
    assert c.versions["dotnet"].value == "10.0"
    assert str(c.versions["dotnet"].evidence) == "WeatherApi.csproj:4 TargetFramework net8.0"
    assert c.warnings == ("dotnet 8.0 (asked for by WeatherApi.csproj:4 TargetFramework net8.0) is end-of-life; "
                          "chose 10.0, the oldest supported release",)
    assert c.facts["roll_forward"] == "Major"


def test_the_port_is_the_container_default_not_the_launch_settings_development_url() -> None:
    [c] = DETECTOR.detect(tree("dotnet-webapi"), ".")
    assert c.port is not None and c.port.value == "8080" and c.port.is_default


def test_a_solution_tests_its_test_projects_and_publishes_its_web_project() -> None:
    [c] = DETECTOR.detect(tree("dotnet-sln"), ".")
    assert c.facts["target"] == "Shop.sln" and c.facts["project"] == "src/Shop.Web/Shop.Web.csproj"
    assert c.facts["tests"] == "true" and c.facts["assembly"] == "Shop" and c.facts["roll_forward"] == ""
    assert "tests/Shop.Web.Tests/Shop.Web.Tests.csproj:7 test project (Microsoft.NET.Test.Sdk)" in map(
        str, c.evidence)


def test_a_kestrel_endpoint_in_appsettings_is_the_port_with_its_line() -> None:
    [c] = DETECTOR.detect(tree("dotnet-sln"), ".")
    assert c.port is not None
    assert str(c.port.evidence) == "src/Shop.Web/appsettings.json:4 Kestrel endpoint url port 5080"


def test_the_highest_of_several_target_frameworks_is_chosen(tmp_path: Path) -> None:
    t = write_tree(tmp_path, {"Api.csproj": WEB.format("<TargetFrameworks>net10.0;net8.0</TargetFrameworks>")})
    [c] = DETECTOR.detect(t, ".")
    assert c.versions["dotnet"].value == "10.0" and c.warnings == ()


def test_the_target_framework_may_come_from_directory_build_props(tmp_path: Path) -> None:
    props = ("<Project>\n  <PropertyGroup>\n    <TargetFramework>net10.0</TargetFramework>\n  </PropertyGroup>\n"
             "</Project>\n")
    t = write_tree(tmp_path, {"Directory.Build.props": props, "Api.csproj": WEB.format("")})
    [c] = DETECTOR.detect(t, ".")
    assert str(c.versions["dotnet"].evidence) == "Directory.Build.props:3 TargetFramework net10.0"


def test_a_console_project_without_tests_has_no_port_and_is_only_built(tmp_path: Path) -> None:
    t = write_tree(tmp_path, {"Tool.fsproj": '<Project Sdk="Microsoft.NET.Sdk">\n  <PropertyGroup>\n'
                                             "    <TargetFramework>net10.0</TargetFramework>\n  </PropertyGroup>\n"
                                             "</Project>\n"})
    [c] = DETECTOR.detect(t, ".")
    assert (c.framework, c.port, c.confidence, c.facts["tests"]) == (None, None, "medium", "")


def test_use_urls_in_program_cs_is_the_port(tmp_path: Path) -> None:
    t = write_tree(tmp_path, {"Api.csproj": WEB.format("<TargetFramework>net10.0</TargetFramework>"),
                              "Program.cs": 'var b = WebApplication.CreateBuilder(args);\nb.WebHost.UseUrls("http://*:5005");\n'})
    [c] = DETECTOR.detect(t, ".")
    assert c.port is not None and str(c.port.evidence) == "Program.cs:2 UseUrls port 5005"


def test_a_dotnet_framework_project_is_a_near_miss_not_a_guess(tmp_path: Path) -> None:
    t = write_tree(tmp_path, {"Legacy.csproj": WEB.format("<TargetFramework>net48</TargetFramework>")})
    assert DETECTOR.detect(t, ".") == []
    [miss] = DETECTOR.near_misses(t, ".")
    assert miss.message.startswith("Legacy.csproj targets the .NET Framework (net48)")


def test_a_solution_entry_outside_the_directory_or_with_odd_characters_is_ignored(tmp_path: Path) -> None:
    sln = ('Project("{X}") = "A", "..\\outside\\A.csproj", "{1}"\nEndProject\n'
           'Project("{X}") = "B", "src\\B $(x).csproj", "{2}"\nEndProject\n'
           'Project("{X}") = "C", "src\\C\\C.csproj", "{3}"\nEndProject\n')
    t = write_tree(tmp_path / "repo", {"All.sln": sln, "src/C/C.csproj": WEB.format(""),
                                       "src/B $(x).csproj": WEB.format("")})
    [c] = DETECTOR.detect(t, ".")
    assert c.facts["restore_files"] == "All.sln src/C/C.csproj"


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_generated_files_match_the_golden_files(case: str) -> None:
    assert compare(case, render(DETECTOR, case)) == []


@pytest.mark.parametrize("case", CASES, ids=CASES)
def test_the_generated_pipeline_passes_the_validator_and_the_dockerfile_the_checks(case: str) -> None:
    generated = render(DETECTOR, case)
    validate(generated.pipeline, ".wishstar.yaml", Library())
    [c] = DETECTOR.detect(tree(case), ".")
    assert c.port is not None
    assert dockerfile_problems(generated.files["Dockerfile"], c.port.value) == []


def test_the_test_task_runs_dotnet_test_on_the_solution() -> None:
    assert "      dotnet test Shop.sln\n" in render(DETECTOR, "dotnet-sln").pipeline


def test_an_end_of_life_target_runs_on_the_supported_runtime_by_rolling_forward() -> None:
    generated = render(DETECTOR, "dotnet-webapi")
    assert "DOTNET_ROLL_FORWARD: Major" in generated.pipeline
    assert "ENV DOTNET_ROLL_FORWARD=Major\n" in generated.files["Dockerfile"]
    assert "dotnet build WeatherApi.csproj" in generated.pipeline  # no test project: build only


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300), st.text(max_size=300))
def test_any_solution_or_project_text_gives_an_answer_not_an_exception(sln: str, csproj: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        t = write_tree(Path(tmp), {"A.sln": sln + '\nProject("{X}") = "W", "W\\\\W.csproj", "{1}"\n',
                                   "W/W.csproj": csproj, "B.csproj": csproj, "W/appsettings.json": sln})
        DETECTOR.detect(t, ".")
        DETECTOR.near_misses(t, ".")
