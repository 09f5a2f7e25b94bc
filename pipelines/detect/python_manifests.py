"""Reading a Python project's manifests for the Python detector: which build tools it shows, its declared
dependencies (with the line that declares each), its requirement files and the Python version it asks for.

Python projects spread one fact over many files (requirements.txt, pyproject.toml's four tool tables, Pipfile,
setup.py), so this module turns them into one ``Manifests`` value with evidence on every item; ``python``
ranks and concludes. Reads only through the ``Tree``; a file that does not parse is recorded as a problem (a
near miss for the caller), never raised.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from typing import Any

from wishstar.pipelines.detect.evidence import Evidence, NearMiss
from wishstar.pipelines.detect.tree import Tree, join, line_of

SAFE_PATH = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._/-]*$")
"""Repository file names that may be written into a generated script or Dockerfile (others are ignored)."""

_REQ_LINE = re.compile(r"^[ \t]*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?")
_DEV_NAME = re.compile(r"(dev|test)", re.IGNORECASE)
_MAX_REQUIREMENT_FILES = 12


def normalize(name: str) -> str:
    """PEP 503 normalization: ``Flask_SQLAlchemy`` and ``flask-sqlalchemy`` are one project."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass
class Manifests:
    """What the manifests at one directory say. ``deps``: normalized name to the evidence of its first
    declaration; ``extras``: for each dependency, the extras it asks for (``fastapi[standard]``);
    ``signals``: build tool evidence keyed by the ranking rule's name (``uv.lock``, ``[tool.poetry]``, ...)."""

    path: str
    pyproject: dict[str, Any] | None = None
    signals: dict[str, Evidence] = field(default_factory=dict)
    deps: dict[str, Evidence] = field(default_factory=dict)
    extras: dict[str, set[str]] = field(default_factory=dict)
    test_extras: list[str] = field(default_factory=list)
    requirements: list[str] = field(default_factory=list)
    problems: list[NearMiss] = field(default_factory=list)

    def add_dep(self, spec: str, evidence: Evidence) -> None:
        match = _REQ_LINE.match(spec)
        if match is None:
            return
        name = normalize(match.group(1))
        self.deps.setdefault(name, evidence)
        if match.group(2):
            self.extras.setdefault(name, set()).update(
                normalize(e) for e in match.group(2).strip("[]").split(",") if e.strip())


def read(tree: Tree, path: str) -> Manifests:
    """Every Python manifest at ``path``."""
    found = Manifests(path)
    names = set(tree.files(path))
    for lock, tool in (("uv.lock", "uv"), ("poetry.lock", "Poetry"), ("pdm.lock", "pdm"), ("Pipfile.lock", "pipenv")):
        if lock in names:
            found.signals[lock] = Evidence(join(path, lock), None, f"{tool} lockfile")
    if "pyproject.toml" in names:
        _read_pyproject(tree, found)
    if "Pipfile" in names:
        _read_pipfile(tree, found)
    _read_requirements(tree, found, names)
    for setup in ("setup.py", "setup.cfg"):
        if setup in names:
            _read_setup(tree, found, setup)
    return found


def parse_toml(tree: Tree, rel: str, problems: list[NearMiss]) -> dict[str, Any] | None:
    """The TOML file's tables, or None with a near miss naming the line tomllib reports."""
    text = tree.text(rel)
    if text is None:
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        where = re.search(r"line (\d+)", str(err))
        line = int(where.group(1)) if where else None
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(err)) or "invalid TOML"
        problems.append(NearMiss(
            f"{rel}{':' + str(line) if line else ''} is not valid TOML ({reason}), so it was not read as a "
            f"Python project (hint: fix that line; `python3 -c 'import tomllib; tomllib.load(open(\"{rel}\", "
            "\"rb\"))'` checks it)", Evidence(rel, line, "invalid TOML")))
        return None


def _header(tree: Tree, rel: str, table: str, rule: str) -> Evidence:
    """Evidence of ``[table]`` or of the first ``[table.something]`` (the line of the table's header)."""
    return tree.find(rel, rf"^[ \t]*\[{re.escape(table)}(?:\]|\.)", rule) or Evidence(rel, None, rule)


def spec_name(spec: str) -> str:
    """The project name a requirement string starts with (``Django>=5`` -> ``Django``)."""
    match = _REQ_LINE.match(spec)
    return match.group(1) if match else spec


def dep_line(text: str, name: str, start: int = 0) -> int | None:
    """The line declaring dependency ``name`` (quoted in a list, or a TOML key), searching from ``start``."""
    pattern = r"[-_.]+".join(re.escape(part) for part in re.split(r"[-_.]+", name))
    regex = re.compile(rf"""(?:^|["'\s{{,])({pattern})(?=\s*(?:[\[<>=!~;@"',\s]|$))""",
                       re.IGNORECASE | re.MULTILINE)
    for match in regex.finditer(text, start):
        line_start = text.rfind("\n", 0, match.start(1)) + 1
        if "#" not in text[line_start:match.start(1)]:
            return line_of(text, match.start(1))
    return None


def _read_pyproject(tree: Tree, found: Manifests) -> None:
    rel = join(found.path, "pyproject.toml")
    data = parse_toml(tree, rel, found.problems)
    if data is None:
        return
    found.pyproject = data
    tool = _table(data, "tool")
    for key, table in (("[tool.poetry]", "tool.poetry"), ("[tool.pdm]", "tool.pdm"), ("[tool.uv]", "tool.uv"),
                       ("[project]", "project")):
        section = tool.get(table.split(".")[1]) if table.startswith("tool.") else data.get("project")
        if isinstance(section, dict):
            found.signals[key] = _header(tree, rel, table, f"{key} table")
    text = tree.text(rel) or ""
    for spec in _pyproject_deps(data, found):
        line = dep_line(text, spec_name(spec))
        found.add_dep(spec, Evidence(rel, line, f"dependency {spec.split(';')[0].strip()}"))


def _pyproject_deps(data: dict[str, Any], found: Manifests) -> list[str]:
    """Requirement strings from [project], [dependency-groups], [tool.poetry], [tool.pdm] and [tool.uv]."""
    specs: list[str] = []
    project = _table(data, "project")
    specs += _strings(project.get("dependencies"))
    for extra, items in _table(project, "optional-dependencies").items():
        specs += _strings(items)
        if _DEV_NAME.search(extra) and re.fullmatch(r"[A-Za-z0-9._-]+", extra):
            found.test_extras.append(extra)
    for items in _table(data, "dependency-groups").values():
        specs += _strings(items)
    poetry = _table(_table(data, "tool"), "poetry")
    specs += _poetry_names(_table(poetry, "dependencies"))
    specs += _poetry_names(_table(poetry, "dev-dependencies"))
    for group in _table(poetry, "group").values():
        specs += _poetry_names(_table(group, "dependencies") if isinstance(group, dict) else {})
    for items in _table(_table(_table(data, "tool"), "pdm"), "dev-dependencies").values():
        specs += _strings(items)
    specs += _strings(_table(_table(data, "tool"), "uv").get("dev-dependencies"))
    return specs


def _poetry_names(table: dict[str, Any]) -> list[str]:
    names = []
    for name, value in table.items():
        if name.lower() == "python":
            continue
        extras = value.get("extras") if isinstance(value, dict) else None
        names.append(f"{name}[{','.join(_strings(extras))}]" if extras else name)
    return names


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    return value if isinstance(value, dict) else {}


def _strings(value: object) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _read_pipfile(tree: Tree, found: Manifests) -> None:
    rel = join(found.path, "Pipfile")
    found.signals["Pipfile"] = Evidence(rel, None, "pipenv manifest")
    data = parse_toml(tree, rel, found.problems)
    if data is None:
        return
    text = tree.text(rel) or ""
    for section in ("packages", "dev-packages"):
        start = re.search(rf"^[ \t]*\[{section}\]", text, re.MULTILINE)
        for name in _table(data, section):
            line = dep_line(text, name, start.end() if start else 0)
            found.add_dep(name, Evidence(rel, line, f"[{section}] {name}"))


def _read_requirements(tree: Tree, found: Manifests, names: set[str]) -> None:
    files = sorted((n for n in names if re.fullmatch(r"requirements([-_.][\w.-]+)?\.txt", n)),
                   key=lambda n: (n != "requirements.txt", n))
    if tree.is_dir(join(found.path, "requirements")):
        sub = join(found.path, "requirements")
        files += sorted(f"requirements/{n}" for n in tree.files(sub) if n.endswith(".txt"))
    for name in files[:_MAX_REQUIREMENT_FILES]:
        rel = join(found.path, name)
        if not SAFE_PATH.match(name):
            continue
        found.requirements.append(name)
        if name == "requirements.txt" or "requirements.txt" not in found.signals:
            found.signals["requirements.txt"] = Evidence(rel, None, "pip requirements file")
        for number, line in enumerate((tree.text(rel) or "").splitlines(), start=1):
            stripped = line.split("#", 1)[0].strip()
            if stripped and not stripped.startswith("-"):
                found.add_dep(stripped, Evidence(rel, number, f"requirement {stripped}"))


def _read_setup(tree: Tree, found: Manifests, setup: str) -> None:
    """setup.py, or a setup.cfg with ``[metadata]``/``[options]`` (one holding only flake8 or pytest settings
    is no project)."""
    rel = join(found.path, setup)
    text = tree.text(rel) or ""
    if setup == "setup.cfg":
        section = re.search(r"^\[(?:metadata|options)\]", text, re.MULTILINE)
        if section is None:
            return
        found.signals.setdefault("setup.py", Evidence(rel, line_of(text, section.start()),
                                                      "setuptools configuration"))
    else:
        found.signals.setdefault("setup.py", Evidence(rel, None, "setuptools script"))
    block = re.search(r"install_requires\s*=\s*(\[[^\]]*\]|(?:.*\n)(?:[ \t]+\S.*\n?)*)", text)
    if block is None:
        return
    body = block.group(1)
    specs = re.findall(r"""["']([^"']+)["']""", body) if body.startswith("[") else body.split()
    for spec in specs:
        if _REQ_LINE.match(spec):
            line = dep_line(text, spec_name(spec), block.start())
            found.add_dep(spec, Evidence(rel, line, f"install_requires {spec}"))


def test_requirements(found: Manifests) -> list[str]:
    """Requirement files a test run installs: requirements.txt plus the dev/test ones (all of requirements/
    when none is named so)."""
    chosen = [n for n in found.requirements if n == "requirements.txt" or _DEV_NAME.search(n)]
    return chosen or list(found.requirements)


def runtime_requirements(found: Manifests) -> list[str]:
    """Requirement files the image installs: requirements.txt, else requirements/{prod,production,base}.txt."""
    for name in ("requirements.txt", "requirements/prod.txt", "requirements/production.txt",
                 "requirements/base.txt", "requirements/common.txt"):
        if name in found.requirements:
            return [name]
    return [n for n in found.requirements if not _DEV_NAME.search(n)][:1]


def python_spec(tree: Tree, found: Manifests) -> tuple[str | None, Evidence | None]:
    """The Python version the project asks for, and where: .python-version, runtime.txt, requires-python,
    [tool.poetry.dependencies] python, Pipfile [requires] python_version (first found wins)."""
    path = found.path
    for name, rule in ((".python-version", ".python-version"), ("runtime.txt", "runtime.txt")):
        text = tree.text(join(path, name)) if tree.is_file(join(path, name)) else None
        for number, line in enumerate((text or "").splitlines(), start=1):
            if line.strip() and not line.lstrip().startswith("#"):
                return line.strip(), Evidence(join(path, name), number, f"{rule} {line.strip()}")
    data = found.pyproject or {}
    rel = join(path, "pyproject.toml")
    asks = [(_table(data, "project").get("requires-python"), r"^[ \t]*requires-python\s*=", "requires-python"),
            (_table(_table(_table(data, "tool"), "poetry"), "dependencies").get("python"), r"^[ \t]*python\s*=",
             "[tool.poetry.dependencies] python")]
    for spec, pattern, rule in asks:
        if isinstance(spec, str):
            return spec, tree.find(rel, pattern, f"{rule} {spec}") or Evidence(rel, None, f"{rule} {spec}")
    if "Pipfile" in found.signals:
        pip_rel = join(path, "Pipfile")
        match = re.search(r"""^[ \t]*python_(?:full_)?version\s*=\s*["']([^"']+)["']""", tree.text(pip_rel) or "",
                          re.MULTILINE)
        if match:
            return match.group(1), tree.find(pip_rel, r"^[ \t]*python_(?:full_)?version\s*=",
                                             f"[requires] python_version {match.group(1)}")
    return None, None
