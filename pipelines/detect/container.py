"""Two detectors for directories no language manifest claims: ``DOCKERFILE`` (only a Dockerfile) and
``STATIC`` (a static site).

Only a Dockerfile: the repository's own ``Dockerfile`` (or ``Containerfile``) is how it builds, so Wishstar
keeps it and writes none; the port comes from ``EXPOSE``, the base images are evidence, and the test task runs
the repository's own test entry (a Makefile ``test`` target) when there is one. The orchestrator
(``detect.repo``) uses this candidate only when no language detector matched the directory.

A static site: an ``index.html`` in the directory, else in ``public/``, ``site/`` or ``docs/`` (first found),
with no language manifest and no Dockerfile there (a project's manifest or Dockerfile says how it builds
better than its HTML does). A directory of only Markdown is not a site: it is a near miss.

Reads only through the ``Tree``; must not parse HTML or run anything.
"""

from __future__ import annotations

import re

from wishstar.pipelines.detect.base import Detector
from wishstar.pipelines.detect.evidence import Candidate, Chosen, Evidence, NearMiss
from wishstar.pipelines.detect.runtimes import ALPINE
from wishstar.pipelines.detect.tree import Tree, join, line_of, norm

DOCKERFILES = ("Dockerfile", "Containerfile")
SITE_DIRS = ("public", "site", "docs")
"""Where a site's ``index.html`` may live when it is not in the directory itself, in the order tried."""

MANIFESTS = frozenset({
    "package.json", "go.mod", "pom.xml", "build.gradle", "build.gradle.kts", "settings.gradle",
    "settings.gradle.kts", "pyproject.toml", "requirements.txt", "setup.py", "setup.cfg", "Pipfile", "Cargo.toml",
    "Gemfile", "composer.json", "mix.exs", "deno.json", "global.json", "hugo.toml", "config.toml", "mkdocs.yml",
    "_config.yml",
})
"""Files that say a directory is built by a language's tool (or a site generator): not a plain static site."""

MARKDOWN = (".md", ".markdown", ".mdx", ".rst", ".txt", ".adoc")
INCIDENTAL = re.compile(r"^(LICEN[CS]E|COPYING|NOTICE|AUTHORS|CODEOWNERS|CHANGELOG)(\.\w+)?$", re.IGNORECASE)

_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE | re.MULTILINE)
_EXPOSE = re.compile(r"^\s*EXPOSE\s+(\d+)(?:/(?:tcp|udp))?", re.IGNORECASE | re.MULTILINE)
_MAKE_TEST = re.compile(r"^test\s*:(?!=)", re.MULTILINE)
_UNSAFE = re.compile(r"[^\w.:/@,{}$ -]")
_EXACT = re.compile(r"(@sha256:[0-9a-f]{64}$)|(:[^/:]*\d[^/:]*$)")


def dockerfile_of(tree: Tree, path: str) -> str | None:
    return next((join(path, n) for n in DOCKERFILES if tree.is_file(join(path, n))), None)


def detect_dockerfile(tree: Tree, path: str) -> list[Candidate]:
    dockerfile = dockerfile_of(tree, path)
    text = tree.text(dockerfile) if dockerfile else None
    if dockerfile is None or text is None:
        return []
    stages = list(_FROM.finditer(text))
    evidence = [Evidence(dockerfile, line_of(text, m.start()), f"FROM {m.group(1)}") for m in stages]
    if not evidence:
        evidence = [Evidence(dockerfile, None, "Dockerfile")]
    port = None
    expose = _EXPOSE.search(text)
    if expose is not None:
        seen = Evidence(dockerfile, line_of(text, expose.start()), f"EXPOSE {expose.group(1)}")
        evidence.append(seen)
        port = Chosen(expose.group(1), seen)
    names = {m.group(2).lower() for m in stages if m.group(2)}
    bases = [m.group(1) for m in stages if m.group(1).lower() not in names]
    summary = ", ".join(f"{m.group(1)} AS {m.group(2)}" if m.group(2) else m.group(1) for m in stages)
    # Repository text that reaches a generated script: only these characters (never a `$(...)` reference).
    facts = {"dockerfile": dockerfile, "stages": _UNSAFE.sub("?", summary) or "(no FROM line)"}
    makefile = join(path, "Makefile")
    make_test = tree.find(makefile, _MAKE_TEST, "Makefile test target") if tree.is_file(makefile) else None
    if make_test is not None:
        evidence.append(make_test)
        facts["make_test"] = "true"
        # `make test` runs in the project's own build environment: its Dockerfile's first base image when that
        # is an exact tag, else Alpine (locally the task runs with the machine's tools either way).
        first = bases[0] if bases else ""
        facts["test_image"] = first if "$" not in first and _EXACT.search(first) and ":latest" not in first \
            else f"alpine:{ALPINE}"
    warnings = () if port else (f"{dockerfile} has no EXPOSE: the app's port is unknown",)
    return [Candidate(language="docker", build="docker", evidence=tuple(evidence), confidence="medium",
                      port=port, facts=facts, warnings=warnings)]


def _has_manifest(tree: Tree, path: str) -> str | None:
    return next((n for n in tree.files(path) if n in MANIFESTS or n.endswith((".csproj", ".sln", ".fsproj"))),
                None)


def detect_static(tree: Tree, path: str) -> list[Candidate]:
    if _has_manifest(tree, path) or dockerfile_of(tree, path):
        return []
    for site in (".", *SITE_DIRS):
        directory = join(path, site) if site != "." else path
        index = join(directory, "index.html")
        if tree.is_file(index):
            evidence = (Evidence(index, None, "site index page" if site == "." else f"site index page in {site}/"),)
            return [Candidate(
                language="static", build="static", evidence=evidence,
                confidence="medium" if site == "." else "low",
                port=Chosen("8080", default="nginx-unprivileged listens on 8080"),
                facts={"site_dir": site, "dockerignore": ".github *.md"},
            )]
    return []


def static_near_misses(tree: Tree, path: str) -> list[NearMiss]:
    """A repository of only Markdown (and a licence): documentation, not a site. Said of the root only (a
    ``docs/`` of Markdown beside an app is no near miss)."""
    if norm(path) != ".":
        return []
    files = [n for n in tree.files(path) if not n.startswith(".") and not INCIDENTAL.match(n)]
    if not files or any(not n.lower().endswith(MARKDOWN) for n in files) or _has_manifest(tree, path) \
            or detect_static(tree, path):
        return []
    docs = [f"{d}/*.md" for d in tree.dirs(path)
            if any(n.lower().endswith(MARKDOWN) for n in tree.files(join(path, d)))]
    shown = ", ".join([join(path, n) for n in files[:5]] + docs[:3])
    return [NearMiss(f"only Markdown files ({shown}): not a static site (no index.html; site generators such as "
                     "MkDocs, Hugo or Jekyll are not detected: write the pipeline by hand)",
                     Evidence(join(path, files[0]), None, "Markdown only"))]


DOCKERFILE = Detector(
    language="docker",
    looked_for="a Dockerfile or Containerfile (used when no language manifest matched)",
    detect=detect_dockerfile,
)

STATIC = Detector(
    language="static",
    looked_for="index.html (or public/, site/, docs/index.html) with no language manifest and no Dockerfile",
    detect=detect_static, near_misses=static_near_misses,
)
