"""Go modules: a directory with a ``go.mod`` is a Go app; ``go.work`` declares a multi-module workspace.

The rules (docs/detection.md, "Go"): the ``module`` line makes it a module (a ``go.mod`` without one is a near
miss, never a crash); the ``toolchain`` line, else the ``go`` directive, picks the Go release; the main
package is the directory itself (a non-test ``.go`` file saying ``package main``), else ``cmd/main.go``, else
``cmd/*/main.go`` (one serving HTTP first, then by name); web frameworks come from direct ``require`` lines;
the port from the listen address in the main package's files, else 8080 marked as a default for anything
that serves HTTP; a program that neither imports ``net/http`` nor requires a framework is a command-line
tool without a port.

Reads only through the ``Tree`` (the main package's directory listing, never a walk of the module); must not
run ``go``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from wishstar.pipelines.detect.base import Detector, Members
from wishstar.pipelines.detect.evidence import Candidate, Chosen, Evidence, NearMiss
from wishstar.pipelines.detect.runtimes import choose
from wishstar.pipelines.detect.tree import Tree, join, line_of, norm

FRAMEWORKS: tuple[tuple[str, str], ...] = (
    ("github.com/gin-gonic/gin", "gin"),
    ("github.com/labstack/echo", "echo"),
    ("github.com/gofiber/fiber", "fiber"),
    ("github.com/go-chi/chi", "chi"),
    ("github.com/gorilla/mux", "gorilla/mux"),
)
"""Module path prefix (a ``/vN`` major suffix is allowed) to the framework's name, in the order a module
requiring several is named by."""

DEFAULT_PORT = "8080"
MAX_SOURCES = 64
"""Files of one main package read for ``package main`` and a listen address (by name; a package is rarely
larger, and detection must stay bounded)."""

_LISTEN = re.compile(
    r'(?P<call>ListenAndServe(?:TLS)?|\.Run|\.Start|\.Listen|Addr:)\s*\(?\s*(?:"tcp",\s*)?'
    r'"(?P<host>[\w.\-\[\]]*):(?P<port>\d{2,5})"')
"""A literal listen address: ``http.ListenAndServe(":8080"``, gin's ``r.Run(":N")``, echo's ``e.Start``, fiber's
``app.Listen``, ``net.Listen("tcp", ":N")``, ``http.Server{Addr: ":N"}``."""
_PACKAGE_MAIN = re.compile(r"^package\s+main\b", re.MULTILINE)
_COMMENT_LINE = re.compile(r"^[ \t]*//.*$", re.MULTILINE)
_NET_HTTP = re.compile(r'^\s*(?:import\s+)?(?:\w+\s+)?"net/http"', re.MULTILINE)


@dataclass(frozen=True)
class Directive:
    """One line of a ``go.mod``/``go.work``: its verb (``require`` inside a block too), the words after it
    (comments removed), whether it was marked ``// indirect``, and its 1-based line."""

    verb: str
    args: tuple[str, ...]
    line: int
    indirect: bool = False


def directives(text: str) -> Iterator[Directive]:
    """The directives of a ``go.mod``/``go.work``, blocks (``require (...)``) flattened."""
    block: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        code, _, comment = raw.partition("//")
        words = code.split()
        if not words:
            continue
        if block is not None:
            if words == [")"]:
                block = None
            else:
                yield Directive(block, tuple(words), number, "indirect" in comment)
        elif len(words) == 2 and words[1] == "(":
            block = words[0]
        else:
            yield Directive(words[0], tuple(words[1:]), number, "indirect" in comment)


def _first(found: list[Directive], verb: str) -> Directive | None:
    return next((d for d in found if d.verb == verb and d.args), None)


def detect(tree: Tree, path: str) -> list[Candidate]:
    gomod = join(path, "go.mod")
    text = tree.text(gomod) if tree.is_file(gomod) else None
    if text is None:
        return []
    found = list(directives(text))
    module = _first(found, "module")
    if module is None:
        return []
    evidence = [Evidence(gomod, module.line, f"module {module.args[0]}")]
    warnings: list[str] = []
    version, warning = _go_version(gomod, found)
    if version.evidence is not None:
        evidence.append(version.evidence)
    if warning:
        warnings.append(warning)
    framework = _framework(gomod, found)
    if framework is not None:
        evidence.append(framework[1])
    mains = _main_packages(tree, path)
    facts = {"module": module.args[0], "dockerignore": "bin vendor *.test *.out"}
    facts.update(_workspace_facts(tree, path))
    chosen_port: Chosen | None = None
    if mains:
        main = mains[0]
        evidence.append(main.evidence)
        facts["main"] = main.package
        if len(mains) > 1:
            facts["other_mains"] = " ".join(m.package for m in mains[1:])
            warnings.append(f"several main packages ({', '.join(m.package for m in mains)}): the image builds "
                            f"{main.package}; edit the Dockerfile for another")
        if main.listen is not None and main.port is not None:
            evidence.append(main.listen)
            chosen_port = Chosen(main.port, main.listen)
        elif main.serves_http or framework is not None:
            chosen_port = Chosen(DEFAULT_PORT, default="no listen address found in the main package: the usual 8080")
    else:
        facts["main"] = ""
        warnings.append(f"no main package ({join(path, '*.go')} with package main, cmd/*/main.go): a library; "
                        "the pipeline runs its tests, the generated Dockerfile has nothing to run until you set "
                        "the package to build")
    return [Candidate(
        language="go", build="go", evidence=tuple(evidence), confidence="high" if mains else "medium",
        framework=framework[0] if framework else None, port=chosen_port, versions={"go": version}, facts=facts,
        warnings=tuple(warnings),
    )]


def _go_version(gomod: str, found: list[Directive]) -> tuple[Chosen, str | None]:
    """The ``toolchain`` line (what the project builds with), else the ``go`` directive (the minimum)."""
    toolchain = _first(found, "toolchain")
    if toolchain is not None and toolchain.args[0].startswith("go"):
        spec = toolchain.args[0][2:]
        return choose("go", spec, Evidence(gomod, toolchain.line, f"toolchain {toolchain.args[0]}"))
    go = _first(found, "go")
    if go is not None:
        return choose("go", go.args[0], Evidence(gomod, go.line, f"go {go.args[0]}"))
    return choose("go", None, None)


def _framework(gomod: str, found: list[Directive]) -> tuple[str, Evidence] | None:
    required = {d.args[0]: d for d in found if d.verb == "require" and not d.indirect}
    for prefix, name in FRAMEWORKS:
        for module_path, directive in required.items():
            if module_path == prefix or re.fullmatch(re.escape(prefix) + r"/v\d+", module_path):
                return name, Evidence(gomod, directive.line, f"require {module_path}")
    return None


@dataclass(frozen=True)
class Main:
    """A main package: ``package`` as ``go build`` names it (``.``, ``./cmd/server``), the evidence of its
    ``package main``, its listen address and port, whether it imports
    ``net/http``."""

    package: str
    evidence: Evidence
    listen: Evidence | None
    port: str | None
    serves_http: bool


def _main_packages(tree: Tree, path: str) -> list[Main]:
    root = _main_in(tree, path, ".")
    if root is not None:
        return [root]
    cmd = join(path, "cmd")
    direct = _main_in(tree, path, "cmd")
    if direct is not None:
        return [direct]
    found = [m for name in tree.dirs(cmd) if tree.is_file(join(join(cmd, name), "main.go"))
             for m in [_main_in(tree, path, f"cmd/{name}")] if m is not None]
    # A server is what an image is usually for: a main package that listens goes first, then by name.
    return sorted(found, key=lambda m: (not (m.listen or m.serves_http), m.package))


def _main_in(tree: Tree, path: str, sub: str) -> Main | None:
    """The main package in ``path/sub`` (its non-test ``.go`` files), or None."""
    directory = join(path, sub) if sub != "." else norm(path)
    sources = [join(directory, n) for n in tree.files(directory)
               if n.endswith(".go") and not n.endswith("_test.go")][:MAX_SOURCES]
    declared = next((ev for f in sources for ev in [tree.find(f, _PACKAGE_MAIN, "package main")] if ev), None)
    if declared is None:
        return None
    listen: Evidence | None = None
    port: str | None = None
    serves_http = False
    for source in sources:
        text = _COMMENT_LINE.sub("", tree.text(source) or "")  # a commented-out listen address is not one
        serves_http = serves_http or _NET_HTTP.search(text) is not None
        match = _LISTEN.search(text) if listen is None else None
        if match is not None:
            port, call = match.group("port"), match.group("call")
            address = f'"{match.group("host")}:{port}"'
            said = f"Addr: {address}" if call == "Addr:" else f"{call.lstrip('.')}({address})"
            listen = Evidence(source, line_of(text, match.start()), f"listens on {said}")
    package = "." if sub == "." else f"./{sub}"
    return Main(package, declared, listen, port, serves_http)


def _workspace_facts(tree: Tree, path: str) -> dict[str, str]:
    """For a module used by a ``go.work`` at the repository root: the workspace file and every member's
    ``go.mod`` (the Dockerfile copies them all before sources: workspace mode needs every member)."""
    if norm(path) == "." or not tree.is_file("go.work"):
        return {}
    workspace = members(tree, ".")
    if workspace is None or norm(path) not in workspace.paths:
        return {}
    return {"gowork": "go.work", "workspace_modules": " ".join(join(p, "go.mod") for p in workspace.paths)}


def members(tree: Tree, path: str) -> Members | None:
    """A ``go.work``'s ``use`` directives (block or single line) as member directories."""
    gowork = join(path, "go.work")
    text = tree.text(gowork) if tree.is_file(gowork) else None
    if text is None:
        return None
    uses = [d for d in directives(text) if d.verb == "use" and d.args]
    paths = tuple(dict.fromkeys(join(path, norm(d.args[0])) for d in uses))
    if not paths:
        return None
    context = tuple(f for f in (gowork, join(path, "go.work.sum")) if tree.is_file(f))
    first = uses[0]
    return Members(paths, context, Evidence(gowork, first.line, f"use {' '.join(d.args[0] for d in uses)}"))


def near_misses(tree: Tree, path: str) -> list[NearMiss]:
    gomod = join(path, "go.mod")
    if tree.is_file(gomod):
        text = tree.text(gomod)
        if text is None or _first(list(directives(text)), "module") is None:
            return [NearMiss(f"{gomod} has no module line: not a Go module (hint: `go mod init example.com/app`)",
                             Evidence(gomod, None, "go.mod without module"))]
        return []
    sources = [n for n in tree.files(path) if n.endswith(".go")]
    if sources:
        first = join(path, sources[0])
        return [NearMiss(f"{first} found but no go.mod: Wishstar builds Go modules only (hint: `go mod init "
                         "example.com/app`)", Evidence(first, None, "Go source without go.mod"))]
    return []


DETECTOR = Detector(
    language="go",
    looked_for="go.mod with a module line (go.work for a workspace); main package at the root or cmd/*/main.go",
    detect=detect, near_misses=near_misses, members=members,
)
