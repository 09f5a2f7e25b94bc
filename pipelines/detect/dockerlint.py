"""The few Dockerfile checks that matter for a generated Dockerfile (hadolint is not installable here).

Issue 11 asks of every generated Dockerfile: several stages, base images pinned to an exact version (or a
digest), a final stage that runs as a numeric non-root uid, the app's port exposed, dependency manifests copied
and installed before the sources (so a source change keeps the dependency layer cached); and the usual
hygiene: no ``ADD`` of a URL, no ``sudo``, ``apt-get install`` with ``--no-install-recommends``, ``CMD`` and
``ENTRYPOINT`` in exec form. ``lint`` checks them on a Dockerfile's text and says which line breaks which.

A pure function over text: no file access, no Docker, no network. It is a lint of what Wishstar writes, not a
Dockerfile parser (heredocs and parser directives other than line continuations are not understood).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str


@dataclass
class Stage:
    line: int
    image: str
    name: str | None
    body: list[Instruction]


INSTALLS = re.compile(
    r"\b(npm (ci|install|i)\b|pnpm (install|i)\b|yarn( install)?\s*($|--|&&)|bun install|pip3? install|uv sync|"
    r"poetry install|pdm (install|sync)|pipenv (install|sync)|go mod download|mvn\b.*dependency:|"
    r"dotnet restore|gradle\w*\b.*dependencies|bundle install|composer install|cargo fetch)")
"""A ``RUN`` that installs the project's dependencies (it should see only the manifests, not the sources)."""

_URL = re.compile(r"^\w+://")
_EXACT_TAG = re.compile(r":[^/:@]*\d[^/:@]*$")
_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def instructions(text: str) -> Iterator[Instruction]:
    """The instructions with their first line, continuation lines (``\\`` at the end) joined, comments and
    blank lines dropped."""
    start: int | None = None
    parts: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if start is None and (not stripped or stripped.startswith("#")):
            continue
        if start is not None and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        start = number if start is None else start
        continued = stripped.endswith("\\")
        parts.append(stripped[:-1] if continued else stripped)
        if not continued:
            joined = " ".join(p.strip() for p in parts if p.strip())
            keyword, _, args = joined.partition(" ")
            yield Instruction(start, keyword.upper(), args.strip())
            start, parts = None, []
    if start is not None and parts:
        keyword, _, args = " ".join(parts).partition(" ")
        yield Instruction(start, keyword.upper(), args.strip())


def stages(text: str) -> list[Stage]:
    found: list[Stage] = []
    for ins in instructions(text):
        if ins.keyword == "FROM":
            words = [w for w in ins.args.split() if not w.startswith("--")]
            image = words[0] if words else ""
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            found.append(Stage(ins.line, image, name, []))
        elif found:
            found[-1].body.append(ins)
    return found


def lint(text: str, *, port: str | int | None = None) -> list[Problem]:
    """The problems of Dockerfile ``text``, by line; ``port``: the app's port (an ``EXPOSE`` of it is then
    required)."""
    found = stages(text)
    if not found:
        return [Problem(1, "no FROM: not a Dockerfile")]
    problems = list(_from_problems(found))
    if len(found) < 2:
        problems.append(Problem(found[0].line, "a single stage: build in one stage, copy the result into a "
                                               "small final stage (multi-stage)"))
    problems += _user_problems(found[-1])
    problems += _expose_problems(found, port)
    for stage in found:
        problems += _order_problems(stage)
        problems += _hygiene_problems(stage)
    return sorted(problems, key=lambda p: p.line)


def _from_problems(found: list[Stage]) -> Iterator[Problem]:
    names: set[str] = set()
    for stage in found:
        image = stage.image
        if image.lower() in names or image == "scratch":
            pass
        elif "$" in image:
            yield Problem(stage.line, f"FROM {image}: a build argument hides the version; write an exact tag")
        elif _DIGEST.search(image):
            pass
        elif not _EXACT_TAG.search(image) or image.rsplit(":", 1)[-1] == "latest":
            yield Problem(stage.line, f"FROM {image}: not pinned to an exact version tag (never latest); "
                                      "write name:VERSION or add @sha256:DIGEST")
        if stage.name:
            names.add(stage.name.lower())


def _user_problems(final: Stage) -> Iterator[Problem]:
    users = [ins for ins in final.body if ins.keyword == "USER"]
    if not users:
        yield Problem(final.line, "the final stage has no USER: it runs as root (write USER with a numeric uid)")
        return
    last = users[-1]
    uid = last.args.split(":", 1)[0]
    if not uid.isdigit():
        yield Problem(last.line, f"USER {last.args}: use a numeric uid (Kubernetes runAsNonRoot cannot check a "
                                 "name)")
    elif int(uid) == 0:
        yield Problem(last.line, "USER 0 is root: use a non-root numeric uid")


def _expose_problems(found: list[Stage], port: str | int | None) -> Iterator[Problem]:
    if port is None:
        return
    exposed = [ins for ins in found[-1].body if ins.keyword == "EXPOSE"]
    ports = {w.split("/", 1)[0] for ins in exposed for w in ins.args.split()}
    if str(port) not in ports:
        yield Problem(found[-1].line, f"the app listens on {port} but the final stage does not EXPOSE {port}")


def _is_whole_copy(ins: Instruction) -> bool:
    words = [w for w in ins.args.split() if not w.startswith("--")]
    return ins.keyword in ("COPY", "ADD") and not any(w.startswith("--from") for w in ins.args.split()) \
        and len(words) >= 2 and any(w in (".", "./") for w in words[:-1])


def _order_problems(stage: Stage) -> Iterator[Problem]:
    """The stage's first dependency install must not see the sources (a later one may: ``uv sync`` again to
    install the project itself)."""
    whole: Instruction | None = None
    for ins in stage.body:
        if _is_whole_copy(ins) and whole is None:
            whole = ins
        elif ins.keyword == "RUN" and INSTALLS.search(ins.args):
            if whole is not None:
                yield Problem(ins.line, f"dependencies installed after the sources were copied (line "
                                        f"{whole.line}): COPY the dependency manifests and install first, then "
                                        "COPY the sources")
            return


def _hygiene_problems(stage: Stage) -> Iterator[Problem]:
    for ins in stage.body:
        if ins.keyword == "ADD" and any(_URL.match(w) for w in ins.args.split()):
            yield Problem(ins.line, "ADD of a URL: download with RUN (curl/wget) and check a checksum")
        if ins.keyword == "RUN" and re.search(r"(^|[\s;&|(])sudo\s", ins.args):
            yield Problem(ins.line, "sudo in RUN: the build runs as root already; a final image needs no sudo")
        if ins.keyword == "RUN":
            for command in re.split(r"&&|;|\|\|", ins.args):
                if re.search(r"\bapt-get\s+(-\S+\s+)*install\b", command) and \
                        "--no-install-recommends" not in command:
                    yield Problem(ins.line, "apt-get install without --no-install-recommends")
        if ins.keyword in ("CMD", "ENTRYPOINT") and not ins.args.startswith("["):
            yield Problem(ins.line, f"{ins.keyword} in shell form: use the exec form [\"...\"] so signals reach "
                                    "the app")
