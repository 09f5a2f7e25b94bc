"""The benchmark baseline: DAG shapes shared with the engine side, and a dependency-ordered spawner."""

from __future__ import annotations

import pytest

from bench.overhead_baseline import run_baseline, run_dag, shape_edges, shape_layers, task_names


class TestShapes:
    def test_wide_has_no_edges(self) -> None:
        assert shape_edges("wide", 200) == []

    def test_chain_links_each_task_to_the_next(self) -> None:
        assert shape_edges("chain", 4) == [("t000", "t001"), ("t001", "t002"), ("t002", "t003")]

    def test_diamond_alternates_one_and_forty_nine_for_two_hundred_tasks(self) -> None:
        layers = shape_layers("diamond", 200)
        assert [len(layer) for layer in layers] == [1, 49] * 4
        assert len(shape_edges("diamond", 200)) == 7 * 49

    def test_every_shape_covers_all_tasks_in_topological_order(self) -> None:
        for shape in ("wide", "chain", "diamond"):
            flat = [t for layer in shape_layers(shape, 123) for t in layer]
            assert flat == task_names(123)

    def test_an_unknown_shape_is_named(self) -> None:
        with pytest.raises(ValueError, match="'star'"):
            shape_edges("star", 10)


class TestRunDag:
    def test_tasks_start_after_their_needs_and_never_above_the_limit(self) -> None:
        running: list[int] = []
        finished: set[str] = set()
        names: dict[int, str] = {}
        peak = 0
        edges = shape_edges("diamond", 60)
        needs = {t: {s for s, d in edges if d == t} for t in task_names(60)}

        def start(name: str) -> int:
            nonlocal peak
            assert needs[name] <= finished, f"{name} started before its needs"
            pid = len(names) + 1
            names[pid] = name
            running.append(pid)
            peak = max(peak, len(running))
            return pid

        def wait_any() -> int:
            pid = running.pop(0)
            finished.add(names[pid])
            return pid

        order = run_dag(task_names(60), edges, 4, start, wait_any)
        assert sorted(order) == task_names(60) and peak == 4

    def test_the_baseline_runs_real_processes_and_returns_seconds(self) -> None:
        assert 0 < run_baseline("chain", 5, 2) < 30
