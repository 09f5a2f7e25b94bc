"""The first stop of the road: the source a run builds, checked out into the run's working directory.

Two kinds: a local path (inside any git work tree) or a git URL at a ref (``wishstar run``), and a remote
commit fetched by id with the project's credentials (the server). Either way the run gets its own checkout
(never the user's work tree), at the exact commit; the pipeline file is read from that checkout, capped in
size. The git context (branch, commit, message, author) comes from the commit or the event and reaches steps
only as environment variables. A token goes to git through ``GIT_CONFIG_*`` environment variables (an
``http.extraHeader``): never in a URL, never in argv.

This is the only module that runs git for a run (import-linter keeps GitPython here); it must not validate,
admit or compile anything (``pipelines.road`` does).
"""

from __future__ import annotations

import base64
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import git

from wishstar.engine.compiler.types import GitContext
from wishstar.engine.spec.errors import InputTooLarge, WishstarError
from wishstar.engine.spec.loader import MAX_FILE_BYTES

_URL_PASSWORD = re.compile(r"(://[^/@:\s]*:)[^/@\s]*@")


class SourceError(WishstarError):
    """The source cannot be checked out (not a repository, unknown ref, clone failure)."""


@dataclass(frozen=True)
class Source:
    """Where a run's code comes from, before anything is cloned."""

    url: str
    """What to clone: a repository path or URL."""
    subdir: str
    """The project's directory inside the repository ('' for the root)."""
    commit: str
    git: GitContext
    dirty: bool = False


def _is_url(source: str) -> bool:
    return "://" in source or source.startswith("git@")


def locate(source: str, ref: str | None) -> Source:
    """Resolve a local path or URL and a ref to an exact commit, without cloning a local repository."""
    if _is_url(source):
        return Source(url=source, subdir="", commit=ref or "HEAD", git=GitContext(url=source, branch=ref))
    path = Path(source).resolve()
    if not path.exists():
        raise SourceError(f"{source}: no such directory (hint: pass a path inside a git repository or a git URL)")
    if not path.is_dir():
        raise SourceError(f"{source}: not a directory (hint: pass the project directory; name a pipeline file "
                          "other than .wishstar.yaml with --file, relative to it)")
    try:
        repo = git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise SourceError(f"{source}: not inside a git repository "
                          "(hint: `git init && git add -A && git commit -m init`, or pass a git URL)") from None
    root = Path(repo.working_tree_dir or path)
    try:
        commit = repo.commit(ref or "HEAD")
    except (git.BadName, ValueError, git.GitCommandError):
        raise SourceError(f'{source}: unknown ref "{ref or "HEAD"}" (hint: a branch, tag or commit of that '
                          "repository; a repository needs at least one commit)") from None
    branch = ref if ref and ref in repo.heads else None
    if ref is None and not repo.head.is_detached:
        branch = repo.active_branch.name
    subdir = str(path.relative_to(root)) if path != root else ""
    if subdir and subdir != "." and not _in_tree(commit, subdir):
        raise SourceError(f"{source}: not in commit {commit.hexsha[:12]} (the run builds committed files; "
                          "hint: `git add` and commit the directory, or pass --ref)")
    ctx = GitContext(url=str(root), branch=branch, commit=commit.hexsha, message=str(commit.message).strip(),
                     author=f"{commit.author.name} <{commit.author.email}>",
                     tag=ref if ref and ref in [t.name for t in repo.tags] else None)
    dirty = repo.is_dirty(untracked_files=False, path=subdir or None)
    return Source(url=str(root), subdir="" if subdir == "." else subdir, commit=commit.hexsha, git=ctx, dirty=dirty)


def _in_tree(commit: git.Commit, subdir: str) -> bool:
    try:
        commit.tree / Path(subdir).as_posix()
    except KeyError:
        return False
    return True


def clone(source: Source, dest: Path) -> Path:
    """Clone ``source`` into ``dest`` at its commit; returns the project directory inside the clone."""
    if dest.exists():
        shutil.rmtree(dest)
    try:
        if _is_url(source.url):
            repo = git.Repo.clone_from(source.url, dest, no_checkout=True)
        else:
            repo = git.Repo.clone_from(source.url, dest, no_checkout=True, shared=True)
        commit = _commit_of(repo, source.commit)
        if commit is None:
            raise SourceError(without_password(f'{source.url}: unknown ref "{source.commit}" (hint: a branch, tag '
                                               "or commit of that repository)"))
        repo.git.checkout("--detach", "--quiet", commit)
    except git.GitCommandError as exc:
        raise SourceError(without_password(f"cannot check out {source.url} at {source.commit}: "
                                           f"{git_error_detail(exc)}")) from None
    return dest / source.subdir if source.subdir else dest


def _commit_of(repo: git.Repo, ref: str) -> str | None:
    """The commit ``ref`` names in a fresh clone: a commit, a tag, a local branch, or a branch of the remote
    (only the default branch is local after cloning a URL)."""
    for candidate in (ref, f"origin/{ref}"):
        try:
            return str(repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}"))
        except git.GitCommandError:
            continue
    return None


def without_password(text: str) -> str:
    """``text`` with the password (or token) of every ``scheme://user:password@`` URL in it replaced by ``***``."""
    return _URL_PASSWORD.sub(r"\1***@", text)


def git_error_detail(exc: git.GitCommandError) -> str:
    """Git's reason (its first ``fatal:`` line, else its last line) from a failed command, without GitPython's
    ``stderr: '...'`` wrapping or git's advice that follows."""
    text = str(exc.stderr or "").strip()
    if text.startswith("stderr:"):
        text = text.removeprefix("stderr:").strip().removeprefix("'").removesuffix("'")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
    return (fatal or lines or [f"git exited with {exc.status}"])[0 if fatal else -1]


def read_capped(path: Path, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """A pipeline or task file's bytes, refusing files over ``limit`` before reading them."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise SourceError(f"{path}: no pipeline file (hint: create .wishstar.yaml at the project root, "
                          "or pass --file)") from None
    if size > limit:
        raise InputTooLarge(f"{path}: {size} bytes is over the {limit}-byte limit for pipeline files "
                            "(hint: move steps into library tasks)")
    try:
        with path.open("rb") as f:
            return f.read(limit + 1)
    except IsADirectoryError:
        raise SourceError(f"{path}: is a directory, not a pipeline file (hint: name the file, or pass "
                          "--file FILE relative to the directory)") from None
    except OSError as exc:
        raise SourceError(f"{path}: cannot read the file ({exc.strerror or exc})") from None


class FetchError(SourceError):
    """The event's commit could not be fetched (unreachable remote, unknown commit, refused credentials)."""


def auth_env(url: str, token: str | None) -> dict[str, str]:
    """Environment for git: never prompt; for HTTP(S) with a token, an ``Authorization`` header set through
    ``GIT_CONFIG_*`` (GitLab accepts ``oauth2:<token>`` as basic credentials)."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true"}
    if token and url.startswith(("http://", "https://")):
        basic = base64.b64encode(f"oauth2:{token}".encode()).decode()
        env.update({"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "http.extraHeader",
                    "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}"})
    return env


def fetch_commit(url: str, sha: str, dest: Path, token: str | None) -> Path:
    """A shallow checkout of exactly ``sha`` into ``dest``; ``FetchError`` with git's last words otherwise."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    repo = git.Repo.init(dest)
    try:
        with repo.git.custom_environment(**auth_env(url, token)):
            repo.git.remote("add", "origin", url)
            try:
                repo.git.fetch("--depth", "1", "--quiet", "origin", sha)
            except git.GitCommandError:  # a server that refuses fetching a commit by id: fetch its refs
                repo.git.fetch("--quiet", "--tags", "origin")
            repo.git.checkout("--detach", "--quiet", sha)
    except git.GitCommandError as exc:
        raise FetchError(f"cannot fetch commit {sha} from {without_password(url)}: "
                         f"{git_error_detail(exc)}") from None
    finally:
        repo.close()
    return dest
