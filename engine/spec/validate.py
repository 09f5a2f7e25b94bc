"""Cross-field validation of a pipeline: names, needs, references, workspaces, CEL, cycles, library tasks.

Every problem is collected (with file, line, field path and a hint) and raised once as ``ValidationFailed``.
Library tasks are seen through ``UsesInfo`` so this module stays independent of how the library is stored. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from wishstar.engine.spec import cel
from wishstar.engine.spec.errors import Path, Problem, ValidationFailed, did_you_mean
from wishstar.engine.spec.loader import YamlDocument, load_yaml
from wishstar.engine.spec.model import NAME_PATTERN, Pipeline, PodSettings, ResourceList, Task
from wishstar.engine.spec.structure import best_effort, parse_structure
from wishstar.engine.spec.subst import ParamRef, Ref, find_refs, param_ref
from wishstar.engine.spec.uses import parse_uses, uses_problem

CONTEXT_REFS = {("context", "run", "id"), ("context", "run", "number"), ("context", "pipeline", "name"),
                ("context", "task", "name"), ("context", "task", "attempt")}
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class UsesInfo:
    """What validation needs to know of a library task once its ``with:`` is applied."""

    results: tuple[str, ...]
    workspaces: tuple[tuple[str, bool], ...]
    """(name, optional) of each workspace the library task declares."""
    params: tuple[str, ...] = ()
    problems: tuple[tuple[Path, str, str | None], ...] = ()
    """(path below the task, message, hint) for bad ``with:`` values."""


@dataclass(frozen=True)
class UsesMissing:
    """The library holds the task's name but not what ``uses:`` asks for (a version it lacks)."""

    message: str
    hint: str | None = None


UsesLookup = Callable[[Task], "UsesInfo | UsesMissing | None"]
"""The library's answer for a task's ``uses:``: its info, what is missing, or None (no such name)."""


@dataclass
class _Checker:
    loaded: YamlDocument
    pipeline: Pipeline
    uses: UsesLookup
    library_names: tuple[str, ...]
    problems: list[Problem] = field(default_factory=list)
    infos: dict[str, UsesInfo | None] = field(default_factory=dict)
    broken: frozenset[str] = frozenset()

    def add(self, path: Path, message: str, hint: str | None = None, line_offset: int = 0) -> None:
        problem = self.loaded.problem(path, message, hint)
        if line_offset and problem.line:
            problem = Problem(problem.file, problem.line + line_offset, problem.path, message, hint)
        self.problems.append(problem)

    @property
    def all_tasks(self) -> dict[str, tuple[str, Task]]:
        out = {n: ("tasks", t) for n, t in self.pipeline.tasks.items()}
        out.update({n: ("finally", t) for n, t in self.pipeline.finally_.items()})
        return out

    def results_of(self, name: str) -> tuple[str, ...] | None:
        # Looked up directly, not through ``all_tasks`` (which builds a dict of every task): this is called
        # once per result reference, so that made validation O(tasks^2). A finally task wins, as there.
        task = self.pipeline.finally_.get(name)
        if task is None:
            task = self.pipeline.tasks.get(name)
        if task is None:
            return None
        if task.uses:
            info = self.infos.get(name)
            return info.results if info else None
        return tuple(r.name for r in task.results)


def _strings(task: Task, prefix: Path) -> Iterator[tuple[Path, str]]:
    """Every string of a task that may hold references, with its path."""
    for key in ("script", "image", "working_dir"):
        value = getattr(task, key)
        if isinstance(value, str):
            yield (*prefix, "workingDir" if key == "working_dir" else key), value
    for name, value in task.env.items():
        if isinstance(value, str):
            yield (*prefix, "env", name), value
    for key, value in task.with_.items():
        values = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else [value]
        for item in values:
            yield (*prefix, "with", key), item
    for i, step in enumerate(task.steps or []):
        at = (*prefix, "steps", i)
        for key in ("script", "image", "working_dir"):
            value = getattr(step, key)
            if isinstance(value, str):
                yield (*at, "workingDir" if key == "working_dir" else key), value
        for j, arg in enumerate([*(step.command or []), *step.args]):
            yield (*at, "command" if j < len(step.command or []) else "args"), arg
        for name, value in step.env.items():
            if isinstance(value, str):
                yield (*at, "env", name), value


def _line_offset(text: str, ref: Ref) -> int:
    return (1 if "\n" in text else 0) + text[: ref.start].count("\n")


def _check_names(c: _Checker) -> None:
    for section, tasks in (("tasks", c.pipeline.tasks), ("finally", c.pipeline.finally_)):
        for name in tasks:
            if not re.match(NAME_PATTERN, name):
                c.add((section, name), f'task name "{name}" is not valid',
                      "use lowercase letters, digits, '-' and '_' (at most 63 characters)")
    for name in set(c.pipeline.tasks) & set(c.pipeline.finally_):
        c.add(("finally", name), f'"{name}" is both a task and a finally task', "task names must be unique")
    for pname in c.pipeline.params:
        if not re.match(NAME_PATTERN, pname.lower()) and not ENV_NAME.match(pname):
            c.add(("params", pname), f'parameter name "{pname}" is not valid', "use letters, digits and '_'")


def _check_shape(c: _Checker, section: str, name: str, task: Task) -> None:
    at: Path = (section, name)
    kinds = [k for k, v in (("uses", task.uses), ("script", task.script), ("steps", task.steps)) if v]
    if len(kinds) != 1:
        what = "none" if not kinds else " and ".join(kinds)
        c.add(at, f"a task needs exactly one of uses, script or steps (found {what})",
              "use `uses:` for a library task, `script:` for one step, `steps:` for several")
    if task.with_ and not task.uses:
        c.add((*at, "with"), "`with:` only applies to a library task", "add `uses: TASK` or remove `with:`")
    if task.uses and task.results:
        c.add((*at, "results"), "a library task declares its own results", "remove `results:`")
    for key in ("timeout",):
        _check_duration(c, (*at, key), getattr(task, key))
    names = [s.name for s in task.steps or [] if s.name]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        c.add((*at, "steps"), f'step name "{dup}" is used twice', "step names must be unique in a task")
    for env_name in task.env:
        if not ENV_NAME.match(env_name):
            c.add((*at, "env", env_name), f'"{env_name}" is not a valid environment variable name',
                  "use letters, digits and '_', not starting with a digit")
    for key, values in task.matrix.items():
        if not values:
            c.add((*at, "matrix", key), "a matrix parameter needs at least one value")
    if task.when:
        for message in cel.check(task.when):
            c.add((*at, "when"), f"bad CEL condition: {message}", 'e.g. git.branch == "main"')


def _check_duration(c: _Checker, path: Path, value: str | None) -> None:
    from wishstar.engine.spec.durations import parse_duration

    if value is None:
        return
    try:
        parse_duration(value)
    except ValueError as exc:
        c.add(path, str(exc))


QUANTITY = re.compile(r"^(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][-+]?\d+)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
RESERVED_METADATA = frozenset({"app.kubernetes.io/managed-by", *(f"wishstar.dev/{k}" for k in (
    "run", "pipeline", "task", "attempt", "project", "build-number", "run-owner", "workspace"))})
"""Labels and annotations Wishstar sets on its objects: ``kubernetes.labels``/``annotations`` may not set them."""


def _metadata_key_problem(key: str) -> str | None:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        return f'the prefix "{prefix}" of "{key}" is not a DNS subdomain'
    if len(name) > 63 or not _LABEL_NAME.match(name):
        return f'"{key}" is not a valid key'
    return None


def _check_kubernetes(c: _Checker, at: Path, settings: PodSettings | None) -> None:
    """Values Kubernetes would refuse when the Pod is created, reported now with their lines."""
    if settings is None:
        return
    at = (*at, "kubernetes")
    name_hint = "lowercase letters, digits, '-' and '.', as Kubernetes object names"
    names: list[tuple[Path, str | None]] = [(("serviceAccount",), settings.service_account),
                                            (("priorityClassName",), settings.priority_class_name)]
    names += [(("imagePullSecrets", i), n) for i, n in enumerate(settings.image_pull_secrets)]
    for sub, value in names:
        if value is not None and (len(value) > 253 or not _DNS_SUBDOMAIN.match(value)):
            c.add((*at, *sub), f'"{value}" is not a valid name', name_hint)
    key_hint = 'e.g. "team" or "example.com/team": at most 63 letters, digits, "-", "_", "." after the prefix'
    for field_name, mapping, values in (("nodeSelector", settings.node_selector, True),
                                        ("labels", settings.labels, True),
                                        ("annotations", settings.annotations, False)):
        for key, value in mapping.items():
            problem = _metadata_key_problem(key)
            if problem:
                c.add((*at, field_name, key), problem, key_hint)
            elif field_name != "nodeSelector" and key in RESERVED_METADATA:
                c.add((*at, field_name, key), f'"{key}" is set by Wishstar', "use another key")
            elif values and (len(value) > 63 or not _LABEL_VALUE.match(value)):
                c.add((*at, field_name, key), f'"{value}" is not a valid label value',
                      'at most 63 letters, digits, "-", "_", "." starting and ending alphanumeric')
    for i, tol in enumerate(settings.tolerations):
        if tol.operator == "Exists" and tol.value:
            c.add((*at, "tolerations", i, "value"), "operator Exists takes no value", "remove value: or use Equal")
        if not tol.key and tol.operator != "Exists":
            c.add((*at, "tolerations", i), "a toleration without a key needs operator: Exists")
        if tol.toleration_seconds is not None and tol.effect != "NoExecute":
            c.add((*at, "tolerations", i, "tolerationSeconds"), "tolerationSeconds applies only to NoExecute",
                  "add effect: NoExecute or remove tolerationSeconds")
    if settings.resources is not None:
        for kind, amounts in (("requests", settings.resources.requests), ("limits", settings.resources.limits)):
            _check_quantities(c, (*at, "resources", kind), amounts)


def _check_quantities(c: _Checker, at: Path, amounts: ResourceList | None) -> None:
    if amounts is None:
        return
    for field_name, info in ResourceList.model_fields.items():
        value = getattr(amounts, field_name)
        key = info.alias or field_name
        if value is None:
            continue
        if not QUANTITY.match(value):
            c.add((*at, key), f'"{value}" is not a Kubernetes quantity',
                  'e.g. cpu "500m" or "2", memory "512Mi" or "1Gi"')
        elif key != "cpu" and value.endswith("m"):
            c.add((*at, key), f'"{value}" means thousandths of a byte', f'write "{value[:-1]}Mi" for mebibytes')


def _check_needs(c: _Checker, section: str, name: str, task: Task) -> None:
    for i, need in enumerate(task.needs):
        path: Path = (section, name, "needs", i)
        if section == "finally":
            c.add(path, "finally tasks cannot use needs", "they run after every task; remove `needs:`")
            return
        if need == name:
            c.add(path, f'task "{name}" needs itself', "remove it")
        elif need in c.pipeline.finally_:
            c.add(path, f'"{need}" is a finally task', "tasks cannot wait for finally tasks")
        elif need not in c.pipeline.tasks and need not in c.broken:
            c.add(path, f'unknown task "{need}"', did_you_mean(need, c.pipeline.tasks) or "check the name")


def _check_ref(c: _Checker, section: str, name: str, task: Task, path: Path, text: str, ref: Ref) -> None:
    parts, offset = ref.parts, _line_offset(text, ref)
    head = parts[0]
    def bad(message: str, hint: str | None) -> None:
        c.add(path, f"{ref.text}: {message}", hint, offset)

    if head in ("params", "inputs"):
        _check_param_ref(c, task, param_ref(ref), bad)
    elif head == "tasks":
        _check_task_ref(c, section, name, parts, bad)
    elif head == "results":
        declared = c.results_of(name) or ()
        rname = parts[1] if len(parts) > 1 else ""
        if task.uses:
            return
        if rname not in declared or len(parts) != 3 or parts[2] != "path":
            bad(f'task "{name}" declares no result "{rname}"',
                did_you_mean(rname, declared) or f"add `results: [{rname}]` to the task")
    elif head == "workspaces":
        wname = parts[1] if len(parts) > 1 else ""
        known_ws = set(c.pipeline.workspaces) | set(task.workspaces)
        if wname not in known_ws or len(parts) != 3 or parts[2] not in ("path", "bound", "claim"):
            bad(f'unknown workspace "{wname}"', did_you_mean(wname, known_ws) or "declare it under workspaces:")
    elif head == "context":
        if tuple(parts) not in CONTEXT_REFS:
            bad("unknown context variable", "known: " + ", ".join(".".join(r) for r in sorted(CONTEXT_REFS)))
    else:
        bad(f'unknown reference "{head}"', "references start with params, tasks, results, workspaces or context")


def _check_param_ref(c: _Checker, task: Task, pref: ParamRef | None,
                     bad: Callable[[str, str | None], None]) -> None:
    pname = pref.name if pref is not None else ""
    known = set(c.pipeline.params) | set(task.matrix)
    if pname not in known:
        bad(f'undeclared parameter "{pname}"', did_you_mean(pname, known) or "declare it under params:")
    elif pref is not None and pref.index is not None:
        kind = c.pipeline.params[pname].type if pname in c.pipeline.params else "string"
        if kind != "array":
            bad(f'parameter "{pname}" is {kind}, not an array, so it has no element [{pref.index}]',
                f"write $(params.{pname})")


def _check_task_ref(c: _Checker, section: str, name: str, parts: tuple[str, ...],
                    bad: Callable[[str, str | None], None]) -> None:
    if parts == ("tasks", "status"):
        if section != "finally":
            bad("$(tasks.status) is only known in finally tasks", "move this task under finally:")
        return
    target = parts[1] if len(parts) > 1 else ""
    if target in c.broken:
        return
    if target not in c.pipeline.tasks:
        bad(f'unknown task "{target}"', did_you_mean(target, c.pipeline.tasks) or "check the name")
        return
    if len(parts) == 3 and parts[2] == "status":
        if section != "finally":
            bad("a task's status is only known in finally tasks", "use `when:` on tasks.NAME.status instead")
        return
    if len(parts) != 4 or parts[2] != "results":
        bad("write $(tasks.NAME.results.RESULT) or $(tasks.NAME.status)", None)
        return
    if target == name:
        bad("a task cannot use its own result", "use $(results.NAME.path) to write it")
        return
    declared = c.results_of(target)
    if declared is not None and parts[3] not in declared:
        bad(f'task "{target}" has no result "{parts[3]}"',
            did_you_mean(parts[3], declared) or f'declare it in "{target}" under results:')
    if c.pipeline.tasks[target].matrix:
        bad(f'"{target}" fans out with matrix; its results cannot be referenced', "drop the matrix or the reference")


def _check_workspaces(c: _Checker, section: str, name: str, task: Task) -> None:
    for key, target in task.workspaces.items():
        if target not in c.pipeline.workspaces:
            c.add((section, name, "workspaces", key), f'unknown pipeline workspace "{target}"',
                  did_you_mean(target, c.pipeline.workspaces) or "declare it under workspaces:")
    info = c.infos.get(name)
    if not task.uses or info is None:
        return
    declared = {w for w, _ in info.workspaces}
    for key in task.workspaces:
        if key not in declared:
            c.add((section, name, "workspaces", key), f'"{task.uses}" declares no workspace "{key}"',
                  did_you_mean(key, declared) or f"it declares: {', '.join(sorted(declared)) or 'none'}")
    for wname, optional in info.workspaces:
        bound = wname in task.workspaces or wname in c.pipeline.workspaces or len(c.pipeline.workspaces) == 1
        if not optional and not bound:
            c.add((section, name), f'workspace "{wname}" of "{task.uses}" is not bound',
                  f"add `workspaces: {{{wname}: <pipeline workspace>}}`")


def _check_uses(c: _Checker, section: str, name: str, task: Task) -> None:
    if not task.uses:
        return
    bad = uses_problem(task.uses)
    if bad is not None:
        c.infos[name] = None
        c.add((section, name, "uses"), *bad)
        return
    info = c.uses(task)
    c.infos[name] = info if isinstance(info, UsesInfo) else None
    if isinstance(info, UsesMissing):
        c.add((section, name, "uses"), info.message, info.hint)
        return
    if info is None:
        wanted = parse_uses(task.uses).name
        c.add((section, name, "uses"), f'no library task named "{wanted}"',
              did_you_mean(wanted, c.library_names) or "see `wishstar tasks list` or docs/tasks.md")
        return
    for sub, message, hint in info.problems:
        c.add((section, name, *sub), message, hint)
    for key in task.matrix:
        if key not in info.params:
            c.add((section, name, "matrix", key), f'"{task.uses}" has no parameter "{key}"',
                  did_you_mean(key, info.params))


def _check_params(c: _Checker) -> None:
    for pname, spec in c.pipeline.params.items():
        if spec.enum and isinstance(spec.default, str) and spec.default not in spec.enum:
            c.add(("params", pname, "default"), f'"{spec.default}" is not one of {spec.enum}')
        kind = ("string" if isinstance(spec.default, str) else "array" if isinstance(spec.default, list)
                else "object" if isinstance(spec.default, dict) else spec.type)
        if spec.default is not None and kind != spec.type:
            c.add(("params", pname, "default"), f"the default is {kind} but the type is {spec.type}")


def result_refs(task: Task) -> Iterator[tuple[str, str]]:
    """(task, result) for every ``$(tasks.T.results.R)`` the task uses."""
    for _, text in _strings(task, ()):
        for ref in find_refs(text):
            if len(ref.parts) == 4 and ref.parts[0] == "tasks" and ref.parts[2] == "results":
                yield ref.parts[1], ref.parts[3]
    if task.when:
        for match in re.finditer(r"tasks\.([a-z0-9_-]+)\.results\.([A-Za-z0-9_-]+)", task.when):
            yield match.group(1), match.group(2)


def edges_of(pipeline: Pipeline) -> dict[tuple[str, str], list[str]]:
    """Edges of the task graph with their reasons (``needs`` and result references)."""
    edges: dict[tuple[str, str], list[str]] = {}
    for name, task in pipeline.tasks.items():
        for need in task.needs:
            if need in pipeline.tasks and need != name:
                edges.setdefault((need, name), []).append("needs")
        for source, result in result_refs(task):
            if source in pipeline.tasks and source != name:
                reason = f"uses result {result}"
                if reason not in edges.setdefault((source, name), []):
                    edges[(source, name)].append(reason)
    return edges


def _check_cycles(c: _Checker) -> None:
    from wishstar.engine.spec.cycles import find_cycle

    cycle = find_cycle(list(c.pipeline.tasks), list(edges_of(c.pipeline)))
    if cycle:
        path = " -> ".join([*cycle, cycle[0]])
        c.add(("tasks", cycle[0]), f"dependency cycle: {path}",
              "remove one of the needs or result references on this cycle")


def _raw_task_names(loaded: YamlDocument) -> set[str]:
    data = loaded.data if isinstance(loaded.data, dict) else {}
    return {str(k) for section in ("tasks", "finally") if isinstance(data.get(section), dict)
            for k in data[section]}


def check_pipeline(pipeline: Pipeline, loaded: YamlDocument, uses: UsesLookup, library_names: Iterable[str], *,
                   broken: Iterable[str] = ()) -> tuple[list[Problem], dict[str, UsesInfo | None]]:
    """All semantic problems of a pipeline, and the library info of its ``uses`` tasks. ``broken`` names tasks
    that failed structural checks: references to them are not reported again."""
    c = _Checker(loaded, pipeline, uses, tuple(library_names), broken=frozenset(broken))
    _check_names(c)
    _check_params(c)
    _check_duration(c, ("timeout",), pipeline.timeout)
    _check_kubernetes(c, (), pipeline.kubernetes)
    # Both sections, not ``all_tasks``: a name used in both would otherwise hide the regular task from every check.
    every = [("tasks", n, t) for n, t in pipeline.tasks.items()]
    every += [("finally", n, t) for n, t in pipeline.finally_.items()]
    for section, name, task in every:
        _check_uses(c, section, name, task)
    for section, name, task in every:
        _check_shape(c, section, name, task)
        _check_needs(c, section, name, task)
        _check_workspaces(c, section, name, task)
        _check_kubernetes(c, (section, name), task.kubernetes)
        for path, text in _strings(task, (section, name)):
            for ref in find_refs(text):
                _check_ref(c, section, name, task, path, text, ref)
    _check_cycles(c)
    return c.problems, c.infos


def validate_text(text: str | bytes, file: str, uses: UsesLookup,
                  library_names: Iterable[str]) -> tuple[Pipeline, dict[str, UsesInfo | None]]:
    """Parse and validate a pipeline file; ``ValidationFailed`` lists every problem found."""
    loaded = load_yaml(text, file)
    pipeline, tasks, finals, problems = parse_structure(loaded)
    if pipeline is None:
        partial = best_effort(loaded, tasks, finals)
        if partial is not None:
            broken = _raw_task_names(loaded) - set(tasks) - set(finals)
            problems += check_pipeline(partial, loaded, uses, library_names, broken=broken)[0]
        raise ValidationFailed(problems)
    semantic, infos = check_pipeline(pipeline, loaded, uses, library_names)
    if semantic:
        raise ValidationFailed(semantic)
    return pipeline, infos


def unused_params(pipeline: Pipeline) -> set[str]:
    """Declared parameters no task refers to (a warning, not an error)."""
    refs = (param_ref(ref) for task in [*pipeline.tasks.values(), *pipeline.finally_.values()]
            for _, text in _strings(task, ()) for ref in find_refs(text))
    used = {pref.name for pref in refs if pref is not None}
    return set(pipeline.params) - used


def declared_secrets(pipeline: Pipeline) -> Mapping[str, list[str]]:
    """Secret name -> the env paths that use it, so a run can refuse early when one is not provided."""
    out: dict[str, list[str]] = {}
    for section, tasks in (("tasks", pipeline.tasks), ("finally", pipeline.finally_)):
        for name, task in tasks.items():
            envs = [(f"{section}.{name}.env.{k}", v) for k, v in task.env.items()]
            for i, step in enumerate(task.steps or []):
                envs += [(f"{section}.{name}.steps[{i}].env.{k}", v) for k, v in step.env.items()]
            for where, value in envs:
                if not isinstance(value, str):
                    out.setdefault(value.secret, []).append(where)
    for k, v in pipeline.env.items():
        if not isinstance(v, str):
            out.setdefault(v.secret, []).append(f"env.{k}")
    return out
