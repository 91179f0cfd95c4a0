"""How the command ends on Ctrl-C and SIGTERM (README, "Exit status"; ``bars_zoo.interrupts``).

The signal tests run the real program in a subprocess, with a stand-in subcommand that says
``ready`` on standard error and then waits: the signal is sent when the marker is read, never
after a fixed sleep.  The message tests raise the interrupt inside ``main``.
"""

from __future__ import annotations

import argparse
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bars_zoo import cli
from bars_zoo.commands import search as search_command
from bars_zoo.commands import train as train_command

ROOT = Path(__file__).resolve().parents[1]

#: the program with a subcommand ``wait MODE FOLDER``: ``sleep`` waits, ``folder`` writes a model
#: folder into FOLDER and waits inside the write of its second file, ``log`` logs at INFO as
#: bars-zoo and as torch; an atexit callback (``-x``)
#: says ``at exit`` and waits for a line on standard input, as torch's shutdown takes its time
PROGRAM = r"""
import atexit, builtins, sys, time, types
from pathlib import Path

def say(text):
    print(text, file=sys.stderr, flush=True)

def run(args):
    if args.mode == "log":  # what -v shows: ours, not torch's info at exit
        import logging
        logging.getLogger("bars_zoo.trainer").info("ours")
        logging.getLogger("torch._subclasses.fake_tensor").info("FakeTensor cache stats:")
        return 0
    if args.mode == "folder":
        from bars_zoo.folder import write_folder
        real, opened = builtins.open, []
        def slow_open(path, mode="r", *a, **k):
            if "w" in mode:
                opened.append(path)
                if len(opened) == 2:
                    say("ready")
                    time.sleep(120)
            return real(path, mode, *a, **k)
        builtins.open = slow_open
        write_folder(Path(args.folder) / "model", {"config.json": b"{}", "model.bin": b"x"})
    else:
        say("ready")
        time.sleep(120)
    return 0

def add_arguments(p):
    p.add_argument("mode")
    p.add_argument("folder")

sys.modules["bars_zoo.commands.wait"] = types.SimpleNamespace(
    HELP="wait", add_arguments=add_arguments, run=run
)
from bars_zoo import cli
cli.COMMANDS["wait"] = "wait"
if "-x" in sys.argv:
    sys.argv.remove("-x")
    def slow_exit():
        say("at exit")
        sys.stdin.readline()
        say("exit done")
    atexit.register(slow_exit)
raise SystemExit(cli.main())
"""


class Program:
    """The program in a subprocess, its standard error read line by line as it comes."""

    def __init__(self, *argv: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", PROGRAM, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,  # a signal meant for it reaches nothing else
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, marker: str, timeout: float = 120) -> None:
        while True:
            line = self.lines.get(timeout=timeout)
            if line is None:
                raise AssertionError(f"ended before {marker!r}: {self.seen}")
            self.seen.append(line)
            if line == marker:
                return

    def finish(self, timeout: float = 120) -> tuple[int, list[str]]:
        rc = self.proc.wait(timeout=timeout)
        while (line := self.lines.get(timeout=timeout)) is not None:
            self.seen.append(line)
        return rc, self.seen


@pytest.mark.parametrize(("sig", "status"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_ends_the_command_with_one_line_and_128_plus_its_number(tmp_path, sig, status):
    program = Program("wait", "sleep", str(tmp_path))
    program.wait_for("ready")
    program.proc.send_signal(sig)
    rc, lines = program.finish()
    assert rc == status
    assert lines == ["ready", "interrupted"]


def test_sigterm_during_a_folder_write_leaves_no_temporary_folder(tmp_path):
    program = Program("wait", "folder", str(tmp_path))
    program.wait_for("ready")
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # caught mid-write
    program.proc.send_signal(signal.SIGTERM)
    rc, lines = program.finish()
    assert (rc, lines) == (143, ["ready", "interrupted"])
    assert list(tmp_path.iterdir()) == []


def test_a_second_ctrl_c_while_the_first_is_handled_prints_no_traceback(tmp_path):
    program = Program("-x", "wait", "sleep", str(tmp_path))
    program.wait_for("ready")
    program.proc.send_signal(signal.SIGINT)
    program.wait_for("at exit")  # the program's shutdown, after "interrupted"
    program.proc.send_signal(signal.SIGINT)
    assert program.proc.stdin is not None
    program.proc.stdin.write("go\n")
    program.proc.stdin.close()
    rc, lines = program.finish()
    assert rc == 130
    assert lines == ["ready", "interrupted", "at exit", "exit done"]


def test_the_command_leaves_the_signal_handlers_as_it_found_them(monkeypatch, workspace_args):
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def interrupted(args: argparse.Namespace) -> int:
        assert signal.getsignal(signal.SIGTERM) is not before[signal.SIGTERM]  # ours, meanwhile
        raise KeyboardInterrupt

    monkeypatch.setattr(train_command, "run", interrupted)
    assert cli.main(workspace_args("train")[0]) == 130
    assert {s: signal.getsignal(s) for s in before} == before


@pytest.fixture
def workspace_args(tmp_path, monkeypatch):
    """``train`` / ``search`` command lines and the run folder each would write."""
    monkeypatch.chdir(tmp_path)

    def argv(command: str) -> tuple[list[str], Path]:
        if command == "train":
            common = ["--dataset", "fashion-mnist", "--epochs", "3"]
            return ["train", "bars-fmnist-s", *common, "-o", "run"], tmp_path / "run"
        # the search's run directory: --out's, with .run for .geno
        return ["search", "--preset", "tiny", "-o", "found.geno"], tmp_path / "found.run"

    return argv


@pytest.mark.parametrize("command", ["train", "search"])
def test_an_interrupt_before_the_first_checkpoint_does_not_claim_saved_epochs(
    command, workspace_args, monkeypatch, capsys
):
    argv, folder = workspace_args(command)

    def interrupted(args: argparse.Namespace) -> int:
        folder.mkdir()
        (folder / ".lock").touch()  # all the folder holds, as in the first epoch
        raise KeyboardInterrupt

    module = train_command if command == "train" else search_command
    monkeypatch.setattr(module, "run", interrupted)
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert err == "interrupted before any epoch was saved (run the same command to start again)\n"


@pytest.mark.parametrize("command", ["train", "search"])
def test_an_interrupt_after_a_checkpoint_says_resume_goes_on(
    command, workspace_args, monkeypatch, capsys
):
    argv, folder = workspace_args(command)

    def interrupted(args: argparse.Namespace) -> int:
        folder.mkdir()
        (folder / "checkpoint.pt").write_bytes(b"saved")
        raise KeyboardInterrupt

    module = train_command if command == "train" else search_command
    monkeypatch.setattr(module, "run", interrupted)
    assert cli.main(argv) == 130
    assert "--resume to go on" in capsys.readouterr().err


def test_verbose_shows_bars_zoo_info_but_not_torch_info(tmp_path):
    program = Program("-v", "wait", "log", str(tmp_path))
    rc, lines = program.finish()
    assert (rc, lines) == (0, ["ours"])
