"""User-typed Kubernetes names (the namespace) are checked up front and reported as problems with a fix."""

from __future__ import annotations

import pytest

from wishstar.engine.compiler.names import check_namespace, namespace_problems
from wishstar.engine.spec.errors import ValidationFailed


@pytest.mark.parametrize("namespace", ["default", "ci", "team-a-2", "a" * 63])
def test_a_dns_label_is_a_valid_namespace(namespace: str) -> None:
    assert namespace_problems(namespace) == []
    check_namespace(namespace)


@pytest.mark.parametrize(("namespace", "says", "hint"), [
    ("Bad_NS", "not a valid Kubernetes namespace name", 'did you mean "bad-ns"?'),
    ("-ci", "not a valid Kubernetes namespace name", 'did you mean "ci"?'),
    ("", "not a valid Kubernetes namespace name", None),
    ("a" * 64, "64 characters; a namespace has at most 63", None),
], ids=["underscore-and-capitals", "leading-dash", "empty", "too-long"])
def test_a_bad_namespace_is_one_problem_naming_the_option_with_a_fix(namespace: str, says: str,
                                                                      hint: str | None) -> None:
    [problem] = namespace_problems(namespace, where="settings", option="namespace")
    assert (problem.file, problem.path, problem.hint) == ("settings", "namespace", hint)
    assert says in problem.message
    with pytest.raises(ValidationFailed) as exc:
        check_namespace(namespace)
    assert [p.path for p in exc.value.problems] == ["--namespace"]
