"""``bars-zoo check``, ``fmt`` and ``schema``: exit codes, output, and safe in-place rewriting."""

from __future__ import annotations

import io
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bars_zoo.cli import main
from bars_zoo.dsl import format_text, parse

GOLDEN = Path(__file__).parent / "golden" / "dsl"
MESSY = (GOLDEN / "messy.geno").read_text(encoding="utf-8")
CANONICAL = (GOLDEN / "messy.formatted").read_text(encoding="utf-8")
CLEAN = (GOLDEN / "minimal.formatted").read_text(encoding="utf-8")
BROKEN = CLEAN.replace("in: bconv3x3", "in: bconv33")


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in [("clean", CLEAN), ("messy", MESSY), ("broken", BROKEN)]:
        out[name] = tmp_path / f"{name}.geno"
        out[name].write_text(text, encoding="utf-8")
    return out


def _stdin(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode("utf-8"))))


# --------------------------------------------------------------------------- check


def test_check_exits_0_for_a_clean_file_and_says_so(files, capsys) -> None:
    assert main(["check", str(files["clean"])]) == 0
    assert "checked 1 file(s): 0 with errors, 0 warning(s)" in capsys.readouterr().err


def test_check_exits_0_with_warnings_and_prints_them(files, capsys) -> None:
    assert main(["check", str(files["messy"])]) == 0
    err = capsys.readouterr().err
    assert "warning[dead-node]" in err and "1 warning(s)" in err


def test_check_no_warnings_hides_them(files, capsys) -> None:
    assert main(["check", "--no-warnings", str(files["messy"])]) == 0
    assert "warning" not in capsys.readouterr().err.split("checked")[0]


def test_check_exits_1_when_a_file_has_errors_and_renders_them(files, capsys) -> None:
    assert main(["check", str(files["clean"]), str(files["broken"])]) == 1
    err = capsys.readouterr().err
    assert f"{files['broken']}:7:" in err and "error[unknown-op]" in err and "^^^^^^^" in err
    assert "checked 2 file(s): 1 with errors" in err


def test_check_exits_2_for_a_file_it_cannot_read(files, tmp_path, capsys) -> None:
    assert main(["check", str(files["broken"]), str(tmp_path / "missing.geno")]) == 2
    assert "error[unreadable]: cannot read" in capsys.readouterr().err


def test_check_json_is_machine_readable(files, capsys) -> None:
    assert main(["check", "--json", str(files["messy"]), str(files["broken"])]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False
    messy, broken = report["files"]
    assert (messy["ok"], messy["errors"], messy["warnings"]) == (True, 0, 1)
    d = broken["diagnostics"][0]
    assert (d["code"], d["severity"], d["line"], d["column"]) == ("unknown-op", "error", 7, 13)
    assert d["hint"] == "did you mean 'bconv3x3'?"
    assert set(d) == {"file", "line", "column", "end_column", "severity", "code", "message", "hint"}


def test_check_reads_stdin(monkeypatch, capsys) -> None:
    _stdin(monkeypatch, BROKEN)
    assert main(["check", "-"]) == 1
    assert "<stdin>:7:13: error[unknown-op]" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["show", "build"])
def test_show_and_build_read_a_genotype_from_stdin_like_check(command, monkeypatch, capsys) -> None:
    _stdin(monkeypatch, CLEAN)
    assert main([command, "-"]) == 0
    assert "BOPs" in capsys.readouterr().out
    _stdin(monkeypatch, BROKEN)
    assert main([command, "-"]) == 1
    assert "<stdin>:7:13: error[unknown-op]" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["check"], ["check", "--frobnicate", "x.geno"], ["fmt"]])
def test_usage_errors_exit_2(argv, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2


def test_the_installed_command_never_shows_a_traceback(tmp_path) -> None:
    bad = tmp_path / "bad.geno"
    bad.write_bytes(b"bars 1\n\xff\xfe garbage")
    for args in (["check", str(bad)], ["fmt", str(bad)], ["check", str(tmp_path)]):
        run = subprocess.run(
            [sys.executable, "-m", "bars_zoo", *args], capture_output=True, text=True, check=False
        )
        assert run.returncode in (1, 2) and "Traceback" not in run.stderr, run.stderr


# --------------------------------------------------------------------------- fmt


def test_fmt_rewrites_in_place_and_is_then_idempotent(files, capsys) -> None:
    assert main(["fmt", str(files["messy"]), str(files["clean"])]) == 0
    assert files["messy"].read_text(encoding="utf-8") == CANONICAL
    assert files["clean"].read_text(encoding="utf-8") == CLEAN
    err = capsys.readouterr().err
    assert f"reformatted {files['messy']}" in err and str(files["clean"]) not in err
    assert main(["fmt", "--check", str(files["messy"])]) == 0


def test_fmt_keeps_the_file_mode_leaves_no_temp_files_and_writes_through_links(
    files, tmp_path
) -> None:
    os.chmod(files["messy"], 0o640)
    link = tmp_path / "link.geno"
    link.symlink_to(files["messy"])
    assert main(["fmt", str(link)]) == 0
    assert link.is_symlink() and files["messy"].read_text(encoding="utf-8") == CANONICAL
    assert stat.S_IMODE(files["messy"].stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "broken.geno",
        "clean.geno",
        "link.geno",
        "messy.geno",
    ]


def test_fmt_leaves_the_original_intact_if_writing_fails(files, monkeypatch, capsys) -> None:
    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    assert main(["fmt", str(files["messy"])]) == 2
    assert f"error: cannot write {files['messy']}: disk full" in capsys.readouterr().err
    assert files["messy"].read_text(encoding="utf-8") == MESSY
    assert len(list(files["messy"].parent.iterdir())) == 3  # the temporary file is gone


def test_fmt_check_exits_1_and_writes_nothing(files, capsys) -> None:
    assert main(["fmt", "--check", str(files["messy"]), str(files["clean"])]) == 1
    assert files["messy"].read_text(encoding="utf-8") == MESSY
    assert f"would reformat {files['messy']}" in capsys.readouterr().err


def test_fmt_diff_prints_a_unified_diff_and_writes_nothing(files, capsys) -> None:
    assert main(["fmt", "--diff", str(files["messy"])]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"--- {files['messy']} (original)\n+++ {files['messy']} (formatted)\n")
    assert "-bars   1\n" in out and "+bars 1\n" in out
    assert files["messy"].read_text(encoding="utf-8") == MESSY
    assert main(["fmt", "--diff", "--check", str(files["messy"])]) == 1


@pytest.mark.parametrize(
    ("prefix", "eol", "note"),
    [
        ("", "\r\n", "(only line endings differ: CRLF -> LF)"),
        ("", "\r", "(only line endings differ: CR -> LF)"),
        (
            "\ufeff",
            "\r\n",
            "(a byte order mark is dropped, and only line endings differ: CRLF -> LF)",
        ),
    ],
    ids=["crlf", "cr", "bom-crlf"],
)
def test_fmt_diff_says_when_only_line_endings_differ(tmp_path, capsys, prefix, eol, note) -> None:
    geno = tmp_path / "crlf.geno"
    geno.write_bytes((prefix + CLEAN.replace("\n", eol)).encode("utf-8"))
    assert main(["fmt", "--diff", str(geno)]) == 0
    assert capsys.readouterr().err == f"would reformat {geno} {note}\n"
    assert main(["fmt", str(geno)]) == 0
    assert capsys.readouterr().err == f"reformatted {geno} {note}\n"
    geno.write_bytes(MESSY.replace("\n", "\r\n").encode("utf-8"))  # more than line endings
    assert main(["fmt", "--diff", str(geno)]) == 0
    assert capsys.readouterr().err == f"would reformat {geno}\n"


@pytest.mark.parametrize(("typed", "meant"), [("format", "fmt"), ("chek", "check")])
def test_a_mistyped_command_is_refused_with_did_you_mean(capsys, typed, meant) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["-v", typed, "x.geno"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"invalid choice: {typed!r}, did you mean {meant!r}? (choose from 'check', " in err


def test_fmt_diff_marks_a_missing_final_newline_so_that_patch_accepts_it(tmp_path, capsys) -> None:
    geno = tmp_path / "nonl.geno"
    geno.write_text(MESSY.rstrip("\n"), encoding="utf-8")
    assert main(["fmt", "--diff", str(geno)]) == 0
    out = capsys.readouterr().out
    assert out.endswith("\n") and "\n\\ No newline at end of file\n" in out
    assert all(line[:1] in "-+ @\\" for line in out.splitlines())  # no two lines run together


@pytest.mark.skipif(shutil.which("patch") is None, reason="patch(1) not installed")
@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
@pytest.mark.parametrize("odd", ["", "\x0c", "\u2028"], ids=["plain", "formfeed", "linesep"])
def test_fmt_diff_applies_with_patch_whatever_the_line_endings(tmp_path, capsys, eol, odd) -> None:
    text = MESSY.replace("\n", eol).replace("# ", f"#{odd} ", 1)
    geno = tmp_path / "messy.geno"
    geno.write_bytes(text.encode("utf-8"))
    assert main(["fmt", "--diff", str(geno)]) == 0
    (tmp_path / "fix.diff").write_bytes(capsys.readouterr().out.encode("utf-8"))
    formatted = tmp_path / "formatted.geno"
    formatted.write_bytes(text.encode("utf-8"))
    assert main(["fmt", str(formatted)]) == 0
    done = subprocess.run(
        ["patch", "--quiet", str(geno), str(tmp_path / "fix.diff")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert geno.read_bytes() == formatted.read_bytes()


def test_a_closed_pipe_ends_the_command_quietly() -> None:
    """``bars-zoo show bars-e --layers --json | head -1``: no BrokenPipeError traceback (the
    output is larger than a pipe buffer, so the writer does meet the closed pipe)."""
    cmd = [sys.executable, "-m", "bars_zoo", "show", "bars-e", "--layers", "--json"]  # 88 KiB
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err


def test_parse_of_a_path_is_a_type_error_that_points_to_read(tmp_path) -> None:
    with pytest.raises(TypeError, match=r"bars_zoo.read\(path\)"):
        parse(tmp_path / "x.geno")  # type: ignore[arg-type]


def test_fmt_never_touches_a_file_with_errors(files, capsys) -> None:
    assert main(["fmt", str(files["broken"])]) == 1
    assert files["broken"].read_text(encoding="utf-8") == BROKEN
    assert "error[unknown-op]" in capsys.readouterr().err


def test_fmt_formats_stdin_to_stdout(monkeypatch, capsys) -> None:
    _stdin(monkeypatch, MESSY)
    assert main(["fmt", "-"]) == 0
    assert capsys.readouterr().out == CANONICAL == format_text(MESSY)


# --------------------------------------------------------------------------- schema


def test_schema_prints_the_json_schema_of_the_spec(capsys) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert schema["title"] == "NetworkSpec"
    dumped = json.loads(parse(CLEAN).model_dump_json())
    assert set(dumped) == set(schema["properties"]) == set(schema["required"])
    assert schema["additionalProperties"] is False
    # meta keys are names: a key the spec refuses ("bad key") is refused by the schema too
    assert schema["properties"]["meta"]["additionalProperties"] is False


def _schema(capsys) -> dict:
    assert main(["schema", "--compact"]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_schema_carries_the_name_patterns_of_the_language(capsys) -> None:
    from bars_zoo.spec import NAME_PATTERN, NODE_PATTERN, SOURCE_PATTERN

    defs = _schema(capsys)["$defs"]
    assert defs["NodeSpec"]["properties"]["name"]["pattern"] == NODE_PATTERN
    assert defs["EdgeSpec"]["properties"]["source"]["pattern"] == SOURCE_PATTERN
    for model in ("CellSpec", "StageSpec"):
        assert defs[model]["properties"]["name"]["pattern"] == NAME_PATTERN
    for model in ("StageSpec", "DownsampleSpec"):
        assert defs[model]["properties"]["cell"]["pattern"] == NAME_PATTERN


@pytest.mark.parametrize("name", ["n1", "N1", "n0", "n01", "node1", "n1a", "n1.5", "_n1"])
def test_the_schema_node_pattern_refuses_what_the_language_refuses(name: str, capsys) -> None:
    import re

    from bars_zoo.dsl import check

    pattern = _schema(capsys)["$defs"]["NodeSpec"]["properties"]["name"]["pattern"]
    doc = check(CLEAN.replace("  n1 <- in:", f"  {name} <- in:", 1))
    assert (re.fullmatch(pattern, name) is not None) == doc.ok, [d.message for d in doc.errors]


@pytest.mark.parametrize("source", ["in", "n1", "input", "IN", "n0", "n01", "x", "n1.a"])
def test_the_schema_source_pattern_refuses_what_the_language_refuses(source: str, capsys) -> None:
    import re

    from bars_zoo.dsl import check

    pattern = _schema(capsys)["$defs"]["EdgeSpec"]["properties"]["source"]["pattern"]
    text = CLEAN.replace(
        "  n1 <- in: bconv3x3\n", f"  n1 <- in: bconv3x3\n  n2 <- {source}: shortcut\n", 1
    )
    doc = check(text)
    assert (re.fullmatch(pattern, source) is not None) == doc.ok, [d.message for d in doc.errors]


def test_a_huge_file_is_refused_without_a_made_up_size(tmp_path, capsys) -> None:
    # only the limit plus one byte is read: the message must not present that as the size
    from bars_zoo.spec import Limits

    big = tmp_path / "big.geno"
    big.write_bytes(b"#" * 1_000_000)
    assert main(["check", str(big)]) == 1
    err = capsys.readouterr().err
    assert f"more than {Limits.MAX_FILE_BYTES} bytes" in err
    assert str(Limits.MAX_FILE_BYTES + 1) not in err
