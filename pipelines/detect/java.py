"""The Java and Kotlin detector (Maven and Gradle): one candidate per app directory, with evidence.

``java_maven`` and ``java_gradle`` read the build files; this module decides what they add up to: the build
tool and how to run it (``./mvnw``/``./gradlew`` when present, else the tool on PATH), Spring Boot or not,
the port (``server.port`` in ``application.properties``/``.yml``, else the framework's default marked as a
default), the Java release (through ``runtimes.choose``), and the multi-app layouts (a Maven reactor's
``<modules>``, Gradle ``include``s). The rules are documented in docs/detection.md ("Java and Kotlin").

Reads only through the ``Tree``; never raises for a malformed build file (it becomes a near miss).
"""

from __future__ import annotations

import re
from dataclasses import replace

from wishstar.pipelines.detect import java_gradle as gradle
from wishstar.pipelines.detect import java_maven as maven
from wishstar.pipelines.detect.base import Detector, Members
from wishstar.pipelines.detect.evidence import Candidate, Chosen, Evidence, NearMiss
from wishstar.pipelines.detect.runtimes import choose
from wishstar.pipelines.detect.tree import Tree, join, line_of, norm

DOCKERIGNORE = {"maven": "target .mvn/wrapper/*.jar", "gradle": "build .gradle"}
SPRING_DEFAULT_PORT = Chosen("8080", default="Spring Boot's default port")
_DEFAULT_PORTS = {"quarkus": "Quarkus's default port", "micronaut": "Micronaut's default port"}
_PROPERTIES_PORT = re.compile(r"^[ \t]*(server|quarkus\.http|micronaut\.server)\.port[ \t]*[=:][ \t]*"
                              r"(?:\$\{[^:}]+:)?(\d+)", re.MULTILINE)
_NO_WEB = re.compile(r"^[ \t]*spring\.main\.web-application-type[ \t]*[=:][ \t]*none", re.MULTILINE)


def _parent(path: str) -> str | None:
    path = norm(path)
    return None if path == "." else (path.rpartition("/")[0] or ".")


def _relative(path: str, root: str) -> str:
    return norm(path) if norm(root) == "." else norm(path).removeprefix(norm(root) + "/")


# --- port and version -------------------------------------------------------------------------------------

def _yaml_port(tree: Tree, rel: str) -> Evidence | None:
    """``server:`` / ``  port: N`` (or ``server.port: N``) in an application.yml."""
    text = tree.text(rel)
    if text is None:
        return None
    lines = text.splitlines()
    for index, line in enumerate(lines):
        flat = re.match(r"^server\.port:\s*[\"']?(?:\$\{[^:}]+:)?(\d+)", line)
        if flat:
            return Evidence(rel, index + 1, f"server.port {flat.group(1)}")
        if re.match(r"^server:\s*(#.*)?$", line):
            for offset, inner in enumerate(lines[index + 1:], start=index + 2):
                if inner.strip() and not inner[0].isspace():
                    break
                port = re.match(r"^\s+port:\s*[\"']?(?:\$\{[^:}]+:)?(\d+)", inner)
                if port:
                    return Evidence(rel, offset, f"server.port {port.group(1)}")
    return None


def port_of(tree: Tree, directory: str, framework: str | None) -> Chosen | None:
    """The port the app listens on: the configured one with its evidence, else its framework's default;
    None for an app with no web framework (a library, a command-line tool)."""
    if framework is None:
        return None
    resources = join(directory, "src/main/resources")
    props = join(resources, "application.properties")
    text = tree.text(props)
    if text is not None:
        if framework == "spring-boot" and _NO_WEB.search(text):
            return None
        match = _PROPERTIES_PORT.search(text)
        if match:
            ev = Evidence(props, line_of(text, match.start()), f"{match.group(1)}.port {match.group(2)}")
            return Chosen(match.group(2), ev)
    for name in ("application.yml", "application.yaml"):
        found = _yaml_port(tree, join(resources, name))
        if found is not None:
            return Chosen(found.rule.rsplit(" ", 1)[-1], found)
    if framework in _DEFAULT_PORTS:
        return Chosen("8080", default=_DEFAULT_PORTS[framework])
    return SPRING_DEFAULT_PORT


def java_version(found: tuple[str, Evidence] | None) -> tuple[Chosen, str | None]:
    """The Java release (``1.8`` is Java 8) through ``runtimes.choose``."""
    if found is None:
        return choose("java", None, None)
    spec, ev = found
    spec = spec.removeprefix("1.") if re.match(r"^1\.\d", spec) else spec
    return choose("java", spec, ev)


def _candidate(*, language_ev: Evidence | None, build: str, evidence: list[Evidence], framework: str | None,
               port: Chosen | None, java: tuple[str, Evidence] | None, facts: dict[str, str],
               context: tuple[str, ...], strong: bool) -> Candidate:
    chosen, warning = java_version(java)
    return Candidate(
        language="kotlin" if language_ev else "java", build=build, evidence=tuple(evidence),
        confidence="high" if strong else "medium", framework=framework, port=port, versions={"java": chosen},
        facts={**facts, "dockerignore": DOCKERIGNORE[build]}, context=context,
        warnings=(warning,) if warning else (),
    )


# --- Maven ------------------------------------------------------------------------------------------------

def _read_pom(tree: Tree, directory: str) -> maven.Pom | None:
    try:
        return maven.read(tree, join(directory, "pom.xml"))
    except maven.PomError:
        return None


def _reactor_of(tree: Tree, path: str) -> tuple[str, maven.Pom] | None:
    """The nearest ancestor directory whose pom lists ``path`` among its ``<modules>``."""
    ancestor = _parent(path)
    while ancestor is not None:
        pom = _read_pom(tree, ancestor)
        if pom is not None and norm(path) in maven.module_dirs(tree, ancestor, pom):
            return ancestor, pom
        ancestor = _parent(ancestor)
    return None


def detect_maven(tree: Tree, path: str) -> list[Candidate]:
    pom = _read_pom(tree, path)
    if pom is None or pom.packaging == "pom":
        return []  # no pom, a malformed one (a near miss), or a pom-only project (a reactor's aggregator, a BOM)
    reactor = _reactor_of(tree, path)
    root, root_pom = reactor if reactor else (norm(path), pom)
    modules = maven.module_dirs(tree, root, root_pom) if reactor else []
    wrapper = maven.wrapper(tree, root)
    framework, framework_ev = _framework(pom)
    evidence = [pom.manifest, *framework_ev, *([pom.kotlin] if pom.kotlin else []), *([wrapper] if wrapper else [])]
    inner = [_relative(m, root) for m in modules]
    poms = ["pom.xml", *(join(m, "pom.xml") for m in inner)]
    sources = [join(m, "src") for m in inner if tree.is_dir(join(root, join(m, "src")))] if reactor else ["src"]
    facts = {
        "command": "./mvnw" if wrapper else "mvn", "root": root,
        "module": _relative(path, root) if reactor else "", "app_dir": _relative(path, root) if reactor else ".",
        "poms": " ".join(poms), "sources": " ".join(sources), "main_class": pom.main_class or "",
        "spring_boot": "true" if framework == "spring-boot" else "",
    }
    context = (join(root, "pom.xml"), *(m for m in modules if m != norm(path))) if reactor else ()
    return [_candidate(language_ev=pom.kotlin, build="maven", evidence=evidence, framework=framework,
                       port=port_of(tree, path, framework), java=pom.java or (root_pom.java if reactor else None),
                       facts=facts, context=context, strong=bool(framework_ev or wrapper))]


def _framework(pom: maven.Pom) -> tuple[str | None, list[Evidence]]:
    if pom.spring:
        return "spring-boot", list(pom.spring)
    if pom.hints:
        name, ev = pom.hints[0]
        return name, [ev]
    return None, []


def maven_members(tree: Tree, path: str) -> Members | None:
    pom = _read_pom(tree, path)
    if pom is None or not pom.modules:
        return None
    apps = [m for m in maven.module_dirs(tree, path, pom) if _is_app_pom(tree, m)]
    return Members(tuple(apps), (join(path, "pom.xml"),),
                   Evidence(join(path, "pom.xml"), pom.modules_line, "Maven reactor <modules>"))


def _is_app_pom(tree: Tree, directory: str) -> bool:
    pom = _read_pom(tree, directory)
    return pom is not None and pom.packaging != "pom"


# --- Gradle -----------------------------------------------------------------------------------------------

def _settings_root(tree: Tree, path: str) -> tuple[str, str] | None:
    """``(root, project path)`` when an ancestor's settings file includes ``path`` (``:services:api``)."""
    ancestor = _parent(path)
    while ancestor is not None:
        settings = gradle.settings_file(tree, ancestor)
        if settings and norm(path) in [p for p, _ in gradle.includes(tree, settings)]:
            return ancestor, ":" + _relative(path, ancestor).replace("/", ":")
        ancestor = _parent(ancestor)
    return None


def _gradle_runner(tree: Tree, root: str) -> tuple[str, Evidence | None] | None:
    wrapper = gradle.wrapper(tree, root)
    if wrapper:
        return "./gradlew", wrapper
    if tree.which("gradle"):
        return "gradle", None
    return None


def detect_gradle(tree: Tree, path: str) -> list[Candidate]:
    rel = gradle.build_file(tree, path)
    member = _settings_root(tree, path) if rel else None
    root, project = member if member else (norm(path), "")
    build = gradle.read(tree, rel, root) if rel else None
    if build is None:
        return []
    settings = gradle.settings_file(tree, path)
    if settings and gradle.includes(tree, settings) and not build.spring:
        return []  # a multi-project root that is not an app itself: its included projects are
    runner = _gradle_runner(tree, root)
    if runner is None:
        return []  # a near miss: no wrapper and no Gradle on PATH
    command, wrapper = runner
    framework = "spring-boot" if build.spring else None
    evidence = [build.manifest, *build.spring, *([build.kotlin] if build.kotlin else []),
                *([wrapper] if wrapper else [])]
    copies = _gradle_copies(tree, root, path if member else None)
    facts = {"command": command, "root": root, "project": project, "spring_boot": "true" if framework else "",
             **copies}
    outside = [f for f in copies["build_files"].split() + copies["sources"].split()
               if not join(root, f).startswith(norm(path) + "/")]
    context = tuple(join(root, f.removesuffix("/src")) for f in outside) if member else ()
    return [_candidate(language_ev=build.kotlin, build="gradle", evidence=evidence, framework=framework,
                       port=port_of(tree, path, framework), java=build.java, facts=facts, context=context,
                       strong=bool(build.spring or wrapper))]


def _gradle_copies(tree: Tree, root: str, member: str | None) -> dict[str, str]:
    """What the image's build stage copies before the sources (``build_files``) and then (``sources``),
    relative to ``root`` (the build context); ``app_dir``: where the built jar lands (``build/libs``)."""
    files = [f for f in ("gradlew", "gradle", *gradle.SETTINGS_FILES, *gradle.BUILD_FILES, "gradle.properties")
             if tree.is_file(join(root, f)) or (f == "gradle" and tree.is_dir(join(root, f)))]
    projects = ["."]
    if member is not None:
        settings = gradle.settings_file(tree, root)
        projects = [_relative(p, root) for p, _ in (gradle.includes(tree, settings) if settings else [])
                    if maven.SAFE_NAME.match(_relative(p, root))]
        files += [join(p, f) for p in projects for f in gradle.BUILD_FILES if tree.is_file(join(root, join(p, f)))]
    sources = [join(p, "src") for p in projects if tree.is_dir(join(root, join(p, "src")))]
    return {"build_files": " ".join(files), "sources": " ".join(sources),
            "app_dir": _relative(member, root) if member else "."}


def gradle_members(tree: Tree, path: str) -> Members | None:
    settings = gradle.settings_file(tree, path)
    found = gradle.includes(tree, settings) if settings else []
    apps = [p for p, _ in found if gradle.build_file(tree, p)]
    if not settings or not found:
        return None
    context = tuple(join(path, f) for f in (*gradle.SETTINGS_FILES, *gradle.BUILD_FILES, "gradlew")
                    if tree.is_file(join(path, f)))
    return Members(tuple(apps), context, Evidence(settings, found[0][1], "Gradle settings include"))


# --- the detector -----------------------------------------------------------------------------------------

def detect(tree: Tree, path: str) -> list[Candidate]:
    """Maven first: a directory with both a pom.xml and a build.gradle is listed with Maven best (the
    documented rule: the pom is the older, declarative manifest; Gradle projects rarely keep one)."""
    found = detect_maven(tree, path) + detect_gradle(tree, path)
    if len(found) > 1:
        found[0] = _ranked(found[0])
    return found


def _ranked(candidate: Candidate) -> Candidate:
    return replace(candidate, rule="a pom.xml beats a build.gradle in the same directory")


def near_misses(tree: Tree, path: str) -> list[NearMiss]:
    misses: list[NearMiss] = []
    pom = join(path, "pom.xml")
    if tree.is_file(pom):
        try:
            maven.read(tree, pom)
        except maven.PomError as exc:
            misses.append(NearMiss(f"{pom}:{exc.line} is not a valid pom ({exc}); fix the XML",
                                   Evidence(pom, exc.line, "malformed pom.xml")))
    rel = gradle.build_file(tree, path)
    if rel:
        member = _settings_root(tree, path)
        root = member[0] if member else norm(path)
        if _gradle_runner(tree, root) is None:
            misses.append(NearMiss(f"{rel.rpartition('/')[2]} found but no gradlew and no Gradle on PATH "
                                   f"(add the wrapper: `gradle wrapper`, and commit gradlew and gradle/)",
                                   Evidence(rel, None, "Gradle build without a wrapper")))
    return misses


def members(tree: Tree, path: str) -> Members | None:
    return maven_members(tree, path) or gradle_members(tree, path)


DETECTOR = Detector(
    language="java",
    looked_for="pom.xml (Maven), build.gradle or build.gradle.kts (Gradle, with gradlew or Gradle on PATH)",
    detect=detect, near_misses=near_misses, members=members,
)
