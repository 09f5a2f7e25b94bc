"""Every generated Dockerfile (each golden file, whichever detector's) passes the checks issue 11 asks for, and
each check catches the Dockerfile it is there to catch."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.pipelines.detect.render_cases import GOLDEN
from wishstar.pipelines.detect.dockerlint import instructions, lint

GOLDEN_DOCKERFILES = sorted(GOLDEN.rglob("Dockerfile"))

KNOWN = {
    "python-setup-py-cli/Dockerfile": "pip install . after COPY . . (no dependency layer)",
}
"""Goldens that break a check today, with why; strict: when one is fixed, its entry must go."""

GOOD = """\
FROM golang:1.26.8-bookworm AS build
WORKDIR /src
COPY go.mod go.sum* ./
RUN go mod download
COPY . ./
RUN go build -o /out/app .

FROM alpine:3.22.2
COPY --from=build /out/app /app
USER 10001
EXPOSE 8080
ENTRYPOINT ["/app"]
"""


def port_of(text: str) -> str | None:
    """The app's port, as the generated header states it (``#   port 8080: ...``)."""
    match = re.search(r"^#\s+port (\d+):", text, re.MULTILINE)
    return match.group(1) if match else None


def golden_id(path: Path) -> str:
    return str(path.relative_to(GOLDEN))


@pytest.mark.parametrize("path", [
    pytest.param(p, marks=pytest.mark.xfail(reason=KNOWN[golden_id(p)], strict=True)) if golden_id(p) in KNOWN
    else p for p in GOLDEN_DOCKERFILES], ids=golden_id)
def test_every_golden_dockerfile_passes_the_lint(path: Path) -> None:
    text = path.read_text()
    assert [str(p) for p in lint(text, port=port_of(text))] == []


def test_the_lint_sees_the_golden_dockerfiles_of_go_static_and_the_other_ecosystems() -> None:
    seen = {golden_id(p).split("/", 1)[0] for p in GOLDEN_DOCKERFILES}
    assert {"go-gin-api", "go-workspace", "static-site"} <= seen
    assert set(KNOWN) <= {golden_id(p) for p in GOLDEN_DOCKERFILES}  # a stale entry would hide nothing


def test_a_good_dockerfile_has_no_problems() -> None:
    assert lint(GOOD, port=8080) == []


BAD = [
    ("latest", GOOD.replace("alpine:3.22.2", "alpine:latest"), 8, "not pinned to an exact version"),
    ("no-tag", GOOD.replace("alpine:3.22.2", "alpine"), 8, "not pinned to an exact version"),
    ("tag-without-version", GOOD.replace("alpine:3.22.2", "debian:bookworm-slim"), 8, "not pinned"),
    ("build-arg", GOOD.replace("golang:1.26.8-bookworm", "golang:$GO"), 1, "a build argument hides the version"),
    ("single-stage", "FROM alpine:3.22.2\nUSER 10001\nEXPOSE 8080\nCMD [\"true\"]\n", 1, "a single stage"),
    ("no-user", GOOD.replace("USER 10001\n", ""), 8, "the final stage has no USER"),
    ("user-name", GOOD.replace("USER 10001", "USER app"), 10, "use a numeric uid"),
    ("user-root", GOOD.replace("USER 10001", "USER 0:0"), 10, "USER 0 is root"),
    ("no-expose", GOOD.replace("EXPOSE 8080\n", ""), 8, "does not EXPOSE 8080"),
    ("sources-first", GOOD.replace("COPY go.mod go.sum* ./\nRUN go mod download\nCOPY . ./\n",
                                   "COPY . ./\nRUN go mod download\n"), 4, "dependencies installed after"),
    ("add-url", GOOD.replace("WORKDIR /src\n", "WORKDIR /src\nADD https://example.com/x.tgz /x\n"), 3,
     "ADD of a URL"),
    ("sudo", GOOD.replace("RUN go build", "RUN sudo go build"), 6, "sudo in RUN"),
    ("apt-recommends", GOOD.replace("WORKDIR /src\n", "WORKDIR /src\nRUN apt-get update && \\\n"
                                    "    apt-get install -y git\n"), 3, "--no-install-recommends"),
    ("shell-cmd", GOOD.replace('ENTRYPOINT ["/app"]', "CMD /app --serve"), 12, "shell form"),
]


@pytest.mark.parametrize(("text", "line", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_each_check_catches_its_bad_dockerfile_on_its_line(text: str, line: int, message: str) -> None:
    problems = lint(text, port=8080)
    assert [(p.line, message in p.message) for p in problems] == [(line, True)], [str(p) for p in problems]


def test_apt_get_install_with_no_install_recommends_and_a_digest_pin_pass() -> None:
    digest = "sha256:" + "a" * 64
    text = GOOD.replace("alpine:3.22.2", f"alpine:3.22.2@{digest}").replace(
        "WORKDIR /src\n", "WORKDIR /src\nRUN apt-get update && apt-get install -y --no-install-recommends git\n")
    assert lint(text, port=8080) == []


def test_a_later_install_after_the_sources_is_fine_once_dependencies_came_first() -> None:
    text = GOOD.replace("RUN go build", "RUN go mod download && go build")
    assert lint(text, port=8080) == []


def test_continuation_lines_and_comments_inside_them_are_one_instruction_on_its_first_line() -> None:
    found = [(i.line, i.keyword, i.args) for i in instructions("# c\nRUN a \\\n  # note\n  b\nUSER 1\n")]
    assert found == [(2, "RUN", "a b"), (5, "USER", "1")]


def test_text_without_from_is_reported_not_crashed_on() -> None:
    assert [p.message for p in lint("USER 1\n")] == ["no FROM: not a Dockerfile"]


@given(st.text(alphabet=st.sampled_from(list("FROM USER EXPOSE RUN COPY . \\ # \n :@ 0123 latest"))))
def test_the_lint_reports_problems_and_never_raises_on_any_text(text: str) -> None:
    assert all(p.line >= 1 for p in lint(text, port=80))
