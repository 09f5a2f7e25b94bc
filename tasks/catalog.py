"""The library of reusable tasks that pipeline tasks name with ``uses:``, written in the Tekton Task schema.

Built-in tasks ship as package data in ``tasks/library/*.yaml``; a project may add directories of its own,
searched first. The file ``NAME.yaml`` holds the task ``NAME``, so listing names reads no file; each file is
parsed on first use and cached, which keeps startup fast however large the library grows.

This layer reads files and nothing else: checking ``with:`` values and building steps is the pure job of
``engine.compiler.library``. A bad file is reported with its path and line, like a bad pipeline file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path

from wishstar.engine.compiler.build import Expander, UsesExpansion
from wishstar.engine.compiler.library import expand_library_task, with_issues
from wishstar.engine.spec.errors import Problem, ValidationFailed, WishstarError, did_you_mean
from wishstar.engine.spec.loader import load_yaml
from wishstar.engine.spec.model import ParamValue, Task
from wishstar.engine.spec.tekton import TektonTask, parse_task
from wishstar.engine.spec.validate import UsesInfo

__all__ = ["Library", "LibraryDirectoryMissing", "UnknownTask"]

SUFFIX = ".yaml"


class UnknownTask(WishstarError):
    """``uses:`` names a task that no library directory holds."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        self.name = name
        hint = did_you_mean(name, known) or ("library tasks: " + ", ".join(known) if known else "the library "
                                             "is empty")
        super().__init__(f'unknown library task "{name}" ({hint})')


class LibraryDirectoryMissing(WishstarError):
    """An extra library directory that does not exist (a typo in a flag or setting, most likely)."""


@dataclass(frozen=True)
class _Source:
    label: str
    entry: Traversable


def _builtin_dir() -> Traversable:
    return resources.files("wishstar.tasks").joinpath("library")


class Library:
    """Task files by name: extra directories first (in the order given), then the built-in ones."""

    def __init__(self, extra_dirs: Iterable[str | os.PathLike[str]] = (), *, builtin: bool = True) -> None:
        self._dirs: list[Traversable] = []
        for directory in extra_dirs:
            path = Path(directory)
            if not path.is_dir():
                raise LibraryDirectoryMissing(f"task library directory {path} does not exist "
                                              "(hint: check the path given for extra library tasks)")
            self._dirs.append(path)
        if builtin:
            self._dirs.append(_builtin_dir())
        self._sources: dict[str, _Source] | None = None
        self._parsed: dict[str, TektonTask] = {}

    def _index(self) -> dict[str, _Source]:
        if self._sources is None:
            sources: dict[str, _Source] = {}
            for directory in self._dirs:
                for entry in sorted(directory.iterdir(), key=lambda e: e.name):
                    name = entry.name.removesuffix(SUFFIX)
                    if entry.name.endswith(SUFFIX) and entry.is_file() and name not in sources:
                        sources[name] = _Source(str(entry), entry)
            self._sources = sources
        return self._sources

    def names(self) -> list[str]:
        """Every task name, sorted; reads directory listings only."""
        return sorted(self._index())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._index()

    def source(self, name: str) -> str:
        """The file that defines ``name`` (for messages)."""
        return self._entry(name).label

    def get(self, name: str) -> TektonTask:
        """The parsed task; ``UnknownTask`` names close matches, ``ValidationFailed`` a bad file's lines."""
        if name not in self._parsed:
            self._parsed[name] = self._load(name)
        return self._parsed[name]

    def check(self) -> list[Problem]:
        """Every problem of every task file (for linting the library itself)."""
        problems: list[Problem] = []
        for name in self.names():
            try:
                self.get(name)
            except ValidationFailed as exc:
                problems.extend(exc.problems)
        return problems

    def uses_info(self, task: Task) -> UsesInfo | None:
        """What pipeline validation needs of ``task.uses`` (None when the library has no such task; a bad
        library file raises ``ValidationFailed``)."""
        if task.uses is None or task.uses not in self:
            return None
        tekton = self.get(task.uses)
        given: dict[str, ParamValue] = dict(task.with_)
        for key, values in task.matrix.items():  # matrix values are params of each instance
            given.setdefault(key, values[0] if values else "")
        _, issues = with_issues(tekton, given)
        return UsesInfo(results=tuple(r.name for r in tekton.spec.results),
                        workspaces=tuple((w.name, w.optional) for w in tekton.spec.workspaces),
                        params=tuple(p.name for p in tekton.spec.params),
                        problems=tuple((("with", *path), message, hint) for path, message, hint in issues))

    def expander(self) -> Expander:
        """The compiler's hook: (task name, with values) -> steps, results, workspaces and notes."""

        def expand(name: str, with_: Mapping[str, ParamValue]) -> UsesExpansion:
            expansion = expand_library_task(self.get(name), with_, file=self.source(name))
            return UsesExpansion(
                steps=expansion.steps, results=expansion.results, notes=expansion.notes,
                workspaces=tuple((w.name, w.optional, w.read_only, w.mount_path)
                                 for w in expansion.workspaces))

        return expand

    def _entry(self, name: str) -> _Source:
        source = self._index().get(name)
        if source is None:
            raise UnknownTask(name, self._index())
        return source

    def _load(self, name: str) -> TektonTask:
        source = self._entry(name)
        loaded = load_yaml(source.entry.read_text(encoding="utf-8"), source.label)
        task = parse_task(loaded)
        if task.name != name:
            message = f'the task in {name}{SUFFIX} is named "{task.name}"'
            hint = f'name it "{name}" or rename the file'
            raise ValidationFailed([loaded.problem(("metadata", "name"), message, hint)])
        return task
