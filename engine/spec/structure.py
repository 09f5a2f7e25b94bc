"""Structural validation: the YAML against the pydantic models, every problem with its line and a hint.

Each task is checked on its own so that one malformed task does not hide the problems of the others; the
cross-field rules then run on every task that parsed. Pure.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from wishstar.engine.spec.errors import Path, Problem, did_you_mean
from wishstar.engine.spec.loader import YamlDocument
from wishstar.engine.spec.model import Pipeline, Task


def _known_keys(model: type[BaseModel]) -> list[str]:
    keys: list[str] = []
    for name, info in model.model_fields.items():
        keys.append(info.alias or name)
    return keys


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the last key of ``loc`` (for did-you-mean hints on unknown keys)."""
    model: Any = root
    for part in loc[:-1]:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            continue
        model = _inner_model(field.annotation)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _clean_loc(loc: tuple[Any, ...]) -> Path:
    """Drop pydantic's union branch markers ("str", "SecretRef", "function-before[...]")."""
    return tuple(part for part in loc if not (isinstance(part, str) and _is_branch(part)))


_MODEL_NAMES = {"SecretRef", "RetryPolicy", "ParamSpec", "Step", "Task", "ResultDecl", "Triggers",
                "PushTrigger", "TagTrigger", "MergeRequestTrigger"}


def _is_branch(part: str) -> bool:
    return part in _MODEL_NAMES or part in ("str", "list[str]", "dict[str,str]") or part.startswith("function-")


_TYPE_HINTS = {
    "string_type": "write a string; quote values such as 1.10 or yes",
    "list_type": "write a list, e.g. [a, b]",
    "dict_type": "write a mapping of key: value",
    "int_type": "write a whole number",
    "int_parsing": "write a whole number",
    "bool_type": "write true or false",
    "bool_parsing": "write true or false",
    "missing": None,
    "model_type": "write a mapping; see docs/pipeline.md",
}


def pydantic_problems(exc: ValidationError, loaded: YamlDocument, model: type[BaseModel],
                      prefix: Path) -> list[Problem]:
    """One problem per field path (unions report once), with line numbers and hints."""
    seen: set[Path] = set()
    problems: list[Problem] = []
    for error in exc.errors():
        raw_loc = tuple(error["loc"])
        if "str" in raw_loc and isinstance(error.get("input"), dict):
            continue  # a mapping given where "string or mapping" is allowed: the mapping branch speaks
        path = (*prefix, *_clean_loc(raw_loc))
        if path in seen:
            continue
        seen.add(path)
        kind = error["type"]
        if kind == "extra_forbidden":
            owner = _model_at(model, _clean_loc(raw_loc))
            key = str(path[-1])
            hint = did_you_mean(key, _known_keys(owner)) if owner else None
            problems.append(loaded.problem(path, f'unknown key "{key}"', hint or "remove it; see docs/pipeline.md"))
        elif kind == "missing":
            problems.append(loaded.problem(path, "this field is required"))
        elif kind == "string_pattern_mismatch":
            problems.append(loaded.problem(path, f"{error['input']!r} is not valid here",
                                           _pattern_hint(str(path[-1]))))
        else:
            message = error["msg"].replace("Input should be", "should be").replace("Value error, ", "")
            message = re.sub(r" or instance of \w+", "", message)
            problems.append(loaded.problem(path, message, _TYPE_HINTS.get(kind)))
    return problems


def _pattern_hint(field: str) -> str:
    if field in ("timeout", "backoff", "maxBackoff", "max_backoff"):
        return 'write a duration such as "90s", "10m" or "1h30m"'
    return "use lowercase letters, digits, '-' and '_' (at most 63, starting and ending alphanumeric)"


def parse_structure(loaded: YamlDocument) -> tuple[Pipeline | None, dict[str, Task], dict[str, Task], list[Problem]]:
    """The pipeline (when every part parsed), the tasks that parsed, and all structural problems."""
    data = loaded.data
    if not isinstance(data, dict):
        return None, {}, {}, [loaded.problem((), "the file must be a mapping with name: and tasks:")]
    problems: list[Problem] = []
    parsed: dict[str, dict[str, Task]] = {"tasks": {}, "finally": {}}
    for section in ("tasks", "finally"):
        group = data.get(section)
        if group is None:
            continue
        if not isinstance(group, dict):
            problems.append(loaded.problem((section,), "should be a mapping of task name to task"))
            continue
        for name, body in group.items():
            try:
                parsed[section][name] = Task.model_validate(body if body is not None else {})
            except ValidationError as exc:
                problems.extend(pydantic_problems(exc, loaded, Task, (section, name)))
    shell = {k: v for k, v in data.items() if k not in ("tasks", "finally")}
    shell["tasks"] = {}
    try:
        Pipeline.model_validate(shell)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, loaded, Pipeline, ()))
    if "tasks" not in data:
        problems.append(loaded.problem(("tasks",), "this field is required", "a pipeline needs at least one task"))
    elif isinstance(data.get("tasks"), dict) and not data["tasks"]:
        problems.append(loaded.problem(("tasks",), "a pipeline needs at least one task"))
    if problems:
        return None, parsed["tasks"], parsed["finally"], problems
    pipeline = Pipeline.model_validate({**shell, "tasks": parsed["tasks"], "finally": parsed["finally"]})
    return pipeline, parsed["tasks"], parsed["finally"], []


def best_effort(loaded: YamlDocument, tasks: dict[str, Task], finals: dict[str, Task]) -> Pipeline | None:
    """A pipeline of the parts that did parse, so cross-field checks can still report their problems
    alongside the structural ones. Top-level fields that failed are dropped (a bad name becomes a placeholder)."""
    if not isinstance(loaded.data, dict):
        return None
    shell = {k: v for k, v in loaded.data.items() if k not in ("tasks", "finally")}
    for _ in range(len(shell) + 2):
        try:
            return Pipeline.model_validate({**shell, "tasks": tasks, "finally": finals})
        except ValidationError as exc:
            bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
            if not bad - {"tasks", "finally"} and "name" in shell:
                return None
            for key in bad:
                shell.pop(key, None)
            if "name" in bad or "name" not in shell:
                shell["name"] = "invalid"
    return None
