"""User-facing errors of the spec layer: every problem carries file, line, field path and a hint.

Validation collects all problems before raising one ``ValidationFailed`` (like Tekton's ``FieldError``).
Nothing here formats stack traces; the CLI prints ``str(problem)`` lines.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

Path = tuple[str | int, ...]


def format_path(path: Path) -> str:
    """``("tasks", "image", "needs", 0)`` -> ``tasks.image.needs[0]``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "<root>"


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None."""
    pool = sorted(candidates)
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not close and len(word) >= 3:
        close = [c for c in pool if c.startswith(word) or word in c][:1]
    return f'did you mean "{close[0]}"?' if close else None


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with an input file."""

    file: str
    line: int | None
    path: str
    message: str
    hint: str | None = field(default=None, compare=False)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where} {self.path}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "path": self.path, "message": self.message,
                "hint": self.hint}


class WishstarError(Exception):
    """Base of every error the CLI reports to the user without a stack trace."""


class ValidationFailed(WishstarError):
    """One or more problems in an input file, reported all at once."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.path, p.message))
        super().__init__("\n".join(str(p) for p in self.problems))


class InputTooLarge(WishstarError):
    """An input over its documented size cap, refused before parsing."""
