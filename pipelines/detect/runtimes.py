"""Runtime versions Wishstar may choose, and the exact image tags that carry them.

A generated pipeline or Dockerfile records the exact version it chose, so an upgrade of Wishstar never
silently changes a build: what changes with an upgrade is only what a *new* ``wishstar init`` writes. Only
supported (not end-of-life) releases are listed; a project asking for an end-of-life release gets the oldest
supported one at or above it, with a warning. The table's date and each release's end of life are in
docs/detection.md; refresh both together.

Pure data and arithmetic on version strings: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from wishstar.pipelines.detect.evidence import Chosen, Evidence

TABLE_DATE = "2026-12-01"


@dataclass(frozen=True)
class Runtime:
    """``releases``: supported release (``3.13``) to its exact patch version, oldest first; ``eol``: release to
    its end-of-life date (documentation and the EOL warning); ``default``: the release chosen when the project
    names none."""

    name: str
    releases: dict[str, str]
    default: str
    eol: dict[str, str]


RUNTIMES: dict[str, Runtime] = {
    "python": Runtime("python", {"3.11": "3.11.14", "3.12": "3.12.12", "3.13": "3.13.9", "3.14": "3.14.0"},
                      "3.13", {"3.11": "2027-10", "3.12": "2028-10", "3.13": "2029-10", "3.14": "2030-10"}),
    "node": Runtime("node", {"22": "22.21.1", "24": "24.11.1"}, "24", {"22": "2027-04-30", "24": "2028-04-30"}),
    "go": Runtime("go", {"1.25": "1.25.4", "1.26": "1.26.8"}, "1.26", {"1.25": "1.27 release",
                                                                       "1.26": "1.28 release"}),
    "java": Runtime("java", {"17": "17.0.17_10", "21": "21.0.9_10", "25": "25.0.1_8"}, "21",
                    {"17": "2027-10", "21": "2029-09", "25": "2031-09"}),
    "dotnet": Runtime("dotnet", {"10.0": "10.0.100"}, "10.0", {"10.0": "2028-11-10"}),
}

ASPNET_RUNTIME = {"10.0": "10.0.0"}
"""The ASP.NET Core runtime image version that goes with each .NET SDK release."""

MAVEN = "3.9.11"
GRADLE = "8.14.3"
ALPINE = "3.22.2"
NGINX_UNPRIVILEGED = "1.28.0-alpine"
APP_UID = 10001
"""The numeric uid every generated Dockerfile runs as (the app chart's ``runAsNonRoot``)."""


def images(runtime: str, release: str) -> dict[str, str]:
    """The exact image tags for ``runtime``'s ``release``: ``build`` (tests and the image's build stage) and
    ``run`` (the image's final stage), plus tool variants (``maven``, ``gradle``)."""
    patch = RUNTIMES[runtime].releases[release]
    if runtime == "python":
        return {"build": f"python:{patch}-slim-bookworm", "run": f"python:{patch}-slim-bookworm"}
    if runtime == "node":
        return {"build": f"node:{patch}-bookworm-slim", "run": f"node:{patch}-bookworm-slim"}
    if runtime == "go":
        return {"build": f"golang:{patch}-bookworm", "run": f"alpine:{ALPINE}"}
    if runtime == "java":
        return {"build": f"eclipse-temurin:{patch}-jdk", "run": f"eclipse-temurin:{patch}-jre",
                "maven": f"maven:{MAVEN}-eclipse-temurin-{release}", "gradle": f"gradle:{GRADLE}-jdk{release}"}
    if runtime == "dotnet":
        return {"build": f"mcr.microsoft.com/dotnet/sdk:{patch}",
                "run": f"mcr.microsoft.com/dotnet/aspnet:{ASPNET_RUNTIME[release]}"}
    raise KeyError(runtime)


def static_images() -> dict[str, str]:
    """A static site is served by unprivileged nginx (listens on 8080, uid 101); ``build``: the small stage that
    prepares the files (and the image of the site's check task)."""
    return {"build": f"alpine:{ALPINE}", "run": f"nginxinc/nginx-unprivileged:{NGINX_UNPRIVILEGED}"}


def docker_images() -> dict[str, str]:
    """A repository with only a Dockerfile keeps its own images; ``build``: the image of its pipeline's
    check task."""
    return {"build": f"alpine:{ALPINE}"}


_NUM = re.compile(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_OP = re.compile(r"^\s*(>=|>|<=|<|==|=|~=|\^|~>|~|!=)?\s*v?")


def choose(runtime: str, spec: str | None, evidence: Evidence | None) -> tuple[Chosen, str | None]:
    """The release of ``runtime`` for a project that asks for ``spec`` (``3.12``, ``>=3.10``, ``^20``,
    ``20.x``, ``go 1.22.3``, ``net8.0``, or None), and a warning when the ask cannot be met exactly (an
    end-of-life release replaced by a supported one, an unknown future release). The chosen value is the
    release (``3.12``); the exact patch is ``RUNTIMES[runtime].releases[value]``."""
    table = RUNTIMES[runtime]
    ordered = list(table.releases)
    if not spec or not spec.strip():
        return Chosen(table.default, default=f"Wishstar's default {runtime} release ({TABLE_DATE})"), None
    first = re.split(r"\s*(?:,|\|\||\s)\s*", spec.strip())[0] if spec.strip() else spec
    op_match = _OP.match(first)
    op = op_match.group(1) if op_match and op_match.group(1) else "="
    num = _NUM.search(first[op_match.end():] if op_match else first)
    if num is None:
        return (Chosen(table.default, default=f"{spec!r} is not a version Wishstar reads; default {runtime} "
                       "release"), f"{runtime}: could not read {spec!r}; chose {table.default}")
    wanted = _release_of(runtime, num)
    if op in (">=", ">", "^", "~>", "~=") or (op == "~" and runtime == "node"):
        pick = wanted if wanted in table.releases and op != ">" else None
        if op in (">=", ">") and _key(table.default) >= _key(wanted):
            pick = table.default
        if pick is None:
            higher = [r for r in ordered if _key(r) >= _key(wanted) and _same_major(runtime, op, r, wanted)]
            pick = higher[0] if higher else None
        if pick is not None:
            return Chosen(pick, evidence), None
    elif wanted in table.releases:
        return Chosen(wanted, evidence), None
    newer = [r for r in ordered if _key(r) > _key(wanted)]
    if newer and _key(wanted) < _key(ordered[0]):
        pick = newer[0]
        return Chosen(pick, evidence), (f"{runtime} {wanted} (asked for by {evidence or 'the project'}) is end-of-"
                                        f"life; chose {pick}, the oldest supported release")
    pick = ordered[-1]
    return Chosen(pick, evidence), (f"{runtime} {wanted} (asked for by {evidence or 'the project'}) is not in "
                                    f"Wishstar's table ({TABLE_DATE}); chose {pick}")


def _release_of(runtime: str, num: re.Match[str]) -> str:
    major, minor = num.group(1), num.group(2) or "0"
    if runtime in ("node", "java"):
        return major
    return f"{major}.{minor}"


def _same_major(runtime: str, op: str, release: str, wanted: str) -> bool:
    if op in ("^", "~>", "~", "~="):
        return release.split(".")[0] == wanted.split(".")[0] or (runtime in ("node", "java") and op == "~>")
    return True


def _key(release: str) -> tuple[int, ...]:
    return tuple(int(part) for part in release.split(".") if part.isdigit())
