"""Cycle detection for validation: name every task on a cycle, starting from the smallest name. Pure."""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx


def find_cycle(nodes: Iterable[str], edges: Iterable[tuple[str, str]]) -> list[str] | None:
    """Every task on one cycle, in order, or None when the graph is acyclic."""
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(nodes)
    graph.add_edges_from(edges)
    try:
        cycle = [edge[0] for edge in nx.find_cycle(graph)]
    except nx.NetworkXNoCycle:
        return None
    start = cycle.index(min(cycle))
    return cycle[start:] + cycle[:start]
