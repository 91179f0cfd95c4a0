"""Atomic writes (``bars_zoo._io``): errors name the caller's path, never our temporary file."""

from __future__ import annotations

from pathlib import Path

import pytest

from bars_zoo._io import atomic_write_text, probe_writable, remove_leftovers


@pytest.mark.usefixtures("temp_files_refused")
def test_a_temporary_file_that_cannot_be_made_is_reported_under_the_target_name(
    tmp_path: Path,
) -> None:
    with pytest.raises(PermissionError) as err:
        atomic_write_text(tmp_path / "x.geno", "bars 1\n")
    assert err.value.filename == str(tmp_path / "x.geno")
    assert not (tmp_path / "x.geno").exists()


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("mine")
    with pytest.raises(NotADirectoryError) as err:
        atomic_write_text(tmp_path / "afile" / "x.geno", "bars 1\n")
    assert err.value.filename == str(tmp_path / "afile")
    assert (tmp_path / "afile").read_text() == "mine"


def test_the_write_probe_makes_the_folder_and_leaves_nothing_in_it(tmp_path: Path) -> None:
    probe_writable(tmp_path / "runs" / "m")
    assert (tmp_path / "runs" / "m").is_dir()
    assert list((tmp_path / "runs" / "m").iterdir()) == []


@pytest.mark.usefixtures("temp_files_refused")
def test_the_write_probe_names_the_folder_it_cannot_write_in(tmp_path: Path) -> None:
    with pytest.raises(PermissionError) as err:
        probe_writable(tmp_path / "out")
    assert err.value.filename == str(tmp_path / "out")


def test_leftovers_of_killed_atomic_writes_go_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / ".checkpoint.pt.abc.tmp").write_bytes(b"half")
    (tmp_path / ".model.xyz.tmp").mkdir()
    (tmp_path / ".model.xyz.tmp" / "config.json").write_text("{")
    (tmp_path / ".model.old1.old").mkdir()
    keep = ["checkpoint.pt", ".checkpoint.pt.bak", ".notes.tmp", ".other.abc.tmp"]
    for name in keep:
        (tmp_path / name).write_text("mine")
    gone = remove_leftovers(tmp_path, ["checkpoint.pt", "model"])
    assert sorted(p.name for p in gone) == [
        ".checkpoint.pt.abc.tmp",
        ".model.old1.old",
        ".model.xyz.tmp",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep)
