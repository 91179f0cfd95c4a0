"""Suite-wide settings.

Tests use tiny tensors, where intra-op threading costs more than it saves (about 10x on a busy
2-core machine), so torch runs single-threaded here.  Torch is imported only if a test module
already imported it: the torch-free tests stay torch-free.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest
from fakehub import FakeHub


@pytest.fixture(autouse=True)
def _single_threaded_torch() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != 1:
        torch.set_num_threads(1)


@pytest.fixture
def temp_files_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """``tempfile.mkstemp`` fails as in a folder we may not write in, naming the file it would
    have made (the name an error must not show the user)."""

    def refuse(suffix: str = "", prefix: str = "", dir: str = "", **kw: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied", f"{dir}/{prefix}abc{suffix}")

    monkeypatch.setattr("tempfile.mkstemp", refuse)


@pytest.fixture
def shell_log_levels():
    """Log levels as a shell has them: the run loggers (``bars_zoo.trainer``, ``bars_zoo.search``)
    unset, the root at WARNING (what main's basicConfig sets); set with ``setLevel``, which also
    clears the loggers' cached levels."""
    loggers = {
        logging.getLogger("bars_zoo.trainer"): logging.NOTSET,
        logging.getLogger("bars_zoo.search"): logging.NOTSET,
        logging.getLogger(): logging.WARNING,
    }
    before = {logger: logger.level for logger in loggers}
    for logger, level in loggers.items():
        logger.setLevel(level)
    yield
    for logger, level in before.items():
        logger.setLevel(level)


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeHub:
    """A patched ``HfApi`` (tests/fakehub.py) that records the push and keeps what it uploads."""
    fake = FakeHub(tmp_path)
    fake.install(monkeypatch)
    return fake
