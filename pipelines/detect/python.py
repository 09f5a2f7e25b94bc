"""The Python detector: pip, pyproject (PEP 621), Poetry, uv, pdm and pipenv, with Django, FastAPI and Flask.

Python is the ecosystem where one directory most often shows several build tools at once (a uv.lock and the
requirements.txt exported from it, a Pipfile left over from a migration), so this module's main job is the
documented ranking (``RANKING``, docs/detection.md "Python"): it returns one candidate per build tool seen,
best first, each with its own evidence, and names the rule on the first. Manifests are read in
``python_manifests``; frameworks, ports and the start command in ``python_frameworks``.

Reads only through the ``Tree``; never raises for a malformed manifest (a near miss instead); does not settle
conflicts with other ecosystems (``detect.repo`` does).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from wishstar.pipelines.detect import python_frameworks as fw
from wishstar.pipelines.detect import python_manifests as pm
from wishstar.pipelines.detect.base import Detector
from wishstar.pipelines.detect.evidence import Candidate, Chosen, Confidence, Evidence, NearMiss
from wishstar.pipelines.detect.runtimes import choose
from wishstar.pipelines.detect.tree import Tree, join, norm

RANKING: tuple[tuple[str, str], ...] = (
    ("uv.lock", "uv"), ("poetry.lock", "poetry"), ("pdm.lock", "pdm"), ("Pipfile.lock", "pipenv"),
    ("[tool.poetry]", "poetry"), ("[tool.pdm]", "pdm"), ("[tool.uv]", "uv"), ("Pipfile", "pipenv"),
    ("[project]", "pyproject"), ("requirements.txt", "pip"), ("setup.py", "pip"),
)
"""Signal to build tool, strongest first: a tool's lockfile beats its pyproject.toml table, which beats a plain
requirements.txt (usually exported from the tool's lock), which beats setup.py."""

READS_PROJECT_TABLE = ("uv", "poetry", "pdm")
"""Tools that read PEP 621's ``[project]`` table themselves: with one of them, ``[project]`` is its evidence,
not a separate pyproject candidate."""

LOCKS = {"uv": "uv.lock", "poetry": "poetry.lock", "pdm": "pdm.lock", "pipenv": "Pipfile.lock"}
MANIFESTS = {"uv": "pyproject.toml", "poetry": "pyproject.toml", "pdm": "pyproject.toml", "pipenv": "Pipfile"}
DOCKERIGNORE = ".venv __pycache__ *.pyc .pytest_cache .mypy_cache"
LOOKED_FOR = ("requirements.txt (requirements/*.txt), pyproject.toml ([project], [tool.poetry], [tool.pdm], "
              "[tool.uv]), uv.lock, poetry.lock, pdm.lock, Pipfile, Pipfile.lock, setup.py, setup.cfg")


def detect(tree: Tree, path: str) -> list[Candidate]:
    """One candidate per Python build tool seen at ``path``, best first by ``RANKING``."""
    found = pm.read(tree, path)
    if not found.signals or _is_docs_only(found):
        return []
    builds = _builds(found)
    shared = _shared(tree, found)
    candidates = [_candidate(tree, found, build, signals, shared) for build, signals in builds]
    if len(candidates) > 1:
        first, second = builds[0][1][0], builds[1][1][0]
        rule = (f"Python: {_signal_name(first)} beats {_signal_name(second)} (a build tool's lockfile beats its "
                "pyproject.toml table, which beats a plain requirements.txt, usually exported from the lock)")
        candidates[0] = replace(candidates[0], rule=rule)
    return candidates


def near_misses(tree: Tree, path: str) -> list[NearMiss]:
    """Malformed pyproject.toml or Pipfile; a pyproject.toml with none of the tables a build tool reads."""
    found = pm.read(tree, path)
    misses = list(found.problems)
    if found.pyproject is not None and not found.signals:
        rel = join(path, "pyproject.toml")
        misses.append(NearMiss(
            f"{rel} found but it has no [project], [tool.poetry], [tool.pdm] or [tool.uv] table (only tool "
            "settings), so it does not say how to install the project (hint: add a [project] table with name "
            "and dependencies, or a requirements.txt)", Evidence(rel, None, "pyproject.toml without a project")))
    return misses


def _builds(found: pm.Manifests) -> list[tuple[str, list[Evidence]]]:
    """Build tools seen, best first, each with its signals (its best signal first)."""
    by_build: dict[str, list[Evidence]] = {}
    tools = {build for signal, build in RANKING if signal in found.signals}
    for signal, build in RANKING:
        if signal not in found.signals:
            continue
        owner = build
        if signal == "[project]" and tools & set(READS_PROJECT_TABLE):
            owner = next(b for _, b in RANKING if b in tools & set(READS_PROJECT_TABLE))
        if signal == "setup.py" and "pyproject" in by_build:
            owner = "pyproject"
        by_build.setdefault(owner, []).append(found.signals[signal])
    return list(by_build.items())


def _signal_name(evidence: Evidence) -> str:
    """``uv.lock``, ``[tool.poetry]``, ``requirements.txt``: how the ranking rule names a build tool's signal."""
    return evidence.rule.removesuffix(" table") if evidence.rule.endswith(" table") else evidence.file.rsplit(
        "/", 1)[-1]


def _is_docs_only(found: pm.Manifests) -> bool:
    """A ``docs/`` directory with only a requirements file is Sphinx's build, not an app."""
    return norm(found.path).rsplit("/", 1)[-1] in ("docs", "doc") and set(found.signals) == {"requirements.txt"}


@dataclass(frozen=True)
class Shared:
    """What every candidate of one directory shares, whatever its build tool."""

    framework: fw.Framework | None
    port: Chosen | None
    python: Chosen
    tests: Evidence | None
    cmd: str
    cmd_note: str
    warnings: tuple[str, ...]


def _shared(tree: Tree, found: pm.Manifests) -> Shared:
    """What every candidate of the directory shares: framework, port, versions, tests and start command."""
    framework = fw.detect_framework(tree, found)
    port = fw.detect_port(tree, found, framework)
    spec, spec_evidence = pm.python_spec(tree, found)
    python, warning = choose("python", spec, spec_evidence)
    tests = fw.detect_tests(tree, found)
    cmd, cmd_note = fw.start_command(tree, found, framework, port, fw.main_package(tree, found))
    warnings = [w for w in (warning,) if w] + [p.message for p in found.problems]
    if framework is not None and not framework.confirmed:
        where = "manage.py" if framework.name == "django" else ", ".join(fw.ENTRY_NAMES[:5]) + ", ..."
        warnings.append(f"{framework.name} is a dependency ({framework.evidence[0]}) but no application was "
                        f"found ({where}): the image's CMD is a guess; edit it")
    return Shared(framework, port, python, tests, cmd, cmd_note, tuple(warnings))


def _candidate(tree: Tree, found: pm.Manifests, build: str, signals: list[Evidence],
               shared: Shared) -> Candidate:
    framework, tests = shared.framework, shared.tests
    evidence = list(signals) + (list(framework.evidence) if framework else [])
    if tests is not None:
        evidence.append(Evidence(tests.file, tests.line, f"{tests.rule}: runs pytest"))
    return Candidate(
        language="python", build=build, evidence=tuple(evidence),
        confidence=_confidence(tree, found, build, framework),
        framework=framework.name if framework else None, port=shared.port,
        versions={"python": shared.python}, facts=_facts(tree, found, build, shared), warnings=shared.warnings)


def _confidence(tree: Tree, found: pm.Manifests, build: str, framework: fw.Framework | None) -> Confidence:
    """``high`` when the build tool's lockfile or a confirmed framework (dependency plus entry file) backs the
    manifest, ``medium`` for a manifest alone (docs/detection.md "When two candidates match")."""
    locked = build in LOCKS and tree.is_file(join(found.path, LOCKS[build]))
    return "high" if locked or (framework is not None and framework.confirmed) else "medium"


def _facts(tree: Tree, found: pm.Manifests, build: str, shared: Shared) -> dict[str, str]:
    """What the templates need (docs/detection.md "Python": facts), every key always present."""
    framework = shared.framework
    path = found.path
    has = set(tree.files(path))
    lock = LOCKS.get(build, "")
    runtime_reqs = pm.runtime_requirements(found)
    if build in MANIFESTS:
        manifests = [MANIFESTS[build]] + ([lock] if lock in has else [])
    else:
        manifests = (["pyproject.toml"] if build == "pyproject" else []) + found.requirements
    installable = (build == "pyproject" and found.pyproject is not None) or (
        build == "pip" and "setup.py" in has)
    return {
        "dockerignore": DOCKERIGNORE,
        "requirements": " ".join(pm.test_requirements(found)) if build in ("pip", "pyproject") else "",
        "runtime_requirements": " ".join(runtime_reqs) if build in ("pip", "pyproject") else "",
        "extras": ",".join(found.test_extras) if build == "pyproject" else "",
        "install": "yes" if installable else "",
        "lock": "yes" if lock and lock in has else "",
        "tests": "pytest" if shared.tests is not None else "none",
        "entry": framework.entry if framework else "",
        "pythonpath": framework.pythonpath if framework else "",
        "manifests": " ".join(manifests),
        "cmd": shared.cmd,
        "cmd_note": shared.cmd_note,
    }


DETECTOR = Detector(language="python", looked_for=LOOKED_FOR, detect=detect, near_misses=near_misses)
