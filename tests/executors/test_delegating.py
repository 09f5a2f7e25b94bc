"""A wrapper built on ``Delegating`` forwards the whole executor contract, including methods added later."""

from __future__ import annotations

import inspect

from wishstar.engine.executors.base import Delegating, Executor


def test_delegating_forwards_every_method_of_the_executor_contract() -> None:
    contract = {name for name, member in inspect.getmembers(Executor, inspect.isfunction)
                if not name.startswith("_")}
    forwarded = {name for name in contract if name in vars(Delegating)}
    assert contract and forwarded == contract, sorted(contract - forwarded)
