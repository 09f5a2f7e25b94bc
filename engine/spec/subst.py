"""The ``$(...)`` substitution language shared by pipeline files and Tekton tasks.

References look like ``$(params.registry)``, ``$(params["a.b"])``, ``$(params.list[*])``,
``$(tasks.version.results.tag)``, ``$(results.tag.path)``, ``$(workspaces.source.path)``, ``$(tasks.status)``,
``$(context.run.id)``. This module finds them and replaces the ones a caller can answer, leaving the rest intact
so a later stage (run time) can fill them. It never evaluates anything and never touches a shell: git event
values are not reachable from here at all (they reach steps only as environment variables).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

_REF = re.compile(r"\$\(([^()\s]+)\)")
_BRACKET = re.compile(r"\[\s*[\"']([^\"']+)[\"']\s*\]")


@dataclass(frozen=True)
class Ref:
    """One ``$(...)`` occurrence: ``parts`` is the dotted path, ``star`` marks ``[*]`` (array expansion)."""

    text: str
    parts: tuple[str, ...]
    star: bool
    start: int
    end: int


def parse_expr(expr: str) -> tuple[tuple[str, ...], bool]:
    """``params["a.b"][*]`` -> (("params", "a.b"), True)."""
    star = expr.endswith("[*]")
    if star:
        expr = expr[:-3]
    quoted: list[str] = []

    def keep(match: re.Match[str]) -> str:
        quoted.append(match.group(1))
        return f".\0{len(quoted) - 1}"

    expr = _BRACKET.sub(keep, expr)
    parts = tuple(quoted[int(p[1:])] if p.startswith("\0") else p for p in expr.split(".") if p != "")
    return parts, star


def find_refs(text: str) -> Iterator[Ref]:
    """Every reference in ``text``, in order."""
    for match in _REF.finditer(text):
        parts, star = parse_expr(match.group(1))
        if parts:
            yield Ref(match.group(0), parts, star, match.start(), match.end())


Lookup = Callable[[Ref], str | None]


def substitute(text: str, lookup: Lookup) -> str:
    """Replace each reference ``lookup`` answers; keep the others verbatim. Single pass: values are not re-scanned,
    so a value containing ``$(...)`` stays literal."""
    if "$(" not in text:
        return text
    out: list[str] = []
    pos = 0
    for ref in find_refs(text):
        value = lookup(ref)
        if value is None:
            continue
        out.append(text[pos:ref.start])
        out.append(value)
        pos = ref.end
    out.append(text[pos:])
    return "".join(out)
