"""The ``uses:`` reference of a pipeline task: ``NAME`` (the newest version) or ``NAME@VERSION``.

Versions are dotted whole numbers ("1", "0.2", "0.10") compared component by component, so "0.10" is newer
than "0.9" (the Tekton catalog's own directory names). Pure: parsing and ordering only; where a task of a
name and version lives is the library's business (``wishstar.tasks``), not this module's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["VERSION_PATTERN", "UsesRef", "is_version", "newest_first", "parse_uses", "uses_problem",
           "version_key"]

NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$")
VERSION_PATTERN = r"^[0-9]+(\.[0-9]+)*$"
_VERSION_RE = re.compile(VERSION_PATTERN)


@dataclass(frozen=True)
class UsesRef:
    """``uses: name@version`` split; ``version`` None means the newest."""

    name: str
    version: str | None = None

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


def is_version(text: str) -> bool:
    """A version is dotted whole numbers: "1", "0.2", "10.0.3"."""
    return bool(_VERSION_RE.match(text))


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """Sort key: numeric components first ("0.10" > "0.9"), then the text ("1.0" after "1")."""
    return tuple(int(p) for p in version.split(".")), version


def newest_first(versions: Iterable[str]) -> list[str]:
    return sorted(set(versions), key=version_key, reverse=True)


def parse_uses(text: str) -> UsesRef:
    """Split ``NAME@VERSION``; no checking (see ``uses_problem``)."""
    name, sep, version = text.partition("@")
    return UsesRef(name, version if sep else None)


def uses_problem(text: str) -> tuple[str, str] | None:
    """(message, hint) when ``text`` is not ``NAME`` or ``NAME@VERSION``, else None."""
    ref = parse_uses(text)
    if not NAME_RE.match(ref.name):
        return (f'"{text}" does not name a library task',
                "write `uses: NAME` or `uses: NAME@VERSION` (lowercase letters, digits and '-')")
    if ref.version is not None and not is_version(ref.version):
        return (f'"{ref.version}" in "{text}" is not a version',
                f'versions are dotted numbers, e.g. `uses: {ref.name}@1` or `{ref.name}@0.2`; '
                f'`uses: {ref.name}` takes the newest')
    return None
