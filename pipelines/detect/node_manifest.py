"""Reading a package.json for the JavaScript/TypeScript detector: the parsed object, and the line of a key.

A package.json written by people is the evidence, so every claim drawn from it names its line; the JSON
parser gives values, this module finds where they were written. A malformed package.json is reported as a
value (``Malformed``, with the parser's line), never raised.

Reads through the ``Tree`` only; knows nothing of package managers or frameworks.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from wishstar.pipelines.detect.evidence import Evidence, printable
from wishstar.pipelines.detect.tree import Tree, join, line_of


@dataclass(frozen=True)
class Manifest:
    """A parsed package.json: ``file`` (repository-relative), its ``text`` and its top-level ``data``."""

    file: str
    text: str
    data: dict[str, Any]

    def section(self, name: str) -> dict[str, str]:
        """A flat string map (``scripts``, ``dependencies``, ``engines``); non-string values are dropped."""
        value = self.data.get(name)
        if not isinstance(value, dict):
            return {}
        return {str(k): v for k, v in value.items() if isinstance(v, str)}

    def string(self, name: str) -> str | None:
        value = self.data.get(name)
        return value if isinstance(value, str) else None

    def deps(self) -> dict[str, str]:
        """dependencies, devDependencies and peerDependencies together (a framework may be in any)."""
        merged: dict[str, str] = {}
        for name in ("peerDependencies", "devDependencies", "dependencies"):
            merged.update(self.section(name))
        return merged

    def line(self, key: str, section: str | None = None) -> int | None:
        """The line where ``"key":`` is written, inside ``"section": {...}`` when given (the first object
        of that name: dependency and script maps are flat, so their first ``}`` closes them)."""
        start, end = 0, len(self.text)
        if section is not None:
            opened = re.search(rf'"{re.escape(section)}"\s*:\s*\{{', self.text)
            if opened is None:
                return None
            start = opened.end()
            closing = self.text.find("}", start)
            end = closing if closing >= 0 else end
        found = re.compile(rf'"{re.escape(key)}"\s*:').search(self.text, start, end)
        return line_of(self.text, found.start()) if found else None

    def evidence(self, key: str, section: str | None, rule: str) -> Evidence:
        return Evidence(self.file, self.line(key, section), printable(rule))

    def dep_evidence(self, name: str) -> Evidence:
        """Where dependency ``name`` is declared, whichever dependency map holds it."""
        for section in ("dependencies", "devDependencies", "peerDependencies"):
            if name in self.section(section):
                return self.evidence(name, section, f"{section} {name} {self.section(section)[name]}")
        return Evidence(self.file, None, f"dependency {name}")


@dataclass(frozen=True)
class Malformed:
    """A package.json that is not a JSON object: the ``file``, the ``line`` of the error and what is wrong."""

    file: str
    line: int | None
    problem: str


def read_manifest(tree: Tree, directory: str) -> Manifest | Malformed | None:
    """The package.json of ``directory``: parsed, malformed (with the line), or None when there is none."""
    file = join(directory, "package.json")
    if not tree.is_file(file):
        return None
    text = tree.text(file)
    if text is None:
        return Malformed(file, None, "cannot be read")
    try:
        data = json.loads(text.removeprefix("\ufeff"))
    except json.JSONDecodeError as error:
        return Malformed(file, error.lineno, f"is not valid JSON ({error.msg}, column {error.colno})")
    if not isinstance(data, dict):
        return Malformed(file, 1, f"is a JSON {type(data).__name__}, not an object")
    return Manifest(file, text, data)
