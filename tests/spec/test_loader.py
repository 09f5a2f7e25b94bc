"""Loading YAML: line numbers for every field, strings kept as written, and only user-facing errors."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wishstar.engine.spec.errors import InputTooLarge, ValidationFailed
from wishstar.engine.spec.loader import load_yaml

PIPELINE = """\
name: build
on:
  push:
    branches: [main]
tasks:
  test:
    steps:
      - name: unit
        script: pytest
      - name: lint
        env:
          LEVEL: high
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(ValidationFailed) as info:
        load_yaml(text, "f.yaml")
    return [str(p) for p in info.value.problems]


# Line numbers


@pytest.mark.parametrize(("path", "line"), [
    ((), 1),
    (("name",), 1),
    (("on",), 2),
    (("on", "push", "branches"), 4),
    (("on", "push", "branches", 0), 4),
    (("tasks", "test", "steps", 0), 8),
    (("tasks", "test", "steps", 0, "script"), 9),
    (("tasks", "test", "steps", 1, "name"), 10),
    (("tasks", "test", "steps", 1, "env", "LEVEL"), 12),
], ids=["root", "name", "on", "flow-list", "flow-item", "list-item", "nested-key", "second-item", "deep-env"])
def test_every_field_path_knows_its_line(path: tuple[str | int, ...], line: int) -> None:
    assert load_yaml(PIPELINE, "f.yaml").line_of(path) == line


def test_a_path_without_a_line_falls_back_to_its_nearest_ancestor() -> None:
    loaded = load_yaml(PIPELINE, "f.yaml")
    assert loaded.line_of(("tasks", "test", "steps", 1, "env", "MISSING", 3)) == 11


def test_a_problem_names_file_line_and_dotted_path() -> None:
    problem = load_yaml(PIPELINE, "f.yaml").problem(("tasks", "test", "steps", 0, "script"), "bad", "fix it")
    assert str(problem) == "f.yaml:9 tasks.test.steps[0].script: bad (fix it)"


# Values as written


def test_on_stays_the_string_key_on() -> None:
    data = load_yaml(PIPELINE, "f.yaml").data
    assert "on" in data
    assert True not in data


@pytest.mark.parametrize(("text", "expected"), [
    ("yes: no", {"yes": False}),
    ("1: a", {"1": "a"}),
    ("~: a", {"~": "a"}),
    ("a: 1.10", {"a": 1.1}),
    ("a: '1.10'", {"a": "1.10"}),
    ("a: [1, true, null]", {"a": [1, True, None]}),
], ids=["bool-key-stays-string", "int-key-stays-string", "null-key-stays-string", "float-value", "quoted-value",
        "list-values"])
def test_keys_are_strings_as_written_and_values_resolve_as_yaml(text: str, expected: object) -> None:
    assert load_yaml(text, "f.yaml").data == expected


def test_aliases_are_expanded() -> None:
    assert load_yaml("a: &x [1, 2]\nb: *x\n", "f.yaml").data == {"a": [1, 2], "b": [1, 2]}


# Errors


def test_duplicate_key_is_reported_with_its_line() -> None:
    assert problems_of("name: a\ntasks:\n  t:\n    script: x\n    script: y\n") == [
        'f.yaml:5 tasks.t.script: duplicate key "script" (each key may appear once; remove or rename one)']


def test_every_duplicate_key_is_reported_at_once() -> None:
    assert [p.split(" ", 1)[0] for p in problems_of("a: 1\nb: 2\na: 3\nb: 4\n")] == ["f.yaml:3", "f.yaml:4"]


@pytest.mark.parametrize(("text", "expected"), [
    ("a: [1,\n  b: 2", "f.yaml:2 <yaml>: YAML syntax error, column 7: expected ',' or ']', but got '<stream end>'"),
    ("a:\n\tb: c", "f.yaml:2 <yaml>: YAML syntax error, column 1: found character '\\t' that cannot start any token"),
    ("a: 1\n b: 2\n", "f.yaml:2 <yaml>: YAML syntax error, column 3: mapping values are not allowed here"),
], ids=["unclosed-flow-list", "tab-indent", "bad-indent"])
def test_syntax_error_names_line_and_column(text: str, expected: str) -> None:
    assert problems_of(text) == [f"{expected} (check indentation and quoting around this line)"]


@pytest.mark.parametrize(("text", "expected"), [
    ("a: !!python/object:os.system x", "f.yaml:1 <yaml>: YAML error: could not determine a constructor for the tag "
                                       "'tag:yaml.org,2002:python/object:os.system'"),
    ("? [a]\n: b", "f.yaml:1 <root>: keys must be plain strings"),
    ("base: &b {x: 1}\nt:\n  <<: *b\n", "f.yaml:3 t: merge keys (<<) are not supported (repeat the fields, or use "
                                        "a library task)"),
    ("a: 1\n---\nb: 2\n", "f.yaml:2 <yaml>: YAML syntax error, column 1: but found another document (check "
                          "indentation and quoting around this line)"),
], ids=["python-tag", "complex-key", "merge-key", "two-documents"])
def test_unsupported_yaml_is_a_problem_not_a_crash(text: str, expected: str) -> None:
    assert problems_of(text) == [expected]


@pytest.mark.parametrize(("text", "expected"), [
    (b"name: x\nscript: \xff\xfe\n", "f.yaml:2 <yaml>: not UTF-8 text: byte 0xff cannot be decoded (save the file "
                                       "as UTF-8)"),
    ("name: x\nscript: a\x07\n", "f.yaml:2 <yaml>: character U+0007 is not allowed in YAML (remove it, or write "
                                  "it as an escape in a double-quoted string)"),
], ids=["not-utf8", "control-character"])
def test_text_yaml_cannot_read_is_one_problem_with_its_line(text: str | bytes, expected: str) -> None:
    with pytest.raises(ValidationFailed) as info:
        load_yaml(text, "f.yaml")
    assert [str(p) for p in info.value.problems] == [expected]


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"], ids=["empty", "blank", "comment"])
def test_an_empty_file_says_so(text: str) -> None:
    assert problems_of(text) == ["f.yaml:1 <root>: the file is empty (start with `name:`)"]


def test_a_file_over_the_cap_is_refused_before_parsing() -> None:
    text = "a: [" + "x, " * 50 + "]"  # also malformed: the size check comes first
    with pytest.raises(InputTooLarge, match=r"^f.yaml: \d+ bytes is over the 100-byte limit .*split it"):
        load_yaml(text, "f.yaml", max_bytes=100)


def test_the_cap_counts_bytes_not_characters() -> None:
    load_yaml("a: " + "x" * 10, "f.yaml", max_bytes=13)
    with pytest.raises(InputTooLarge):
        load_yaml("a: " + "é" * 10, "f.yaml", max_bytes=13)


def test_nested_aliases_cannot_expand_past_the_cap() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(InputTooLarge, match="aliases expand"):
        load_yaml("\n".join(lines), "f.yaml")


def test_deep_nesting_is_a_problem_not_a_recursion_error() -> None:
    assert problems_of("[" * 5000 + "]" * 5000) == [
        "f.yaml <yaml>: the document is nested too deeply (flatten the nested lists and mappings)"]


def test_unencodable_text_is_a_problem_not_a_crash() -> None:
    assert problems_of("a: \ud800")[0].startswith("f.yaml:1 <yaml>: character U+D800 is not allowed in YAML")


YAMLISH = st.text(alphabet=st.sampled_from([*"ab:-[]{},&*!?|>'\"#%@`~<=\t\n ", "\ud800", "\x00", "é"]),
                  max_size=80)


@settings(max_examples=400, deadline=None)
@given(YAMLISH)
def test_arbitrary_text_loads_or_fails_with_a_user_facing_error(text: str) -> None:
    try:
        loaded = load_yaml(text, "f.yaml")
    except (ValidationFailed, InputTooLarge) as exc:
        assert str(exc)
    else:
        assert loaded.line_of(()) >= 1


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60))
def test_arbitrary_bytes_load_or_fail_with_a_user_facing_error(data: bytes) -> None:
    with contextlib.suppress(ValidationFailed, InputTooLarge):
        load_yaml(data, "f.yaml")
