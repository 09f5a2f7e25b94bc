"""The vocabulary every detector speaks: evidence, chosen values, candidates, apps and refusals.

Detection is a claim about somebody else's repository, so every claim carries where it came from: a file, a
line and the rule that matched (``pom.xml:7 parent org.springframework.boot:spring-boot-starter-parent``). A
value Wishstar had to choose without evidence (a default port, a default runtime version) says so instead.

Plain frozen data: no I/O here, no detector logic, no JSON (``detect.report`` shapes these for the CLI).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def printable(text: str) -> str:
    """``text`` with control characters (and Unicode line separators) replaced: repository text quoted in
    evidence ends up in comment lines of generated files, where a newline would start a line of its own."""
    return _CONTROL.sub("?", text)


Confidence = Literal["high", "medium", "low"]
CONFIDENCES: tuple[Confidence, ...] = ("high", "medium", "low")


@dataclass(frozen=True)
class Evidence:
    """One observation in the repository: ``file`` (repository-relative, ``/``-separated), its 1-based ``line``
    (None when the whole file is the evidence, e.g. a lockfile's presence) and the ``rule`` that matched."""

    file: str
    line: int | None
    rule: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} {self.rule}"


@dataclass(frozen=True)
class Chosen:
    """A value the generated files need (a port, a runtime version), with its ``evidence`` or, when the project
    says nothing, ``default``: why this default (``"Spring Boot's default port"``)."""

    value: str
    evidence: Evidence | None = None
    default: str | None = None

    @property
    def is_default(self) -> bool:
        return self.evidence is None


@dataclass(frozen=True)
class Candidate:
    """What one detector concluded about one directory.

    ``language``: java, kotlin, javascript, typescript, python, go, dotnet, docker (only a Dockerfile) or
    static. ``build``: the build tool (maven, gradle, npm, pnpm, yarn, bun, pip, pyproject, poetry, uv, pdm,
    pipenv, go, dotnet, docker, static); it names the templates that generate the files. ``versions``: runtime
    name (``java``, ``node``, ``python``, ``go``, ``dotnet``, ...) to the chosen version. ``facts``: what the
    build tool's templates need (documented per build tool in docs/detection.md), all strings. ``context``:
    files outside the app's directory that its build needs (a workspace root's lockfile, a parent pom).
    ``warnings``: things a user should know (an end-of-life runtime replaced by a supported one).
    A detector returning several candidates for one directory lists them best first.
    """

    language: str
    build: str
    evidence: tuple[Evidence, ...]
    confidence: Confidence
    framework: str | None = None
    port: Chosen | None = None
    versions: Mapping[str, Chosen] = field(default_factory=dict)
    facts: Mapping[str, str] = field(default_factory=dict)
    context: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    rule: str | None = None
    """When a detector returns several candidates (best first), the first one's ``rule`` is the documented
    rule that ranked it above the others (``a pnpm-lock.yaml beats a stray package-lock.json``)."""

    @property
    def key(self) -> str:
        """``language/build``: how a conflict names this candidate."""
        return f"{self.language}/{self.build}"


@dataclass(frozen=True)
class App:
    """One application of the repository: the winning candidate for ``path`` (repository-relative, ``.`` for
    the root), the ``alternatives`` that also matched there, and the documented ``rule`` that picked the
    winner (None when nothing else matched). ``context``: the build context directory (``.`` when root files
    such as a workspace lockfile are needed, else ``path``)."""

    path: str
    chosen: Candidate
    alternatives: tuple[Candidate, ...] = ()
    rule: str | None = None
    context: str = "."

    @property
    def name(self) -> str:
        """A task-name-safe name for the app (its directory's last part; the root is ``app``)."""
        base = self.path.rstrip("/").rsplit("/", 1)[-1] if self.path not in ("", ".") else "app"
        cleaned = "".join(c if c.isalnum() else "-" for c in base.lower()).strip("-")
        return cleaned or "app"


@dataclass(frozen=True)
class NearMiss:
    """Something that almost matched: ``build.gradle found but no gradlew and no Gradle on PATH``."""

    message: str
    evidence: Evidence | None = None


@dataclass(frozen=True)
class Detection:
    """The whole repository: its apps (empty when nothing matched), what each detector looked for, the
    top-level files found, the near misses, and the one line to write to say it by hand."""

    root: str
    apps: tuple[App, ...]
    looked_for: Mapping[str, str] = field(default_factory=dict)
    found: tuple[str, ...] = ()
    near_misses: tuple[NearMiss, ...] = ()

    @property
    def matched(self) -> bool:
        return bool(self.apps)

    @property
    def ambiguous(self) -> tuple[App, ...]:
        return tuple(app for app in self.apps if app.alternatives)
