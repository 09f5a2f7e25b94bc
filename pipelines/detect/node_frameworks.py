"""What a JavaScript/TypeScript app is, beyond its package manager: framework, language, port, how it serves.

The framework comes from the dependencies (never from file extensions); TypeScript from tsconfig.json, a
``typescript`` dependency or ``.ts`` sources in ``src/``; the port from the scripts and the entry file, else
the framework's default marked as a default. The image either runs a Node server or, for a single-page app
built to static files (Vite, Angular, Create React App without a server framework), serves the build with
unprivileged nginx on 8080. The rules are tabled in docs/detection.md; change both together.

Pure reading through the ``Tree``; no package-manager logic (``detect.node``) and no templates.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from wishstar.pipelines.detect.evidence import Chosen, Evidence
from wishstar.pipelines.detect.node_manifest import Manifest
from wishstar.pipelines.detect.tree import Tree, join, line_of

STATIC_PORT = "8080"
"""nginx-unprivileged listens on 8080 (it cannot bind below 1024 as a non-root user)."""


@dataclass(frozen=True)
class Framework:
    """``name`` as reported; ``deps``: any of these dependencies (a trailing ``*`` is a scope prefix);
    ``port``: its default port when it serves itself; ``static``: built to files that nginx serves;
    ``out``: the build's output directory for a static app."""

    name: str
    deps: tuple[str, ...]
    port: str | None = "3000"
    static: bool = False
    out: str = "dist"


FRAMEWORKS: tuple[Framework, ...] = (
    Framework("next", ("next",)),
    Framework("nuxt", ("nuxt", "nuxt3")),
    Framework("remix", ("@remix-run/*",)),
    Framework("sveltekit", ("@sveltejs/kit",)),
    Framework("astro", ("astro",), port="4321", static=True),
    Framework("nestjs", ("@nestjs/core",)),
    Framework("angular", ("@angular/core",), port=None, static=True),
    Framework("fastify", ("fastify",)),
    Framework("koa", ("koa",)),
    Framework("express", ("express",)),
    Framework("create-react-app", ("react-scripts",), port=None, static=True, out="build"),
    Framework("vite", ("vite",), port=None, static=True),
)
"""Most specific first: a Next app also depends on react, a Nest app on express."""

SERVER_ADAPTERS = {"astro": "@astrojs/node", "angular": "@angular/ssr"}
"""A static framework with its server adapter serves itself with Node instead."""

ENTRY_FILES = ("server.js", "index.js", "app.js", "main.js", "server.mjs", "index.mjs", "src/main.ts",
               "src/index.ts", "src/server.ts", "src/main.js", "src/index.js", "src/server.js")
"""Where a Node server usually starts when package.json has no ``main`` (read in this order; bounded)."""

_SCRIPT_PORT = re.compile(r"(?:--port[= ]|(?<![\w-])-p\s+|\bPORT=)(\d{2,5})\b")
_ENV_OR = r"process\.env\.PORT\s*(?:\|\||\?\?)\s*"
_LISTEN_PORT = re.compile(rf"\.listen\(\s*(?:\{{\s*port:\s*)?(?:{_ENV_OR})?(\d{{2,5}})\b")
_CONST_PORT = re.compile(rf"\b(?:PORT\s*=\s*(?:Number\()?(?:{_ENV_OR})?|port\s*[=:]\s*(?:Number\()?{_ENV_OR})"
                         r"(\d{2,5})\b")


@dataclass(frozen=True)
class Shape:
    """How the app is built and served: framework and its evidence, static or a Node server, the port."""

    framework: Framework | None
    evidence: tuple[Evidence, ...]
    static: bool
    port: Chosen
    out: str


def framework_of(manifest: Manifest) -> tuple[Framework | None, tuple[Evidence, ...]]:
    """The first framework of ``FRAMEWORKS`` among the dependencies, with the dependency lines (for Vite, a
    react or vue dependency too)."""
    deps = manifest.deps()
    for framework in FRAMEWORKS:
        names = [name for name in deps if any(_matches(name, pattern) for pattern in framework.deps)]
        if names:
            evidence = [manifest.dep_evidence(names[0])]
            evidence += [manifest.dep_evidence(ui) for ui in ("react", "vue", "svelte") if
                         framework.name == "vite" and ui in deps]
            return framework, tuple(evidence)
    return None, ()


def framework_name(framework: Framework | None, manifest: Manifest) -> str | None:
    """``vite-react``/``vite-vue`` for a Vite app with that UI library, else the framework's name."""
    if framework is None:
        return None
    if framework.name == "vite":
        for ui in ("react", "vue", "svelte"):
            if ui in manifest.deps():
                return f"vite-{ui}"
    return framework.name


def _matches(name: str, pattern: str) -> bool:
    return name.startswith(pattern[:-1]) if pattern.endswith("*") else name == pattern


def typescript_evidence(tree: Tree, directory: str, manifest: Manifest) -> Evidence | None:
    """Why this is TypeScript: tsconfig.json, a ``typescript`` dependency, or ``.ts`` files in ``src/``."""
    if tree.is_file(join(directory, "tsconfig.json")):
        return Evidence(join(directory, "tsconfig.json"), None, "present")
    if "typescript" in manifest.deps():
        return manifest.dep_evidence("typescript")
    src = join(directory, "src")
    sources = [name for name in tree.files(src) if name.endswith((".ts", ".tsx", ".mts"))
               and not name.endswith(".d.ts")]
    if sources:
        return Evidence(join(src, sources[0]), None, f"TypeScript sources in src/ ({len(sources)} files)")
    return None


def shape_of(tree: Tree, directory: str, manifest: Manifest) -> Shape:
    """Framework, static or server, and the port with its evidence (or its default)."""
    framework, evidence = framework_of(manifest)
    deps = manifest.deps()
    adapter = SERVER_ADAPTERS.get(framework.name) if framework else None
    static = bool(framework and framework.static and not (adapter and adapter in deps))
    if framework and framework.name == "sveltekit" and "@sveltejs/adapter-static" in deps:
        static, out = True, "build"
    else:
        out = _static_out(tree, directory, manifest, framework) if static else ""
    if static:
        why = f"nginx-unprivileged serves the {framework.name if framework else 'static'} build on 8080"
        return Shape(framework, evidence, True, Chosen(STATIC_PORT, default=why), out)
    return Shape(framework, evidence, False, server_port(tree, directory, manifest, framework), out)


def _static_out(tree: Tree, directory: str, manifest: Manifest, framework: Framework | None) -> str:
    """Angular writes to ``outputPath`` from angular.json (``dist/<project>`` by default) plus ``/browser``
    (the application builder of Angular 17+); the others to their framework's fixed directory."""
    if framework is None or framework.name != "angular":
        return framework.out if framework else "dist"
    text = tree.text(join(directory, "angular.json")) or ""
    found = re.search(r'"outputPath"\s*:\s*"([^"]+)"', text)
    if found:
        return found.group(1).rstrip("/") + "/browser"
    project = re.search(r'"projects"\s*:\s*\{\s*"([^"]+)"', text)
    name = project.group(1) if project else (manifest.string("name") or "app").rsplit("/", 1)[-1]
    return f"dist/{name}/browser"


def server_port(tree: Tree, directory: str, manifest: Manifest, framework: Framework | None) -> Chosen:
    """``--port N``/``-p N``/``PORT=N`` in scripts.start, then ``listen(N``/``PORT || N`` in the entry file,
    then the same in scripts.dev, else the framework's default (3000 for a Node server)."""
    scripts = manifest.section("scripts")
    for name in ("start", "entry", "dev"):
        if name == "entry":
            found = _entry_port(tree, directory, manifest)
            if found:
                return found
            continue
        match = _SCRIPT_PORT.search(scripts.get(name, ""))
        if match:
            return Chosen(match.group(1), manifest.evidence(name, "scripts", f"scripts.{name} port {match.group(1)}"))
    name = framework.name if framework and framework.port else "Node"
    port = framework.port if framework and framework.port else "3000"
    return Chosen(port, default=f"{name}'s default port")


def entry_file(tree: Tree, directory: str, manifest: Manifest) -> str | None:
    """The app's entry file relative to ``directory``: package.json ``main`` when it exists, else the first
    of ``ENTRY_FILES`` present."""
    main = manifest.string("main")
    if main and tree.is_file(join(directory, main)):
        return main.removeprefix("./")
    return next((name for name in ENTRY_FILES if tree.is_file(join(directory, name))), None)


def _entry_port(tree: Tree, directory: str, manifest: Manifest) -> Chosen | None:
    entry = entry_file(tree, directory, manifest)
    if entry is None:
        return None
    file = join(directory, entry)
    text = tree.text(file) or ""
    for pattern in (_LISTEN_PORT, _CONST_PORT):
        match = pattern.search(text)
        if match:
            said = " ".join(match.group(0).replace("Number(", "").split())
            rule = f"listen({match.group(1)})" if pattern is _LISTEN_PORT else said
            return Chosen(match.group(1), Evidence(file, line_of(text, match.start()), rule))
    return None


SAFE_ARG = re.compile(r"^[A-Za-z0-9._/@+-]+$")
"""What a file name from package.json must look like to be written into a Dockerfile's CMD."""


def start_command(tree: Tree, directory: str, manifest: Manifest, runner: tuple[str, ...]) -> str:
    """The image's CMD as a JSON array: ``start:prod`` (NestJS's convention) or ``start`` through
    ``runner`` (``npm run``: the run image has npm, not pnpm or yarn), else ``node`` on the entry file, else
    ``npm start`` (npm's own default runs ``node server.js``)."""
    scripts = manifest.section("scripts")
    for name in ("start:prod", "start"):
        if name in scripts:
            return json.dumps([*runner, name])
    entry = entry_file(tree, directory, manifest)
    if entry and SAFE_ARG.match(entry):
        return json.dumps(["node", entry])
    return json.dumps([*runner, "start"])
