"""The canonical printer, and the comments it keeps.

``format(spec)`` is a pure function of the spec (plus, optionally, comments): fixed statement order,
every option written out, ``none`` edges left out, one ``meta`` key per line.  ``format(parse(t))`` is
therefore a fixed point.

Comments survive ``bars-zoo fmt`` when they can be tied to something that survives formatting:

* the *header*: the comment block before the first statement (blank lines inside it collapse to one);
* full-line comments directly above a statement, a node or a cell's closing ``}`` (they move with it);
* end-of-line comments after a statement, a node, a cell's ``{`` line or its ``}``;
* the *footer*: comments after the last statement.

Comments go with *anchors* that name what they belong to (``("stage", "s1")``, ``("node", "normal1",
"n2")``, ``("downsample", "s1", "s2")`` for the downsample between two stages), not with line
numbers, so they follow their statement when the printer reorders the file, and a spec edited
with ``model_copy`` keeps the comments of what is still there and drops the rest.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from bars_zoo.dsl._source import BAD_CHAR, Source
from bars_zoo.dsl._syntax import Stmt
from bars_zoo.spec import CellSpec, NetworkSpec, StageSpec, ensure_valid

Anchor = tuple[str, ...]


@dataclass(frozen=True)
class Comments:
    """The comments of a file, tied to anchors (see the module docstring)."""

    header: tuple[str, ...] = ()
    above: Mapping[Anchor, tuple[str, ...]] = field(default_factory=dict)
    after: Mapping[Anchor, str] = field(default_factory=dict)
    footer: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.header or self.above or self.after or self.footer)


def layout_anchors(stages: list[str | None]) -> list[Anchor]:
    """The anchor of each layout item, given its stage name (``None`` for a downsample).

    A downsample is anchored by the stages on either side of it (``""`` where there is none).
    In a valid layout that pair names one downsample, and it keeps naming it when other items
    are added or removed; when the downsample's neighbours change, its comments are dropped
    rather than moved onto another downsample (its position in the layout would do that)."""
    out: list[Anchor] = []
    for i, name in enumerate(stages):
        if name is not None:
            out.append(("stage", name))
            continue
        before = stages[i - 1] if i > 0 else None
        after = stages[i + 1] if i + 1 < len(stages) else None
        out.append(("downsample", before or "", after or ""))
    return out


def anchors(stmts: Iterable[Stmt]) -> tuple[dict[int, Anchor], dict[int, Anchor]]:
    """``(line -> anchor of the first thing that starts there, line -> cell whose '}' is there)``."""
    starts: dict[int, Anchor] = {}
    ends: dict[int, Anchor] = {}
    layout: list[tuple[int, str | None]] = []  # (line, stage name or None), in file order
    for st in stmts:
        if st.kind == "cell":
            name = st.args[0].text
            starts.setdefault(st.line, ("cell", name))
            for node in st.nodes:
                starts.setdefault(node.name.line, ("node", name, node.name.text))
            if st.end is not None:
                ends.setdefault(st.end.line, ("end", name))
        elif st.kind in ("stage", "downsample"):
            layout.append((st.line, st.args[0].text if st.kind == "stage" else None))
        elif st.kind == "meta":
            if st.options:
                starts.setdefault(st.line, ("meta", st.options[0].key.text))
        else:
            starts.setdefault(st.line, ("bars",) if st.kind == "version" else (st.kind,))
    for (line, _), anchor in zip(layout, layout_anchors([n for _, n in layout]), strict=True):
        starts.setdefault(line, anchor)
    return starts, ends


def collect(src: Source, stmts: list[Stmt]) -> Comments:
    """Tie every comment of ``src`` to the statement it belongs with."""
    starts, ends = anchors(stmts)
    first = min(starts, default=len(src.lines) + 1)
    header: list[str] = []
    pending: list[str] = []
    above: dict[Anchor, tuple[str, ...]] = {}
    after: dict[Anchor, str] = {}
    for i, line in enumerate(src.scanned):
        n = i + 1
        if line.blank:
            block = header if n < first else pending
            block.append(line.comment.strip() if line.comment else "")
            continue
        target = starts.get(n) or ends.get(n)
        if target is None:  # a line inside a statement that anchors nothing ('{' on its own line)
            if line.comment:
                pending.append(line.comment)
            continue
        block_ = _tidy(pending)
        if block_:
            above[target] = block_
        pending = []
        if line.comment:
            after[target] = line.comment
    return Comments(_tidy(header), above, after, _tidy(pending))


def _tidy(lines: list[str]) -> tuple[str, ...]:
    """Collapse runs of blank lines to one; drop blank lines at either end."""
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    while out and not out[-1]:
        out.pop()
    return tuple(out)


def as_comment(text: str) -> list[str]:
    """Caller-supplied comment text as valid comment lines (``"# "`` added where missing; any line
    end starts a new line).  A character no genotype file may hold is a ``ValueError``."""
    bad = BAD_CHAR.search(text)
    if bad is not None:
        raise ValueError(
            f"comment {text!r} holds U+{ord(bad.group()):04X}, a control character that a "
            "genotype file cannot hold; remove it"
        )
    out = []
    for ln in re.split(r"\r\n|\r|\n", text):
        ln = ln.strip()
        out.append("" if not ln else ln if ln.startswith("#") else f"# {ln}")
    return out


def quote(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def format(
    spec: NetworkSpec, *, header: Iterable[str] | None = None, comments: Comments | None = None
) -> str:
    """The canonical text of ``spec``.

    ``header`` (lines; ``"# "`` is added where missing) replaces the comments' header block.
    Comments whose anchor names nothing in ``spec`` are dropped.
    """
    if isinstance(spec, str | os.PathLike):
        raise TypeError(
            "format takes a NetworkSpec; for genotype text use bars_zoo.format_text(text), for a "
            "file bars_zoo.format(bars_zoo.read(path))"
        )
    ensure_valid(spec)  # an edited spec (model_copy) must not print as text parse refuses
    c = comments or Comments()
    head = _tidy([x for h in header for x in as_comment(h)]) if header is not None else c.header
    out: list[str] = []

    def emit(anchor: Anchor, text: str, indent: str = "", above: str | None = None) -> None:
        pad = indent if above is None else above
        for cm in c.above.get(anchor, ()):
            out.extend(pad + x if x else "" for x in as_comment(cm))
        tail = c.after.get(anchor)
        out.append(indent + text + (f"  {' '.join(as_comment(tail))}" if tail else ""))

    if head:
        out.extend(head)
        out.append("")
    emit(("bars",), f"bars {spec.version}")
    emit(("name",), f"name {quote(spec.name)}")
    i = spec.input
    emit(("input",), f"input {i.channels}x{i.height}x{i.width} classes={spec.num_classes}")
    s = spec.stem
    emit(("stem",), f"stem {s.op} channels={s.channels} stride={s.stride} pool={s.pool}")
    for cell in spec.cells:
        out.append("")
        _cell(cell, emit)
    out.append("")
    stages = [item.name if isinstance(item, StageSpec) else None for item in spec.layout]
    for item, anchor in zip(spec.layout, layout_anchors(stages), strict=True):
        if isinstance(item, StageSpec):
            emit(
                anchor,
                f"stage {item.name}: channels={item.channels} depth={item.depth} cell={item.cell}",
            )
        else:
            emit(anchor, f"downsample cell={item.cell}")
    emit(("head",), f"head {spec.head.pool} {spec.head.classifier}")
    if spec.meta:
        out.append("")
        for k, v in spec.meta.items():
            emit(("meta", k), f"meta {k}={quote(v)}")
    if c.footer:
        out.append("")
        out.extend(x for f in c.footer for x in as_comment(f))
    return "\n".join(out) + "\n"


def _cell(cell: CellSpec, emit: Callable[..., None]) -> None:
    opts = (
        f"stride={cell.stride} preprocess={cell.preprocess} shortcut={cell.shortcut} "
        f"op_shortcut={'true' if cell.op_shortcut else 'false'}"
    )
    emit(("cell", cell.name), f"cell {cell.name} {opts} {{")
    for node in cell.nodes:
        edges = [e for e in node.edges if e.op != "none"]
        body = ", ".join(f"{e.source}: {e.op}" for e in edges) if edges else "none"
        emit(("node", cell.name, node.name), f"{node.name} <- {body}", "  ")
    emit(("end", cell.name), "}", above="  ")  # comments above '}' belong inside the cell
