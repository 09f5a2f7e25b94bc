"""Build numbers under concurrent writers: unique, gapless, and increasing for each writer."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from wishstar.engine.store import Store

WRITERS = 8
RUNS_EACH = 15


def _create_many(store: Store) -> list[int]:
    return [store.create_run("ci")[1] for _ in range(RUNS_EACH)]


def test_concurrent_writers_get_unique_gapless_increasing_numbers(open_store: Callable[[], Store]) -> None:
    stores = [open_store() for _ in range(WRITERS)]  # one store per writer, as separate processes would
    with ThreadPoolExecutor(WRITERS) as pool:
        per_writer = list(pool.map(_create_many, stores))
    every = sorted(n for numbers in per_writer for n in numbers)
    assert every == list(range(1, WRITERS * RUNS_EACH + 1))
    assert all(numbers == sorted(numbers) for numbers in per_writer)


def test_one_shared_store_is_safe_across_threads(store: Store) -> None:
    with ThreadPoolExecutor(WRITERS) as pool:
        per_writer = list(pool.map(_create_many, [store] * WRITERS))
    assert sorted(n for numbers in per_writer for n in numbers) == list(range(1, WRITERS * RUNS_EACH + 1))


def test_stores_opened_at_once_on_a_new_database_migrate_it_once(store_url: str | None,
                                                                  tmp_path: Path) -> None:
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: Store.open(store_url, tmp_path / "fresh"), range(4)))
    try:
        assert stores[0].create_run("ci")[1] == 1
        assert stores[3].create_run("ci")[1] == 2
    finally:
        for s in stores:
            s.close()
