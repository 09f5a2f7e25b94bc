"""The Tekton ``Task`` schema (tekton.dev/v1, and v1beta1 normalised to it) as frozen pydantic models.

Library tasks are written in Tekton's own format so that catalog tasks work unchanged. This module parses and
checks the structure only: it reports every problem at once with its file, line and field path, and normalises
the v1beta1 spellings (a step's ``resources`` becomes ``computeResources``). It does not substitute parameters
or decide what can run locally; that is ``engine.compiler.library``. Pure: text in, models out; no file reads,
no environment, no clock.

Strictness follows Kubernetes: the Task, its spec and its declarations (params, results, workspaces, env)
forbid unknown keys so that typos are caught, while container-like specs (steps, the step template, sidecars)
keep container fields this module does not model (``ports``, ``livenessProbe``...) as extra data.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from wishstar.engine.spec.durations import parse_duration
from wishstar.engine.spec.errors import Path, Problem, ValidationFailed, did_you_mean
from wishstar.engine.spec.loader import YamlDocument, load_yaml
from wishstar.engine.spec.model import ParamValue, scalar_to_str
from wishstar.engine.spec.subst import find_refs, param_ref

API_VERSIONS = ("tekton.dev/v1", "tekton.dev/v1beta1")
ParamType = Literal["string", "array", "object"]

def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string (``"1h30m"``, ``"10s"``, ``"1.5h"``, ``"300ms"``, ``"0"``)."""
    try:
        return parse_duration(text)
    except ValueError:
        raise ValueError(f'"{text}" is not a Go duration (write e.g. "10s", "5m" or "1h30m")') from None


_to_str = scalar_to_str


def _to_str_deep(value: Any) -> Any:
    if isinstance(value, list):
        return [_to_str(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_str(v) for k, v in value.items()}
    return _to_str(value)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class _Open(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)


class PropertySpec(_Strict):
    """One key of an object param or result."""

    type: Literal["string"] = Field(default="string", description="Tekton allows string properties only")


class ParamSpec(_Strict):
    """A parameter of the task, referenced as ``$(params.NAME)``."""

    name: str = Field(description="parameter name")
    type: ParamType | None = Field(default=None, description="string, array or object; inferred from the "
                                                             "default when left out (else string)")
    description: str | None = Field(default=None, description="what it is for")
    default: ParamValue | None = Field(default=None, description="value when none is given; none: required")
    enum: list[str] | None = Field(default=None, description="allowed values of a string param")
    properties: dict[str, PropertySpec] | None = Field(default=None, description="keys of an object param")

    @field_validator("default", mode="before")
    @classmethod
    def _default_strings(cls, value: Any) -> Any:
        return _to_str_deep(value)

    @field_validator("enum", mode="before")
    @classmethod
    def _enum_strings(cls, value: Any) -> Any:
        return _to_str_deep(value)

    @property
    def kind(self) -> ParamType:
        """The declared type, or the one the default implies."""
        if self.type is not None:
            return self.type
        if isinstance(self.default, list):
            return "array"
        return "object" if isinstance(self.default, dict) else "string"


class ResultSpec(_Strict):
    """A result the steps write to ``$(results.NAME.path)``."""

    name: str = Field(description="result name")
    type: ParamType = Field(default="string", description="string, array (JSON list) or object (JSON map)")
    description: str | None = Field(default=None, description="what it holds")
    properties: dict[str, PropertySpec] | None = Field(default=None, description="keys of an object result")


class WorkspaceDecl(_Strict):
    """A directory the task expects to be given, ``$(workspaces.NAME.path)``."""

    name: str = Field(description="workspace name")
    description: str | None = Field(default=None, description="what it is for")
    optional: bool = Field(default=False, description="the task runs without it ($(workspaces.NAME.bound))")
    read_only: bool = Field(default=False, alias="readOnly", description="steps must not write to it")
    mount_path: str | None = Field(default=None, alias="mountPath",
                                   description="where it appears in the container (default /workspace/NAME)")


class KeySelector(_Open):
    """``secretKeyRef`` / ``configMapKeyRef``: one key of a Secret or ConfigMap."""

    name: str | None = Field(default=None, description="name of the Secret or ConfigMap")
    key: str = Field(description="key inside it")
    optional: bool | None = Field(default=None, description="missing is not an error")


class EnvVarSource(_Open):
    """Where an environment variable's value comes from on Kubernetes."""

    secret_key_ref: KeySelector | None = Field(default=None, alias="secretKeyRef", description="a Secret key")
    config_map_key_ref: KeySelector | None = Field(default=None, alias="configMapKeyRef",
                                                   description="a ConfigMap key")
    field_ref: dict[str, Any] | None = Field(default=None, alias="fieldRef",
                                             description="a field of the Pod (Kubernetes only)")
    resource_field_ref: dict[str, Any] | None = Field(default=None, alias="resourceFieldRef",
                                                      description="a container resource (Kubernetes only)")


class EnvVarSpec(_Strict):
    """One environment variable of a container: a literal ``value`` or a ``valueFrom`` source."""

    name: str = Field(description="variable name")
    value: str | None = Field(default=None, description="literal value; $(params.x) is substituted")
    value_from: EnvVarSource | None = Field(default=None, alias="valueFrom", description="value source")

    @field_validator("value", mode="before")
    @classmethod
    def _value_string(cls, value: Any) -> Any:
        return _to_str(value)


def _argv(value: Any) -> Any:
    return _to_str_deep(value) if isinstance(value, list) else value


class ContainerFields(_Open):
    """Fields shared by steps, the step template and sidecars; unknown container fields are kept as extras."""

    image: str | None = Field(default=None, description="container image")
    command: list[str] | None = Field(default=None, description="entrypoint")
    args: list[str] | None = Field(default=None, description="arguments; $(params.a[*]) expands in place")
    env: list[EnvVarSpec] = Field(default_factory=list, description="environment variables")
    env_from: list[dict[str, Any]] = Field(default_factory=list, alias="envFrom",
                                           description="Secrets/ConfigMaps as variables (Kubernetes only)")
    working_dir: str | None = Field(default=None, alias="workingDir", description="directory to start in")
    compute_resources: dict[str, Any] | None = Field(
        default=None, alias="computeResources",
        description="requests and limits (v1beta1: resources); not enforced locally")
    security_context: dict[str, Any] | None = Field(default=None, alias="securityContext",
                                                    description="Kubernetes security context")
    volume_mounts: list[dict[str, Any]] = Field(default_factory=list, alias="volumeMounts",
                                                description="volumes mounted into the container")
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = Field(
        default=None, alias="imagePullPolicy", description="when Kubernetes pulls the image")

    @field_validator("command", "args", mode="before")
    @classmethod
    def _argv_strings(cls, value: Any) -> Any:
        return _argv(value)


class StepTemplate(ContainerFields):
    """Defaults merged into every step; a step's own fields win, env is merged by name."""


class Step(ContainerFields):
    """One container of the task; steps run in order in the same Pod (locally: the same directory)."""

    name: str | None = Field(default=None, description="step name, unique in the task")
    script: str | None = Field(default=None, description="script text; without #! it runs with sh -e")
    timeout: str | None = Field(default=None, description='Go duration such as "10s" or "1h30m"')
    on_error: Literal["stopAndFail", "continue"] | None = Field(default=None, alias="onError",
                                                                description="continue: a failure does not "
                                                                            "stop the task")

    @field_validator("timeout")
    @classmethod
    def _timeout_is_duration(cls, value: str | None) -> str | None:
        if value is not None and "$(" not in value:
            parse_go_duration(value)
        return value


class Sidecar(ContainerFields):
    """A container running next to the steps (Kubernetes only)."""

    name: str = Field(description="sidecar name")
    script: str | None = Field(default=None, description="script text")


class TaskSpec(_Strict):
    """The body of a Task."""

    description: str | None = Field(default=None, description="what the task does")
    display_name: str | None = Field(default=None, alias="displayName", description="human-readable name")
    params: list[ParamSpec] = Field(default_factory=list, description="parameters")
    results: list[ResultSpec] = Field(default_factory=list, description="results the steps write")
    workspaces: list[WorkspaceDecl] = Field(default_factory=list, description="directories the task uses")
    steps: list[Step] = Field(min_length=1, description="the containers, run in order")
    step_template: StepTemplate | None = Field(default=None, alias="stepTemplate",
                                               description="defaults for every step")
    sidecars: list[Sidecar] = Field(default_factory=list, description="containers beside the steps")
    volumes: list[dict[str, Any]] = Field(default_factory=list, description="Kubernetes volumes of the Pod")
    pipeline_resources: dict[str, Any] | None = Field(
        default=None, alias="resources",
        description="v1beta1 PipelineResources (removed in v1): parsed, never provided")


class Metadata(_Open):
    """Kubernetes object metadata; only the name matters here."""

    name: str = Field(description="task name")
    labels: dict[str, str] = Field(default_factory=dict, description="labels")
    annotations: dict[str, str] = Field(default_factory=dict, description="annotations")

    @field_validator("labels", "annotations", mode="before")
    @classmethod
    def _strings(cls, value: Any) -> Any:
        return _to_str_deep(value) if isinstance(value, dict) else value


class TektonTask(_Strict):
    """A Tekton Task (or ClusterTask) file. ``api_version`` records what was written; the rest is v1."""

    api_version: Literal["tekton.dev/v1", "tekton.dev/v1beta1"] = Field(
        alias="apiVersion", description="tekton.dev/v1 or v1beta1 (read as v1)")
    kind: Literal["Task", "ClusterTask"] = Field(description="Task (ClusterTask is read the same way)")
    metadata: Metadata = Field(description="name, labels, annotations")
    spec: TaskSpec = Field(description="params, results, workspaces, steps")

    @property
    def name(self) -> str:
        return self.metadata.name

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.spec.params if p.name == name), None)


def _v1beta1_renames(data: Any) -> Any:
    """v1beta1 calls a container's compute resources ``resources``; v1 calls them ``computeResources``."""
    if not isinstance(data, dict) or not isinstance(data.get("spec"), dict):
        return data
    spec = dict(data["spec"])
    for key in ("steps", "sidecars"):
        if isinstance(spec.get(key), list):
            spec[key] = [_rename_resources(c) for c in spec[key]]
    if "stepTemplate" in spec:
        spec["stepTemplate"] = _rename_resources(spec["stepTemplate"])
    return {**data, "spec": spec}


def _rename_resources(container: Any) -> Any:
    if isinstance(container, dict) and "resources" in container and "computeResources" not in container:
        renamed = {k: v for k, v in container.items() if k != "resources"}
        renamed["computeResources"] = container["resources"]
        return renamed
    return container


_TYPE_TAG = re.compile(r"^(str|int|float|bool|none|[a-z-]+\[.*\])$")
_TAG_WORDS = {"str": "a string", "list[str]": "a list of strings", "dict[str,str]": "a map of strings"}


def _has(node: Any, part: str | int) -> bool:
    if isinstance(node, dict):
        return part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _split_loc(loaded: YamlDocument, loc: tuple[str | int, ...]) -> tuple[Path, str | None]:
    """The data path of a pydantic location, and the union member tag (``str``, ``list[str]``) if any."""
    out: list[str | int] = []
    node: Any = loaded.data
    for part in loc:
        if _has(node, part):
            node = node[part]
        elif isinstance(part, str) and _TYPE_TAG.match(part):
            return tuple(out), part
        out.append(part)
    return tuple(out), None


def _model_at(path: Path) -> type[BaseModel] | None:
    """The model class that holds the mapping at ``path`` (for did-you-mean hints on unknown keys)."""
    model: type[BaseModel] | None = TektonTask
    for part in path:
        if model is None or isinstance(part, int):
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        model = _inner_model(field.annotation) if field else None
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (list, Union, Annotated) or type(annotation).__name__ == "UnionType":
        for arg in get_args(annotation):
            found = _inner_model(arg)
            if found:
                return found
    return None


def _problems(loaded: YamlDocument, exc: ValidationError) -> Iterator[Problem]:
    union_tags: dict[Path, list[str]] = {}
    for error in exc.errors():
        path, tag = _split_loc(loaded, tuple(error["loc"]))
        if tag is not None:
            union_tags.setdefault(path, []).append(_TAG_WORDS.get(tag, tag))
            continue
        hint: str | None = None
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            model = _model_at(path[:-1])
            known = [f.alias or n for n, f in model.model_fields.items()] if model else []
            message = f'unknown field "{path[-1]}"'
            listing = "known fields: " + ", ".join(known) if known else None
            hint = did_you_mean(str(path[-1]), known) or listing
        elif error["type"] == "missing":
            message = "this field is required"
        elif error["type"] == "value_error" and "ctx" in error:
            message = str(error["ctx"]["error"])
        yield loaded.problem(path, message, hint)
    for path, tags in union_tags.items():
        yield loaded.problem(path, "expected " + " or ".join(dict.fromkeys(tags)))


def _structure_problems(loaded: YamlDocument) -> list[Problem]:
    """What pydantic cannot see: duplicate names and v1beta1-only fields in a v1 file."""
    data = loaded.data
    problems: list[Problem] = []
    spec = data.get("spec") if isinstance(data, dict) else None
    if not isinstance(spec, dict):
        return problems
    if data.get("apiVersion") == "tekton.dev/v1" and "resources" in spec:
        problems.append(loaded.problem(("spec", "resources"), "PipelineResources do not exist in "
                                       "tekton.dev/v1", "use params and workspaces instead"))
    for key in ("params", "results", "workspaces", "steps", "sidecars"):
        seen: set[str] = set()
        items = spec.get(key)
        for i, item in enumerate(items if isinstance(items, list) else []):
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str) and name in seen:
                problems.append(loaded.problem(("spec", key, i, "name"), f'duplicate name "{name}"',
                                               f"each of spec.{key} needs its own name"))
            if isinstance(name, str):
                seen.add(name)
    return problems


def _strings(node: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(node, str):
        yield path, node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, (*path, str(key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, (*path, i))


def _param_reference_problems(loaded: YamlDocument, task: TektonTask) -> list[Problem]:
    """A ``$(params.x)`` in the steps, the step template, the sidecars or the volumes naming no declared param,
    which Tekton refuses too (it would otherwise reach the Pod verbatim, e.g. as a Secret's name)."""
    declared = {p.name for p in task.spec.params}
    spec = loaded.data["spec"]
    problems: list[Problem] = []
    for key in ("steps", "stepTemplate", "sidecars", "volumes"):
        for path, text in _strings(spec.get(key), ("spec", key)):
            for ref in find_refs(text) if "$(" in text else ():
                found = param_ref(ref)
                if found is not None and found.name not in declared:
                    listing = "declared params: " + (", ".join(sorted(declared)) or "none")
                    problems.append(loaded.problem(path, f'{ref.text} names no param of this task',
                                                   did_you_mean(found.name, declared) or listing))
    return problems


def parse_task(loaded: YamlDocument) -> TektonTask:
    """Validate already-parsed YAML as a Task; ``ValidationFailed`` lists every problem with its line."""
    if not isinstance(loaded.data, dict):
        raise ValidationFailed([loaded.problem((), "a Task file must be a mapping",
                                               "start with `apiVersion: tekton.dev/v1` and `kind: Task`")])
    problems = _structure_problems(loaded)
    try:
        task = TektonTask.model_validate(_v1beta1_renames(loaded.data))
    except ValidationError as exc:
        problems.extend(_problems(loaded, exc))
    else:
        problems.extend(_param_reference_problems(loaded, task))
    if problems:
        raise ValidationFailed(problems)
    return task


def load_task(text: str, file: str) -> TektonTask:
    """Parse and validate one Tekton Task file; raise ``ValidationFailed`` with every problem found."""
    return parse_task(load_yaml(text, file))
