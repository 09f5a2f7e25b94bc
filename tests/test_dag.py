"""The task graph: a stable order, layers, edges with their reasons, and cycles named task by task."""

from __future__ import annotations

import pytest

from wishstar.engine.dag import CycleError, Graph

DIAMOND = Graph(["deploy", "test", "lint", "build"], {
    ("build", "test"): ["needs"], ("build", "lint"): ["needs"],
    ("test", "deploy"): ["needs"], ("lint", "deploy"): ["needs", "uses result report"],
})


def test_order_is_topological_with_ties_broken_by_name() -> None:
    assert DIAMOND.order == ["build", "lint", "test", "deploy"]


def test_order_does_not_depend_on_insertion_order() -> None:
    nodes = ["c", "b", "a", "d"]
    edges = {("c", "d"): ["needs"], ("a", "d"): ["needs"]}
    assert Graph(nodes, edges).order == Graph(sorted(nodes), dict(reversed(edges.items()))).order == ["a", "b", "c",
                                                                                                         "d"]


def test_layers_group_tasks_by_longest_path_from_a_root() -> None:
    graph = Graph(["a", "b", "c", "d"], {("a", "b"): ["needs"], ("b", "c"): ["needs"], ("a", "c"): ["needs"]})
    assert graph.layers() == [["a", "d"], ["b"], ["c"]]


def test_an_empty_graph_has_no_layers() -> None:
    assert Graph([], {}).layers() == []


def test_edges_keep_their_reasons_and_come_in_order() -> None:
    assert DIAMOND.reasons("lint", "deploy") == ("needs", "uses result report")
    assert DIAMOND.edges() == [("build", "lint"), ("build", "test"), ("lint", "deploy"), ("test", "deploy")]
    assert DIAMOND.deps("deploy") == frozenset({"lint", "test"})


def test_cycle_error_names_both_tasks() -> None:
    with pytest.raises(CycleError) as info:
        Graph(["a", "b"], {("a", "b"): ["needs"], ("b", "a"): ["needs"]})
    assert info.value.cycle == ["a", "b"]
    assert str(info.value) == "a -> b -> a"


def test_cycle_error_names_every_task_on_the_cycle_starting_from_the_smallest() -> None:
    with pytest.raises(CycleError) as info:
        Graph(["root", "z", "m", "b"], {("root", "z"): ["needs"], ("z", "m"): ["needs"], ("m", "b"): ["needs"],
                                        ("b", "z"): ["needs"]})
    assert info.value.cycle == ["b", "z", "m"]
    assert str(info.value) == "b -> z -> m -> b"
