"""The repository walk: which directories are apps, and which candidate wins in each.

Every ecosystem's detector examines a directory; this module decides which directories to ask about and
settles disagreements between detectors, by rules written once and documented in docs/detection.md:

- **Apps.** A multi-app layout declared at the root (npm/pnpm/yarn workspaces, a Maven reactor, ``go.work``,
  Gradle ``include``s) makes its members the apps. Otherwise the root is the app when a language matches
  there. Otherwise each top-level directory (or, when it matches nothing, each of its subdirectories: an
  ``apps/web`` layout) that matches a language or holds a Dockerfile is an app. Only when none is found do a
  root Dockerfile ("only a Dockerfile") and then a static site count.
- **Conflicts** (two detectors match one directory, ``package.json`` and ``requirements.txt``): the higher
  confidence wins; on equal confidence the language order ``LANGUAGE_ORDER`` decides (a ``package.json``
  next to a backend's manifest is most often that backend's front-end tooling). A detector's own ranking
  (``pnpm-lock.yaml`` over a stray ``package-lock.json``) comes with the detector's rule.
- A Dockerfile next to a language manifest is not a conflict: the app keeps its Dockerfile.

Reads only through ``Tree`` (bounded listing, capped reads); never runs programs, never writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from wishstar.pipelines.detect.base import Detector, Members
from wishstar.pipelines.detect.evidence import CONFIDENCES, App, Candidate, Detection, NearMiss
from wishstar.pipelines.detect.tree import Tree, join

LANGUAGE_ORDER = ("java", "kotlin", "dotnet", "go", "python", "typescript", "javascript")
"""Tie-break between ecosystems on equal confidence, first wins."""
FALLBACK_BUILDS = ("docker", "static")
"""Builds that count only where no language matched (a Dockerfile is kept, an index.html is not an app)."""
MAX_APPS = 200
FOUND_SHOWN = 40


class TooManyApps(ValueError):
    """More apps than ``MAX_APPS``: detection stops rather than generate an unreadable pipeline."""


def detect(root: Path, detectors: Sequence[Detector], *, tree: Tree | None = None) -> Detection:
    """What the repository at ``root`` is: its apps, or (none matched) what was looked for and nearly found."""
    tree = tree or Tree(root)
    apps = _apps(tree, detectors)
    if len(apps) > MAX_APPS:
        raise TooManyApps(f"{len(apps)} apps found, more than the {MAX_APPS} Wishstar generates a pipeline for "
                          "(hint: write .wishstar.yaml by hand, or run `wishstar init` in each app's directory)")
    misses: list[NearMiss] = []
    if not apps:
        for path in (".", *tree.dirs(".")):
            for detector in detectors:
                misses.extend(detector.near_misses(tree, path))
    found = tuple(e.name + ("/" if e.is_dir else "") for e in tree.listing("."))[:FOUND_SHOWN]
    return Detection(root=str(root), apps=tuple(apps), looked_for={d.language: d.looked_for for d in detectors},
                     found=found, near_misses=tuple(_unique(misses)))


def _apps(tree: Tree, detectors: Sequence[Detector]) -> list[App]:
    members = [m for d in detectors if (m := d.members(tree, ".")) is not None and m.paths]
    if members:
        return _member_apps(tree, detectors, members)
    root = _app_at(tree, detectors, ".", fallback=False)
    if root is not None:
        return [root]
    apps = _directory_apps(tree, detectors)
    if apps:
        return apps
    root = _app_at(tree, detectors, ".", fallback=True)
    return [root] if root is not None else []


def _member_apps(tree: Tree, detectors: Sequence[Detector], members: list[Members]) -> list[App]:
    apps: dict[str, App] = {}
    for layout in members:
        for path in layout.paths:
            if path in apps:
                continue
            app = _app_at(tree, detectors, path, fallback=False, shared=layout)
            if app is not None:
                apps[path] = app
    return [apps[p] for p in sorted(apps)]


def _directory_apps(tree: Tree, detectors: Sequence[Detector]) -> list[App]:
    apps: list[App] = []
    for top in tree.dirs("."):
        app = _app_at(tree, detectors, top, fallback=False, docker=True)
        if app is not None:
            apps.append(app)
            continue
        for sub in tree.dirs(top):
            nested = _app_at(tree, detectors, join(top, sub), fallback=False, docker=True)
            if nested is not None:
                apps.append(nested)
        if len(apps) > MAX_APPS:
            break
    return apps


def _app_at(tree: Tree, detectors: Sequence[Detector], path: str, *, fallback: bool, docker: bool = False,
            shared: Members | None = None) -> App | None:
    """The app at ``path``: language candidates only, unless ``fallback`` (also a Dockerfile or a static site)
    or ``docker`` (also a Dockerfile: a service directory of a monorepo)."""
    ranked: list[tuple[Candidate, ...]] = []
    for detector in detectors:
        found = tuple(detector.detect(tree, path))
        if found:
            ranked.append(found)
    language = [group for group in ranked if group[0].build not in FALLBACK_BUILDS]
    if not language:
        allowed = FALLBACK_BUILDS if fallback else ("docker",) if docker else ()
        language = [group for group in ranked if group[0].build in allowed][:1]
    if not language:
        return None
    winner_group, rule = _settle(language)
    chosen, *same_detector = winner_group
    others = [c for group in language if group is not winner_group for c in group]
    if same_detector and rule is None:
        rule = chosen.rule
    elif same_detector and chosen.rule:
        rule = f"{rule}; {chosen.rule}"
    if shared is not None and shared.context:
        chosen = replace(chosen, context=tuple(sorted({*chosen.context, *shared.context})))
    context = "." if chosen.context and path != "." else path
    return App(path=path, chosen=chosen, alternatives=(*same_detector, *others), rule=rule, context=context)


def _settle(groups: list[tuple[Candidate, ...]]) -> tuple[tuple[Candidate, ...], str | None]:
    """The winning detector's candidates and the rule that made them win (None when only one matched)."""
    if len(groups) == 1:
        return groups[0], None

    def rank(group: tuple[Candidate, ...]) -> tuple[int, int]:
        head = group[0]
        order = LANGUAGE_ORDER.index(head.language) if head.language in LANGUAGE_ORDER else len(LANGUAGE_ORDER)
        return CONFIDENCES.index(head.confidence), order

    ordered = sorted(groups, key=rank)
    best, runner = ordered[0][0], ordered[1][0]
    if best.confidence != runner.confidence:
        rule = (f"higher confidence wins: {best.key} is {best.confidence}, {runner.key} is "
                f"{runner.confidence}")
    else:
        rule = (f"equal confidence ({best.confidence}): the language order {' > '.join(LANGUAGE_ORDER)} puts "
                f"{best.language} before {runner.language}")
    return ordered[0], rule


def _unique(misses: Iterable[NearMiss]) -> list[NearMiss]:
    seen: set[str] = set()
    kept = []
    for miss in misses:
        if miss.message not in seen:
            seen.add(miss.message)
            kept.append(miss)
    return kept
