"""Extra task catalogs: directories and git repositories of tasks, resolved and pinned once per run.

Where they come from, in search order: the project's own ``.wishstar/tasks/`` (``Library.for_project``),
``--catalog`` flags in order, the ``catalogs`` setting in order, then the built-in library. A git catalog
(``URL`` or ``URL#REF``; in the settings ``{url, ref, path}``) is fetched into a cache under the state
directory, its ref resolved to a commit once, and read from an immutable tree of that commit
(``<state>/catalogs/<key>/trees/<sha>``), so a catalog pushed to after the run started does not change it. The
run records each catalog's commit (``record``), and a run rebuilt later (``from_record``) reads the same commits.

GitPython runs here and in ``pipelines.source`` only; values reach git as argv items, never through a shell,
and a URL's password never appears in a message. This module must not parse task files (``tasks`` does).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import git

from wishstar.engine.spec.errors import WishstarError
from wishstar.pipelines.settings import CatalogSetting, Settings
from wishstar.pipelines.source import git_error_detail, without_password
from wishstar.tasks import Catalog, Library
from wishstar.tasks.catalog import directory_catalog

_SHA = re.compile(r"^[0-9a-f]{40}$")


class CatalogError(WishstarError):
    """A catalog that cannot be used: a missing directory, an unreachable URL or an unknown ref."""


@dataclass(frozen=True)
class CatalogSource:
    """One catalog as written: a directory, or a git URL with an optional ref and subdirectory."""

    location: str
    what: str
    """The flag or setting that named it, for messages: ``--catalog`` or ``catalogs[1] setting``."""
    ref: str | None = None
    path: str | None = None

    @property
    def is_git(self) -> bool:
        return "://" in self.location or self.location.startswith("git@")

    @property
    def shown(self) -> str:
        return without_password(self.location) + (f"#{self.ref}" if self.ref else "")


def from_flag(text: str) -> CatalogSource:
    """``--catalog DIR`` or ``--catalog URL[#REF]``."""
    source = CatalogSource(text, "--catalog")
    if source.is_git and "#" in text:
        url, _, ref = text.rpartition("#")
        return CatalogSource(url, "--catalog", ref or None)
    return source


def from_settings(cfg: Settings) -> list[CatalogSource]:
    out = []
    for i, item in enumerate(cfg.catalogs):
        what = f"catalogs[{i}] setting"
        if isinstance(item, CatalogSetting):
            out.append(CatalogSource(item.url, what, item.ref, item.path))
        else:
            flagged = from_flag(item)
            out.append(CatalogSource(flagged.location, what, flagged.ref))
    return out


def open_library(cfg: Settings, flags: Sequence[str] = (), *, project: Path | None = None) -> Library:
    """The library of a command or run: ``project``'s own tasks, ``--catalog`` flags, the ``catalogs``
    setting, the built-in tasks; git catalogs resolved to their commits now."""
    sources = [from_flag(f) for f in flags] + from_settings(cfg)
    library = Library(catalogs=[resolve(s, cfg.state_dir) for s in sources])
    return library.for_project(project) if project is not None else library


def resolve(source: CatalogSource, state_dir: Path) -> Catalog:
    """The catalog's directory (a git catalog fetched and pinned to a commit)."""
    if not source.is_git:
        try:
            return directory_catalog(source.location, what=f"{source.what} {source.location}")
        except WishstarError as exc:
            raise CatalogError(str(exc)) from None
    return _git_catalog(source, state_dir)


def _git_catalog(source: CatalogSource, state_dir: Path, commit: str | None = None) -> Catalog:
    for value in (source.location, source.ref or ""):
        if value.startswith("-"):
            raise CatalogError(f"{source.what} {source.shown}: must not start with '-'")
    home = state_dir / "catalogs" / hashlib.sha256(source.location.encode()).hexdigest()[:16]
    home.mkdir(parents=True, exist_ok=True)
    with _locked(home / "lock"):
        repo = _bare(home / "repo.git")
        sha = commit if commit is not None and _has(repo, commit) else _fetch(repo, source, commit)
        tree = _tree(repo, sha, home / "trees")
    root = tree / source.path if source.path else tree
    if not root.is_dir():
        raise CatalogError(f"{source.what} {source.shown}: no directory {source.path} in commit {sha[:12]}")
    shown = without_password(source.location)
    return Catalog(root, shown, origin=shown, commit=sha, ref=source.ref, path=source.path, kind="git")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One process at a time fetches a catalog into its cache (runs and replicas share the state directory)."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _bare(path: Path) -> git.Repo:
    if (path / "HEAD").exists():
        return git.Repo(path)
    return git.Repo.init(path, bare=True)


def _has(repo: git.Repo, sha: str) -> bool:
    try:
        repo.git.cat_file("-e", f"{sha}^{{commit}}")
    except git.GitCommandError:
        return False
    return True


def _fetch(repo: git.Repo, source: CatalogSource, commit: str | None) -> str:
    """Fetch the ref (or the recorded commit) and return the commit it names."""
    want = commit or source.ref or "HEAD"
    env = {"GIT_TERMINAL_PROMPT": "0"}
    try:
        repo.git.fetch("--quiet", "--no-tags", "--", source.location, want, env=env)
    except git.GitCommandError as exc:
        if not (_SHA.match(want) or commit):
            raise _fetch_error(source, exc, want) from None
        try:  # some servers refuse a bare sha: fetch every branch and tag, then look the commit up
            repo.git.fetch("--quiet", "--tags", "--", source.location, "+refs/heads/*:refs/catalog/*", env=env)
        except git.GitCommandError as again:
            raise _fetch_error(source, again, want) from None
        if not _has(repo, want):
            raise _fetch_error(source, exc, want) from None
        return want
    return str(repo.rev_parse("FETCH_HEAD^{commit}").hexsha)


def _fetch_error(source: CatalogSource, exc: git.GitCommandError, want: str) -> CatalogError:
    detail = without_password(git_error_detail(exc))
    return CatalogError(f"{source.what} {source.shown}: cannot fetch {want} of the task catalog ({detail}) "
                        "(hint: check the URL, the ref and access to the repository)")


def _tree(repo: git.Repo, sha: str, trees: Path) -> Path:
    """The files of ``sha``, extracted once and never changed afterwards."""
    target = trees / sha
    if target.is_dir():
        return target
    trees.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{sha[:12]}-", dir=trees))
    try:
        with (scratch / ".tar").open("wb") as handle:
            repo.archive(handle, treeish=sha, format="tar")
        with tarfile.open(scratch / ".tar") as archive:
            archive.extractall(scratch / "tree", filter="data")
        os.replace(scratch / "tree", target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def refresh(library: Library, state_dir: Path) -> Library:
    """``library`` with each git catalog resolved again (its ref's commit now): what a long-lived process (a
    server replica) calls once per run. The same library when it has no git catalog."""
    if not any(c.kind == "git" for c in library.catalogs):
        return library
    fresh = [_git_catalog(CatalogSource(c.origin or c.label, "catalogs setting", c.ref, c.path), state_dir)
             if c.kind == "git" else c for c in library.catalogs if c.kind != "builtin"]
    return Library(catalogs=fresh, builtin=any(c.kind == "builtin" for c in library.catalogs))


# -- what a run records ----------------------------------------------------------------------------------

def record(library: Library) -> dict[str, Any]:
    """The catalogs a run read (git ones with their commit) and what each ``uses`` resolved to."""
    catalogs = [{"kind": c.kind, "source": c.label if c.kind == "project" else c.origin, "ref": c.ref,
                 "path": c.path, "commit": c.commit} for c in library.catalogs if c.kind != "builtin"]
    return {"catalogs": catalogs, "tasks": [r.as_dict() for r in library.resolutions()]}


def from_record(recorded: Mapping[str, Any] | None, cfg: Settings, *, project: Path | None = None) -> Library:
    """The library a recorded run read: its git catalogs at their recorded commits (fetched again only if
    the cache lost them), its directories as they are now."""
    if not recorded:
        return open_library(cfg, project=project)
    catalogs: list[Catalog] = []
    for i, item in enumerate(_entries(recorded.get("catalogs"))):
        source = CatalogSource(str(item.get("source")), f"the run's catalogs[{i}]", item.get("ref"),
                               item.get("path"))
        if item.get("kind") == "git" and item.get("commit"):
            catalogs.append(_git_catalog(source, cfg.state_dir, str(item["commit"])))
        elif item.get("kind") == "dir":
            catalogs.append(resolve(source, cfg.state_dir))
    library = Library(catalogs=catalogs)
    return library.for_project(project) if project is not None else library


def _entries(value: object) -> Iterable[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
