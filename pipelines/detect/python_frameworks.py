"""Python web frameworks, entry points, ports, tests and the image's start command, for the Python detector.

A framework is concluded from a declared dependency *and* the file that uses it (``manage.py`` for Django,
``FastAPI(`` or ``Flask(__name__)`` in one of a bounded list of entry files); the dependency alone is a
medium-confidence guess. The entry found here (``app.main:app``) becomes the Dockerfile's ``CMD``, which is
built as a JSON array of values checked against strict patterns, so nothing from the repository reaches the
Dockerfile unchecked. Reads only through the ``Tree``; never walks below a package directory.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from wishstar.pipelines.detect.evidence import Chosen, Evidence
from wishstar.pipelines.detect.python_manifests import Manifests
from wishstar.pipelines.detect.tree import Tree, join, line_of, norm

ENTRY_NAMES = ("main.py", "app.py", "server.py", "api.py", "asgi.py", "wsgi.py", "application.py",
               "__init__.py")
"""File names that may hold the application object, at the app's root and in its package directories."""

_MAX_PACKAGES = 24
_IDENT = re.compile(r"^[A-Za-z_]\w*$")
_PORT_VALUE = (r"(?:int\(\s*)?(?:os\.(?:environ\.get|getenv)\(\s*[\"']PORT[\"']\s*,\s*[\"']?)?(\d{2,5})")
"""A literal port, or the default of ``int(os.environ.get("PORT", 5000))``."""
_RUN_PORT = re.compile(rf"\b(?:\w+\.)?run\([^)]*?\bport\s*=\s*{_PORT_VALUE}", re.DOTALL)
_COMMAND_PORTS = (
    re.compile(r"--port[= ]+(\d{2,5})\b"),
    re.compile(r"(?:--bind|-b)[= ]+[\"']?[\w.\[\]:]*:(\d{2,5})\b"),
    re.compile(r"runserver\s+(?:[\w.]+:)?(\d{2,5})\b"),
    re.compile(r"^[ \t]*bind\s*=\s*\[?[\"'][\w.]*:(\d{2,5})[\"']", re.MULTILINE),
)


@dataclass(frozen=True)
class Framework:
    """``name`` (django, fastapi, flask), its ``evidence`` (dependency first, then the entry file when found),
    ``entry`` (``module:object`` for the ASGI/WSGI server; empty when not found), ``pythonpath`` (``src`` for a
    src layout) and whether the entry file confirmed it (``confirmed``)."""

    name: str
    evidence: tuple[Evidence, ...]
    entry: str
    pythonpath: str
    confirmed: bool
    entry_file: str | None = None


def entry_files(tree: Tree, path: str) -> list[str]:
    """The bounded list of files that may hold an application object: ``ENTRY_NAMES`` at ``path``, in its
    top-level package directories and in ``src/<pkg>/``."""
    dirs = [path]
    dirs += [join(path, d) for d in tree.dirs(path) if d not in ("tests", "test", "docs", "src")][:_MAX_PACKAGES]
    if tree.is_dir(join(path, "src")):
        dirs += [join(path, f"src/{d}") for d in tree.dirs(join(path, "src"))][:_MAX_PACKAGES]
    files = [join(path, n) for n in tree.files(path) if n in ENTRY_NAMES and n != "__init__.py"]
    for directory in dirs[1:]:
        files += [join(directory, n) for n in tree.files(directory) if n in ENTRY_NAMES]
    return sorted(files, key=lambda f: (f.count("/"), ENTRY_NAMES.index(f.rsplit("/", 1)[-1]), f))


def module_of(path: str, file: str) -> tuple[str, str] | None:
    """The importable module of ``file`` (relative to the app's ``path``) and the PYTHONPATH it needs
    (``src`` for ``src/pkg/main.py``); None when a part is not an identifier."""
    rel = file if norm(path) == "." else file[len(norm(path)) + 1:]
    pythonpath = ""
    if rel.startswith("src/"):
        rel, pythonpath = rel[4:], "src"
    parts = rel[:-3].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(_IDENT.match(p) for p in parts):
        return None
    return ".".join(parts), pythonpath


def detect_framework(tree: Tree, found: Manifests) -> Framework | None:
    """Django, then FastAPI, then Flask: the first whose dependency is declared."""
    if "django" in found.deps:
        return _django(tree, found)
    for name, pattern in (("fastapi", r"^(\w+)\s*(?::[^=\n]*)?=\s*(?:fastapi\.)?FastAPI\("),
                          ("flask", r"^(\w+)\s*(?::[^=\n]*)?=\s*(?:flask\.)?Flask\(\s*__name__")):
        if name in found.deps:
            return _app_object(tree, found, name, pattern)
    return None


def _django(tree: Tree, found: Manifests) -> Framework:
    dep = found.deps["django"]
    manage = join(found.path, "manage.py")
    if not tree.is_file(manage):
        return Framework("django", (dep,), "", "", False)
    text = tree.text(manage) or ""
    match = re.search(r"DJANGO_SETTINGS_MODULE[\"']\s*,\s*[\"']([\w.]+)[\"']", text)
    evidence = [dep, Evidence(manage, None, "Django management script")]
    entry = ""
    if match:
        module = match.group(1)
        evidence.append(Evidence(manage, line_of(text, match.start()), f"settings module {module}"))
        package = _wsgi_package(tree, found.path, module)
        if package and all(_IDENT.match(p) for p in package.split(".")):
            entry = f"{package}.wsgi:application"
    return Framework("django", tuple(evidence), entry, "", True, manage)


def _wsgi_package(tree: Tree, path: str, settings: str) -> str | None:
    """The package holding ``wsgi.py`` for settings module ``settings``: the settings' package or the
    nearest one above it (``config.settings.production`` -> ``config`` when ``config/wsgi.py`` exists), else
    the settings' own package."""
    parts = settings.split(".")[:-1] or settings.split(".")
    for end in range(len(parts), 0, -1):
        if tree.is_file(join(path, "/".join(parts[:end]) + "/wsgi.py")):
            return ".".join(parts[:end])
    return ".".join(parts)


def _app_object(tree: Tree, found: Manifests, name: str, pattern: str) -> Framework:
    dep = found.deps[name]
    label = "FastAPI(" if name == "fastapi" else "Flask(__name__)"
    for file in entry_files(tree, found.path):
        hit = tree.find(file, pattern, f"{label} application object")
        text = tree.text(file) or ""
        if hit is None and name == "flask":
            hit = tree.find(file, r"^def (create_app)\(", "Flask application factory create_app()")
        if hit is None or (name == "flask" and "Flask(" not in text):
            continue
        module = module_of(found.path, file)
        if module is None:
            continue
        line = text.splitlines()[hit.line - 1] if hit.line else ""
        var = re.match(r"^(?:def )?(\w+)", line)
        obj = f"{var.group(1)}()" if line.startswith("def ") and var else var.group(1) if var else "app"
        return Framework(name, (dep, hit), f"{module[0]}:{obj}", module[1], True, file)
    return Framework(name, (dep,), "", "", False)


def detect_port(tree: Tree, found: Manifests, framework: Framework | None) -> Chosen | None:
    """The port the app listens on, with evidence (``app.run(port=)``, ``uvicorn.run(port=)``, ``--port``/
    ``--bind`` in a Procfile, pyproject.toml scripts or gunicorn.conf.py); else the framework's default; None
    for a project that is not a web app."""
    if framework is None:
        return None
    files: list[str] = [framework.entry_file] if framework.entry_file and framework.name != "django" else []
    files += [f for f in entry_files(tree, found.path) if f not in files][:8]
    for file in files:
        text = tree.text(file) or ""
        match = _RUN_PORT.search(text)
        if match:
            return Chosen(match.group(1), Evidence(file, line_of(text, match.start()),
                                                   f"run(port={match.group(1)})"))
    for name in ("Procfile", "pyproject.toml", "gunicorn.conf.py", "gunicorn_config.py"):
        rel = join(found.path, name)
        command = (tree.text(rel) or "") if tree.is_file(rel) else ""
        for pattern in _COMMAND_PORTS:
            match = pattern.search(command)
            if match:
                line = line_of(command, match.start())
                return Chosen(match.group(1), Evidence(rel, line, f"command {match.group(0).strip()}"))
    if framework.name == "flask":
        return Chosen("5000", default="Flask's development server default port")
    server = "Django's runserver" if framework.name == "django" else "uvicorn's"
    return Chosen("8000", default=f"{server} default port (gunicorn's too)")


def detect_tests(tree: Tree, found: Manifests) -> Evidence | None:
    """Why pytest runs: a pytest dependency, pytest configuration, or tests at the top (bounded)."""
    if "pytest" in found.deps:
        return found.deps["pytest"]
    path = found.path
    for name, rule in (("pytest.ini", "pytest configuration"), ("conftest.py", "pytest conftest")):
        if tree.is_file(join(path, name)):
            return Evidence(join(path, name), None, rule)
    for name, pattern in (("pyproject.toml", r"^[ \t]*\[tool\.pytest\.ini_options\]"),
                          ("setup.cfg", r"^[ \t]*\[tool:pytest\]"), ("tox.ini", r"^[ \t]*\[pytest\]")):
        hit = tree.find(join(path, name), pattern, "pytest configuration") if tree.is_file(join(path, name)) \
            else None
        if hit:
            return hit
    for directory in ("tests", "test"):
        if tree.is_dir(join(path, directory)):
            return Evidence(join(path, directory), None, "test directory")
    for name in tree.files(path):
        if re.fullmatch(r"test_\w+\.py|\w+_test\.py", name):
            return Evidence(join(path, name), None, "test file at the top")
    return None


def start_command(tree: Tree, found: Manifests, framework: Framework | None, port: Chosen | None,
                  package: str | None) -> tuple[str, str]:
    """The Dockerfile's ``CMD`` as a JSON array, and a comment for it (empty when nothing to say). The server
    is whichever is a declared dependency: gunicorn, uvicorn, else the framework's own command."""
    deps = found.deps
    uvicorn = "uvicorn" in deps or "standard" in found.extras.get("fastapi", set())
    p = port.value if port else "8000"
    if framework is not None and framework.name == "django" and framework.confirmed:
        wsgi, asgi = framework.entry, framework.entry.replace(".wsgi:", ".asgi:")
        if wsgi and "gunicorn" in deps:
            return _cmd("gunicorn", "--bind", f"0.0.0.0:{p}", wsgi), ""
        if asgi and uvicorn:
            return _cmd("uvicorn", "--host", "0.0.0.0", "--port", p, asgi), ""
        return _cmd("python", "manage.py", "runserver", f"0.0.0.0:{p}"), (
            "Django's development server: no gunicorn or uvicorn dependency (or no settings module) was found; "
            "for production add gunicorn and run PROJECT.wsgi:application with it")
    if framework is not None and framework.entry:
        if framework.name == "fastapi":
            if uvicorn:
                return _cmd("uvicorn", "--host", "0.0.0.0", "--port", p, framework.entry), ""
            note = ("no ASGI server (uvicorn) is a declared dependency: add uvicorn and use "
                    f'CMD ["uvicorn", "--host", "0.0.0.0", "--port", "{p}", "{framework.entry}"]')
            return _cmd("python", "-m", framework.entry.split(":")[0]), note
        if "gunicorn" in deps:
            return _cmd("gunicorn", "--bind", f"0.0.0.0:{p}", framework.entry), ""
        return _cmd("flask", "--app", framework.entry, "run", "--host", "0.0.0.0", "--port", p), (
            "Flask's development server: no gunicorn dependency is declared (add gunicorn for production)")
    if package:
        return _cmd("python", "-m", package), ""
    for name in ("main.py", "app.py", "manage.py"):
        if tree.is_file(join(found.path, name)):
            return _cmd("python", name), ""
    return _cmd("python"), "no entry point found: replace this CMD with the command that starts the program"


def _cmd(*argv: str) -> str:
    return json.dumps(list(argv))


def main_package(tree: Tree, found: Manifests) -> str | None:
    """The package ``python -m`` runs: the project's name as a directory with ``__main__.py`` (at the top or
    in src/), else the only top-level directory with a ``__main__.py``."""
    path = found.path
    name = (found.pyproject or {}).get("project", {}).get("name") if isinstance(
        (found.pyproject or {}).get("project"), dict) else None
    roots = [path, join(path, "src")] if tree.is_dir(join(path, "src")) else [path]
    if isinstance(name, str):
        module = re.sub(r"[-.]+", "_", name).lower()
        for root in roots:
            if _IDENT.match(module) and tree.is_file(join(root, f"{module}/__main__.py")):
                return module
    for root in roots:
        with_main = [d for d in tree.dirs(root)[:_MAX_PACKAGES] if _IDENT.match(d)
                     and tree.is_file(join(root, f"{d}/__main__.py"))]
        if len(with_main) == 1:
            return with_main[0]
    return None
