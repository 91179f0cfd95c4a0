"""Atomic writes (``bars_zoo._io``): errors name the caller's path, never our temporary file."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import IO

import pytest
import torch

from bars_zoo import _io
from bars_zoo import checkpoint as ckpt
from bars_zoo._io import atomic_write_bytes, atomic_write_text, probe_writable, remove_leftovers
from bars_zoo.folder import write_folder


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


class _FullDisk:
    """A file whose ``write`` fails as on a full disk once ``room`` bytes are written."""

    def __init__(self, f: IO[bytes], room: int) -> None:
        self._f, self.room = f, room

    def write(self, data: bytes) -> int:
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self._f.write(data)

    def __getattr__(self, name: str) -> object:
        return getattr(self._f, name)

    def __enter__(self) -> _FullDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()


@pytest.fixture
def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file ``atomic_write_with`` opens has room for 20 kB (no mount needed)."""
    real = os.fdopen
    monkeypatch.setattr(_io.os, "fdopen", lambda *a, **k: _FullDisk(real(*a, **k), 20_000))


@pytest.mark.usefixtures("full_disk")
def test_a_full_disk_during_torch_save_names_the_path_and_keeps_the_old_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "checkpoint.pt"
    ckpt.save({"epoch": 1}, path)  # small: fits
    with pytest.raises(OSError) as err:  # torch.save itself raises RuntimeError (unexpected pos)
        ckpt.save({"epoch": 2, "w": torch.zeros(10_000)}, path)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(path)
    assert ckpt.load(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt"]


@pytest.mark.usefixtures("full_disk")
def test_a_full_disk_during_a_plain_write_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(OSError) as err:
        atomic_write_bytes(tmp_path / "log.jsonl", b"x" * 50_000)
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(tmp_path / "log.jsonl")
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_while_a_model_folder_is_written_names_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = open

    def tight(path: str, mode: str = "r", *a: object, **k: object) -> object:
        f = real(path, mode, *a, **k)  # type: ignore[call-overload]
        return _FullDisk(f, 10) if "w" in mode else f

    monkeypatch.setattr("builtins.open", tight)
    with pytest.raises(OSError) as err:
        write_folder(tmp_path / "model", {"config.json": b"{" + b" " * 100 + b"}"})
    assert err.value.errno == errno.ENOSPC
    assert err.value.filename == str(tmp_path / "model" / "config.json")
    assert list(tmp_path.iterdir()) == []


def test_a_folder_lock_deletes_its_lock_file_when_the_run_ends_or_is_interrupted(
    tmp_path: Path,
) -> None:
    # a finished train/search run left an empty .lock in its folder
    from bars_zoo._io import LOCK, folder_lock

    with folder_lock(tmp_path) as taken:
        assert taken and (tmp_path / LOCK).is_file()
        with folder_lock(tmp_path) as second:  # another run in the same folder meanwhile
            assert not second
        assert (tmp_path / LOCK).is_file()  # a refused run leaves the holder's lock alone
    assert not (tmp_path / LOCK).exists()
    with pytest.raises(KeyboardInterrupt), folder_lock(tmp_path) as taken:
        assert taken
        raise KeyboardInterrupt
    assert not (tmp_path / LOCK).exists()


def test_a_lock_file_a_killed_run_left_is_taken_by_the_next_run(tmp_path: Path) -> None:
    # SIGKILL skips the clean-up: the file stays, unlocked, and must not block a --resume
    from bars_zoo._io import LOCK, folder_lock

    (tmp_path / LOCK).touch()
    with folder_lock(tmp_path) as taken:
        assert taken
    assert not (tmp_path / LOCK).exists()


def test_a_process_that_locks_a_lock_file_just_deleted_by_its_holder_locks_the_new_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the holder deletes .lock before it unlocks; whoever opened the old file meanwhile must not
    # think it holds the folder while a third process locks a new .lock
    import fcntl

    from bars_zoo._io import LOCK, folder_lock

    real_flock = fcntl.flock
    calls = []

    def flock(f: IO[str], op: int) -> None:
        if not calls and op & fcntl.LOCK_EX:  # the first try: its holder deletes it just now
            (tmp_path / LOCK).unlink()
        calls.append(op)
        real_flock(f, op)

    monkeypatch.setattr(fcntl, "flock", flock)
    with folder_lock(tmp_path) as taken:
        assert taken and (tmp_path / LOCK).is_file()
        assert sum(1 for op in calls if op & fcntl.LOCK_EX) == 2  # it tried again
    assert not (tmp_path / LOCK).exists()


def test_a_folder_lock_that_cannot_delete_its_lock_file_unlocks_it_and_lets_the_run_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # only FileNotFoundError was suppressed: a PermissionError from the delete escaped the finally
    # of a finished run and skipped the unlock
    import fcntl

    from bars_zoo._io import LOCK, folder_lock

    real_flock = fcntl.flock
    unlocked = []

    def flock(f: IO[str], op: int) -> None:
        unlocked.append(op == fcntl.LOCK_UN)
        real_flock(f, op)

    def unlink(self: Path, missing_ok: bool = False) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(fcntl, "flock", flock)
    monkeypatch.setattr(Path, "unlink", unlink)
    with folder_lock(tmp_path) as taken:
        assert taken
    assert unlocked[-1] and (tmp_path / LOCK).is_file()  # left, unlocked: the next run takes it
    monkeypatch.undo()
    with folder_lock(tmp_path) as taken:
        assert taken
