"""Every diagnostic code the genotype checker can report, with a one-line meaning.

The documentation (``docs/genotype-language.md``) shows an example of each, and the tests hold one
test per code that checks its message, line and column.  Add a code here when you add one anywhere.
"""

from __future__ import annotations

#: Errors: the file is rejected.
ERROR_CODES: dict[str, str] = {
    # the file as a whole
    "empty": "the file holds no statement",
    "not-text": "the file is not UTF-8 text, or holds control characters (a binary file?)",
    "too-large": "a size beyond a hard bound: the file, its statements or words, a number, a name, a count",
    "unreadable": "the file cannot be read (missing, a directory, no permission)",
    "too-many-errors": "more errors than are worth showing; the first ones are listed",
    "internal": "a bug in bars-zoo (never expected; please report it with the file)",
    # syntax and sections
    "syntax": "the text does not follow the grammar",
    "unknown-statement": "a line starts with a word that is not a statement keyword",
    "version": "the 'bars N' line names a format version this bars-zoo cannot read",
    "missing-section": "a required statement is missing (or 'bars 1' is not first)",
    "duplicate-section": "a statement that may appear once appears twice",
    # options and values
    "unknown-option": "an option this statement does not take",
    "duplicate-option": "an option (or meta key) given twice",
    "missing-option": "a required option is missing",
    "bad-value": "a value of the wrong kind or out of range",
    "bad-name": "an empty or unprintable network name",
    "unknown-op": "an op that is not in the vocabulary for this place",
    "bad-op": "an op that exists but cannot be used here ('bfr' in a stride-1 cell)",
    "bad-head": "a head other than 'head avgpool linear'",
    # cells
    "empty-cell": "a cell without nodes",
    "duplicate-name": "two cells or two stages with one name",
    "node-order": "nodes not named n1, n2, ... in order",
    "bad-edge": "an edge from a later, the same, or an undefined node",
    "duplicate-edge": "two edges into one node from one source",
    # layout
    "unknown-cell": "a stage or downsample names a cell that is not defined",
    "bad-stride": "a stride other than 1 or 2, or a cell of the wrong stride in a stage/downsample",
    "bad-channels": "a width below 1, or an odd width after a 'bfr' downsample",
    "bad-depth": "a stage depth below 1",
    "layout": "a downsample not followed by a stage",
    "spatial-size": "a downsample of a 1x1 feature map",
}

#: Warnings: reported, never failing a check.
WARNING_CODES: dict[str, str] = {
    "dead-node": "a node whose inputs are all 'none' or dead: it is always zero",
    "unused-node": "a node that does not reach the cell output: it is never computed",
    "dead-cell": "a cell that always outputs zero",
    "unused-cell": "a cell defined but used by no stage or downsample",
    "unusual-layout": "a stage narrower than the one before it, two stages without a downsample "
    "between them, or downsamples of different cells",
}
