"""Lines that are not part of the genotype around it: markdown fences, and lines above ``bars 1``.

A genotype pasted from a README keeps its markdown fence (```` ``` ```` lines); a stray or misspelt
line can end up above ``bars 1``.  Either is one mistake, so :func:`strays` reports it once, at the
stray line, names the ``bars 1`` line it found, and hands back the statements that remain so that
the rest of the file is still checked.
"""

from __future__ import annotations

from bars_zoo.dsl._source import KEYWORDS, Chunk, Source, suggest, whole_file
from bars_zoo.dsl._syntax import Stmt, parse_chunk
from bars_zoo.errors import Diagnostic
from bars_zoo.spec import FORMAT_VERSION

_BARS = f"bars {FORMAT_VERSION}"


def _lines(nums: list[int]) -> str:
    """``line 3``, ``lines 1 and 17``, ``lines 1, 2 and 5``."""
    if len(nums) == 1:
        return f"line {nums[0]}"
    return "lines " + ", ".join(map(str, nums[:-1])) + f" and {nums[-1]}"


def _is_fence(src: Source, chunk: Chunk) -> bool:
    return chunk.first == chunk.last and src.scanned[chunk.first].code.strip().startswith("```")


def _located(src: Source, chunk: Chunk, code: str, message: str, hint: str) -> Diagnostic:
    line = src.lines[chunk.first]
    return whole_file(
        src.filename,
        code,
        message,
        hint,
        line=chunk.first + 1,
        column=len(line) - len(line.lstrip()) + 1,
        source_line=line[:400],
    )


def strays(src: Source) -> tuple[list[Diagnostic], list[Chunk]]:
    """The errors for markdown fences and for non-statement lines above a later ``bars 1`` line
    (one each), and the statements left to check."""
    errors: list[Diagnostic] = []
    chunks = list(src.chunks)
    fences = [c for c in chunks if _is_fence(src, c)]
    if fences:
        nums = [c.first + 1 for c in fences]
        errors.append(
            _located(
                src,
                fences[0],
                "syntax",
                "a markdown code fence ('```') is not part of a genotype",
                f"delete the fence {_lines(nums)}: keep only the genotype between them"
                if len(nums) > 1
                else f"delete line {nums[0]}: it is markdown, not genotype",
            )
        )
        chunks = [c for c in chunks if c not in fences]
    at = next((i for i, c in enumerate(chunks) if c.keyword == "bars"), None)
    if not at or not isinstance(parse_chunk(src, chunks[at]), Stmt):
        return errors, chunks
    above = chunks[:at]
    if any(c.keyword in KEYWORDS for c in above):  # a statement moved up: the assembler says so
        return errors, chunks
    nums = [n + 1 for c in above for n in range(c.first, c.last + 1)]
    meant = suggest(above[0].keyword, [k for k in KEYWORDS if k != "bars"], 0.75)
    what = _lines(nums) if len(nums) < 4 else f"lines {nums[0]}-{nums[-1]}"
    hint = f"delete {what} above it: '{_BARS}' must be the first line"
    if meant is not None:
        hint += f" (or, if line {nums[0]} is a misspelt '{meant}' line, fix it and move it below)"
    errors.append(
        _located(
            src,
            above[0],
            "missing-section",
            f"the file does not start with '{_BARS}' (it is on line {chunks[at].first + 1})",
            hint,
        )
    )
    return errors, chunks[at:]
