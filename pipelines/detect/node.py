"""The JavaScript/TypeScript detector (npm, pnpm, yarn, bun): package.json is the manifest.

The package manager comes from package.json's ``packageManager`` field first, then the lockfile. Several
lockfiles (a pnpm-lock.yaml and a stray package-lock.json from someone running plain ``npm install``) give
several candidates, best first, the first saying by which documented rule it won (docs/detection.md,
"JavaScript and TypeScript"). Workspaces (package.json ``workspaces``, pnpm-workspace.yaml) declare members;
a member is built from the workspace root with the root's package manager and lockfile.

Reads through the ``Tree`` only, never runs a package manager; a malformed package.json is a near miss.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from wishstar.pipelines.detect.base import Detector, Members
from wishstar.pipelines.detect.evidence import Candidate, Chosen, Confidence, Evidence, NearMiss, printable
from wishstar.pipelines.detect.node_frameworks import (
    SAFE_ARG,
    framework_name,
    shape_of,
    start_command,
    typescript_evidence,
)
from wishstar.pipelines.detect.node_manifest import Malformed, Manifest, read_manifest
from wishstar.pipelines.detect.node_workspaces import find_root, workspace_members
from wishstar.pipelines.detect.runtimes import choose, static_images
from wishstar.pipelines.detect.tree import Tree, join

LOCKFILES: tuple[tuple[str, str], ...] = (
    ("pnpm-lock.yaml", "pnpm"), ("yarn.lock", "yarn"), ("bun.lock", "bun"), ("bun.lockb", "bun"),
    ("package-lock.json", "npm"), ("npm-shrinkwrap.json", "npm"),
)
"""Lockfile to package manager, in the documented order of preference."""

MANAGERS = ("pnpm", "yarn", "bun", "npm")

TOOL_VERSIONS = {"pnpm": "9.15.9", "yarn": "1.22.22", "yarn-berry": "4.18.1", "bun": "1.4.5"}
"""The tool release a generated file pins when the project names none (``packageManager`` does); pnpm by
lockfile version below. Recorded in the generated file, so an upgrade of Wishstar changes no build."""

PNPM_BY_LOCKFILE = {"5": "7.33.7", "6": "8.15.9", "9": "9.15.9"}

RULE_FIELD = "the packageManager field in package.json wins over lockfiles"
RULE_STRAY_NPM = ("a non-npm lockfile beats package-lock.json (a stray package-lock.json comes from someone "
                  "running plain `npm install`)")
RULE_ORDER = "between non-npm lockfiles the fixed order pnpm-lock.yaml, yarn.lock, bun.lock(b) decides"

_VERSION = re.compile(r"^\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?$")
PLACEHOLDER_TEST = re.compile(r'echo\s+\\?"Error: no test specified\\?"\s*&&\s*exit 1')

DOCKERIGNORE = {"npm": "node_modules npm-debug.log* .npm", "pnpm": "node_modules .pnpm-store pnpm-debug.log*",
                "yarn": "node_modules yarn-error.log .yarn/cache .yarn/install-state.gz",
                "bun": "node_modules"}
DOCKERIGNORE_COMMON = ".next .nuxt .svelte-kit .astro dist coverage .env.local"

LOOKED_FOR = ("package.json (package manager from its packageManager field, then pnpm-lock.yaml, yarn.lock, "
              "bun.lock/bun.lockb, package-lock.json/npm-shrinkwrap.json)")


@dataclass(frozen=True)
class Signal:
    """One reason to use a package manager: ``manager``, its ``evidence``, the ``version`` it pins."""

    manager: str
    evidence: Evidence | None
    version: str | None = None
    field: bool = False
    """From the packageManager field (not a lockfile)."""


def detect(tree: Tree, path: str) -> list[Candidate]:
    """The candidates for ``path``: one per package manager the project points at, best first."""
    manifest = read_manifest(tree, path)
    if not isinstance(manifest, Manifest):
        return []
    root = find_root(tree, path)
    root_dir = root.directory if root else path
    root_manifest = read_manifest(tree, root_dir) if root else manifest
    signals, warnings = manager_signals(tree, root_dir,
                                        root_manifest if isinstance(root_manifest, Manifest) else manifest)
    ranked, rule = rank(signals)
    base = base_candidate(tree, path, manifest, root_dir, warnings)
    if root is not None:
        base = replace(base, context=root.context, evidence=(*base.evidence, root.evidence))
    candidates = [for_manager(base, tree, path, manifest, root_dir, signal) for signal in ranked]
    if rule is not None:
        candidates[0] = replace(candidates[0], rule=rule)
    return candidates


def manager_signals(tree: Tree, directory: str, manifest: Manifest) -> tuple[list[Signal], list[str]]:
    """The packageManager field (if it names a known manager) and every lockfile in ``directory``."""
    signals: list[Signal] = []
    warnings: list[str] = []
    field = manifest.string("packageManager")
    if field:
        name, _, version = field.partition("@")
        version = version.split("+", 1)[0]
        evidence = manifest.evidence("packageManager", None, f"packageManager {field}")
        if name in MANAGERS:
            if version and not _VERSION.match(version):
                warnings.append(f"{evidence.file}: packageManager version {version!r} is not exact; pinned "
                                "Wishstar's default instead")
                version = ""
            signals.append(Signal(name, evidence, version or None, field=True))
        else:
            warnings.append(f"{evidence}: unknown package manager {name!r}; ignored")
    for lockfile, manager in LOCKFILES:
        file = join(directory, lockfile)
        if tree.is_file(file):
            signals.append(Signal(manager, Evidence(file, None, f"lockfile: {manager}")))
    return signals, warnings


def rank(signals: list[Signal]) -> tuple[list[Signal], str | None]:
    """One signal per manager, best first, and the rule that ranked the first when there are several.
    No signal at all: npm (npm's own default), with no evidence of its own (medium confidence)."""
    if not signals:
        return [Signal("npm", None)], None
    by_manager: dict[str, list[Signal]] = {}
    for signal in signals:
        by_manager.setdefault(signal.manager, []).append(signal)
    field = next((s for s in signals if s.field), None)
    order = sorted(by_manager, key=MANAGERS.index)
    if field is not None:
        order.remove(field.manager)
        order.insert(0, field.manager)
    ranked = [_merge(by_manager[m]) for m in order]
    if len(ranked) == 1:
        return ranked, None
    if field is not None:
        return ranked, RULE_FIELD
    return ranked, RULE_STRAY_NPM if ranked[1].manager == "npm" else RULE_ORDER


def _merge(signals: list[Signal]) -> Signal:
    """The signals of one manager as one: the first's evidence and version (the field comes first)."""
    return replace(signals[0], version=next((s.version for s in signals if s.version), None))


def base_candidate(tree: Tree, path: str, manifest: Manifest, root_dir: str, warnings: list[str]) -> Candidate:
    """What does not depend on the package manager: language, framework, port, node version."""
    typescript = typescript_evidence(tree, path, manifest)
    shape = shape_of(tree, path, manifest)
    node, warning = node_version(tree, path, manifest, root_dir)
    evidence = [Evidence(manifest.file, None, "manifest"), *shape.evidence]
    if typescript:
        evidence.append(typescript)
    scripts = manifest.section("scripts")
    test = scripts.get("test", "")
    facts = {
        "test_script": "test" if test.strip() and not PLACEHOLDER_TEST.search(test) else "",
        "build_script": "build" if "build" in scripts else "",
        "serve": "static" if shape.static else "node",
        "static_dir": shape.out,
        "static_image": static_images()["run"],
    }
    return Candidate(
        language="typescript" if typescript else "javascript", build="npm", evidence=tuple(evidence),
        confidence="high", framework=framework_name(shape.framework, manifest), port=shape.port,
        versions={"node": node}, facts=facts, warnings=tuple(warnings + ([warning] if warning else [])))


def for_manager(base: Candidate, tree: Tree, path: str, manifest: Manifest, root_dir: str,
                signal: Signal) -> Candidate:
    """``base`` built with ``signal``'s package manager: its evidence, tool pin and file lists."""
    manager = signal.manager
    lockfile = next((name for name, m in LOCKFILES if m == manager and tree.is_file(join(root_dir, name))), "")
    flavor = yarn_flavor(tree, root_dir, signal) if manager == "yarn" else ""
    version = signal.version or default_version(tree, root_dir, manager, flavor)
    package = "" if manager == "npm" else (f"@yarnpkg/cli-dist@{version}" if flavor == "berry"
                                           else f"{manager}@{version}")
    in_image = manager == "bun" or flavor == "berry"  # the others' installs run under plain node and npm
    runner = (manager, "run") if in_image else ("npm", "run")
    member = root_dir != path
    prefix = "" if root_dir == "." else root_dir + "/"
    extras = [name for name in (".npmrc", "pnpm-workspace.yaml", ".yarnrc.yml") if tree.is_file(join(root_dir, name))]
    root_files = ["package.json", *([lockfile] if lockfile else []), *extras]
    facts = dict(base.facts)
    facts.update({
        "lockfile": lockfile, "yarn_flavor": flavor, "tool_package": package,
        "tool_in_image": "yes" if in_image else "",
        "cmd": start_command(tree, path, manifest, runner),
        "root_files": " ".join(f"{prefix}{name}" if member else name for name in root_files),
        "member_files": " ".join(_member_manifests(tree, root_dir, path)) if member else "",
        "app_dir": path if member else ".",
        "workspace_root": root_dir if member else "",
        "dockerignore": f"{DOCKERIGNORE[manager]} {DOCKERIGNORE_COMMON}",
    })
    warnings = base.warnings
    if not SAFE_ARG.match(path) or not SAFE_ARG.match(root_dir):
        warnings += (f"{path}: the directory name has characters the generated Dockerfile cannot carry safely; "
                     "edit its COPY and WORKDIR lines",)
    evidence = (signal.evidence, *base.evidence) if signal.evidence else base.evidence
    confidence: Confidence = "high" if signal.evidence else "medium"
    return replace(base, build=manager, evidence=evidence, confidence=confidence, facts=facts, warnings=warnings)


def _member_manifests(tree: Tree, root_dir: str, path: str) -> list[str]:
    """Every member's package.json of the workspace (an install from the root lockfile needs them all)."""
    members = workspace_members(tree, root_dir)
    paths = members.paths if members else (path,)
    return [join(p, "package.json") for p in paths if SAFE_ARG.match(p)]


def yarn_flavor(tree: Tree, directory: str, signal: Signal) -> str:
    """``berry`` (Yarn 2+) from the packageManager version, a .yarnrc.yml or a berry lockfile; else
    ``classic``."""
    if signal.version:
        return "classic" if signal.version.startswith("1.") else "berry"
    if tree.is_file(join(directory, ".yarnrc.yml")):
        return "berry"
    lock = tree.text(join(directory, "yarn.lock")) or ""
    return "berry" if "__metadata:" in lock[:2000] else "classic"


def default_version(tree: Tree, directory: str, manager: str, flavor: str) -> str:
    """The tool release when the project pins none: pnpm by its lockfile's major version."""
    if manager == "npm":
        return ""
    if manager == "pnpm":
        lock = tree.text(join(directory, "pnpm-lock.yaml")) or ""
        found = re.search(r"^lockfileVersion:\s*['\"]?(\d+)", lock, re.MULTILINE)
        return PNPM_BY_LOCKFILE.get(found.group(1) if found else "9", TOOL_VERSIONS["pnpm"])
    return TOOL_VERSIONS["yarn-berry" if flavor == "berry" else manager]


NVM_ALIASES = {"lts/hydrogen": "18", "lts/iron": "20", "lts/jod": "22", "lts/krypton": "24"}


def node_version(tree: Tree, path: str, manifest: Manifest, root_dir: str) -> tuple[Chosen, str | None]:
    """engines.node, then .nvmrc, then .node-version: the app's own first, then the workspace root's."""
    for directory in dict.fromkeys((path, root_dir)):
        own = manifest if directory == path else read_manifest(tree, directory)
        if isinstance(own, Manifest) and own.section("engines").get("node"):
            engines = own.section("engines")["node"]
            return choose("node", engines, own.evidence("node", "engines", f"engines.node {engines}"))
        for name in (".nvmrc", ".node-version"):
            text = (tree.text(join(directory, name)) or "").strip()
            if text:
                first = text.splitlines()[0].strip()
                alias = NVM_ALIASES.get(first.lower(), None if first.lower().startswith("lts/") else first)
                return choose("node", alias, Evidence(join(directory, name), 1, printable(f"{name} {first}")))
    return choose("node", None, None)


def near_misses(tree: Tree, path: str) -> list[NearMiss]:
    """A package.json that is not valid JSON (with the line), or a lockfile without a package.json."""
    manifest = read_manifest(tree, path)
    if isinstance(manifest, Malformed):
        return [NearMiss(f"{manifest.file}:{manifest.line or 1}: {manifest.problem}; fix the JSON (a trailing "
                         "comma or a comment is the usual cause) so the project can be detected",
                         Evidence(manifest.file, manifest.line, "package.json is not valid JSON"))]
    if manifest is None:
        for lockfile, manager in LOCKFILES:
            if tree.is_file(join(path, lockfile)) and find_root(tree, path) is None:
                file = join(path, lockfile)
                return [NearMiss(f"{file} found but no package.json next to it ({manager} needs one)",
                                 Evidence(file, None, f"lockfile {lockfile}"))]
    return []


def members(tree: Tree, path: str) -> Members | None:
    return workspace_members(tree, path)


DETECTOR = Detector(language="javascript", looked_for=LOOKED_FOR, detect=detect, near_misses=near_misses,
                    members=members)
