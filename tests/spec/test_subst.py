"""``$(...)`` references: parsed in every documented form, replaced in one pass, unknown ones kept verbatim."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wishstar.engine.spec.model import ParamValue
from wishstar.engine.spec.subst import (
    ParamRef,
    Ref,
    expand_argv,
    find_refs,
    param_lookup,
    param_ref,
    parse_expr,
    substitute,
)


@pytest.mark.parametrize(("expr", "parts", "star"), [
    ("params.registry", ("params", "registry"), False),
    ('params["a.b"]', ("params", "a.b"), False),
    ("params['a.b']", ("params", "a.b"), False),
    ("params.list[*]", ("params", "list"), True),
    ('params["a.b"][*]', ("params", "a.b"), True),
    ("tasks.version.results.tag", ("tasks", "version", "results", "tag"), False),
    ("tasks.status", ("tasks", "status"), False),
], ids=["dotted", "bracket-double", "bracket-single", "star", "bracket-star", "task-result", "tasks-status"])
def test_every_documented_reference_form_parses(expr: str, parts: tuple[str, ...], star: bool) -> None:
    assert parse_expr(expr) == (parts, star)


def test_find_refs_reports_each_reference_with_its_span() -> None:
    text = "a $(params.x) b $(tasks.t.results.r)"
    refs = list(find_refs(text))
    assert [(r.parts, text[r.start:r.end]) for r in refs] == [
        (("params", "x"), "$(params.x)"), (("tasks", "t", "results", "r"), "$(tasks.t.results.r)")]


@pytest.mark.parametrize("text", ["$(a b)", "$()", "$(", "$(a(b))", "$ (params.x)"],
                         ids=["space", "empty", "unclosed", "nested-paren", "space-after-dollar"])
def test_text_that_is_not_a_reference_is_ignored(text: str) -> None:
    assert list(find_refs(text)) == []


def answer(values: dict[str, str]):  # type: ignore[no-untyped-def]
    def lookup(ref: Ref) -> str | None:
        return values.get(".".join(ref.parts))
    return lookup


def test_known_references_are_replaced_and_unknown_kept_verbatim() -> None:
    text = "push $(params.registry)/app:$(tasks.version.results.tag)"
    assert substitute(text, answer({"params.registry": "ghcr.io"})) == "push ghcr.io/app:$(tasks.version.results.tag)"


NAMES = st.text(alphabet="abcxyz_", min_size=1, max_size=6)
PLAIN = st.text(alphabet=st.characters(blacklist_characters="$"), max_size=20)
VALUES = st.text(max_size=30) | st.builds(lambda n: f"$(params.{n})", NAMES)


@settings(deadline=None)
@given(st.lists(st.tuples(PLAIN, NAMES), max_size=5), PLAIN, st.dictionaries(NAMES, VALUES))
def test_substitution_is_a_single_pass(chunks: list[tuple[str, str]], tail: str, values: dict[str, str]) -> None:
    text = "".join(f"{plain}$(params.{name})" for plain, name in chunks) + tail
    expected = "".join(plain + values.get(name, f"$(params.{name})") for plain, name in chunks) + tail
    assert substitute(text, answer({f"params.{k}": v for k, v in values.items()})) == expected


@settings(deadline=None)
@given(st.text(max_size=60))
def test_a_lookup_that_knows_nothing_leaves_any_text_unchanged(text: str) -> None:
    assert substitute(text, lambda _ref: None) == text


@settings(deadline=None)
@given(st.text(max_size=40), NAMES)
def test_a_value_containing_a_reference_stays_literal(value: str, name: str) -> None:
    hostile = f"{value}$(params.{name})"
    lookup = answer({f"params.{name}": hostile})
    assert substitute(f"[$(params.{name})]", lookup) == f"[{hostile}]"


@settings(deadline=None)
@given(st.text(max_size=60))
def test_find_refs_never_fails_and_spans_point_at_the_reference(text: str) -> None:
    for ref in find_refs(text):
        assert text[ref.start:ref.end] == ref.text
        assert ref.text.startswith("$(") and ref.text.endswith(")")


# Parameter references: one parsing and one lookup for pipeline tasks and Tekton tasks


@pytest.mark.parametrize(("text", "expected"), [
    ("$(params.flags)", ParamRef("flags")),
    ("$(params.flags[0])", ParamRef("flags", index=0)),
    ('$(params["a.b"][12])', ParamRef("a.b", index=12)),
    ("$(params.flags[*])", ParamRef("flags", star=True)),
    ("$(params.image.repo)", ParamRef("image", keys=("repo",))),
    ("$(inputs.params.flags[1])", ParamRef("flags", index=1)),
    ("$(tasks.a.results.b)", None),
    ("$(inputs.resources.x)", None),
], ids=["name", "index", "bracket-index", "star", "object-key", "v1beta1-index", "not-a-param", "v1beta1-other"])
def test_param_references_are_taken_apart_the_same_way_everywhere(text: str, expected: ParamRef | None) -> None:
    assert param_ref(next(find_refs(text))) == expected


VALUES: dict[str, ParamValue] = {"s": "one", "arr": ["a", "b"], "obj": {"k": "v"}}


@pytest.mark.parametrize(("text", "verbatim", "joined"), [
    ("$(params.s)", "one", "one"),
    ("$(params.arr[1])", "b", "b"),
    ("$(params.obj.k)", "v", "v"),
    ("$(params.arr[2])", "$(params.arr[2])", "$(params.arr[2])"),
    ("$(params.s[0])", "$(params.s[0])", "$(params.s[0])"),
    ("$(params.obj.nope)", "$(params.obj.nope)", "$(params.obj.nope)"),
    ("$(params.arr)", "$(params.arr)", "a b"),
    ("x$(params.arr[*])", "x$(params.arr[*])", "xa b"),
    ("$(params.undeclared)", "$(params.undeclared)", "$(params.undeclared)"),
], ids=["string", "element", "object-key", "index-out-of-range", "index-on-a-string", "missing-key",
        "whole-array", "star-inside-text", "undeclared"])
def test_a_param_reference_reads_the_same_value_whatever_reads_the_whole_array(
        text: str, verbatim: str, joined: str) -> None:
    assert substitute(text, param_lookup(VALUES)) == verbatim
    assert substitute(text, param_lookup(VALUES, whole=lambda v: " ".join(v))) == joined


def test_only_a_whole_item_array_reference_spreads_over_arguments() -> None:
    lookup = param_lookup(VALUES)
    items = ["$(params.arr[*])", "$(params.arr)", "-$(params.arr[0])", "$(params.s[*])"]
    assert expand_argv(items, VALUES, lookup) == ("a", "b", "$(params.arr)", "-a", "$(params.s[*])")
    assert expand_argv(items, VALUES, lookup, bare=True) == ("a", "b", "a", "b", "-a", "$(params.s[*])")
