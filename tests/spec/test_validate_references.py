"""The linter on what a pipeline refers to: tasks, results, params, workspaces, CEL, cycles, library tasks.

YAML in, the exact lines the user reads out; every problem of a file is reported at once, sorted by line.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable

import pytest

from wishstar.engine.spec.errors import ValidationFailed
from wishstar.engine.spec.model import Task
from wishstar.engine.spec.validate import UsesInfo, UsesLookup, edges_of, validate_text


def no_library(_task: Task) -> UsesInfo | None:
    return None


def problems(text: str, uses: UsesLookup = no_library, names: Iterable[str] = ()) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        validate_text(textwrap.dedent(text), ".wishstar.yaml", uses, names)
    return [str(p) for p in info.value.problems]


REFERENCES = [
    ("needs-unknown-task", """\
        name: p
        tasks:
          test: {script: x}
          image:
            script: x
            needs: [tset]
        """, ['.wishstar.yaml:6 tasks.image.needs[0]: unknown task "tset" (did you mean "test"?)']),
    ("needs-itself", """\
        name: p
        tasks:
          a:
            script: x
            needs: [a]
        """, ['.wishstar.yaml:5 tasks.a.needs[0]: task "a" needs itself (remove it)']),
    ("needs-a-finally-task", """\
        name: p
        tasks:
          a:
            script: x
            needs: [f]
        finally:
          f: {script: y}
        """, ['.wishstar.yaml:5 tasks.a.needs[0]: "f" is a finally task (tasks cannot wait for finally tasks)']),
    ("undeclared-param", """\
        name: p
        params: {registry: ghcr.io}
        tasks:
          a:
            script: push $(params.registy)
        """, ['.wishstar.yaml:5 tasks.a.script: $(params.registy): undeclared parameter "registy" '
              '(did you mean "registry"?)']),
    ("undeclared-param-in-a-later-script-line", """\
        name: p
        tasks:
          a:
            script: |
              echo one
              echo $(params.nope)
        """, ['.wishstar.yaml:6 tasks.a.script: $(params.nope): undeclared parameter "nope" (declare it under '
              "params:)"]),
    ("result-of-unknown-task", """\
        name: p
        tasks:
          version: {script: x, results: [tag]}
          image:
            script: build $(tasks.verison.results.tag)
        """, ['.wishstar.yaml:5 tasks.image.script: $(tasks.verison.results.tag): unknown task "verison" '
              '(did you mean "version"?)']),
    ("missing-result", """\
        name: p
        tasks:
          version: {script: x, results: [tag]}
          image:
            script: build $(tasks.version.results.tga)
        """, ['.wishstar.yaml:5 tasks.image.script: $(tasks.version.results.tga): task "version" has no result '
              '"tga" (did you mean "tag"?)']),
    ("own-result-by-task-reference", """\
        name: p
        tasks:
          a:
            script: echo $(tasks.a.results.tag)
            results: [tag]
        """, [".wishstar.yaml:4 tasks.a.script: $(tasks.a.results.tag): a task cannot use its own result "
              "(use $(results.NAME.path) to write it)"]),
    ("malformed-task-reference", """\
        name: p
        tasks:
          a: {script: x}
          b: {script: echo $(tasks.a.outputs)}
        """, [".wishstar.yaml:4 tasks.b.script: $(tasks.a.outputs): write $(tasks.NAME.results.RESULT) or "
              "$(tasks.NAME.status)"]),
    ("undeclared-own-result-path", """\
        name: p
        tasks:
          a:
            script: echo 1 > $(results.tag.path)
        """, ['.wishstar.yaml:4 tasks.a.script: $(results.tag.path): task "a" declares no result "tag" '
              "(add `results: [tag]` to the task)"]),
    ("tasks-status-outside-finally", """\
        name: p
        tasks:
          a: {script: echo $(tasks.status)}
        """, [".wishstar.yaml:3 tasks.a.script: $(tasks.status): $(tasks.status) is only known in finally tasks "
              "(move this task under finally:)"]),
    ("task-status-outside-finally", """\
        name: p
        tasks:
          a: {script: x}
          b: {script: echo $(tasks.a.status)}
        """, [".wishstar.yaml:4 tasks.b.script: $(tasks.a.status): a task's status is only known in finally tasks "
              "(use `when:` on tasks.NAME.status instead)"]),
    ("unknown-workspace-reference", """\
        name: p
        workspaces: [source]
        tasks:
          a: {script: cd $(workspaces.sorce.path)}
        """, ['.wishstar.yaml:4 tasks.a.script: $(workspaces.sorce.path): unknown workspace "sorce" '
              '(did you mean "source"?)']),
    ("unknown-pipeline-workspace-binding", """\
        name: p
        workspaces: [source]
        tasks:
          a:
            script: x
            workspaces: {src: sources}
        """, ['.wishstar.yaml:6 tasks.a.workspaces.src: unknown pipeline workspace "sources" '
              '(did you mean "source"?)']),
    ("matrix-result-reference", """\
        name: p
        tasks:
          test:
            matrix: {py: ["3.11", "3.12"]}
            script: x
            results: [report]
          publish: {script: "upload $(tasks.test.results.report)"}
        """, ['.wishstar.yaml:7 tasks.publish.script: $(tasks.test.results.report): "test" fans out with matrix; '
              "its results cannot be referenced (drop the matrix or the reference)"]),
    ("unknown-context-variable", """\
        name: p
        tasks:
          a: {script: echo $(context.run.name)}
        """, [".wishstar.yaml:3 tasks.a.script: $(context.run.name): unknown context variable (known: "
              "context.pipeline.name, context.run.id, context.run.number, context.task.attempt, context.task.name)"]),
    ("unknown-reference-root", """\
        name: p
        tasks:
          a: {script: echo $(secrets.token)}
        """, ['.wishstar.yaml:3 tasks.a.script: $(secrets.token): unknown reference "secrets" (references start with '
              "params, tasks, results, workspaces or context)"]),
    ("reference-in-step-env", """\
        name: p
        tasks:
          a:
            steps:
              - script: x
                env: {V: $(params.v)}
        """, ['.wishstar.yaml:6 tasks.a.steps[0].env.V: $(params.v): undeclared parameter "v" (declare it under '
              "params:)"]),
    ("index-of-a-string-param", """\
        name: p
        params: {registry: ghcr.io}
        tasks:
          a:
            script: push $(params.registry[0])
        """, ['.wishstar.yaml:5 tasks.a.script: $(params.registry[0]): parameter "registry" is string, not an '
              "array, so it has no element [0] (write $(params.registry))"]),
    ("index-of-an-undeclared-param", """\
        name: p
        params: {targets: [linux]}
        tasks:
          a:
            script: build $(params.target[0])
        """, ['.wishstar.yaml:5 tasks.a.script: $(params.target[0]): undeclared parameter "target" '
              '(did you mean "targets"?)']),
]

CEL = [
    ("syntax-error", "git.branch ==", 'bad CEL condition: column 14: Syntax error: mismatched input \'<EOF>\''),
    ("unknown-variable", 'branch == "main"', 'bad CEL condition: unknown variable "branch" (a condition can read git, '
                                             "event, params, tasks, context)"),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in REFERENCES], ids=[c[0] for c in REFERENCES])
def test_references_must_name_something_declared(text: str, expected: list[str]) -> None:
    assert problems(text) == expected


@pytest.mark.parametrize(("when", "message"), [c[1:] for c in CEL], ids=[c[0] for c in CEL])
def test_when_must_be_cel_over_known_variables(when: str, message: str) -> None:
    text = f"name: p\ntasks:\n  a:\n    script: x\n    when: '{when}'\n"
    assert problems(text) == [f'.wishstar.yaml:5 tasks.a.when: {message} (e.g. git.branch == "main")']


@pytest.mark.parametrize("when", [
    'git.branch == "main"',
    'event == "push" && params.deploy == "yes"',
    'tasks.test.status == "succeeded"',
    'context.run.number > 3',
], ids=["git", "event-and-params", "tasks", "context"])
def test_when_may_read_the_documented_variables(when: str) -> None:
    text = (f"name: p\nparams: {{deploy: 'no'}}\ntasks:\n  test: {{script: x}}\n"
            f"  a:\n    script: x\n    when: '{when}'\n")
    validate_text(text, ".wishstar.yaml", no_library, ())


# Cycles


def test_cycle_error_names_every_task_on_a_three_task_cycle() -> None:
    assert problems("""\
        name: p
        tasks:
          a: {script: x, needs: [c]}
          b: {script: x, needs: [a]}
          c: {script: x, needs: [b]}
          d: {script: x, needs: [c]}
        """) == [".wishstar.yaml:3 tasks.a: dependency cycle: a -> b -> c -> a (remove one of the needs or result "
                 "references on this cycle)"]


def test_cycle_error_names_both_tasks_when_a_result_reference_closes_it() -> None:
    assert problems("""\
        name: p
        tasks:
          build:
            script: echo $(tasks.version.results.tag)
            results: [digest]
          version:
            script: x
            results: [tag]
            needs: [build]
        """) == [".wishstar.yaml:3 tasks.build: dependency cycle: build -> version -> build (remove one of the needs "
                 "or result references on this cycle)"]


def test_a_result_reference_is_an_edge_with_its_reason() -> None:
    pipeline, _ = validate_text(textwrap.dedent("""\
        name: p
        tasks:
          version: {script: x, results: [tag]}
          image:
            needs: [version]
            script: build $(tasks.version.results.tag)
            when: 'tasks.version.results.tag != ""'
        """), ".wishstar.yaml", no_library, ())
    assert edges_of(pipeline) == {("version", "image"): ["needs", "uses result tag"]}


# Library tasks


def fake_library(task: Task) -> UsesInfo | None:
    if task.uses != "git-clone":
        return None
    problems = tuple((("with", k), f'"git-clone" has no parameter "{k}"', 'did you mean "url"?')
                     for k in task.with_ if k != "url")
    return UsesInfo(results=("commit",), workspaces=(("output", False),), params=("url",), problems=problems)


LIBRARY = [
    ("unknown-library-task", """\
        name: p
        tasks:
          clone:
            uses: gti-clone
        """, ['.wishstar.yaml:4 tasks.clone.uses: no library task named "gti-clone" (did you mean "git-clone"?)']),
    ("with-key-problem", """\
        name: p
        workspaces: [src]
        tasks:
          clone:
            uses: git-clone
            with: {ulr: https://example.org/x.git}
        """, ['.wishstar.yaml:6 tasks.clone.with.ulr: "git-clone" has no parameter "ulr" (did you mean "url"?)']),
    ("unknown-library-result", """\
        name: p
        workspaces: [src]
        tasks:
          clone: {uses: git-clone}
          show: {script: echo $(tasks.clone.results.sha)}
        """, ['.wishstar.yaml:5 tasks.show.script: $(tasks.clone.results.sha): task "clone" has no result "sha" '
              '(declare it in "clone" under results:)']),
    ("unbound-workspace", """\
        name: p
        workspaces: [a, b]
        tasks:
          clone: {uses: git-clone}
        """, ['.wishstar.yaml:4 tasks.clone: workspace "output" of "git-clone" is not bound (add `workspaces: '
              "{output: <pipeline workspace>}`)"]),
    ("undeclared-workspace-key", """\
        name: p
        workspaces: [src]
        tasks:
          clone:
            uses: git-clone
            workspaces: {outptu: src}
        """, ['.wishstar.yaml:6 tasks.clone.workspaces.outptu: "git-clone" declares no workspace "outptu" '
              '(did you mean "output"?)']),
    ("matrix-over-unknown-param", """\
        name: p
        workspaces: [src]
        tasks:
          clone:
            uses: git-clone
            matrix: {branch: [a, b]}
        """, ['.wishstar.yaml:6 tasks.clone.matrix.branch: "git-clone" has no parameter "branch"']),
    ("results-on-a-library-task", """\
        name: p
        workspaces: [src]
        tasks:
          clone:
            uses: git-clone
            results: [x]
        """, [".wishstar.yaml:6 tasks.clone.results: a library task declares its own results (remove `results:`)"]),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in LIBRARY], ids=[c[0] for c in LIBRARY])
def test_library_tasks_are_checked_through_uses_info(text: str, expected: list[str]) -> None:
    assert problems(text, fake_library, ["git-clone", "git-tag"]) == expected


def test_library_info_is_returned_for_each_uses_task() -> None:
    text = "name: p\nworkspaces: [src]\ntasks:\n  clone: {uses: git-clone}\n  echo: {script: x}\n"
    _, infos = validate_text(text, ".wishstar.yaml", fake_library, ["git-clone"])
    assert infos == {"clone": UsesInfo(("commit",), (("output", False),), ("url",))}


def test_array_elements_and_spreads_of_declared_array_params_are_accepted() -> None:
    validate_text(textwrap.dedent("""\
        name: p
        params: {targets: [linux, darwin]}
        tasks:
          a:
            steps:
              - script: build $(params.targets[0]) $(inputs.params.targets[1])
              - command: [make, "$(params.targets[*])"]
        """), ".wishstar.yaml", no_library, ())


def test_matrix_values_count_as_params() -> None:
    text = "name: p\ntasks:\n  t:\n    matrix: {py: ['3.11']}\n    script: tox -e $(params.py)\n"
    validate_text(text, ".wishstar.yaml", no_library, ())


# All at once


def test_five_different_errors_are_five_problems_sorted_by_line() -> None:
    assert problems("""\
        name: p
        finally:
          test: {script: y}
          notify:
            script: x
            needs: [test]
        tasks:
          deploy:
            script: x
            when: "1 +"
          image:
            needs: [tset]
            script: x
          test:
            script: echo $(params.nope)
        """) == [
        '.wishstar.yaml:3 finally.test: "test" is both a task and a finally task (task names must be unique)',
        ".wishstar.yaml:6 finally.notify.needs[0]: finally tasks cannot use needs (they run after every task; "
        "remove `needs:`)",
        ".wishstar.yaml:10 tasks.deploy.when: bad CEL condition: column 4: Syntax error: mismatched input '<EOF>' "
        '(e.g. git.branch == "main")',
        '.wishstar.yaml:12 tasks.image.needs[0]: unknown task "tset" (did you mean "test"?)',
        '.wishstar.yaml:15 tasks.test.script: $(params.nope): undeclared parameter "nope" (declare it under params:)',
    ]
