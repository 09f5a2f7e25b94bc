"""What a Gradle build says: Spring Boot or not, Kotlin, the Java release, the included projects, the wrapper.

Both DSLs (``build.gradle`` Groovy, ``build.gradle.kts`` Kotlin) are read by pattern, line by line, with
comments blanked out first so a commented-out plugin is not evidence. Gradle builds are programs; these
patterns read what the common, declarative forms say and nothing more (a plugin applied from a convention
plugin in ``buildSrc`` is not seen, and the result says "medium" then, never a guess).

Reads only through the ``Tree``; turning these findings into a candidate is ``detect.java``'s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wishstar.pipelines.detect.evidence import Evidence
from wishstar.pipelines.detect.tree import Tree, join, line_of, norm

BUILD_FILES = ("build.gradle.kts", "build.gradle")
SETTINGS_FILES = ("settings.gradle.kts", "settings.gradle")

_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.DOTALL)
_SPRING_PLUGIN = re.compile(r"""(?:id\s*\(?\s*["']org\.springframework\.boot["']|"""
                            r"""apply\s+plugin\s*:\s*["']org\.springframework\.boot["'])""")
_SPRING_STARTER = re.compile(r"""["']org\.springframework\.boot:spring-boot-starter[\w-]*""")
_KOTLIN_PLUGIN = re.compile(r"""kotlin\s*\(\s*["']jvm["']\s*\)|id\s*\(?\s*["']org\.jetbrains\.kotlin\.jvm["']|"""
                            r"""apply\s+plugin\s*:\s*["']kotlin["']""")
_JAVA_VERSIONS = (
    (re.compile(r"JavaLanguageVersion\.of\(\s*(\d+)\s*\)"), "toolchain languageVersion"),
    (re.compile(r"jvmToolchain\s*\(?\s*(\d+)"), "kotlin jvmToolchain"),
    (re.compile(r"sourceCompatibility\s*=\s*JavaVersion\.VERSION_(\d+(?:_\d+)?)"), "sourceCompatibility"),
    (re.compile(r"""sourceCompatibility\s*=\s*["']?(\d+(?:\.\d+)?)"""), "sourceCompatibility"),
    (re.compile(r"JavaVersion\.VERSION_(\d+(?:_\d+)?)"), "JavaVersion"),
)
_APPLY_FALSE = re.compile(r"^[^;{}]*\bapply\s*\(?\s*false")
_ALIAS = re.compile(r"alias\s*\(\s*libs\.plugins\.([\w.]+)\s*\)")
CATALOG = "gradle/libs.versions.toml"
_INCLUDE = re.compile(r"""^[ \t]*include\s*\(?([^)\n]*)""", re.MULTILINE)
_QUOTED = re.compile(r"""["']([^"']+)["']""")
_PROJECT_PATH = re.compile(r"^:?[A-Za-z0-9_][A-Za-z0-9_.\-]*(?::[A-Za-z0-9_][A-Za-z0-9_.\-]*)*$")


@dataclass(frozen=True)
class Build:
    """The findings in one Gradle build file (``file``)."""

    file: str
    manifest: Evidence
    spring: tuple[Evidence, ...]
    kotlin: Evidence | None
    java: tuple[str, Evidence] | None


def blank_comments(text: str) -> str:
    """``text`` with comments replaced by spaces (newlines kept, so line numbers stay true)."""
    return _COMMENTS.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def build_file(tree: Tree, directory: str) -> str | None:
    return next((join(directory, f) for f in BUILD_FILES if tree.is_file(join(directory, f))), None)


def settings_file(tree: Tree, directory: str) -> str | None:
    return next((join(directory, f) for f in SETTINGS_FILES if tree.is_file(join(directory, f))), None)


def _first(rel: str, text: str, pattern: re.Pattern[str], rule: str) -> Evidence | None:
    """Evidence of ``pattern``'s first match that is not ``apply false`` (a plugin declared for subprojects
    is not applied here); ``{}`` in ``rule`` is replaced by the matched text."""
    for match in pattern.finditer(text):
        if _APPLY_FALSE.search(_rest_of_line(text, match.end())):
            continue
        return Evidence(rel, line_of(text, match.start()), rule.format(match.group(0).strip("\"'")))
    return None


def _rest_of_line(text: str, offset: int) -> str:
    end = text.find("\n", offset)
    return text[offset:end if end >= 0 else None]


def catalog_plugins(tree: Tree, root: str) -> dict[str, tuple[str, int]]:
    """``gradle/libs.versions.toml``'s ``[plugins]``: accessor (``spring.boot``) to plugin id and line."""
    rel = join(root, CATALOG)
    text = tree.text(rel) or ""
    found: dict[str, tuple[str, int]] = {}
    section = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = re.match(r"^\s*\[([\w.-]+)\]", line)
        if header:
            section = header.group(1)
            continue
        entry = re.match(r"""^\s*([\w.-]+)\s*=\s*(.*)$""", line)
        if section == "plugins" and entry:
            plugin = re.search(r"""id\s*=\s*["']([^"']+)["']""", entry.group(2)) or re.match(
                r"""["']([^"':]+)""", entry.group(2))
            if plugin:
                found[re.sub(r"[-_]", ".", entry.group(1))] = (plugin.group(1), number)
    return found


def _aliased(rel: str, text: str, catalog: dict[str, tuple[str, int]], plugin_id: str,
             root: str) -> Evidence | None:
    """``alias(libs.plugins.X)`` where the catalog maps X to ``plugin_id``."""
    for match in _ALIAS.finditer(text):
        entry = catalog.get(match.group(1))
        if entry and entry[0] == plugin_id and not _APPLY_FALSE.search(_rest_of_line(text, match.end())):
            return Evidence(rel, line_of(text, match.start()),
                            f"plugin {plugin_id} (alias libs.plugins.{match.group(1)}, "
                            f"{join(root, CATALOG)}:{entry[1]})")
    return None


def read(tree: Tree, rel: str, root: str = ".") -> Build | None:
    """The build file ``rel``; ``root``: the settings root, where the version catalog is."""
    raw = tree.text(rel)
    if raw is None:
        return None
    text = blank_comments(raw)
    catalog = catalog_plugins(tree, root) if _ALIAS.search(text) else {}
    spring = [ev for ev in (
        _first(rel, text, _SPRING_PLUGIN, "plugin org.springframework.boot")
        or _aliased(rel, text, catalog, "org.springframework.boot", root),
        _first(rel, text, _SPRING_STARTER, "dependency {}"),
    ) if ev is not None]
    kotlin = (_first(rel, text, _KOTLIN_PLUGIN, "Kotlin JVM plugin")
              or _aliased(rel, text, catalog, "org.jetbrains.kotlin.jvm", root))
    if kotlin is None and tree.is_dir(join(rel.rpartition("/")[0] or ".", "src/main/kotlin")):
        kotlin = Evidence(join(rel.rpartition("/")[0] or ".", "src/main/kotlin"), None, "Kotlin sources directory")
    dsl = "Kotlin DSL" if rel.endswith(".kts") else "Groovy DSL"
    return Build(file=rel, manifest=Evidence(rel, None, f"Gradle build ({dsl})"), spring=tuple(spring),
                 kotlin=kotlin, java=_java(rel, text))


def _java(rel: str, text: str) -> tuple[str, Evidence] | None:
    for pattern, rule in _JAVA_VERSIONS:
        match = pattern.search(text)
        if match:
            value = match.group(1).replace("_", ".")
            value = value.removeprefix("1.") if value.startswith("1.") else value
            return value, Evidence(rel, line_of(text, match.start()), f"{rule} {value}")
    return None


def includes(tree: Tree, settings: str) -> list[tuple[str, int]]:
    """The project directories ``settings`` includes (repository-relative, ``:a:b`` is ``a/b``), with the
    line of each ``include``."""
    raw = tree.text(settings)
    if raw is None:
        return []
    text = blank_comments(raw)
    root = settings.rpartition("/")[0] or "."
    found: list[tuple[str, int]] = []
    for match in _INCLUDE.finditer(text):
        line = line_of(text, match.start())
        for name in _QUOTED.findall(match.group(1)):
            if _PROJECT_PATH.match(name):
                found.append((norm(join(root, name.strip(":").replace(":", "/"))), line))
    return found


def wrapper(tree: Tree, directory: str) -> Evidence | None:
    if tree.is_file(join(directory, "gradlew")):
        return Evidence(join(directory, "gradlew"), None, "Gradle wrapper (./gradlew)")
    return None
