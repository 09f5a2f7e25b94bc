"""The library of reusable tasks that pipeline tasks name with ``uses: NAME`` or ``uses: NAME@VERSION``.

Tasks are Tekton Task files, one per file, in catalogs searched in order: the project's own
``.wishstar/tasks/``, ``--catalog`` directories, the ``catalogs:`` setting, then the built-in library
(``tasks/library/<name>/<version>/<name>.yaml``, the Tekton catalog's layout). ``uses: NAME`` takes the newest
version in the first catalog that has the name; ``uses: NAME@VERSION`` the first catalog that has that version.
Every resolution is remembered, so a run can record which file each ``uses`` became.

Listing reads directory listings only (``tasks.index``); each file is parsed on first use and cached. This
layer reads files and nothing else: fetching git catalogs is ``pipelines.catalogs``'s job, checking ``with:``
values and building steps the pure ``engine.compiler.library``'s. A bad file is reported with its path and
line, like a bad pipeline file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from wishstar.engine.compiler.build import Expander, UsesExpansion
from wishstar.engine.compiler.library import expand_library_task, uses_expansion, with_issues
from wishstar.engine.spec.errors import Problem, ValidationFailed, WishstarError, did_you_mean
from wishstar.engine.spec.loader import YamlDocument, load_yaml
from wishstar.engine.spec.model import ParamValue, Task
from wishstar.engine.spec.tekton import TektonTask, parse_task
from wishstar.engine.spec.uses import newest_first, parse_uses
from wishstar.engine.spec.validate import UsesInfo, UsesMissing
from wishstar.tasks.index import FLAT_VERSION, SUFFIX, VERSION_LABEL, Catalog, Entries, scan

__all__ = ["Catalog", "Library", "LibraryDirectoryMissing", "Resolved", "UnknownTask", "UnknownVersion"]

PROJECT_DIR = Path(".wishstar") / "tasks"
"""A project's own tasks, relative to its directory (searched before every other catalog)."""


class UnknownTask(WishstarError):
    """``uses:`` names a task that no catalog holds."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        known = sorted(known)
        self.name = name
        self.hint = did_you_mean(name, known) or ("library tasks: " + ", ".join(known) if known
                                                  else "the library is empty")
        super().__init__(f'unknown library task "{name}" ({self.hint})')


class UnknownVersion(WishstarError):
    """``uses: NAME@VERSION`` names a version no catalog holds; the message names those that exist."""

    def __init__(self, name: str, version: str, known: list[tuple[str, Catalog]]) -> None:
        versions = newest_first(v for v, _ in known)
        self.name, self.version = name, version
        self.message = f'library task "{name}" has no version "{version}"'
        where = ", ".join(f"{v} ({c.describe()})" for v, c in known)
        close = did_you_mean(version, versions)
        self.hint = (f"{close + ' ' if close else ''}versions: {where}; `uses: {name}` takes the newest, "
                     f"{versions[0]}" if versions else None)
        super().__init__(f"{self.message} ({self.hint})")


class LibraryDirectoryMissing(WishstarError):
    """An extra library directory that does not exist (a typo in a flag or setting, most likely)."""


@dataclass(frozen=True)
class Resolved:
    """What one ``uses:`` became: the task, its version, its file and the catalog it came from."""

    uses: str
    name: str
    version: str
    file: str
    """The file as messages and records show it (inside a project or git catalog: relative to it)."""
    catalog: Catalog
    entry: Traversable
    """The file itself (to read it)."""

    def as_dict(self) -> dict[str, Any]:
        return {"uses": self.uses, "task": f"{self.name}@{self.version}", "file": self.file,
                "catalog": self.catalog.label, "commit": self.catalog.commit}


def _builtin_dir() -> Traversable:
    return resources.files("wishstar.tasks").joinpath("library")


def builtin_catalog() -> Catalog:
    return Catalog(_builtin_dir(), "built-in", kind="builtin")


def directory_catalog(directory: str | os.PathLike[str], *, what: str | None = None, kind: str = "dir") -> Catalog:
    """A plain directory of tasks; ``LibraryDirectoryMissing`` naming ``what`` (the flag or setting) if absent."""
    path = Path(directory).expanduser()
    if not path.is_dir():
        raise LibraryDirectoryMissing(f"{what + ': ' if what else ''}task catalog directory {path} does not exist "
                                      f"(hint: check the path{' given to ' + what if what else ''})")
    return Catalog(path, str(path), origin=str(path.resolve()), kind=kind)  # recorded: the same from any cwd


class Library:
    """Task files by name and version, from catalogs searched in order (extra directories, then built-in)."""

    def __init__(self, extra_dirs: Iterable[str | os.PathLike[str]] = (), *, builtin: bool = True,
                 catalogs: Iterable[Catalog] = ()) -> None:
        self._catalogs = [*catalogs, *(directory_catalog(d) for d in extra_dirs)]
        if builtin:
            self._catalogs.append(builtin_catalog())
        self._scans: dict[int, dict[str, Entries]] = {}
        self._parsed: dict[str, TektonTask] = {}
        self._flat_versions: dict[str, str] = {}
        self._resolved: dict[str, Resolved] = {}

    @property
    def catalogs(self) -> tuple[Catalog, ...]:
        """The catalogs in search order."""
        return tuple(self._catalogs)

    def for_project(self, project_dir: Path) -> Library:
        """A library for one run of the project: its own ``.wishstar/tasks/`` searched first (when it exists),
        then these catalogs. Its resolutions are the run's alone; it starts from this library's parsed files
        but adds nothing to them (a server's library outlives every checkout)."""
        own = project_dir / PROJECT_DIR
        first = [Catalog(own, str(PROJECT_DIR), origin=str(own), kind="project")] if own.is_dir() else []
        library = Library(builtin=False, catalogs=[*first, *self._catalogs])
        library._parsed, library._flat_versions = dict(self._parsed), dict(self._flat_versions)
        return library

    # -- listing -----------------------------------------------------------------------------------------

    def _scan(self, index: int) -> dict[str, Entries]:
        if index not in self._scans:
            self._scans[index] = scan(self._catalogs[index].root)
        return self._scans[index]

    def names(self) -> list[str]:
        """Every task name, sorted; reads directory listings only."""
        return sorted({name for i in range(len(self._catalogs)) for name in self._scan(i)})

    def __contains__(self, uses: object) -> bool:
        return isinstance(uses, str) and any(parse_uses(uses).name in self._scan(i)
                                             for i in range(len(self._catalogs)))

    def _versions_in(self, index: int, name: str) -> dict[str, Traversable]:
        entries = self._scan(index).get(name)
        if entries is None:
            return {}
        found = dict(entries.versioned)
        if entries.flat is not None:
            found.setdefault(self._flat_version(index, entries.flat, name), entries.flat)
        return found

    def _flat_version(self, index: int, entry: Traversable, name: str) -> str:
        key = str(entry)
        if key not in self._flat_versions:
            task = self.get_file(entry, name, None, shown(self._catalogs[index], entry))
            self._flat_versions[key] = task.metadata.labels.get(VERSION_LABEL, FLAT_VERSION)
        return self._flat_versions[key]

    def versions(self, name: str) -> list[tuple[str, Catalog]]:
        """Every (version, catalog) of ``name``: catalogs in search order, each newest first."""
        out: list[tuple[str, Catalog]] = []
        for i, catalog in enumerate(self._catalogs):
            found = self._versions_in(i, name)
            out += [(v, catalog) for v in newest_first(found)]
        return out

    # -- resolving -----------------------------------------------------------------------------------------

    def resolve(self, uses: str) -> Resolved:
        """The file ``uses`` names: ``UnknownTask`` or ``UnknownVersion`` (with what exists) when none."""
        if uses in self._resolved:
            return self._resolved[uses]
        ref = parse_uses(uses)
        holders = [i for i in range(len(self._catalogs)) if ref.name in self._scan(i)]
        if not holders:
            raise UnknownTask(ref.name, self.names())
        picked: tuple[int, str, Traversable] | None = None
        for i in holders if ref.version is not None else holders[:1]:
            found = self._versions_in(i, ref.name)
            version = ref.version if ref.version is not None else newest_first(found)[0]
            if version in found:
                picked = (i, version, found[version])
                break
        if picked is None:
            raise UnknownVersion(ref.name, str(ref.version), self.versions(ref.name))
        index, version, entry = picked
        catalog = self._catalogs[index]
        resolved = Resolved(uses, ref.name, version, shown(catalog, entry), catalog, entry)
        self.get_file(entry, ref.name, self._dir_version(index, ref.name, entry), resolved.file)
        self._resolved[uses] = resolved
        return resolved

    def _dir_version(self, index: int, name: str, entry: Traversable) -> str | None:
        entries = self._scan(index)[name]
        return next((v for v, e in entries.versioned.items() if e is entry), None)

    def resolutions(self) -> list[Resolved]:
        """Every ``uses`` resolved so far, in order (what a run records and ``wishstar plan`` shows)."""
        return list(self._resolved.values())

    def source(self, uses: str) -> str:
        """The file that defines ``uses`` (for messages)."""
        return self.resolve(uses).file

    def get(self, uses: str) -> TektonTask:
        """The parsed task; ``UnknownTask``/``UnknownVersion`` name what exists, ``ValidationFailed`` a bad
        file's lines."""
        resolved = self.resolve(uses)
        return self._parsed[str(resolved.entry)]

    # -- reading files ---------------------------------------------------------------------------------------

    def get_file(self, entry: Traversable, name: str, dir_version: str | None, file: str) -> TektonTask:
        """A task file parsed and checked against where it lives (name, version label), cached; ``file``
        names it in messages."""
        key = str(entry)
        if key not in self._parsed:
            doc, task = _read(entry, file)
            problems = _identity_problems(doc, task, name, dir_version)
            if problems:
                raise ValidationFailed(problems)
            self._parsed[key] = task
        return self._parsed[key]

    def check(self) -> list[Problem]:
        """Every problem of every task file of every catalog, shadowed ones too (for linting a library): bad
        files, names and version labels that disagree with where the file is, and a missing description."""
        problems: list[Problem] = []
        for i, catalog in enumerate(self._catalogs):
            for name, entries in self._scan(i).items():
                files: list[tuple[Traversable, str | None]] = [(e, v) for v, e in entries.versioned.items()]
                files += [(entries.flat, None)] if entries.flat is not None else []
                for entry, dir_version in files:
                    problems += _file_problems(entry, name, dir_version, shown(catalog, entry))
        return problems

    # -- what validation and the compiler need -----------------------------------------------------------

    def uses_info(self, task: Task) -> UsesInfo | UsesMissing | None:
        """What pipeline validation needs of ``task.uses``: None when no catalog has the name, ``UsesMissing``
        when none has the version; a bad library file raises ``ValidationFailed``."""
        if task.uses is None or task.uses not in self:
            return None
        try:
            tekton = self.get(task.uses)
        except UnknownVersion as exc:
            return UsesMissing(exc.message, exc.hint)
        given: dict[str, ParamValue] = dict(task.with_)
        for key, values in task.matrix.items():  # matrix values are params of each instance
            given.setdefault(key, values[0] if values else "")
        _, issues = with_issues(tekton, given)
        return UsesInfo(results=tuple(r.name for r in tekton.spec.results),
                        workspaces=tuple((w.name, w.optional) for w in tekton.spec.workspaces),
                        params=tuple(p.name for p in tekton.spec.params),
                        problems=tuple((("with", *path), message, hint) for path, message, hint in issues))

    def expander(self) -> Expander:
        """The compiler's hook: (``uses``, with values) -> steps, results, workspaces and notes."""

        def expand(uses: str, with_: Mapping[str, ParamValue]) -> UsesExpansion:
            return uses_expansion(expand_library_task(self.get(uses), with_, file=self.source(uses)))

        return expand


def shown(catalog: Catalog, entry: Traversable) -> str:
    """How messages name a task file: inside the project or a git catalog relative to it (a checkout or a
    cache directory means nothing to the reader), elsewhere its path."""
    if catalog.kind not in ("project", "git") or not isinstance(entry, Path) or not isinstance(catalog.root, Path):
        return str(entry)
    rel = entry.relative_to(catalog.root).as_posix()
    if catalog.kind == "project":
        return f"{PROJECT_DIR.as_posix()}/{rel}"
    inside = f"{catalog.path.strip('/')}/{rel}" if catalog.path else rel
    return f"{catalog.describe()}:{inside}"


def _read(entry: Traversable, file: str) -> tuple[YamlDocument, TektonTask]:
    doc = load_yaml(entry.read_text(encoding="utf-8"), file)
    return doc, parse_task(doc)


def _identity_problems(doc: YamlDocument, task: TektonTask, name: str, dir_version: str | None) -> list[Problem]:
    """The task's name must be its file's; a versioned file's label, when present, its directory's."""
    problems = []
    if task.name != name:
        problems.append(doc.problem(("metadata", "name"), f'the task in {name}{SUFFIX} is named "{task.name}"',
                                    f'name it "{name}" or rename the file'))
    label = task.metadata.labels.get(VERSION_LABEL)
    if dir_version is not None and label is not None and label != dir_version:
        problems.append(doc.problem(
            ("metadata", "labels", VERSION_LABEL),
            f'the version label says "{label}" but the file is in the directory of version "{dir_version}"',
            f'set {VERSION_LABEL}: "{dir_version}", or move the file to {name}/{label}/{name}{SUFFIX}'))
    return problems


def _file_problems(entry: Traversable, name: str, dir_version: str | None, file: str) -> list[Problem]:
    try:
        doc, task = _read(entry, file)
    except ValidationFailed as exc:
        return list(exc.problems)
    problems = _identity_problems(doc, task, name, dir_version)
    if not (task.spec.description or "").strip():
        problems.append(doc.problem(("spec",), "a library task needs a description",
                                    "add `description:` under spec: one line on what the task does "
                                    "(`wishstar tasks list` shows it)"))
    return problems
