"""Raw text in, statements out: size and encoding checks, comments, and cutting a file into statements.

Everything here runs before the grammar sees a byte, so a hostile file (binary garbage, megabytes of
text, NUL bytes) costs one bounded pass and gets one clean diagnostic.  A file that passes is split
into lines, each line into code and comment, and the lines into *statements* ("chunks"): one line each,
except a cell, which runs from its ``{`` to the matching ``}``.  The parser then reads one chunk at a
time, so one broken statement does not hide the errors in the others.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from bars_zoo.errors import Diagnostic
from bars_zoo.spec import Limits

#: The words a statement may start with, in canonical order.
KEYWORDS: tuple[str, ...] = (
    "bars",
    "name",
    "input",
    "stem",
    "cell",
    "stage",
    "downsample",
    "head",
    "meta",
)

# Control characters other than tab, newline, carriage return and form feed; lone surrogates.
BAD_CHAR = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_FIRST_WORD = re.compile(r"\s*([^\s:=,{}\"#]*)")


class Line(NamedTuple):
    """One source line split at its comment; ``depth`` = ``{`` minus ``}`` in the code part."""

    code: str
    comment: str | None
    depth: int

    @property
    def blank(self) -> bool:
        return not self.code or self.code.isspace()


@dataclass(frozen=True)
class Chunk:
    """Lines ``first..last`` (0-based, inclusive) hold one statement."""

    first: int
    last: int
    keyword: str  # the first word of the statement (may be anything for a broken one)
    closed: bool = True  # False: a cell's '{' is never closed
    early_close: int | None = None  # a cell closed on this line (0-based) before its node lines


@dataclass(frozen=True)
class Source:
    """Decoded text cut into lines and statements.

    ``overflow`` is set when the file has more statements or words than the hard bounds allow; the
    scan stops there (``scanned`` and ``chunks`` are then incomplete) and the file is rejected.
    """

    filename: str
    lines: list[str]
    scanned: list[Line]
    chunks: list[Chunk]
    overflow: str | None = None

    def chunk_text(self, chunk: Chunk) -> str:
        return "\n".join(self.lines[chunk.first : chunk.last + 1]) + "\n"


class SourceError(Exception):
    """The whole file is unusable; ``diag`` says why."""

    def __init__(self, diag: Diagnostic) -> None:
        super().__init__(diag.message)
        self.diag = diag


def whole_file(
    filename: str,
    code: str,
    message: str,
    hint: str | None = None,
    *,
    line: int = 1,
    column: int = 1,
    source_line: str | None = None,
) -> Diagnostic:
    return Diagnostic(code, message, "error", filename, line, column, None, source_line, hint)


def decode(data: str | bytes, filename: str) -> str:
    """Bounded, validated text with ``\\n`` line ends; raises :class:`SourceError`.  A byte order
    mark is removed from the start; others are left for :func:`stray_boms`."""
    limit = Limits.MAX_FILE_BYTES
    if isinstance(data, bytes):
        if len(data) > limit:
            raise SourceError(whole_file(filename, "too-large", _too_large(), _SPLIT))
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SourceError(_not_utf8(data, exc.start, filename)) from None
    else:
        if len(data) > limit:
            raise SourceError(whole_file(filename, "too-large", _too_large(), _SPLIT))
        text = data
    text = text.removeprefix("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    bad = BAD_CHAR.search(text)
    if bad is not None:
        raise SourceError(_control_char(text, bad.start(), filename))
    if not isinstance(data, bytes) and len(text.encode("utf-8")) > limit:
        raise SourceError(whole_file(filename, "too-large", _too_large(), _SPLIT))
    return text


_SPLIT = "a genotype is a few dozen lines; is this the right file?"


def _too_large() -> str:
    # not the size: files are read only up to one byte past the limit
    return f"the file has more than {Limits.MAX_FILE_BYTES} bytes, the limit of a genotype file"


#: bytes no text file holds (NUL and the other control characters but tab, newlines, form feed)
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f]")


def _not_utf8(data: bytes, at: int, filename: str) -> Diagnostic:
    line_start = data.rfind(b"\n", 0, at) + 1
    line_end = data.find(b"\n", at)
    line_end = len(data) if line_end < 0 else line_end
    line = data.count(b"\n", 0, at) + 1
    prefix = data[line_start:at].decode("utf-8", errors="replace")
    src = data[line_start : min(line_end, line_start + 400)].decode("utf-8", errors="replace")
    return whole_file(
        filename,
        "not-text",
        f"the file is not UTF-8 text (byte 0x{data[at]:02x} at offset {at})",
        "genotype files are UTF-8 text; is this a binary file?"
        if _CONTROL_BYTES.search(data)
        else "genotype files are UTF-8 text: save this one as UTF-8 (it looks like text in another "
        "encoding, such as Latin-1)",
        line=line,
        column=len(prefix) + 1,
        source_line=src,
    )


def _control_char(text: str, at: int, filename: str) -> Diagnostic:
    line_start = text.rfind("\n", 0, at) + 1
    line_end = text.find("\n", at)
    line_end = len(text) if line_end < 0 else line_end
    ch = text[at]
    return whole_file(
        filename,
        "not-text",
        f"the file contains the control character U+{ord(ch):04X}",
        "genotype files are plain text; is this a binary file?",
        line=text.count("\n", 0, at) + 1,
        column=at - line_start + 1,
        source_line=text[line_start : min(line_end, line_start + 400)],
    )


def stray_boms(text: str, filename: str) -> tuple[str, list[Diagnostic]]:
    """One error per run of byte order marks left in decoded ``text`` (one is allowed first, and
    :func:`decode` removed it; another is a pasting accident), and the text with each of them
    read as a space, so that the rest of the file is still checked."""
    if "\ufeff" not in text:
        return text, []
    found = [_stray_bom(text, m.start(), filename) for m in re.finditer("\ufeff+", text)]
    return text.replace("\ufeff", " "), found


def _stray_bom(text: str, at: int, filename: str) -> Diagnostic:
    line_start = text.rfind("\n", 0, at) + 1
    line_end = text.find("\n", at)
    line_end = len(text) if line_end < 0 else line_end
    what = (
        "a second byte order mark (U+FEFF) at the start of the file"
        if at == 0
        else "a byte order mark (U+FEFF) inside the file"
    )
    return whole_file(
        filename,
        "not-text",
        f"the file contains {what}",
        "delete it (joining files or pasting text puts it there; it is invisible in most "
        "editors): a file may start with one byte order mark, and hold none elsewhere",
        line=text.count("\n", 0, at) + 1,
        column=at - line_start + 1,
        source_line=text[line_start : min(line_end, line_start + 400)],
    )


# Code up to the first '#' outside a "string" (a string runs to the end of the line if unclosed).
# Unrolled, so that a long line costs one linear scan and no backtracking stack.
_CODE = re.compile(r'[^"#]*(?:"[^"\\]*(?:\\.[^"\\]*)*"?[^"#]*)*')


def split_comment(line: str) -> tuple[str, str | None]:
    """``(code, comment)``: the comment starts at the first ``#`` outside a ``"string"``."""
    if '"' not in line:
        i = line.find("#")
        return (line, None) if i < 0 else (line[:i], line[i:].rstrip())
    m = _CODE.match(line)
    i = m.end() if m else len(line)
    return (line, None) if i >= len(line) else (line[:i], line[i:].rstrip())


def _depth(code: str) -> int:
    if "{" not in code and "}" not in code:
        return 0
    if '"' in code:
        code = re.sub(r'"[^"\\]*(?:\\.[^"\\]*)*"?', '""', code)
    return code.count("{") - code.count("}")


def _scan_line(text: str) -> Line:
    if not text or text.isspace():
        return Line(text, None, 0)
    code, comment = split_comment(text)
    return Line(code, comment, _depth(code))


# A generous over-count of the tokens on a line (a "string" counts once).
_WORDS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[^\s=,:{}"]+|\S')


def first_word(code: str) -> str:
    m = _FIRST_WORD.match(code)
    return m.group(1) if m else ""


def scan(text: str, filename: str) -> Source:
    """Cut decoded text into lines and statements: one lazy pass that stops at the hard bounds.

    A statement is one line, except a cell, which runs from its ``{`` to the matching ``}``.  A
    line inside an unclosed cell that starts with a statement keyword ends the cell early (so one
    missing ``}`` is one error), unless a ``}`` follows before the next ``cell`` line: then that
    line was put inside the cell (one error, on it); a ``{`` on the line below ``cell`` joins
    that cell.  Node lines right after a closed cell (``cell c ... { }`` with its nodes below) join
    that cell too, with a lone ``}`` after them: the cell was closed too early (one error, on the
    early ``}``), not four.
    """
    lines = text.split("\n")
    scanned: list[Line] = []

    def line(k: int) -> Line:
        while len(scanned) <= k:
            scanned.append(_scan_line(lines[len(scanned)]))
        return scanned[k]

    closes: dict[int, bool] = {}

    def closed_later(k: int) -> bool:
        """Whether a '}' comes at or after line ``k`` before the next ``cell`` line (each line's
        answer is kept: a hostile file cannot make this quadratic)."""
        seen = []
        answer = False
        while k < n and k not in closes:
            seen.append(k)
            if not line(k).blank:
                if first_word(line(k).code) == "cell":
                    break
                if line(k).depth < 0:
                    answer = True
                    break
            k += 1
        else:
            answer = closes.get(k, False)
        closes.update(dict.fromkeys(seen, answer))
        return answer

    chunks: list[Chunk] = []
    words = 0
    n = len(lines)
    i = 0
    while i < n:
        if line(i).blank:
            i += 1
            continue
        keyword = first_word(line(i).code)
        depth = line(i).depth
        j = i
        while j + 1 < n:
            nxt = line(j + 1)
            if depth <= 0:
                # A '{' put on the line below 'cell' is one (syntax) error, not a cascade.
                if keyword == "cell" and nxt.code.lstrip().startswith("{"):
                    j += 1
                    depth += nxt.depth
                    continue
                break
            # a statement line ends an unclosed cell early, unless a '}' follows before the next
            # cell: then it was put inside this cell (one error, on that line)
            statement = not nxt.blank and first_word(nxt.code) in KEYWORDS and "<-" not in nxt.code
            if statement and (first_word(nxt.code) == "cell" or not closed_later(j + 2)):
                break
            j += 1
            depth += nxt.depth
        early = None
        if keyword == "cell" and depth <= 0 and any("{" in line(k).code for k in range(i, j + 1)):
            end = _orphan_nodes(line, j + 1, n)
            if end is not None:
                # closed early when its last line holds the '}'; with none, its '{' is inside an
                # unterminated string (`cell" normal1 ... {`): the nodes are its own, and that
                # string is the one error
                early = j if "}" in line(j).code else None
                j = end
        chunks.append(Chunk(i, j, keyword, closed=depth <= 0, early_close=early))
        words += sum(len(_WORDS.findall(scanned[k].code)) for k in range(i, j + 1))
        if len(chunks) > Limits.MAX_STATEMENTS:
            return Source(filename, lines, scanned, chunks, "statements")
        if words > Limits.MAX_WORDS:
            return Source(filename, lines, scanned, chunks, "words")
        i = j + 1
    return Source(filename, lines, scanned, chunks)


def _is_node_line(code: str) -> bool:
    return "<-" in code and first_word(code) not in KEYWORDS


def _orphan_nodes(line: Callable[[int], Line], k: int, n: int) -> int | None:
    """The last line of the node lines (and a lone ``}`` after them) that start at or after
    line ``k`` past blank lines, or ``None`` when the next line with code is not a node line."""
    while k < n and line(k).blank:
        k += 1
    if k >= n or not _is_node_line(line(k).code):
        return None
    last = k
    while k < n:
        ln = line(k)
        if not ln.blank:
            if ln.code.strip() == "}":
                return k
            if not _is_node_line(ln.code):
                break
            last = k
            if ln.depth < 0:  # 'n4 <- n3: bconv3x3 }' closes the body
                break
        k += 1
    return last


def suggest(word: str, choices: tuple[str, ...] | list[str], cutoff: float = 0.6) -> str | None:
    """The closest of ``choices`` to ``word``, for a "did you mean" hint."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return close[0] if close else None
