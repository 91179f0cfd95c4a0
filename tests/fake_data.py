"""Small stand-ins for the real data sets, written to a test's folder: tests that read a data
set's files (a dry run reads them too) pass without the real one installed."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np


def write_fashion_mnist(folder: Path, n: int = 256, split: str = "train") -> Path:
    """``n`` random 28x28 Fashion-MNIST images and labels as gzipped idx files in ``folder``."""
    prefix = "train" if split == "train" else "t10k"
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (("images-idx3", images), ("labels-idx1", labels)):
        head = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
        head += struct.pack(f">{array.ndim}I", *array.shape)
        with gzip.open(folder / f"{prefix}-{name}-ubyte.gz", "wb") as f:
            f.write(head + array.tobytes())
    return folder
