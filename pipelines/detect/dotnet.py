"""The .NET detector: ``*.sln``/``*.slnx`` and ``*.csproj``/``*.fsproj`` in an app directory, with evidence.

A solution is one app: ``dotnet test`` runs its test projects (those referencing ``Microsoft.NET.Test.Sdk``)
and the image publishes its web project (``Sdk="Microsoft.NET.Sdk.Web"``: ASP.NET Core), else its first
non-test project. Without a solution, the directory's project is the app. The .NET release comes from
``TargetFramework`` (the highest of ``TargetFrameworks``, else ``Directory.Build.props``) through
``runtimes.choose``; a project for the .NET Framework (``net48``) does not run in a Linux container and is a
near miss, never a guess. The rules are documented in docs/detection.md (".NET").

Reads only through the ``Tree``; never raises for a malformed project file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wishstar.pipelines.detect.base import Detector
from wishstar.pipelines.detect.evidence import Candidate, Chosen, Evidence, NearMiss
from wishstar.pipelines.detect.runtimes import choose
from wishstar.pipelines.detect.tree import Tree, join, line_of, norm

PROJECT_SUFFIXES = (".csproj", ".fsproj")
SOLUTION_SUFFIXES = (".sln", ".slnx")
RESTORE_FILES = ("global.json", "NuGet.config", "nuget.config", "Directory.Build.props", "Directory.Packages.props")
DEFAULT_PORT = Chosen("8080", default="ASP.NET Core's container default (ASPNETCORE_HTTP_PORTS=8080 since .NET 8)")

_SAFE_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$")
"""A path Wishstar writes into generated files (anything else is left out: no spaces, quotes or ``$``)."""
_SLN_PROJECT = re.compile(r'^Project\("\{[^}]*\}"\)\s*=\s*"[^"]*",\s*"([^"]+\.(?:cs|fs)proj)"', re.MULTILINE)
_SLNX_PROJECT = re.compile(r'<Project\s+Path="([^"]+\.(?:cs|fs)proj)"')
_WEB_SDK = re.compile(r'Sdk\s*=\s*"Microsoft\.NET\.Sdk\.Web|<Sdk\s+Name="Microsoft\.NET\.Sdk\.Web"')
_TEST_SDK = re.compile(r'Include="Microsoft\.NET\.Test\.Sdk"|<IsTestProject>\s*true', re.IGNORECASE)
_FRAMEWORK = re.compile(r"<TargetFrameworks?>\s*([^<]+?)\s*</TargetFrameworks?>")
_ASSEMBLY = re.compile(r"<AssemblyName>\s*([A-Za-z0-9_.\-]+)\s*</AssemblyName>")
_MODERN = re.compile(r"^net(\d+)\.(\d+)")
_NET_FRAMEWORK = re.compile(r"^net\d{2,3}$")
_KESTREL_URL = re.compile(r'"Url"\s*:\s*"https?://[^"/]*:(\d+)')
_USE_URLS = re.compile(r"""UseUrls\(\s*["']https?://[^"'/]*:(\d+)""")


@dataclass(frozen=True)
class Project:
    """One project file: its path (repository-relative), whether it is web or a test project, the
    framework it targets (best: the highest modern one) with evidence, and its assembly name."""

    file: str
    web: Evidence | None
    test: Evidence | None
    framework: tuple[str, Evidence] | None
    assembly: str


def read_project(tree: Tree, rel: str) -> Project | None:
    text = tree.text(rel)
    if text is None:
        return None
    web = tree.find(rel, _WEB_SDK, 'Sdk="Microsoft.NET.Sdk.Web" (ASP.NET Core)')
    test = tree.find(rel, _TEST_SDK, "test project (Microsoft.NET.Test.Sdk)")
    framework = _target(tree, rel) or _inherited_target(tree, rel)
    assembly = _ASSEMBLY.search(text)
    stem = rel.rpartition("/")[2].rsplit(".", 1)[0]
    return Project(rel, web, test, framework, assembly.group(1) if assembly else stem)


def _target(tree: Tree, rel: str) -> tuple[str, Evidence] | None:
    text = tree.text(rel)
    match = _FRAMEWORK.search(text) if text else None
    if text is None or match is None:
        return None
    frameworks = [f.strip() for f in match.group(1).split(";") if f.strip()]
    modern = sorted((f for f in frameworks if _MODERN.match(f)), key=_framework_key)
    best = modern[-1] if modern else frameworks[0] if frameworks else ""
    line = line_of(text, match.start())
    return best, Evidence(rel, line, f"TargetFramework {best}")


def _framework_key(framework: str) -> tuple[int, ...]:
    match = _MODERN.match(framework)
    return tuple(int(x) for x in match.groups()) if match else ()


def _inherited_target(tree: Tree, rel: str) -> tuple[str, Evidence] | None:
    """``Directory.Build.props`` in the project's directory or any directory above it."""
    directory: str | None = rel.rpartition("/")[0] or "."
    while directory is not None:
        props = join(directory, "Directory.Build.props")
        if tree.is_file(props):
            return _target(tree, props)
        directory = None if directory == "." else (directory.rpartition("/")[0] or ".")
    return None


def _solution_projects(tree: Tree, directory: str, solution: str) -> list[str]:
    text = tree.text(join(directory, solution)) or ""
    pattern = _SLNX_PROJECT if solution.endswith(".slnx") else _SLN_PROJECT
    found: list[str] = []
    for raw in pattern.findall(text):
        rel = raw.replace("\\", "/")
        if _SAFE_PATH.match(rel) and ".." not in rel.split("/") and tree.is_file(join(directory, rel)):
            found.append(rel)
    return found


def _layout(tree: Tree, path: str) -> tuple[str | None, list[str]]:
    """The solution file (name) and its projects, or no solution and the directory's own project files
    (relative to ``path``)."""
    files = tree.files(path)
    solution = next((f for f in files if f.endswith(SOLUTION_SUFFIXES) and _SAFE_PATH.match(f)), None)
    if solution:
        projects = _solution_projects(tree, path, solution)
        if projects:
            return solution, projects
    return None, [f for f in files if f.endswith(PROJECT_SUFFIXES) and _SAFE_PATH.match(f)]


def _port(tree: Tree, directory: str) -> Chosen:
    for name, pattern, rule in (("appsettings.json", _KESTREL_URL, "Kestrel endpoint url port"),
                                ("Program.cs", _USE_URLS, "UseUrls port")):
        rel = join(directory, name)
        text = tree.text(rel)
        match = pattern.search(text) if text else None
        if text is not None and match:
            return Chosen(match.group(1), Evidence(rel, line_of(text, match.start()),
                                                  f"{rule} {match.group(1)}"))
    return DEFAULT_PORT


def detect(tree: Tree, path: str) -> list[Candidate]:
    solution, names = _layout(tree, path)
    projects = [p for p in (read_project(tree, join(path, n)) for n in names) if p is not None]
    if not projects or any(p.framework and _NET_FRAMEWORK.match(p.framework[0]) for p in projects if not p.test):
        return []  # nothing, or a .NET Framework project (a near miss)
    tests = [p for p in projects if p.test]
    app = next((p for p in projects if p.web), next((p for p in projects if not p.test), projects[0]))
    rel_app = _relative(app.file, path)
    spec = app.framework or next((p.framework for p in projects if p.framework), None)
    chosen, warning = choose("dotnet", spec[0], spec[1]) if spec else choose("dotnet", None, None)
    evidence = [Evidence(join(path, solution), None, "solution") if solution else
                Evidence(app.file, None, "project file"), *([app.web] if app.web else []),
                *(t.test for t in tests if t.test)]
    restore = [solution] if solution else []
    restore += [_relative(p.file, path) for p in projects if not p.test or p is app]
    restore += [f for f in RESTORE_FILES if tree.is_file(join(path, f))]
    app_dir = rel_app.rpartition("/")[0]
    facts = {"target": solution or rel_app, "project": rel_app, "assembly": app.assembly,
             "tests": "true" if tests else "", "restore_files": " ".join(restore), "dockerignore": "bin obj",
             "roll_forward": "Major" if spec and _framework_key(spec[0]) < _framework_key(f"net{chosen.value}")
             else ""}
    return [Candidate(
        language="dotnet", build="dotnet", evidence=tuple(evidence),
        confidence="high" if app.web or solution or tree.is_file(join(path, "packages.lock.json")) else "medium",
        framework="aspnetcore" if app.web else None,
        port=_port(tree, join(path, app_dir) if app_dir else path) if app.web else None,
        versions={"dotnet": chosen}, facts=facts, warnings=(warning,) if warning else (),
    )]


def _relative(rel: str, directory: str) -> str:
    return norm(rel) if norm(directory) == "." else norm(rel).removeprefix(norm(directory) + "/")


def near_misses(tree: Tree, path: str) -> list[NearMiss]:
    _solution, names = _layout(tree, path)
    misses: list[NearMiss] = []
    for name in names:
        project = read_project(tree, join(path, name))
        if project and project.framework and _NET_FRAMEWORK.match(project.framework[0]) and not project.test:
            misses.append(NearMiss(
                f"{project.file} targets the .NET Framework ({project.framework[0]}), which does not run in a "
                "Linux container; port it to .NET (net10.0) or write the pipeline by hand", project.framework[1]))
    return misses


DETECTOR = Detector(
    language="dotnet",
    looked_for="*.sln or *.slnx (a solution), *.csproj or *.fsproj (a project; ASP.NET Core from "
               'Sdk="Microsoft.NET.Sdk.Web")',
    detect=detect, near_misses=near_misses,
)
