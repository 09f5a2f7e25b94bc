"""What an ecosystem's detector provides, so the repository walk (``detect.repo``) treats them all alike.

One module per ecosystem (``java``, ``node``, ``python``, ``go``, ``dotnet``, ``container``) builds one
``Detector``; ``detect.registry`` lists them in the order conflicts are settled. A detector reads only
through the ``Tree`` it is given, and never raises for a malformed manifest: a file it cannot parse is a near
miss, not a crash.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from wishstar.pipelines.detect.evidence import Candidate, Evidence, NearMiss
from wishstar.pipelines.detect.tree import Tree


@dataclass(frozen=True)
class Members:
    """A multi-app layout declared at ``path`` (npm/pnpm/yarn workspaces, a Maven reactor, ``go.work``,
    Gradle ``include``s): the member directories (repository-relative), the root files each member's build
    needs (``context``), and the evidence of the declaration."""

    paths: tuple[str, ...]
    context: tuple[str, ...]
    evidence: Evidence


@dataclass(frozen=True)
class Detector:
    """``detect(tree, path)``: the candidates for the directory ``path`` (usually none or one; several when
    one ecosystem sees two build tools). ``near_misses``: what almost matched. ``members``: the multi-app
    layout declared at ``path``, if any. ``looked_for``: one line for the "nothing matched" message."""

    language: str
    looked_for: str
    detect: Callable[[Tree, str], list[Candidate]]
    near_misses: Callable[[Tree, str], list[NearMiss]] = lambda tree, path: []
    members: Callable[[Tree, str], Members | None] = lambda tree, path: None
