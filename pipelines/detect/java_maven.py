"""What a ``pom.xml`` says: Spring Boot or not, Kotlin, the Java release, the reactor's modules, the wrapper.

Read from the pom's XML structure (a small element tree that remembers each element's line, so evidence
names the real line: ``pom.xml:7 parent org.springframework.boot:spring-boot-starter-parent``), never from
file extensions or a built jar. A pom that is not well-formed XML is reported as such (``PomError``), never
raised further. The pom's own ``<properties>`` are substituted one level deep (``${java.version}``).

Reads only through the ``Tree``; turning these findings into a candidate (port, versions) is ``detect.java``'s.
"""

from __future__ import annotations

import re
import xml.parsers.expat
from collections.abc import Callable
from dataclasses import dataclass, field

from wishstar.pipelines.detect.evidence import Evidence
from wishstar.pipelines.detect.tree import Tree, join, norm

SPRING_GROUP = "org.springframework.boot"
_PROPERTY = re.compile(r"\$\{([^}]+)\}")
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-/]*$")
"""A module path or name Wishstar will put into a generated file (anything else is left out)."""
Resolve = Callable[[str], str]
_JAVA_CLASS = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z_$][A-Za-z0-9_$]*)*$")


class PomError(Exception):
    """The pom is not well-formed XML (or declares entities): ``line`` and expat's message."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line


@dataclass
class Element:
    tag: str
    line: int
    text: str = ""
    children: list[Element] = field(default_factory=list)

    def child(self, tag: str) -> Element | None:
        return next((c for c in self.children if c.tag == tag), None)

    def all(self, *path: str) -> list[Element]:
        """Descendants along ``path`` (``all("dependencies", "dependency")``)."""
        level = [self]
        for tag in path:
            level = [c for e in level for c in e.children if c.tag == tag]
        return level

    def value(self, tag: str) -> str:
        found = self.child(tag)
        return found.text.strip() if found is not None else ""


def parse(text: str) -> Element:
    """The pom's element tree (namespace prefixes dropped). Raises ``PomError``."""
    parser = xml.parsers.expat.ParserCreate()
    stack: list[Element] = []
    roots: list[Element] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        element = Element(name.rsplit(":", 1)[-1], parser.CurrentLineNumber)
        (stack[-1].children if stack else roots).append(element)
        stack.append(element)

    def end(name: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        if stack:
            stack[-1].text += data

    def entity(*args: object) -> None:
        raise PomError(parser.CurrentLineNumber, "declares an XML entity (a pom never needs one)")

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    parser.EntityDeclHandler = entity
    try:
        parser.Parse(text, True)
    except xml.parsers.expat.ExpatError as exc:
        raise PomError(exc.lineno, xml.parsers.expat.ErrorString(exc.code)) from None
    if not roots or roots[0].tag != "project":
        raise PomError(1, "its root element is not <project>")
    return roots[0]


@dataclass(frozen=True)
class Pom:
    """The findings in one pom. ``spring``: evidence that it is a Spring Boot application (best first);
    ``java``: the release it asks for and where; ``modules``: declared ``<modules>`` (raw, in order)."""

    file: str
    manifest: Evidence
    packaging: str
    spring: tuple[Evidence, ...]
    hints: tuple[tuple[str, Evidence], ...]
    kotlin: Evidence | None
    java: tuple[str, Evidence] | None
    modules: tuple[tuple[str, int], ...]
    modules_line: int
    main_class: str | None


def read(tree: Tree, rel: str) -> Pom | None:
    """The pom at ``rel`` (None when there is none). Raises ``PomError`` when it is malformed."""
    text = tree.text(rel)
    if text is None:
        return None
    project = parse(text)
    props = {p.tag: p.text.strip() for e in project.all("properties") for p in e.children}

    def resolve(value: str) -> str:
        return _PROPERTY.sub(lambda m: props.get(m.group(1), m.group(0)), value)

    deps = project.all("dependencies", "dependency")
    plugins = project.all("build", "plugins", "plugin") + project.all("build", "pluginManagement", "plugins",
                                                                          "plugin")
    packaging = project.value("packaging") or "jar"
    return Pom(
        file=rel, manifest=Evidence(rel, None, "Maven project (pom.xml)"), packaging=packaging,
        spring=_spring(rel, project, deps, project.all("build", "plugins", "plugin")),
        hints=_hints(rel, project, deps, plugins),
        kotlin=_kotlin(tree, rel, plugins), java=_java(rel, project, plugins, resolve),
        modules=tuple((m.text.strip(), m.line) for m in project.all("modules", "module") if m.text.strip()),
        modules_line=next((m.line for m in project.all("modules")), 0),
        main_class=_main_class(plugins, resolve),
    )


def _coords(element: Element) -> str:
    return f"{element.value('groupId')}:{element.value('artifactId')}"


def _spring(rel: str, project: Element, deps: list[Element], plugins: list[Element]) -> tuple[Evidence, ...]:
    found: list[Evidence] = []
    parent = project.child("parent")
    if parent is not None and _coords(parent) == f"{SPRING_GROUP}:spring-boot-starter-parent":
        found.append(Evidence(rel, parent.line, f"parent {_coords(parent)}"))
    for dep in project.all("dependencyManagement", "dependencies", "dependency"):
        if _coords(dep) == f"{SPRING_GROUP}:spring-boot-dependencies":
            found.append(Evidence(rel, dep.line, f"BOM {_coords(dep)} in dependencyManagement"))
    for plugin in plugins:
        if _coords(plugin) == f"{SPRING_GROUP}:spring-boot-maven-plugin":
            found.append(Evidence(rel, plugin.line, f"plugin {_coords(plugin)}"))
            break
    for dep in deps:
        if dep.value("groupId") == SPRING_GROUP and dep.value("artifactId").startswith("spring-boot-starter"):
            found.append(Evidence(rel, dep.line, f"dependency {_coords(dep)}"))
            break
    return tuple(found)


def _hints(rel: str, project: Element, deps: list[Element],
           plugins: list[Element]) -> tuple[tuple[str, Evidence], ...]:
    """Quarkus and Micronaut, from their plugin or a dependency of their group."""
    found: list[tuple[str, Evidence]] = []
    for name, group in (("quarkus", "io.quarkus"), ("micronaut", "io.micronaut")):
        hit = next((e for e in plugins + deps if e.value("groupId").startswith(group)), None)
        parent = project.child("parent")
        if hit is None and parent is not None and parent.value("groupId").startswith(group):
            hit = parent
        if hit is not None:
            found.append((name, Evidence(rel, hit.line, f"{hit.tag} {_coords(hit)}")))
    return tuple(found)


def _kotlin(tree: Tree, rel: str, plugins: list[Element]) -> Evidence | None:
    for plugin in plugins:
        if plugin.value("artifactId") == "kotlin-maven-plugin":
            return Evidence(rel, plugin.line, f"plugin {_coords(plugin)}")
    directory = rel.rpartition("/")[0] or "."
    if tree.is_dir(join(directory, "src/main/kotlin")):
        return Evidence(join(directory, "src/main/kotlin"), None, "Kotlin sources directory")
    return None


def _java(rel: str, project: Element, plugins: list[Element], resolve: Resolve) -> tuple[str, Evidence] | None:
    for prop in ("maven.compiler.release", "maven.compiler.source", "java.version"):
        for props in project.all("properties"):
            element = props.child(prop)
            if element is not None and element.text.strip():
                value = resolve(element.text.strip())
                return value, Evidence(rel, element.line, f"{prop} {value}")
    for plugin in plugins:
        if plugin.value("artifactId") == "maven-compiler-plugin":
            for tag in ("release", "source"):
                for element in plugin.all("configuration", tag):
                    value = resolve(element.text.strip())
                    return value, Evidence(rel, element.line, f"maven-compiler-plugin <{tag}> {value}")
    return None


def _main_class(plugins: list[Element], resolve: Resolve) -> str | None:
    for plugin in plugins:
        for element in plugin.all("configuration", "archive", "manifest", "mainClass") + plugin.all(
                "configuration", "mainClass"):
            value = resolve(element.text.strip())
            if _JAVA_CLASS.match(value):
                return value
    return None


def module_dirs(tree: Tree, directory: str, pom: Pom) -> list[str]:
    """The reactor's module directories (repository-relative) that hold a pom, in declaration order."""
    found: list[str] = []
    for module, _line in pom.modules:
        rel = norm(join(directory, module.removesuffix("/pom.xml")))
        if SAFE_NAME.match(module) and ".." not in module.split("/") and tree.is_file(join(rel, "pom.xml")):
            found.append(rel)
    return found


def wrapper(tree: Tree, directory: str) -> Evidence | None:
    """``mvnw`` in ``directory``: the project's pinned Maven."""
    if tree.is_file(join(directory, "mvnw")):
        return Evidence(join(directory, "mvnw"), None, "Maven wrapper (./mvnw)")
    return None
