"""CEL for ``when:`` conditions, through the maintained ``common-expression-language`` library.

Pure: compiling checks syntax and which root variables an expression reads; evaluating needs the activation to be
handed in. The variables a condition may read are fixed here so validation and evaluation agree.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

VARIABLES = ("git", "event", "params", "tasks", "context")
"""Root names a ``when:`` expression may use."""


class CelError(ValueError):
    """An expression that does not compile, reads an unknown variable, or does not evaluate to a bool."""


@lru_cache(maxsize=4096)
def _compiled(expression: str) -> Any:
    import cel  # imported on first use: the package also loads its REPL (prompt_toolkit), ~50 ms

    try:
        return cel.compile(expression)
    except ValueError as exc:
        found = re.search(r"ERROR: <input>:(\d+):(\d+): (.*?)(?: expecting .*)?$", str(exc), re.MULTILINE)
        if found:
            raise CelError(f"column {found.group(2)}: {found.group(3)}") from None
        raise CelError(str(exc).split("\n", 1)[0]) from None


def check(expression: str) -> list[str]:
    """Problems with an expression, empty when it compiles and only reads known variables."""
    try:
        program = _compiled(expression)
    except CelError as exc:
        return [str(exc)]
    unknown = sorted(set(program.variables()) - set(VARIABLES))
    return [f'unknown variable "{name}" (a condition can read {", ".join(VARIABLES)})' for name in unknown]


def evaluate(expression: str, activation: Mapping[str, Any]) -> bool:
    """Evaluate to a bool; a missing field, a type error or a non-bool result is a ``CelError``."""
    program = _compiled(expression)
    try:
        value = program.execute(dict(activation))
    except (RuntimeError, TypeError, ValueError, KeyError) as exc:
        raise CelError(str(exc).split(". ", 1)[0]) from None
    if not isinstance(value, bool):
        raise CelError(f"the condition gave {type(value).__name__} {value!r}, not a bool")
    return value
