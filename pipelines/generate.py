"""Turn a detection into the files a team owns: ``.wishstar.yaml`` and, per app without one, a ``Dockerfile``
and ``.dockerignore``.

Jinja2 with ``StrictUndefined`` (a template naming a value the detection does not provide fails, it never
writes an empty string into a build). One template directory per build tool under ``pipelines/templates/``:
``tasks.yaml.j2`` (the app's tasks, under ``tasks:``) and ``Dockerfile.j2``; the pipeline around them and the
``.dockerignore`` are shared. Every generated file starts with a comment saying what was detected and why.

Produces text only: writing files (``wishstar init``) and validating (the road) are the callers'.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2

from wishstar.pipelines.detect.evidence import App, Chosen, Detection, printable
from wishstar.pipelines.detect.runtimes import APP_UID, docker_images, images, static_images

TEMPLATES = Path(__file__).parent / "templates"
PIPELINE_FILE = ".wishstar.yaml"


@dataclass(frozen=True)
class Generated:
    """Repository-relative path to text, the pipeline first."""

    files: dict[str, str]

    @property
    def pipeline(self) -> str:
        return self.files[PIPELINE_FILE]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                             autoescape=False)  # YAML and Dockerfiles, not HTML
    env.filters["yaml_str"] = yaml_str
    env.filters["shell_quote"] = shell_quote
    return env


def generate(detection: Detection, *, name: str, has_file: Callable[[str], bool],
             pins: Mapping[str, str] | None = None) -> Generated:
    """The files for ``detection``. ``name``: the pipeline's name (the project's); ``has_file``: whether the
    repository already holds a repository-relative path (an app with its own Dockerfile keeps it); ``pins``:
    image tag to ``tag@digest`` (``wishstar init --pin``)."""
    apps = detection.apps
    single = len(apps) == 1
    pins = dict(pins or {})
    per_app = [(app, _app_vars(app, single, pins)) for app in apps]
    fragments = [_render(f"{app.chosen.build}/tasks.yaml.j2", variables) for app, variables in per_app]
    files = {PIPELINE_FILE: _render("pipeline.yaml.j2", {
        "name": pipeline_name(name), "apps": apps, "fragments": fragments, "header": header_lines(detection),
        "described": ", ".join(name if app.path == "." else app.path for app in apps),
        "deliveries": [delivery_vars(app, variables, name) for app, variables in per_app],
    })}
    for app, variables in per_app:
        docker_dir = app.path if app.path != "." else ""
        dockerfile = f"{docker_dir}/Dockerfile" if docker_dir else "Dockerfile"
        if has_file(dockerfile) or app.chosen.build == "docker":
            continue
        files[dockerfile] = _render(f"{app.chosen.build}/Dockerfile.j2", variables)
        ignore = f"{docker_dir}/.dockerignore" if docker_dir else ".dockerignore"
        if not has_file(ignore):
            files[ignore] = _render("dockerignore.j2", variables)
    return Generated(files)


def _app_vars(app: App, single: bool, pins: Mapping[str, str]) -> dict[str, object]:
    c = app.chosen
    runtime = _runtime_of(c.language, c.versions)
    tags = (images(runtime, c.versions[runtime].value) if runtime else
            static_images() if c.build == "static" else docker_images() if c.build == "docker" else {})
    return {
        "app": app, "c": c, "facts": c.facts, "task": "test" if single else f"test-{app.name}",
        "suffix": "" if single else f"-{app.name}", "workdir": app.path, "context": app.context,
        "images": {role: pins.get(tag, tag) for role, tag in tags.items()},
        "port": c.port.value if c.port else None, "uid": APP_UID, "header": app_header(app),
        "versions": {k: v.value for k, v in c.versions.items()},
    }


PRESETS = {"javascript": "node", "typescript": "node", "python": "python", "go": "go", "dotnet": "dotnet"}
"""Language to charts/app preset. JVM apps get the spring-boot preset (JVM flags, actuator probes) only when they
are Spring Boot; a Dockerfile-only app or a static site gets the chart's plain defaults."""


def delivery_vars(app: App, variables: Mapping[str, object], name: str) -> dict[str, object]:
    """What ``_delivery.j2`` needs for one app: the image and release names (DNS-safe), the build context and the
    Dockerfile relative to it, the chart preset and the values that make the chart fit what was detected."""
    c = app.chosen
    base = pipeline_name(name).replace("_", "-")
    image = base if app.path == "." else f"{base}-{pipeline_name(app.name).replace('_', '-')}"
    dockerfile = f"{app.path}/Dockerfile" if app.path != "." else "Dockerfile"
    context = app.context
    relative = dockerfile if context == "." else posixpath.relpath(dockerfile, context)
    preset = "spring-boot" if c.framework == "spring-boot" else PRESETS.get(c.language, "")
    port = str(variables["port"] or "")
    deploy = port.isdigit() and 0 < int(port) < 65536  # a server: something that listens
    probe = {"type": "tcp"}
    values = {"containerPort": int(port), "probes": {"liveness": probe, "readiness": probe, "startup": probe}} \
        if deploy else {}
    return {"suffix": variables["suffix"], "test": variables["task"], "image": image,
            "release": image[:53].strip("-") or "app", "described": name if app.path == "." else app.path,
            "context": context, "dockerfile": relative, "preset": preset, "deploy": deploy,
            "chart_values": json.dumps(values, sort_keys=True)}


def _runtime_of(language: str, versions: Mapping[str, Chosen]) -> str | None:
    for runtime in ("java", "node", "python", "go", "dotnet"):
        if runtime in versions:
            return runtime
    return None


def _render(template: str, variables: Mapping[str, object]) -> str:
    return _ENV.get_template(template).render(**variables)


def header_lines(detection: Detection) -> list[str]:
    """The comment header of the pipeline: per app, what was detected and why."""
    lines: list[str] = []
    for app in detection.apps:
        lines.extend(app_header(app))
    return lines


def app_header(app: App) -> list[str]:
    c = app.chosen
    what = f"{c.language} ({c.build}{', ' + c.framework if c.framework else ''}), confidence {c.confidence}"
    lines = [f"{app.path}: {what}"]
    lines += [f"  evidence: {ev}" for ev in c.evidence]
    for runtime, chosen in c.versions.items():
        lines.append(f"  {runtime} {chosen.value}: {chosen.evidence or 'default: ' + str(chosen.default)}")
    if c.port is not None:
        lines.append(f"  port {c.port.value}: {c.port.evidence or 'default: ' + str(c.port.default)}")
    for alt in app.alternatives:
        lines.append(f"  also matched {alt.key}: {'; '.join(str(e) for e in alt.evidence)}")
    if app.rule:
        lines.append(f"  chosen by rule: {app.rule}")
    lines += [f"  warning: {w}" for w in c.warnings]
    return [printable(line) for line in lines]  # repository text must stay on its comment line


def pipeline_name(name: str) -> str:
    """A valid pipeline name from a project or directory name (lowercase letters, digits, ``-``, ``_``)."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")[:63].strip("-_")
    return cleaned or "app"


def yaml_str(value: object) -> str:
    """A YAML double-quoted scalar (JSON strings are valid YAML)."""
    return json.dumps(str(value))


def shell_quote(value: object) -> str:
    import shlex

    return shlex.quote(str(value))


_ENV = _environment()
"""Built last: its filters (``yaml_str``, ``shell_quote``) are defined above."""
