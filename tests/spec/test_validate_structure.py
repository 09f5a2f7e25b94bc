"""The linter on the shape of a pipeline file: keys, types, durations, names, task kinds. YAML in, lines out."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

import pytest

from wishstar.engine.spec.errors import ValidationFailed
from wishstar.engine.spec.validate import UsesLookup, validate_text


def no_library(_task: object) -> None:
    return None


def problems(text: str, uses: UsesLookup = no_library, names: Iterable[str] = ()) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        validate_text(textwrap.dedent(text), ".wishstar.yaml", uses, names)
    return [str(p) for p in info.value.problems]


def test_a_valid_pipeline_passes() -> None:
    pipeline, infos = validate_text(textwrap.dedent("""\
        name: ci
        on: {push: {branches: [main]}}
        tasks:
          test:
            script: pytest
          image:
            needs: [test]
            steps:
              - {name: build, script: make}
        finally:
          notify:
            script: echo $(tasks.status)
        """), ".wishstar.yaml", no_library, ())
    assert list(pipeline.tasks) == ["test", "image"]
    assert pipeline.on is not None and pipeline.on.push is not None
    assert infos == {}


CASES = [
    ("unknown-task-key", """\
        name: p
        tasks:
          a:
            scrpit: echo
        """, ['.wishstar.yaml:4 tasks.a.scrpit: unknown key "scrpit" (did you mean "script"?)']),
    ("unknown-pipeline-key", """\
        name: p
        taks: {}
        tasks:
          a: {script: x}
        """, ['.wishstar.yaml:2 taks: unknown key "taks" (did you mean "tasks"?)']),
    ("unknown-step-key-camel-case", """\
        name: p
        tasks:
          a:
            steps:
              - script: x
                workDir: /tmp
        """, ['.wishstar.yaml:6 tasks.a.steps[0].workDir: unknown key "workDir" (did you mean "workingDir"?)']),
    ("unknown-key-without-a-near-match", """\
        name: p
        tasks:
          a:
            script: x
            zzz: 1
        """, ['.wishstar.yaml:5 tasks.a.zzz: unknown key "zzz" (remove it; see docs/pipeline.md)']),
    ("needs-not-a-list", """\
        name: p
        tasks:
          a:
            script: x
            needs: b
        """, [".wishstar.yaml:5 tasks.a.needs: should be a valid list (write a list, e.g. [a, b])"]),
    ("retries-not-a-number-or-mapping", """\
        name: p
        tasks:
          a:
            script: x
            retries: often
        """, [".wishstar.yaml:5 tasks.a.retries: should be a valid dictionary (write a mapping; see "
              "docs/pipeline.md)"]),
    ("allow-failure-not-a-bool", """\
        name: p
        tasks:
          a:
            script: x
            allowFailure: perhaps
        """, [".wishstar.yaml:5 tasks.a.allowFailure: should be a valid boolean, unable to interpret input "
              "(write true or false)"]),
    ("script-not-a-string", """\
        name: p
        tasks:
          a:
            script: [x]
        """, [".wishstar.yaml:4 tasks.a.script: should be a valid string (write a string; quote values such as 1.10 "
              "or yes)"]),
    ("concurrency-zero", """\
        name: p
        concurrency: 0
        tasks:
          a: {script: x}
        """, [".wishstar.yaml:2 concurrency: should be greater than or equal to 1"]),
    ("on-failure-off-enum", """\
        name: p
        onFailure: stop
        tasks:
          a: {script: x}
        """, [".wishstar.yaml:2 onFailure: should be 'wait' or 'cancel'"]),
    ("env-secret-mapping-misspelled", """\
        name: p
        tasks:
          a:
            script: x
            env:
              TOKEN: {secrte: tok}
        """, [".wishstar.yaml:6 tasks.a.env.TOKEN.secret: this field is required",
              '.wishstar.yaml:6 tasks.a.env.TOKEN.secrte: unknown key "secrte" (did you mean "secret"?)']),
    ("missing-name-and-tasks", """\
        description: nothing
        """, [".wishstar.yaml:1 name: this field is required",
              ".wishstar.yaml:1 tasks: this field is required (a pipeline needs at least one task)"]),
    ("empty-tasks", """\
        name: p
        tasks: {}
        """, [".wishstar.yaml:2 tasks: a pipeline needs at least one task"]),
    ("tasks-a-list", """\
        name: p
        tasks: [a, b]
        """, [".wishstar.yaml:2 tasks: should be a mapping of task name to task"]),
    ("not-a-mapping", """\
        - name: p
        """, [".wishstar.yaml:1 <root>: the file must be a mapping with name: and tasks:"]),
    ("bad-pipeline-name", """\
        name: My Pipeline
        tasks:
          a: {script: x}
        """, [".wishstar.yaml:1 name: 'My Pipeline' is not valid here (use lowercase letters, digits, '-' and '_' "
              "(at most 63, starting and ending alphanumeric))"]),
    ("bad-task-name", """\
        name: p
        tasks:
          Build:
            script: x
        """, ['.wishstar.yaml:3 tasks.Build: task name "Build" is not valid (use lowercase letters, digits, \'-\' '
              "and '_' (at most 63 characters))"]),
    ("bad-env-name", """\
        name: p
        tasks:
          a:
            script: x
            env: {1ABC: x}
        """, ['.wishstar.yaml:5 tasks.a.env.1ABC: "1ABC" is not a valid environment variable name (use letters, '
              "digits and '_', not starting with a digit)"]),
]

DURATIONS = [
    ("task-timeout", """\
        name: p
        tasks:
          a:
            script: x
            timeout: 10x
        """, [".wishstar.yaml:5 tasks.a.timeout: '10x' is not valid here (write a duration such as \"90s\", \"10m\" "
              'or "1h30m")']),
    ("pipeline-timeout-bare-number", """\
        name: p
        timeout: "90"
        tasks:
          a: {script: x}
        """, [".wishstar.yaml:2 timeout: '90' is not valid here (write a duration such as \"90s\", \"10m\" or "
              '"1h30m")']),
    ("retry-backoff", """\
        name: p
        tasks:
          a:
            script: x
            retries: {limit: 2, backoff: soon}
        """, [".wishstar.yaml:5 tasks.a.retries.backoff: 'soon' is not valid here (write a duration such as \"90s\", "
              '"10m" or "1h30m")']),
    ("retry-max-backoff", """\
        name: p
        tasks:
          a:
            script: x
            retries: {limit: 2, maxBackoff: 1d}
        """, [".wishstar.yaml:5 tasks.a.retries.maxBackoff: '1d' is not valid here (write a duration such as "
              '"90s", "10m" or "1h30m")']),
    ("step-timeout", """\
        name: p
        tasks:
          a:
            steps:
              - script: x
                timeout: 5 minutes
        """, [".wishstar.yaml:6 tasks.a.steps[0].timeout: '5 minutes' is not valid here (write a duration such as "
              '"90s", "10m" or "1h30m")']),
    ("retry-limit-not-a-number", """\
        name: p
        tasks:
          a:
            script: x
            retries: {limit: many}
        """, [".wishstar.yaml:5 tasks.a.retries.limit: should be a valid integer, unable to parse string as an "
              "integer (write a whole number)"]),
    ("retry-limit-too-high", """\
        name: p
        tasks:
          a:
            script: x
            retries: 50
        """, [".wishstar.yaml:5 tasks.a.retries.limit: should be less than or equal to 20"]),
]

DUPLICATES = [
    ("task-in-tasks-and-finally", """\
        name: p
        tasks:
          a: {script: x}
        finally:
          a: {script: y}
        """, ['.wishstar.yaml:5 finally.a: "a" is both a task and a finally task (task names must be unique)']),
    ("duplicate-task-key", """\
        name: p
        tasks:
          a: {script: x}
          a: {script: y}
        """, ['.wishstar.yaml:4 tasks.a: duplicate key "a" (each key may appear once; remove or rename one)']),
    ("duplicate-step-names", """\
        name: p
        tasks:
          a:
            steps:
              - {name: build, script: x}
              - {name: build, script: y}
        """, ['.wishstar.yaml:4 tasks.a.steps: step name "build" is used twice (step names must be unique in a '
              "task)"]),
]

SHAPES = [
    ("script-and-steps", """\
        name: p
        tasks:
          a:
            script: x
            steps: [{script: y}]
        """, [".wishstar.yaml:3 tasks.a: a task needs exactly one of uses, script or steps (found script and steps) "
              "(use `uses:` for a library task, `script:` for one step, `steps:` for several)"]),
    ("neither-script-nor-steps", """\
        name: p
        tasks:
          a:
            needs: []
        """, [".wishstar.yaml:3 tasks.a: a task needs exactly one of uses, script or steps (found none) "
              "(use `uses:` for a library task, `script:` for one step, `steps:` for several)"]),
    ("empty-task-body", """\
        name: p
        tasks:
          a:
        """, [".wishstar.yaml:3 tasks.a: a task needs exactly one of uses, script or steps (found none) "
              "(use `uses:` for a library task, `script:` for one step, `steps:` for several)"]),
    ("with-without-uses", """\
        name: p
        tasks:
          a:
            script: x
            with: {x: 1}
        """, [".wishstar.yaml:5 tasks.a.with: `with:` only applies to a library task (add `uses: TASK` or remove "
              "`with:`)"]),
    ("empty-matrix-values", """\
        name: p
        tasks:
          a:
            script: x
            matrix: {py: []}
        """, [".wishstar.yaml:5 tasks.a.matrix.py: a matrix parameter needs at least one value"]),
    ("finally-with-needs", """\
        name: p
        tasks:
          a: {script: x}
        finally:
          f:
            script: y
            needs: [a]
        """, [".wishstar.yaml:7 finally.f.needs[0]: finally tasks cannot use needs (they run after every task; "
              "remove `needs:`)"]),
    ("enum-default-off-enum", """\
        name: p
        params:
          py: {default: "2.7", enum: ["3.11", "3.12"]}
        tasks:
          a: {script: x}
        """, [".wishstar.yaml:3 params.py.default: \"2.7\" is not one of ['3.11', '3.12']"]),
    ("default-of-the-wrong-type", """\
        name: p
        params:
          flags: {type: array, default: "-v"}
        tasks:
          a: {script: x}
        """, [".wishstar.yaml:3 params.flags.default: the default is string but the type is array"]),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_keys_and_types_are_checked_with_a_hint(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in DURATIONS], ids=[c[0] for c in DURATIONS])
def test_durations_and_limits_are_checked(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in DUPLICATES], ids=[c[0] for c in DUPLICATES])
def test_duplicate_names_are_reported(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in SHAPES], ids=[c[0] for c in SHAPES])
def test_task_shapes_are_checked(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


def test_a_task_sharing_its_name_with_a_finally_task_is_still_checked() -> None:
    assert problems("""\
        name: p
        tasks:
          a:
            script: x
            when: "foo == 1"
        finally:
          a: {script: y}
        """) == [
        '.wishstar.yaml:5 tasks.a.when: bad CEL condition: unknown variable "foo" (a condition can read git, event, '
        'params, tasks, context) (e.g. git.branch == "main")',
        '.wishstar.yaml:7 finally.a: "a" is both a task and a finally task (task names must be unique)',
    ]


def test_one_malformed_task_does_not_hide_the_others() -> None:
    assert problems("""\
        name: p
        tasks:
          a:
            scrpit: x
          b:
            script: x
            timeout: forever
          c:
            script: x
            needs: c
        """) == [
        '.wishstar.yaml:4 tasks.a.scrpit: unknown key "scrpit" (did you mean "script"?)',
        ".wishstar.yaml:7 tasks.b.timeout: 'forever' is not valid here (write a duration such as \"90s\", \"10m\" "
        'or "1h30m")',
        ".wishstar.yaml:10 tasks.c.needs: should be a valid list (write a list, e.g. [a, b])",
    ]


def test_scalars_are_accepted_where_strings_are_expected() -> None:
    pipeline, _ = validate_text(textwrap.dedent("""\
        name: p
        params:
          version: 1.10
          debug: true
        env: {PORT: 8080, ON: yes}
        tasks:
          a:
            steps:
              - command: [echo, 1, true]
            retries: 3
            workspaces: [src]
        workspaces: [src]
        """), ".wishstar.yaml", no_library, ())
    assert pipeline.params["version"].default == "1.1"  # YAML read a float: quote it to keep "1.10"
    assert pipeline.params["debug"].default == "true"
    assert pipeline.env == {"PORT": "8080", "ON": "true"}
    task = pipeline.tasks["a"]
    assert task.steps is not None and task.steps[0].command == ["echo", "1", "true"]
    assert task.retries.limit == 3
    assert task.workspaces == {"src": "src"}
