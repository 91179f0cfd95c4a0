"""Hostile file system inputs: FIFOs, devices, pipes, closed standard streams, the input given
as the output, damaged data set files.  Every case ends with a one-line error (or works), never a
hang, a traceback, or a special file replaced by a regular one.

Device nodes are made with ``mknod`` in the test's own folder (``1,3`` is what ``/dev/null`` is,
``1,7`` ``/dev/full``): the real ``/dev`` entries are never written to.
"""

from __future__ import annotations

import os
import pickle
import shutil
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fake_data import write_fashion_mnist
from tiny_net import tiny_model

from bars_zoo._io import atomic_write_bytes, atomic_write_text
from bars_zoo._resources import resource_dir
from bars_zoo.cli import main
from bars_zoo.data import load_cifar10, load_fashion_mnist
from bars_zoo.errors import ConfigError, DatasetError
from bars_zoo.folder import save_pretrained

ROOT = Path(__file__).resolve().parents[1]
GOOD = (resource_dir("genotypes") / "example.geno").read_text()


class Hung(Exception):
    """Raised by SIGALRM in a test whose command waits on a FIFO (not an OSError: the CLI would
    report that as a file system error)."""


@pytest.fixture
def no_hang() -> Iterator[None]:
    """Fail a test that waits more than 20 s (reading a FIFO nobody writes) instead of hanging."""

    def alarm(signum: int, frame: object) -> None:
        raise Hung("waited on a FIFO or device")

    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        pytest.skip("SIGALRM needs the main thread")
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(20)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def mknod_char(path: Path, major: int, minor: int) -> Path:
    try:
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
    except PermissionError:
        pytest.skip("mknod needs root (CAP_MKNOD)")
    return path


def bars_zoo(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in bash, ``$BZ`` being this tree's ``bars-zoo``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "BZ": f"{sys.executable} -m bars_zoo"}
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pretrained(tiny_model(), tmp_path_factory.mktemp("saved") / "model")


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "good.geno").write_text(GOOD)
    return tmp_path


# --------------------------------------------------------------------------- writing (-o)


@pytest.mark.parametrize("writer", ["atomic", "draw"])
def test_writing_to_a_char_device_writes_into_it_and_refuses_to_replace_it(
    writer: str, workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    null = mknod_char(workspace / "null", 1, 3)
    if writer == "atomic":
        atomic_write_text(null, "x\n")
    else:
        assert main(["draw", "good.geno", "-o", "null", "--format", "dot"]) == 0
    assert stat.S_ISCHR(null.lstat().st_mode)  # still the device, not a regular file
    assert sorted(p.name for p in workspace.iterdir()) == ["good.geno", "null"]  # no temp file


def test_a_full_device_is_reported_not_replaced(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    full = mknod_char(workspace / "full", 1, 7)
    assert main(["draw", "good.geno", "-o", "full", "--format", "dot"]) == 1
    assert "error: No space left on device: full" in capsys.readouterr().err
    assert stat.S_ISCHR(full.lstat().st_mode)


def test_draw_into_a_fifo_writes_to_its_reader_and_refuses_one_without(
    workspace: Path, capsys: pytest.CaptureFixture[str], no_hang: None
) -> None:
    fifo = workspace / "out.fifo"
    os.mkfifo(fifo)
    assert main(["draw", "good.geno", "-o", "out.fifo", "--format", "dot"]) == 1
    assert "a FIFO that nobody reads" in capsys.readouterr().err
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader is there before draw opens it
    try:
        assert main(["draw", "good.geno", "-o", "out.fifo", "--format", "dot"]) == 0
    finally:
        os.close(fd)
    reader.join(10)
    assert got and b"digraph example {" in got[0]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_a_symlink_to_standard_output_is_written_through(workspace: Path) -> None:
    (workspace / "mystdout").symlink_to("/proc/self/fd/1")
    done = bars_zoo("$BZ draw good.geno -o mystdout --format dot | cat", workspace)
    assert done.returncode == 0, done.stderr
    assert "digraph example {" in done.stdout
    assert (workspace / "mystdout").is_symlink()


def test_a_symlink_to_a_regular_file_is_written_through_and_kept(tmp_path: Path) -> None:
    (tmp_path / "real.txt").write_text("old")
    (tmp_path / "link.txt").symlink_to("real.txt")
    atomic_write_bytes(tmp_path / "link.txt", b"new")
    assert (tmp_path / "link.txt").is_symlink()
    assert (tmp_path / "real.txt").read_text() == "new"


def test_atomic_write_refuses_to_replace_a_socket(tmp_path: Path) -> None:
    import socket

    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(tmp_path / "sock"))
        with pytest.raises(ConfigError, match="is not a regular file"):
            atomic_write_text(tmp_path / "sock", "x")
        assert stat.S_ISSOCK((tmp_path / "sock").lstat().st_mode)


def test_draw_refuses_to_overwrite_its_own_input(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["draw", "good.geno", "-o", "./good.geno", "--format", "svg"]) == 2
    assert "is the genotype file being drawn" in capsys.readouterr().err
    assert (workspace / "good.geno").read_text() == GOOD


# --------------------------------------------------------------------------- reading by path

GENOTYPE_COMMANDS = {
    "check": ["check", "IN"],
    "fmt": ["fmt", "IN"],
    "show": ["show", "IN"],
    "build": ["build", "IN"],
    "draw": ["draw", "IN", "-o", "x.dot"],
    "train": ["train", "IN", "--dataset", "synthetic", "--epochs", "1", "--out", "r"],
}


@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize("command", list(GENOTYPE_COMMANDS))
def test_a_genotype_path_that_is_not_a_regular_file_is_refused(
    command: str, kind: str, workspace: Path, capsys: pytest.CaptureFixture[str], no_hang: None
) -> None:
    path = workspace / "in.geno"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        mknod_char(path, 1, 3)
    argv = [a.replace("IN", "in.geno") for a in GENOTYPE_COMMANDS[command]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "in.geno is not a regular file" in err and "Traceback" not in err
    assert "no genotype file" not in err


MODEL_COMMANDS = {
    "eval": ["eval", "M"],
    "card": ["card", "M"],
    "push": ["push", "M", "org/x", "--dry-run"],
    "deploy": ["deploy", "M", "-o", "out"],
    "pull": ["pull", "local-dir:M"],
    "demo": ["demo", "--model", "local-dir:M"],
    "train-init": [
        *("train", "good.geno", "--init", "local-dir:M", "--dataset", "synthetic"),
        *("--epochs", "1", "--out", "r"),
    ],
}


@pytest.mark.parametrize("name", ["genotype.geno", "config.json", "model.safetensors"])
@pytest.mark.parametrize("command", list(MODEL_COMMANDS))
def test_a_model_folder_file_that_is_a_fifo_is_refused_not_waited_on(
    command: str,
    name: str,
    workspace: Path,
    saved_model: Path,
    capsys: pytest.CaptureFixture[str],
    no_hang: None,
) -> None:
    shutil.copytree(saved_model, workspace / "m")
    (workspace / "m" / name).unlink()
    os.mkfifo(workspace / "m" / name)
    argv = [a.replace("M", "m") for a in MODEL_COMMANDS[command]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"m/{name} is not a regular file" in err, err


def test_a_demo_image_that_is_a_fifo_is_refused(
    workspace: Path, capsys: pytest.CaptureFixture[str], no_hang: None
) -> None:
    shutil.copytree(resource_dir("pretrained") / "samples", workspace / "imgs")
    image = sorted((workspace / "imgs").glob("*.png"))[0]
    image.unlink()
    os.mkfifo(image)
    assert main(["demo", "--images", "imgs"]) == 2
    assert f"{image.name} is not a regular file" in capsys.readouterr().err


def test_a_process_substitution_is_refused_like_a_fifo(workspace: Path) -> None:
    done = bars_zoo("$BZ show <(cat good.geno)", workspace)
    assert done.returncode == 2
    assert "/dev/fd/" in done.stderr and "is not a regular file" in done.stderr


# --------------------------------------------------------------------------- standard streams


@pytest.mark.parametrize("command", ["show -", "check -", "fmt -", "build -", "draw - -o x.dot"])
def test_a_closed_standard_input_is_refused_without_a_traceback(
    command: str, workspace: Path
) -> None:
    done = bars_zoo(f"exec 0<&-; $BZ {command}", workspace)
    assert done.returncode == 2, done.stderr
    assert "error: standard input is closed" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "command",
    [
        "list",
        "schema",
        "show good.geno",
        "show good.geno --json",
        "build good.geno",
        "fmt - < good.geno",
        "draw good.geno -o - --format dot",
    ],
)
def test_a_closed_standard_output_is_exit_status_141(command: str, workspace: Path) -> None:
    done = bars_zoo(f"$BZ {command} >&-", workspace)
    assert done.returncode == 141, done.stderr
    assert "Traceback" not in done.stderr


# --------------------------------------------------------------------------- data sets


def test_a_truncated_fashion_mnist_file_is_named(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path, split="test")
    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:200])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.gz is truncated or corrupt"):
        load_fashion_mnist("test", tmp_path)


def test_a_garbage_fashion_mnist_file_is_named_with_the_reinstall_hint(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path, split="test")
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"\xf2" * 1000)
    with pytest.raises(DatasetError, match="is truncated or corrupt") as err:
        load_fashion_mnist("test", tmp_path)
    assert "t10k-images-idx3-ubyte.gz" in str(err.value)
    assert "apt-get install --reinstall dataset-fashion-mnist" in str(err.value)


def test_labels_of_another_split_are_refused_naming_the_label_file(tmp_path: Path) -> None:
    write_fashion_mnist(tmp_path / "train", n=64)
    write_fashion_mnist(tmp_path / "d", n=32, split="test")
    shutil.copy(
        tmp_path / "train" / "train-labels-idx1-ubyte.gz",
        tmp_path / "d" / "t10k-labels-idx1-ubyte.gz",
    )
    with pytest.raises(DatasetError, match="holds 64 labels for 32 images"):
        load_fashion_mnist("test", tmp_path / "d")


def test_a_damaged_cifar10_batch_is_named(tmp_path: Path) -> None:
    py = tmp_path / "cifar-10-batches-py"
    py.mkdir()
    batch = {"data": np.zeros((4, 3072), np.uint8), "labels": [0, 1, 2, 3, 4]}
    (py / "test_batch").write_bytes(pickle.dumps(batch))
    with pytest.raises(DatasetError, match="test_batch holds 5 labels for 4 images"):
        load_cifar10("test", tmp_path)
    (py / "test_batch").write_bytes(pickle.dumps(batch)[:50])
    with pytest.raises(DatasetError, match="test_batch is truncated or corrupt"):
        load_cifar10("test", tmp_path)


# --------------------------------------------------------------------------- train --out


def test_train_refuses_an_out_folder_that_is_a_model_folder(
    workspace: Path, saved_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(saved_model, workspace / "m1")
    before = sorted(p.name for p in (workspace / "m1").iterdir())
    argv = ["train", "good.geno", "--dataset", "synthetic", "--epochs", "1", "--out", "m1"]
    assert main(argv) == 2
    assert "m1 is a model folder" in capsys.readouterr().err
    assert sorted(p.name for p in (workspace / "m1").iterdir()) == before


# --------------------------------------------------------------------------- $BARS_ZOO_WEIGHTS_DIR


def test_list_warns_and_goes_on_when_the_weights_dir_cannot_be_read(workspace: Path) -> None:
    """The real refusal (a mode-000 folder, root without CAP_DAC_OVERRIDE through setpriv)."""
    (workspace / "wd").mkdir()
    (workspace / "wd").chmod(0)
    prefix = ""
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("running as root without setpriv: a mode-000 folder stays readable")
        caps = "-dac_override,-dac_read_search"
        prefix = f"setpriv --inh-caps={caps} --bounding-set={caps} "
    done = bars_zoo(f"BARS_ZOO_WEIGHTS_DIR=wd {prefix}$BZ list", workspace)
    (workspace / "wd").chmod(0o755)
    assert done.returncode == 0, done.stderr
    assert "$BARS_ZOO_WEIGHTS_DIR is 'wd', which cannot be read" in done.stderr
    assert "bars-fmnist-s" in done.stdout


# --------------------------------------------------------------------------- messages


def test_a_file_name_too_long_is_shortened_in_the_error(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["show", "a" * 5000 + ".geno"]) == 2
    err = capsys.readouterr().err
    assert "File name too long" in err and "(5005 characters)" in err
    assert max(len(line) for line in err.splitlines()) < 400


@pytest.mark.parametrize("command", ["show good.geno", "list", "draw good.geno -o - --format dot"])
def test_a_full_standard_output_is_named_as_such(command: str, workspace: Path) -> None:
    mknod_char(workspace / "full", 1, 7)
    done = bars_zoo(f"$BZ {command} > full", workspace)
    assert done.returncode == 1
    assert done.stderr.strip() == "error: No space left on device: standard output"


def test_a_latin_1_genotype_gets_the_hint_to_save_it_as_utf8() -> None:
    from bars_zoo.dsl import check

    doc = check('bars 1\nname "caf\xe9"\n'.encode("latin-1"), "cafe.geno")
    assert "save this one as UTF-8" in (doc.errors[0].hint or "")
    binary = check(b'bars 1\nname "x"\n\x89PNG\r\n\x1a\n\x00\x00', "x.geno")
    assert "is this a binary file?" in (binary.errors[0].hint or "")
