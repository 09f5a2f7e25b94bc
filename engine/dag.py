"""The task graph: built from ``needs`` plus implicit edges from result references, on networkx.

Gives the plan its stable order, layers and edges with reasons, and names cycles. It does not answer "which tasks
are ready now?": the scheduler (``engine.scheduler.decide``) decides that from the run state. Run status never
lives on graph nodes. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import networkx as nx

from wishstar.engine.spec.cycles import find_cycle

__all__ = ["CycleError", "Graph", "find_cycle"]


class CycleError(ValueError):
    """The graph has a cycle; ``cycle`` lists every task on it, in order."""

    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__(" -> ".join([*cycle, cycle[0]]))


class Graph:
    """A DAG over task names with the reasons for each edge."""

    def __init__(self, nodes: Iterable[str], edges: Mapping[tuple[str, str], Iterable[str]]) -> None:
        graph: nx.DiGraph = nx.DiGraph()
        graph.add_nodes_from(nodes)
        for (source, target), reasons in edges.items():
            graph.add_edge(source, target, reasons=tuple(reasons))
        self._g = graph
        self._order = self._topological()
        self._deps = {n: frozenset(graph.predecessors(n)) for n in graph.nodes}

    def _topological(self) -> list[str]:
        try:
            return list(nx.lexicographical_topological_sort(self._g))
        except nx.NetworkXUnfeasible:
            raise CycleError(find_cycle(self._g.nodes, self._g.edges) or []) from None

    @property
    def order(self) -> list[str]:
        """A stable topological order (ties broken by name)."""
        return list(self._order)

    def deps(self, node: str) -> frozenset[str]:
        return self._deps[node]

    def reasons(self, source: str, target: str) -> tuple[str, ...]:
        return tuple(self._g.edges[source, target]["reasons"])

    def edges(self) -> list[tuple[str, str]]:
        position = {n: i for i, n in enumerate(self._order)}
        return sorted(self._g.edges, key=lambda e: (position[e[1]], position[e[0]]))

    def layers(self) -> list[list[str]]:
        """Tasks grouped by the longest path from a root: everything in a layer can run together."""
        depth: dict[str, int] = {}
        for node in self._order:
            depth[node] = max((depth[d] + 1 for d in self._deps[node]), default=0)
        out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for node in self._order:
            out[depth[node]].append(node)
        return out
