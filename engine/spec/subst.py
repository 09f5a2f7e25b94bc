"""The ``$(...)`` substitution language shared by pipeline files and Tekton tasks.

References look like ``$(params.registry)``, ``$(params["a.b"])``, ``$(params.list[*])``,
``$(tasks.version.results.tag)``, ``$(results.tag.path)``, ``$(workspaces.source.path)``, ``$(tasks.status)``,
``$(context.run.id)``. This module finds them and replaces the ones a caller can answer, leaving the rest intact
so a later stage (run time) can fill them. It never evaluates anything and never touches a shell: git event
values are not reachable from here at all (they reach steps only as environment variables).

It is also the one parameter engine of pipeline tasks and Tekton library tasks alike: ``param_ref`` takes a
``$(params...)`` reference apart (``NAME``, ``NAME[N]``, ``NAME.KEY``, ``NAME[*]``, v1beta1 ``inputs.params``),
``param_lookup`` answers it from the values, ``expand_argv`` spreads a whole-item array over several arguments.
The two callers differ only in what a whole array or object reads as inside a string (``whole``): pipelines
join it, Tekton leaves the reference verbatim as Tekton does.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from wishstar.engine.spec.model import ParamValue

_REF = re.compile(r"\$\(([^()\s]+)\)")
_BRACKET = re.compile(r"\[\s*[\"']([^\"']+)[\"']\s*\]")
_QUOTED = re.compile(r"^\0(?P<n>\d+)(?P<rest>.*)$")
_INDEXED = re.compile(r"^(?P<name>.+)\[(?P<index>\d+)\]$")


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

    def unquote(part: str) -> str:
        match = _QUOTED.match(part)
        return quoted[int(match.group("n"))] + match.group("rest") if match else part

    expr = _BRACKET.sub(keep, expr)
    parts = tuple(unquote(p) for p in expr.split(".") if p != "")
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


# --- parameters -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamRef:
    """A ``$(params...)`` reference taken apart: ``params.NAME[N].KEY...`` -> name, index, the keys after it,
    and ``star`` for ``[*]``."""

    name: str
    index: int | None = None
    keys: tuple[str, ...] = ()
    star: bool = False


def param_ref(ref: Ref) -> ParamRef | None:
    """``$(params.x)``, ``$(params.x[0])``, ``$(params.x.key)``, ``$(params.x[*])`` and the v1beta1
    ``$(inputs.params.x)`` as a ``ParamRef``; None for a reference to anything else."""
    parts = ref.parts[1:] if ref.parts[:2] == ("inputs", "params") else ref.parts
    if len(parts) < 2 or parts[0] != "params":
        return None
    name, index = parts[1], None
    indexed = _INDEXED.match(name)
    if indexed:
        name, index = indexed.group("name"), int(indexed.group("index"))
    return ParamRef(name, index, parts[2:], ref.star)


Whole = Callable[[ParamValue], str | None]
"""What a whole array or object param (or ``[*]``) reads as inside a string; None leaves it verbatim."""


def _verbatim(_value: ParamValue) -> str | None:
    return None


def param_value(ref: ParamRef, values: Mapping[str, ParamValue], whole: Whole = _verbatim) -> str | None:
    """The text ``ref`` stands for: a string param, an array element, an object's key, or ``whole(value)``
    for a whole array or object; None when it names nothing (an undeclared param, an index out of range)."""
    value = values.get(ref.name)
    if value is None:
        return None
    if ref.index is not None:
        plain = not ref.keys and not ref.star
        return value[ref.index] if isinstance(value, list) and plain and ref.index < len(value) else None
    if ref.keys:
        plain = len(ref.keys) == 1 and not ref.star
        return value.get(ref.keys[0]) if isinstance(value, dict) and plain else None
    if isinstance(value, str) and not ref.star:
        return value
    return whole(value)


def param_lookup(values: Mapping[str, ParamValue], whole: Whole = _verbatim) -> Lookup:
    """A ``substitute`` lookup answering ``$(params...)`` references from ``values`` (see ``param_value``)."""

    def lookup(ref: Ref) -> str | None:
        pref = param_ref(ref)
        return param_value(pref, values, whole) if pref is not None else None

    return lookup


def spread(item: str, values: Mapping[str, ParamValue], *, bare: bool = False) -> list[str] | None:
    """The elements, when ``item`` is exactly one ``$(params.arr[*])`` of an array param (with ``bare``, the
    older Tekton spelling ``$(params.arr)`` too); None otherwise."""
    refs = list(find_refs(item))
    if len(refs) != 1 or item.strip() != refs[0].text:
        return None
    pref = param_ref(refs[0])
    if pref is None or pref.index is not None or pref.keys or not (pref.star or bare):
        return None
    value = values.get(pref.name)
    return list(value) if isinstance(value, list) else None


def expand_argv(items: Sequence[str], values: Mapping[str, ParamValue], lookup: Lookup, *,
                bare: bool = False) -> tuple[str, ...]:
    """Substitute ``command``/``args``; a whole-item array reference becomes one item per element."""
    out: list[str] = []
    for item in items:
        elements = spread(item, values, bare=bare)
        out.extend(elements if elements is not None else [substitute(item, lookup)])
    return tuple(out)
