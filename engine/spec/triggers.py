"""Does a git event start a pipeline? The ``on:`` rules as a pure function, shared by ``wishstar run --event``
and the server. Globs: ``*`` matches within one path segment, ``**`` across segments."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from wishstar.engine.spec.model import Triggers


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            if pattern.startswith("**/", i):
                out += "(?:.*/)?"
                i += 3
            else:
                out += ".*"
                i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(f"^{out}$")


def glob_match(pattern: str, value: str) -> bool:
    return bool(_glob(pattern).match(value))


def _any(patterns: Sequence[str], value: str) -> bool:
    return not patterns or any(glob_match(p, value) for p in patterns)


@dataclass(frozen=True)
class Verdict:
    run: bool
    reason: str


def _paths(paths: Sequence[str], ignore: Sequence[str], changed: Sequence[str] | None) -> Verdict | None:
    if changed is None or not (paths or ignore):
        return None
    relevant = [p for p in changed if not any(glob_match(i, p) for i in ignore)]
    if not any(_any(paths, p) for p in relevant):
        return Verdict(False, f"no changed path matches on.*.paths {list(paths)}")
    return None


def should_run(triggers: Triggers | None, event: str, *, branch: str | None = None, tag: str | None = None,
               target_branch: str | None = None, changed: Sequence[str] | None = None) -> Verdict:
    """Whether the event starts the pipeline, and why (or why not). ``changed`` None: paths unknown."""
    if event == "manual" or triggers is None:
        return Verdict(True, "started by hand" if event == "manual" else "the pipeline has no `on:` rules")
    if event == "push":
        rule = triggers.push
        if rule is None:
            return Verdict(False, "the pipeline has no on.push rule")
        if not _any(rule.branches, branch or ""):
            return Verdict(False, f'branch "{branch}" matches none of on.push.branches {rule.branches}')
        return _paths(rule.paths, rule.paths_ignore, changed) or Verdict(True, "on.push matches")
    if event == "tag":
        if triggers.tag is None:
            return Verdict(False, "the pipeline has no on.tag rule")
        if not _any(triggers.tag.names, tag or ""):
            return Verdict(False, f'tag "{tag}" matches none of on.tag.names {triggers.tag.names}')
        return Verdict(True, "on.tag matches")
    if event == "merge_request":
        mr = triggers.merge_request
        if mr is None:
            return Verdict(False, "the pipeline has no on.merge_request rule")
        if not _any(mr.target_branches, target_branch or ""):
            return Verdict(False, f'target branch "{target_branch}" matches none of {mr.target_branches}')
        return _paths(mr.paths, (), changed) or Verdict(True, "on.merge_request matches")
    return Verdict(False, f'unknown event "{event}"')
