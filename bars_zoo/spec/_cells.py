"""The checks inside one cell: node numbering (one finding per mistake, no echoes) and edges."""

from __future__ import annotations

from bars_zoo.spec._model import CellSpec, Limits
from bars_zoo.spec._problem import Problem
from bars_zoo.spec._shapes import _active_sources, live_edges


def _node_order(
    cell: CellSpec, base: tuple[str | int, ...]
) -> tuple[list[Problem], dict[int, list[str]], dict[int, list[str]]]:
    """One finding per numbering mistake, so that a duplicated, missing, misnumbered or swapped
    node does not make every node after it "out of order" too.  Also the names that the edges of
    node ``ni`` and later may use without a finding of their own (``excused[ni]``): a missing
    node's, and the name a misnumbered node should have had, whose absence has been reported; and
    the names that the edges of node ``ni`` alone may use (``moved[ni]``): a node out of place,
    told to move below the nodes defined after it, may take edges from them."""
    nums = [int(n.name[1:]) for n in cell.nodes]
    first: dict[int, int] = {}
    excused: dict[int, list[str]] = {}
    moved: dict[int, list[str]] = {}
    probs: list[Problem] = []
    expected = 1  # the number the next node should have
    for ni, k in enumerate(nums):
        loc = (*base, "nodes", ni, "name")
        name, want = f"n{k}", f"n{expected}"
        later = nums[ni + 1 :]
        while expected in first:  # defined earlier, out of place: reported there
            expected += 1
            want = f"n{expected}"
        if k == expected and k not in first:
            first[k] = ni
            expected += 1
            continue
        if k in first:
            hint = "remove one of them, or renumber: nodes are named n1, n2, ... in order"
            if expected not in later:  # a copied line whose name was not changed
                hint = f"rename this one: is it {want!r}, which no node defines?"
                excused[ni + 1] = [want]
                expected += 1
            probs.append(
                Problem(
                    "node-order",
                    f"node {name!r} is defined twice",
                    loc,
                    hint=hint,
                    first=(*base, "nodes", first[k], "name"),
                )
            )
            continue
        first[k] = ni
        if expected in later:  # this node is out of place; the one expected here comes later
            msg = f"node {name!r} out of order: expected {want!r}"
            moved[ni] = [f"n{j}" for j in sorted(set(later)) if expected <= j < k]
            hint = _reorder_hint(cell, name, want, moved[ni])
        elif k > expected and not any(expected <= j < k for j in later):  # a gap: nodes missing
            gap = [want] if k == expected + 1 else [want, f"n{k - 1}"]
            msg = (
                f"node {want!r} is missing"
                if len(gap) == 1
                else f"nodes {want!r} to {gap[1]!r} are missing"
            )
            msg += f" (the node after {f'n{expected - 1}'!r} is {name!r})" if expected > 1 else ""
            hint = (
                f"add it, or rename {name!r} and the nodes after it: nodes are named n1, n2, ... "
                "without gaps"
            )
            excused[ni] = [f"n{j}" for j in range(expected, min(k, expected + Limits.MAX_NODES))]
            expected = k + 1
        else:  # misnumbered: taken as the node expected here
            msg = f"node {name!r} out of order: expected {want!r}"
            hint = f"rename it to {want!r}: nodes are named n1, n2, ... in order"
            excused[ni + 1] = [want]
            expected += 1
        probs.append(Problem("node-order", msg, loc, hint=hint))
    return probs, excused, moved


def _reorder_hint(cell: CellSpec, name: str, want: str, below: list[str]) -> str:
    """What fixes node ``name``, written above the nodes ``below`` that are named before it.
    Moving it below them fails if one of them takes input from it; renumbering fails if it takes
    input from one of them; a cycle (both, through one node) is fixed by neither."""
    takes_from = [b for b in below if _depends(cell, name, b)]
    gives_to = [b for b in below if _depends(cell, b, name)]
    order = "nodes are named n1, n2, ... in order"
    both = [b for b in takes_from if b in gives_to]
    if both:
        return f"no move or renumbering fixes it: it and {both[0]!r} take input from each other"
    if gives_to and not takes_from:
        nums = [int(b[1:]) for b in below]
        if nums == list(range(nums[0], int(name[1:]))):  # the run below it: name -> want, +1
            steps = [
                f"{name!r} -> {want!r}",
                *(f"{b!r} -> 'n{n + 1}'" for b, n in zip(below, nums, strict=True)),
            ]
            how = f"renumber {', '.join(steps)}, edges included"
        else:
            how = f"renumber: {order}"
        return f"{how} (moving it would not do: {gives_to[0]!r} takes input from it)"
    if takes_from and not gives_to:
        return f"move it below {below[-1]!r}: it takes input from {takes_from[-1]!r}"
    if takes_from:
        return f"move it below {takes_from[-1]!r}, then renumber: {order}"
    return f"move it below {want!r}, or renumber: {order}"


def _depends(cell: CellSpec, node: str, on: str) -> bool:
    """Whether ``node`` takes an edge from ``on``, directly or through other nodes."""
    edges = {n.name: [e.source for e in n.edges] for n in cell.nodes}
    todo, done = list(edges.get(node, ())), set()
    while todo:
        src = todo.pop()
        if src == on:
            return True
        if src not in done:
            done.add(src)
            todo.extend(edges.get(src, ()))
    return False


def check_cell(cell: CellSpec, ci: int) -> list[Problem]:
    probs: list[Problem] = []
    base: tuple[str | int, ...] = ("cells", ci)
    order, excused, moved = _node_order(cell, base)
    probs.extend(order)
    seen: list[str] = []
    # a node out of place moves below the nodes in moved[]: an edge into one of those from it,
    # where it also depends on that node, is a cycle that no move or renumbering fixes
    below = {cell.nodes[mi].name: set(names) for mi, names in moved.items()}
    for ni, node in enumerate(cell.nodes):
        seen.extend(excused.get(ni, ()))
        allowed = [*seen, *moved.get(ni, ())]
        sources: set[str] = set()
        for ei, e in enumerate(node.edges):
            loc = (*base, "nodes", ni, "edges", ei, "source")
            if e.source in sources:
                probs.append(
                    Problem(
                        "duplicate-edge",
                        f"node {node.name!r} lists an edge from {e.source!r} twice",
                        loc,
                        hint="keep one edge per source; a node sums its inputs",
                    )
                )
            sources.add(e.source)
            if node.name in below.get(e.source, ()) and _depends(cell, e.source, node.name):
                probs.append(
                    Problem(
                        "bad-edge",
                        f"edge from {e.source!r}, which belongs after {node.name!r} and takes "
                        f"an edge from it: a cycle",
                        loc,
                        hint="a node takes edges from 'in' and earlier nodes only: remove this "
                        f"edge or the one from {node.name!r} into {e.source!r}",
                    )
                )
            elif e.source != "in" and e.source not in allowed:
                if e.source == node.name:
                    msg = f"node {node.name!r} takes an edge from itself"
                elif any(n.name == e.source for n in cell.nodes):
                    msg = f"edge from {e.source!r}, which comes after {node.name!r}"
                else:
                    msg = f"edge from undefined node {e.source!r}"
                probs.append(
                    Problem(
                        "bad-edge",
                        msg,
                        loc,
                        hint=f"edges come from 'in' or an earlier node ({', '.join(['in', *seen])})",
                    )
                )
        seen.append(node.name)
    if cell.stride == 1 and "bfr" in (cell.preprocess, cell.shortcut):
        field = "preprocess" if cell.preprocess == "bfr" else "shortcut"
        probs.append(
            Problem(
                "bad-op",
                "'bfr' (binary factorized reduce) only works in a stride=2 cell",
                (*base, field),
                hint="use bconv3x3 or bconv1x1, or declare the cell with stride=2",
            )
        )
    if probs:
        return probs
    active = _active_sources(cell)
    live_nodes = {n for n, _ in live_edges(cell)}
    for ni, node in enumerate(cell.nodes):
        if node.name not in active:
            probs.append(
                Problem(
                    "dead-node",
                    f"node {node.name!r} has no live input and is always zero",
                    (*base, "nodes", ni, "name"),
                    severity="warning",
                    hint="BARS keeps 'none' on purpose, but edges leaving this node do nothing",
                )
            )
        elif ni < len(cell.nodes) - 1 and node.name not in live_nodes:
            probs.append(
                Problem(
                    "unused-node",
                    f"node {node.name!r} does not reach the cell output and is never computed",
                    (*base, "nodes", ni, "name"),
                    severity="warning",
                )
            )
    if cell.nodes[-1].name not in active and cell.shortcut == "none":
        probs.append(
            Problem(
                "dead-cell",
                f"cell {cell.name!r} always outputs zero (dead last node and shortcut=none)",
                (*base, "name"),
                severity="warning",
            )
        )
    return probs


__all__ = ["check_cell"]
