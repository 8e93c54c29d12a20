"""Dependency graph of expanded resources: explicit and implicit edges, cycle detection, stable order.

Nodes are identified by their position in declaration order, which is also the tie-breaker of
the topological sort, so independent resources deploy in the order the template lists them.
"Soft" edges (implied by ids, parent/child nesting) are only kept when they don't close a
cycle: ARM does not add them, so they may only help ordering, never fail a template.
"""

from __future__ import annotations

import heapq

from provider.templates.errors import INVALID_TEMPLATE, TemplateError


class DependencyGraph:
    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.deps: list[set[int]] = [set() for _ in names]

    def add(self, node: int, depends_on: int) -> None:
        if node != depends_on:
            self.deps[node].add(depends_on)

    def add_soft(self, node: int, depends_on: int) -> bool:
        """Add an edge unless it would close a cycle; returns whether it was added."""
        if node == depends_on or depends_on in self.deps[node]:
            return False
        if self._reaches(depends_on, node):
            return False
        self.deps[node].add(depends_on)
        return True

    def _reaches(self, start: int, goal: int) -> bool:
        stack, seen = [start], {start}
        while stack:
            current = stack.pop()
            if current == goal:
                return True
            for nxt in self.deps[current]:
                if nxt not in seen:
                    seen.add(nxt)
                    stack.append(nxt)
        return False

    def find_cycle(self) -> list[int] | None:
        """A cycle as a node list whose last element repeats the first, or None."""
        white, grey, black = 0, 1, 2
        color = [white] * len(self.names)
        for root in range(len(self.names)):
            if color[root] != white:
                continue
            path: list[int] = []
            stack: list[tuple[int, list[int]]] = [(root, sorted(self.deps[root]))]
            color[root] = grey
            path.append(root)
            while stack:
                node, pending = stack[-1]
                if pending:
                    nxt = pending.pop(0)
                    if color[nxt] == grey:
                        start = path.index(nxt)
                        return path[start:] + [nxt]
                    if color[nxt] == white:
                        color[nxt] = grey
                        path.append(nxt)
                        stack.append((nxt, sorted(self.deps[nxt])))
                else:
                    color[node] = black
                    path.pop()
                    stack.pop()
        return None

    def check_acyclic(self) -> None:
        cycle = self.find_cycle()
        if cycle:
            chain = " -> ".join(f"'{self.names[i]}'" for i in cycle)
            raise TemplateError(
                INVALID_TEMPLATE,
                f"Deployment template validation failed: 'Circular dependency detected on resource: {chain}. Please "
                "see https://aka.ms/arm-template/#resources for usage details.'",
                target=f"resources.{self.names[cycle[0]]}",
            )

    def order(self) -> list[int]:
        """Topological order (dependencies first), ties broken by declaration order."""
        self.check_acyclic()
        remaining = [len(d) for d in self.deps]
        dependents: list[list[int]] = [[] for _ in self.names]
        for node, deps in enumerate(self.deps):
            for dep in deps:
                dependents[dep].append(node)
        ready = [i for i, count in enumerate(remaining) if count == 0]
        heapq.heapify(ready)
        out: list[int] = []
        while ready:
            node = heapq.heappop(ready)
            out.append(node)
            for dependent in dependents[node]:
                remaining[dependent] -= 1
                if remaining[dependent] == 0:
                    heapq.heappush(ready, dependent)
        return out
