"""Cells and their nodes: pass 1 of the assembler for ``cell NAME ... { ... }`` statements.

A cell with a bad option is still checked (its nodes, edges and names) with a stand-in for the
option; a cell with a bad edge is kept without that edge.  Either way it is marked *poisoned* in
:class:`~bars_zoo.dsl._cross.Doubts` so that pass 2 drops the findings that could be echoes.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from bars_zoo.dsl._cross import Doubts, unshift
from bars_zoo.dsl._source import Source, suggest
from bars_zoo.dsl._syntax import Node, Stmt, Word
from bars_zoo.dsl._values import BAD, Path, Reader
from bars_zoo.spec import CELL_OPS, EDGE_OPS, NODE_PATTERN, SOURCE_PATTERN, CellSpec, Limits

_NODE_NAME = re.compile(NODE_PATTERN)
_SOURCE = re.compile(SOURCE_PATTERN)
_WRITTEN_NODE = re.compile(r"n(?:0|[1-9][0-9]{0,8})")  # a node name, n0 included

_CELL_STANDINS = {
    "stride": 1,
    "preprocess": "bconv3x3",
    "shortcut": "identity",
    "op_shortcut": True,
}


class CellReader(Reader):
    """Reads cells into :attr:`cells`, recording in :attr:`doubts` what it could not vouch for."""

    def __init__(self, src: Source) -> None:
        super().__init__(src)
        self.doubts = Doubts()
        self.cells: list[CellSpec] = []
        self.cells_full = False

    def _cell(self, st: Stmt) -> None:
        name = st.args[0]
        if len(self.cells) >= Limits.MAX_CELLS:
            if not self.cells_full:
                self.error(
                    "too-large",
                    f"more than {Limits.MAX_CELLS} cells",
                    name.pos,
                    "a network needs one cell per distinct topology",
                )
            self.cells_full = True
            self.doubts.failed_cells.add(name.text)
            return
        path: Path = ("cells", len(self.cells))
        self.forget(path)
        self.pos[path] = self.pos[(*path, "name")] = name.pos
        ok = self.name_word(name, "cell")
        got = self.options(st, ("stride", "preprocess", "shortcut", "op_shortcut"))
        d: dict[str, Any] = {
            "name": name.text,
            "stride": self.take(st, got, "stride", self.stride, default=1),
            "preprocess": self.take(
                st, got, "preprocess", lambda w: self.choice(w, CELL_OPS, "preprocess op")
            ),
            "shortcut": self.take(
                st, got, "shortcut", lambda w: self.choice(w, CELL_OPS, "shortcut op")
            ),
            "op_shortcut": self.take(st, got, "op_shortcut", self.boolean, default=True),
        }
        self.note_positions(path, got)
        nodes = list(st.nodes)
        # A bad option gets a stand-in, so that the nodes are still checked; findings that
        # depend on the options are then dropped ("options" poison), references left alone.
        level = None
        for key, standin in _CELL_STANDINS.items():
            if d[key] is BAD:
                d[key] = standin
                level = "options"
                if key == "stride":
                    self.doubts.failed_cells.add(name.text)
        if len(nodes) > Limits.MAX_NODES:
            self.error(
                "too-large",
                f"cell '{name}' has {len(nodes)} nodes; the limit is {Limits.MAX_NODES}",
                nodes[Limits.MAX_NODES].name.pos,
            )
            level = level or "edges"
            nodes = nodes[: Limits.MAX_NODES]
        if not nodes:
            self.error(
                "empty-cell", f"cell '{name}' has no nodes", name.pos, "add 'n1 <- in: bconv3x3'"
            )
            ok = False
        if nodes and nodes[0].name.text == "n0":
            # one error for the numbering from n0; the rest is checked as if renumbered, and
            # pass 2 names the nodes as written (``Doubts.zero_based``)
            self._renumber_error(name, nodes)
            nodes = _shifted(nodes)
            self.doubts.zero_based.add(path)
            level = level or "edges"  # its warnings would name the shifted nodes
        first_error = len(self.errors)
        d["nodes"] = []
        written: list[str] = []  # the node names as written, misnamed ones included
        for ni, node in enumerate(nodes):
            nd, clean = self.node(node, (*path, "nodes", ni), written)
            d["nodes"].append(nd)
            written.append(node.name.text)
            if not clean:
                level = level or "edges"
        if path in self.doubts.zero_based:  # errors about the renumbered nodes, as written
            self.errors[first_error:] = [
                dataclasses.replace(e, message=unshift(e.message), hint=e.hint and unshift(e.hint))
                for e in self.errors[first_error:]
            ]
        spec = self.validated(CellSpec, d, path) if ok else None
        if spec is None:
            self.doubts.failed_cells.add(name.text)
            self.forget(path)
            return
        if level is not None:
            self.doubts.poisoned[path] = level
        self.cells.append(spec)

    def node(self, node: Node, path: Path, written: list[str]) -> tuple[dict[str, Any], bool]:
        """A node's dict (bad and ``none`` edges left out) and whether it was error-free.

        ``written`` holds the names of the nodes before it, as written.  A name that is not
        ``nK`` is reported and replaced by the one expected here; an edge from such a name is an
        echo of that error and is left out silently."""
        self.pos[path] = self.pos[(*path, "name")] = node.name.pos
        name = node.name.text
        clean = True
        if not self.name_word(node.name, "node"):
            name, clean = f"n{len(written) + 1}", False
        elif not _NODE_NAME.fullmatch(name):
            name = f"n{len(written) + 1}"
            self.error(
                "node-order",
                f"node '{node.name}' is not a node name: expected '{name}'",
                node.name.pos,
                "nodes are named n1, n2, ... in order",
            )
            clean = False
        edges: list[dict[str, str]] = []
        seen: dict[str, Word] = {}
        for src, op in node.edges:
            if op is None:
                if src.text == "none" and len(node.edges) == 1:
                    continue
                self.error(
                    "syntax",
                    f"edge '{src}' needs an op",
                    src.pos,
                    f"write 'SOURCE: OP' (for example 'in: bconv3x3'), or '{node.name} <- none' "
                    "for a node without inputs",
                )
                clean = False
                continue
            if src.text in seen:
                self.error(
                    "duplicate-edge",
                    f"node '{node.name}' lists an edge from '{src}' twice",
                    src.pos,
                    "keep one edge per source; a node sums its inputs",
                )
                clean = False
                continue
            seen[src.text] = src
            good_source = _SOURCE.fullmatch(src.text) is not None
            if src.text in written and not good_source:
                pass  # an edge from a misnamed node: that name has been reported
            elif not self.name_word(src, "edge source"):
                good_source = False
            elif not good_source:
                self._bad_source(src, written)
            if self.choice(op, EDGE_OPS, "edge op") is BAD or not good_source:
                clean = False
                continue
            if op.text == "none":
                continue  # an explicit 'none' edge is the same as no edge
            ei = len(edges)
            self.pos[(*path, "edges", ei)] = self.pos[(*path, "edges", ei, "source")] = src.pos
            self.pos[(*path, "edges", ei, "op")] = op.pos
            edges.append({"source": src.text, "op": op.text})
        return {"name": name, "edges": edges}, clean

    def _renumber_error(self, cell: Word, nodes: list[Node]) -> None:
        """One error for a cell numbered from ``n0``: the whole renumbering, not one per node."""
        nums = sorted({int(n.name.text[1:]) for n in nodes if _WRITTEN_NODE.fullmatch(n.name.text)})
        steps = [f"n{i} -> n{i + 1}" for i in nums]
        shown = ", ".join(steps if len(steps) <= 6 else [*steps[:5], "...", steps[-1]])
        self.error(
            "node-order",
            f"cell '{cell}' numbers its nodes from n0; nodes start at n1",
            nodes[0].name.pos,
            f"renumber every node up by one, and the edges from them: {shown}",
        )

    def _bad_source(self, src: Word, written: list[str]) -> None:
        earlier = ["in", *(f"n{i + 1}" for i in range(len(written)))]
        close = suggest(src.text.lower(), earlier, 0.5)
        hint = f"edges come from 'in' or an earlier node ({', '.join(earlier)})"
        self.error(
            "bad-edge",
            f"edge from '{src}', which is neither 'in' nor a node",
            src.pos,
            f"did you mean '{close}'? {hint}" if close else hint,
        )


def _shifted(nodes: list[Node]) -> list[Node]:
    """The nodes of a cell numbered from ``n0`` renumbered up by one, edges from them included
    (the positions stay those of the words as written)."""

    def up(w: Word) -> Word:
        if not _WRITTEN_NODE.fullmatch(w.text):
            return w
        return dataclasses.replace(w, text=f"n{int(w.text[1:]) + 1}")

    return [
        dataclasses.replace(n, name=up(n.name), edges=tuple((up(s), op) for s, op in n.edges))
        for n in nodes
    ]
