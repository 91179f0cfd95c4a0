"""A training or search run imports no module of bars-zoo once its epochs have begun.

Researchers edit an installed (``pip install -e .``) package while a job runs overnight.  A module
imported lazily at the end of the run (to write the model folder or the plots) is then read from the
edited sources and can fail with an ImportError after hours of work.  Each test runs a tiny job in a
fresh interpreter in which, from the first epoch on, importing any not yet loaded ``bars_zoo``
module raises.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tiny_net import two_stage

GUARD = """
import sys

class NoNewBarsModules:
    def find_spec(self, name, path=None, target=None):
        if name == "bars_zoo" or name.startswith("bars_zoo."):
            raise ImportError(f"{name} imported after the run began")
        return None

def guarded(method):
    def wrapper(*args, **kwargs):
        if not any(isinstance(f, NoNewBarsModules) for f in sys.meta_path):
            sys.meta_path.insert(0, NoNewBarsModules())
        return method(*args, **kwargs)
    return wrapper
"""


def run_script(body: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "job.py"
    script.write_text(GUARD + textwrap.dedent(body))
    tests = Path(__file__).parent
    # the checkout under test first: an installed bars_zoo (another checkout's) must not stand in
    path = os.pathsep.join([str(tests.parent), str(tests)])
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )


def test_a_training_run_needs_no_new_module_after_its_first_epoch(tmp_path):
    (tmp_path / "tiny.geno").write_text(two_stage("tiny", "1x8x8", stem_stride=1))
    body = """
    import bars_zoo
    from bars_zoo import trainer
    trainer.Trainer._run = guarded(trainer.Trainer._run)
    result = bars_zoo.train("tiny.geno", dataset="synthetic", epochs=1, out_dir="run",
                            subset=128, batch_size=32, device="cpu", progress=False)
    assert result.finished
    import pathlib
    assert (pathlib.Path("run") / "model" / "config.json").is_file()
    print("done")
    """
    done = run_script(body, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "done" in done.stdout


def test_a_search_needs_no_new_module_after_its_first_epoch(tmp_path):
    body = """
    import pathlib
    import bars_zoo
    from bars_zoo.search import runner
    from bars_zoo.search.presets import config_for
    runner._Run.train = guarded(runner._Run.train)
    cfg = config_for("tiny", dataset="synthetic", epochs=1, warmup_epochs=0, subset=128)
    result = bars_zoo.search(cfg, out="found.geno", progress=False)
    assert result.finished and pathlib.Path("found.geno").is_file()
    assert any(pathlib.Path("found.run").glob("*.png"))
    print("done")
    """
    done = run_script(body, tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "done" in done.stdout
