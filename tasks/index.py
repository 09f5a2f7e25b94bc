"""One catalog directory of task files, indexed by name and version from directory listings alone.

Two layouts, as the Tekton catalog and small team libraries have them:

    <root>/<name>/<version>/<name>.yaml     the version is the directory's name ("1", "0.2", "0.10")
    <root>/<name>.yaml                      flat: the version is the file's ``app.kubernetes.io/version`` label,
                                            else "0"

Listing names and directory versions reads no file; a flat file is read (once) only when its version is
asked for. Parsing and checking task files is ``tasks.catalog``'s job; this module must not parse YAML.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.resources.abc import Traversable
from pathlib import Path

from wishstar.engine.spec.uses import is_version

SUFFIX = ".yaml"
VERSION_LABEL = "app.kubernetes.io/version"
FLAT_VERSION = "0"
"""The version of a flat file without a version label."""


@dataclass(frozen=True)
class Catalog:
    """A directory of tasks, where it came from and (for a git catalog) the commit it was read at."""

    root: Traversable
    label: str
    """How messages and ``wishstar tasks list`` name it: "built-in", "project", a path or a URL."""
    origin: str | None = None
    """What the user wrote (a path or a git URL); None for the built-in library."""
    commit: str | None = None
    """A git catalog's commit (resolved once when the run started); None for a plain directory."""
    ref: str | None = None
    """The branch, tag or commit asked for (git catalogs)."""
    path: str | None = None
    """The tasks' directory inside a git catalog's repository (None: its root)."""
    kind: str = "dir"
    """"builtin", "project", "dir" or "git"."""

    def describe(self) -> str:
        """The label, with the commit of a git catalog."""
        return f"{self.label}@{self.commit[:12]}" if self.commit else self.label


@dataclass
class Entries:
    """The files of one task name in one catalog: versioned directories and, perhaps, a flat file."""

    versioned: dict[str, Traversable] = field(default_factory=dict)
    flat: Traversable | None = None


def scan(root: Traversable) -> dict[str, Entries]:
    """Name -> its files, from listings of ``root`` and of each ``<name>/`` directory."""
    if isinstance(root, Path):
        return _scan_path(root)
    found: dict[str, Entries] = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        if entry.name.endswith(SUFFIX) and entry.is_file():
            found.setdefault(entry.name.removesuffix(SUFFIX), Entries()).flat = entry
        elif entry.is_dir():
            versions = {sub.name: sub.joinpath(entry.name + SUFFIX) for sub in entry.iterdir()
                        if is_version(sub.name) and sub.is_dir()}
            versions = {v: f for v, f in versions.items() if f.is_file()}
            if versions:
                found.setdefault(entry.name, Entries()).versioned.update(versions)
    return found


def _scan_path(root: Path) -> dict[str, Entries]:
    """``scan`` for a directory on disk: ``os.scandir`` knows each entry's type without a stat, so a catalog
    of a thousand tasks lists in milliseconds (one stat per version directory, for its file)."""
    found: dict[str, Entries] = {}
    with os.scandir(root) as entries:
        listed = sorted((e for e in entries if not e.name.startswith(".")), key=lambda e: e.name)
    for entry in listed:
        if entry.name.endswith(SUFFIX) and entry.is_file():
            found.setdefault(entry.name.removesuffix(SUFFIX), Entries()).flat = root / entry.name
        elif entry.is_dir():
            with os.scandir(entry.path) as subs:
                versions = [s.name for s in subs if is_version(s.name) and s.is_dir()]
            files = {v: os.path.join(entry.path, v, entry.name + SUFFIX) for v in versions}
            kept: dict[str, Traversable] = {v: Path(f) for v, f in files.items() if os.path.isfile(f)}
            if kept:
                found.setdefault(entry.name, Entries()).versioned.update(kept)
    return found
