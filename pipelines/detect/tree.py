"""A bounded, read-only view of a repository for the detectors.

Detection must answer in milliseconds on a repository of 10,000 files, so nothing here walks the whole tree:
directories are listed one at a time on demand (and cached), file reads are capped, and the walks the
detectors may ask for stop at a depth and skip the directories that hold dependencies or build output
(``node_modules``, ``.git``, ``vendor``, ``target``, ``build``, ...). Detectors see repository-relative
``/``-separated paths only, so the evidence they produce never names a temporary checkout directory.

Reads files and lists directories; must not run programs (``Probe`` answers "is this tool on PATH").
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from wishstar.pipelines.detect.evidence import Evidence

SKIP_DIRS = frozenset({
    ".git", ".hg", ".svn", "node_modules", "vendor", "target", "build", "dist", "out", ".venv", "venv",
    "__pycache__", ".gradle", ".idea", ".vscode", ".next", ".nuxt", ".svelte-kit", ".output", "coverage",
    ".tox", ".mypy_cache", ".pytest_cache", "bin", "obj", ".terraform", ".cache",
})
"""Directory names never entered: dependencies, build output, editor and VCS state."""

READ_CAP = 512 * 1024
"""Bytes read from any one file: manifests are small; a larger file is read up to here."""


@dataclass(frozen=True)
class Entry:
    name: str
    is_dir: bool


@dataclass
class Tree:
    """The repository at ``root``. ``which``: whether a program is on PATH (injected so tests decide)."""

    root: Path
    which: Callable[[str], bool] = field(default=lambda name: shutil.which(name) is not None)
    _listings: dict[str, tuple[Entry, ...]] = field(default_factory=dict, repr=False)
    _texts: dict[str, str | None] = field(default_factory=dict, repr=False)

    def listing(self, rel: str = ".") -> tuple[Entry, ...]:
        """The entries of directory ``rel`` sorted by name (empty when it is not a directory); symlinked
        directories are not entered (they may point outside the repository)."""
        rel = norm(rel)
        if rel not in self._listings:
            entries: list[Entry] = []
            try:
                with os.scandir(self._abs(rel)) as it:
                    for item in it:
                        try:
                            is_dir = item.is_dir(follow_symlinks=False)
                        except OSError:
                            continue
                        entries.append(Entry(item.name, is_dir))
            except OSError:
                pass
            self._listings[rel] = tuple(sorted(entries, key=lambda e: e.name))
        return self._listings[rel]

    def files(self, rel: str = ".") -> list[str]:
        """Names of the files in directory ``rel``."""
        return [e.name for e in self.listing(rel) if not e.is_dir]

    def dirs(self, rel: str = ".") -> list[str]:
        """Names of the subdirectories of ``rel`` worth entering (not in ``SKIP_DIRS``, not hidden)."""
        return [e.name for e in self.listing(rel) if e.is_dir and e.name not in SKIP_DIRS
                and not e.name.startswith(".")]

    def is_file(self, rel: str) -> bool:
        parent, _, name = norm(rel).rpartition("/")
        return any(e.name == name and not e.is_dir for e in self.listing(parent or "."))

    def is_dir(self, rel: str) -> bool:
        parent, _, name = norm(rel).rpartition("/")
        return any(e.name == name and e.is_dir for e in self.listing(parent or "."))

    def text(self, rel: str) -> str | None:
        """The file's text (first ``READ_CAP`` bytes, undecodable bytes replaced), None when it cannot be
        read."""
        rel = norm(rel)
        if rel not in self._texts:
            try:
                with open(self._abs(rel), "rb") as fh:
                    self._texts[rel] = fh.read(READ_CAP).decode("utf-8", errors="replace")
            except OSError:
                self._texts[rel] = None
        return self._texts[rel]

    def walk(self, rel: str = ".", depth: int = 2) -> Iterator[str]:
        """Repository-relative paths of the files under ``rel``, at most ``depth`` directories down, skipping
        ``SKIP_DIRS`` and hidden directories; breadth first, sorted."""
        level = [norm(rel)]
        for current_depth in range(depth + 1):
            below: list[str] = []
            for directory in level:
                for name in self.files(directory):
                    yield join(directory, name)
                if current_depth < depth:
                    below.extend(join(directory, d) for d in self.dirs(directory))
            level = below

    def find(self, rel: str, pattern: str | re.Pattern[str], rule: str, *,
             flags: int = re.MULTILINE) -> Evidence | None:
        """Evidence of the first match of ``pattern`` in file ``rel``, with its line; None when no match."""
        text = self.text(rel)
        if text is None:
            return None
        match = re.search(pattern, text, flags) if isinstance(pattern, str) else pattern.search(text)
        if match is None:
            return None
        return Evidence(norm(rel), line_of(text, match.start()), rule)

    def _abs(self, rel: str) -> Path:
        return self.root if rel == "." else self.root / rel


def norm(rel: str) -> str:
    """``.`` for the root, else the path without leading ``./`` or trailing ``/``."""
    rel = rel.replace(os.sep, "/").strip("/")
    while rel.startswith("./"):
        rel = rel[2:]
    return rel or "."


def join(directory: str, name: str) -> str:
    """``directory/name`` with the root written ``.`` dropped."""
    return name if norm(directory) == "." else f"{norm(directory)}/{name}"


def line_of(text: str, offset: int) -> int:
    """The 1-based line of character ``offset`` in ``text``."""
    return text.count("\n", 0, offset) + 1
