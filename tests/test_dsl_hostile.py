"""Hostile input: every file, however broken, gets clean diagnostics quickly and in bounded memory.

Only :class:`~bars_zoo.errors.GenotypeError` may leave :func:`bars_zoo.dsl.parse`; :func:`check`
never raises and never reports an ``internal`` error (its last line of defence against bugs).
"""

from __future__ import annotations

import random
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bars_zoo.dsl import check, format_text, parse
from bars_zoo.errors import GenotypeError
from bars_zoo.spec import Limits

ZOO = sorted((Path(__file__).parents[1] / "genotypes").glob("*.geno"))
ZOO_TEXTS = [p.read_text(encoding="utf-8") for p in ZOO]
MAX = Limits.MAX_FILE_BYTES
HEAD = 'bars 1\nname "x"\ninput 3x32x32 classes=10\nstem conv3x3 channels=8 stride=1 pool=none\n'
BASE_FILE = ZOO_TEXTS[0]
CELL = "cell c stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true { n1 <- in: bconv3x3 }\n"


def _clean(doc, text) -> None:
    """Diagnostics are well formed: a known code, a position inside the file, a rendering."""
    # lines as the DSL numbers them: CRLF, LF and a lone CR each end one
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    n_lines = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").count(b"\n") + 1
    for d in doc.errors + doc.warnings:
        assert d.code != "internal", d.render()
        assert 1 <= d.line <= n_lines and d.column >= 1, d
        assert d.render().startswith(f"{d.filename}:{d.line}:{d.column}: {d.severity}[{d.code}]")


def _random_garbage(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


HOSTILE = {
    "empty": ("", "empty"),
    "only-blank-lines": ("\n \n\t\n", "empty"),
    "only-comments": ("# nothing here\n# at all\n", "empty"),
    "binary-garbage": (_random_garbage(MAX - 1, 0), "not-text"),
    "nul-byte": ("bars 1\n\x00\n", "not-text"),
    "a-pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "not-text"),
    "text-but-not-a-genotype": ("Dear diary,\ntoday I wrote a network.\n", "missing-section"),
    "one-byte-too-many": ("#" * (MAX + 1), "too-large"),
    "a-million-lines": ("\n" * 1_000_000, "too-large"),
    "a-million-lines-within-the-byte-limit": ("x\n" * (MAX // 2 - 1), "too-large"),
    "repeated-sections": (HEAD * (MAX // len(HEAD) - 1), "too-large"),
    "a-huge-cell": (
        HEAD + "cell c {\n" + "  n1 <- in: bconv3x3\n" * ((MAX - 300) // 21) + "}\n",
        "too-large",
    ),
    "a-huge-line": (
        HEAD + "meta " + " ".join(f"k{i}=1" for i in range(30_000)) + "\n",
        "too-large",
    ),
    "10**100-channels": (
        HEAD + CELL + f"stage s: channels={10**100} depth=1 cell=c\nhead avgpool linear\n",
        "too-large",
    ),
    "a-number-of-200000-digits": (
        HEAD + CELL + f"stage s: channels={'9' * 200_000} depth=1 cell=c\nhead avgpool linear\n",
        "too-large",
    ),
    "unterminated-string-of-200000-chars": (
        HEAD.replace('"x"', '"' + "a" * 200_000) + CELL + "stage s: channels=8 depth=1 cell=c\n"
        "head avgpool linear\n",
        "syntax",
    ),
    "200000-open-braces": (HEAD + "cell c {" + "{" * 200_000 + "\n", "too-large"),
    "a-file-cut-inside-a-cell": (ZOO_TEXTS[0][: ZOO_TEXTS[0].index("<-") + 2], "syntax"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_gets_one_clean_error_quickly_in_bounded_memory(name):
    text, code = HOSTILE[name]
    check(BASE_FILE)  # build the parser first: that is a one-off cost, not this file's
    t0 = time.perf_counter()
    doc = check(text, "hostile.geno")
    elapsed = time.perf_counter() - t0
    tracemalloc.start()
    check(text, "hostile.geno")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    _clean(doc, text)
    assert [d.code for d in doc.errors] == [code], [d.render() for d in doc.errors]
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB"
    with pytest.raises(GenotypeError) as info:
        parse(text, "hostile.geno")
    assert info.value.diagnostics[0].code == code


def test_a_file_with_thousands_of_errors_reports_the_first_ones_and_a_count():
    text = HEAD + CELL + "".join(f"stage s{i}: chanels=8 depth=0 cell=c\n" for i in range(30))
    doc = check(text)
    assert len(doc.errors) == Limits.MAX_ERRORS + 1
    assert doc.errors[-1].code == "too-many-errors"
    assert doc.errors[-1].message.endswith("more errors not shown")


# --------------------------------------------------------------------------- fuzzing

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ALPHABET = st.sampled_from([*list('bars1 nmeiput3x2cl=0stgohdwk{}<-:,"#\n\t\\.'), "\x00", "é"])


def _only_genotype_errors(text) -> None:
    doc = check(text, "fuzz.geno")
    _clean(doc, text)
    try:
        spec = parse(text, "fuzz.geno")
    except GenotypeError as err:
        assert err.diagnostics, "a GenotypeError always carries its diagnostics"
        assert not doc.ok
        return
    assert doc.ok and doc.spec == spec
    once = format_text(text)
    assert format_text(once) == once and parse(once) == spec


@FUZZ
@given(st.text(ALPHABET, max_size=300))
def test_random_text_only_ever_gives_genotype_errors(text):
    _only_genotype_errors(text)


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_only_ever_give_genotype_errors(data):
    _only_genotype_errors(data)


@st.composite
def mutated_zoo_files(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(ZOO_TEXTS))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(
            st.sampled_from(["delete", "insert", "replace", "truncate", "dup-line", "swap"])
        )
        i = draw(st.integers(0, len(text)))
        lines = text.split("\n")
        j, k = (draw(st.integers(0, len(lines) - 1)) for _ in range(2))
        if kind == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 20)) :]
        elif kind == "insert":
            text = text[:i] + draw(st.text(ALPHABET, min_size=1, max_size=10)) + text[i:]
        elif kind == "replace":
            text = text[:i] + draw(st.text(ALPHABET, min_size=1, max_size=3)) + text[i + 3 :]
        elif kind == "truncate":
            text = text[:i]
        elif kind == "dup-line":
            lines.insert(j, lines[k])
            text = "\n".join(lines)
        else:
            lines[j], lines[k] = lines[k], lines[j]
            text = "\n".join(lines)
    return text


@FUZZ
@given(mutated_zoo_files())
def test_mutated_zoo_files_only_ever_give_genotype_errors(text):
    _only_genotype_errors(text)
