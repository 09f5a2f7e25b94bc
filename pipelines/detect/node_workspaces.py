"""npm/yarn/pnpm/bun workspaces: which directories are members, and which root a member belongs to.

Globs are package.json ``workspaces`` (a list, or ``{"packages": [...]}``) and pnpm-workspace.yaml
``packages:``. Supported: exact directories (``apps/web``) and one trailing wildcard level (``apps/*``;
``apps/**`` is read as ``apps/*``, one level); ``!`` exclusions of exact directories. A member is a matching
directory that holds a package.json. The root's package.json, lockfile and workspace file are every member's
build context.

Reads through the ``Tree`` only; bounded: one directory listing per glob.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass

import yaml

from wishstar.pipelines.detect.base import Members
from wishstar.pipelines.detect.evidence import Evidence
from wishstar.pipelines.detect.node_manifest import Manifest, read_manifest
from wishstar.pipelines.detect.tree import Tree, join, norm

ROOT_FILES = ("package.json", "pnpm-lock.yaml", "yarn.lock", "bun.lock", "bun.lockb", "package-lock.json",
              "npm-shrinkwrap.json", "pnpm-workspace.yaml", ".npmrc", ".yarnrc.yml", ".nvmrc", ".node-version")
"""Root files a member's build may need (those present go into its context)."""


@dataclass(frozen=True)
class WorkspaceRoot:
    """The workspace root ``directory`` a member belongs to, its context files and the declaration."""

    directory: str
    context: tuple[str, ...]
    evidence: Evidence


def globs_of(tree: Tree, directory: str) -> tuple[list[str], Evidence] | None:
    """The member globs declared at ``directory`` and where: pnpm-workspace.yaml first, then package.json."""
    pnpm_file = join(directory, "pnpm-workspace.yaml")
    if tree.is_file(pnpm_file):
        try:
            data = yaml.safe_load(tree.text(pnpm_file) or "")
        except yaml.YAMLError:
            data = None
        packages = data.get("packages") if isinstance(data, dict) else None
        if isinstance(packages, list):
            found = tree.find(pnpm_file, r"^packages\s*:", "pnpm-workspace.yaml packages")
            return [str(p) for p in packages], found or Evidence(pnpm_file, None, "pnpm-workspace.yaml packages")
    manifest = read_manifest(tree, directory)
    if not isinstance(manifest, Manifest):
        return None
    declared = manifest.data.get("workspaces")
    if isinstance(declared, dict):
        declared = declared.get("packages")
    if not isinstance(declared, list) or not declared:
        return None
    globs = [str(g) for g in declared if isinstance(g, str)]
    return globs, manifest.evidence("workspaces", None, f"workspaces {', '.join(globs)}")


_memo: tuple[Tree, dict[str, Members | None]] | None = None
"""The last tree's answers: every member of a 50-app monorepo asks for its root's members (read-only trees,
so remembering is safe; one tree at a time, so nothing accumulates)."""


def workspace_members(tree: Tree, directory: str) -> Members | None:
    """The members declared at ``directory`` (sorted, repository-relative), or None when none is declared."""
    global _memo
    if _memo is None or _memo[0] is not tree:
        _memo = (tree, {})
    answers = _memo[1]
    key = norm(directory)
    if key not in answers:
        answers[key] = _declared_members(tree, key)
    return answers[key]


def _declared_members(tree: Tree, directory: str) -> Members | None:
    declared = globs_of(tree, directory)
    if declared is None:
        return None
    globs, evidence = declared
    excluded = {norm(join(directory, g[1:])) for g in globs if g.startswith("!")}
    found: dict[str, None] = {}
    for glob in globs:
        if glob.startswith("!"):
            continue
        for candidate in _expand(tree, directory, glob.strip().rstrip("/")):
            if candidate not in excluded and tree.is_file(join(candidate, "package.json")):
                found[candidate] = None
    paths = tuple(sorted(found))
    return Members(paths, root_context(tree, directory), evidence)


def _expand(tree: Tree, directory: str, glob: str) -> list[str]:
    glob = norm(re.sub(r"/\*\*$", "/*", glob))
    if glob.endswith("/*") or glob == "*":
        parent = join(directory, glob[:-2]) if glob != "*" else directory
        if "*" in parent:
            return []
        return [join(parent, d) for d in tree.dirs(parent)]
    if "*" in glob:
        return []
    return [join(directory, glob)] if tree.is_dir(join(directory, glob)) else []


def root_context(tree: Tree, directory: str) -> tuple[str, ...]:
    return tuple(join(directory, name) for name in ROOT_FILES if tree.is_file(join(directory, name)))


def find_root(tree: Tree, path: str) -> WorkspaceRoot | None:
    """The nearest ancestor of ``path`` whose workspaces include it (None for a root or a non-member)."""
    path = norm(path)
    if path == ".":
        return None
    current = path
    while current != ".":
        current = posixpath.dirname(current) or "."
        members = workspace_members(tree, current)
        if members is not None and path in members.paths:
            rule = f"member of the workspace declared at {members.evidence.file}"
            evidence = Evidence(members.evidence.file, members.evidence.line, rule)
            return WorkspaceRoot(current, members.context, evidence)
    return None
