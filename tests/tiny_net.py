"""Tiny networks shared by test files: the one the hub and packing tests save, load and push, and
the two-stage one the training, DDP and CUDA-graph tests train, and the genotype the DSL error
tests edit one line of (their line and column numbers count in it)."""

from __future__ import annotations

import torch

import bars_zoo

TINY = """bars 1
name "tiny"
input 1x10x10 classes=4
stem conv3x3 channels=8 stride=1 pool=none
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {
  n1 <- in: bconv3x3
  n2 <- in: shortcut, n1: bconv1x1
}
cell reduce stride=2 preprocess=bfr shortcut=bfr op_shortcut=false {
  n1 <- in: bconv3x3
}
stage s1: channels=8 depth=1 cell=normal
downsample cell=reduce
stage s2: channels=12 depth=1 cell=normal
head avgpool linear
"""


EDIT_BASE = """\
bars 1
name "t"
input 3x32x32 classes=10
stem conv3x3 channels=16 stride=1 pool=none
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {
  n1 <- in: bconv3x3
  n2 <- in: shortcut, n1: bconv3x3
}
cell reduce stride=2 preprocess=bfr shortcut=bfr op_shortcut=true {
  n1 <- in: bconv3x3
}
stage s1: channels=16 depth=2 cell=normal
downsample cell=reduce
stage s2: channels=32 depth=2 cell=normal
head avgpool linear
meta searched_on="cifar10"
"""


def two_stage(name: str, shape: str, stem_stride: int = 1) -> str:
    """A two-stage genotype with a two-node normal cell and a bfr reduction (trains in seconds)."""
    return f"""bars 1
name "{name}"
input {shape} classes=10
stem conv3x3 channels=8 stride={stem_stride} pool=none
cell normal stride=1 preprocess=bconv3x3 shortcut=identity op_shortcut=true {{
  n1 <- in: bconv3x3
  n2 <- in: shortcut, n1: bconv3x3
}}
cell reduce stride=2 preprocess=bfr shortcut=bfr op_shortcut=true {{
  n1 <- in: bconv3x3
}}
stage s1: channels=8 depth=1 cell=normal
downsample cell=reduce
stage s2: channels=16 depth=1 cell=normal
head avgpool linear
"""


def tiny_model(seed: int = 0, text: str = TINY) -> torch.nn.Module:
    """The tiny net with random weights and random batch-norm statistics, in eval mode; its
    weights changed after build, their state is unknown (``trained_weights is None``): a folder
    saved packed reads as trained, unpacked as untrained, as folders without a record do."""
    torch.manual_seed(seed)
    model = bars_zoo.build(bars_zoo.parse(text))
    with torch.no_grad():  # changed weights: no longer known untrained (bars_zoo.trainedness)
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_()
                m.bias.normal_()
    return model.eval()


def as_trained(model: torch.nn.Module) -> torch.nn.Module:
    """``model`` standing in for trained weights (a training loop of your own): declared trained
    (``trained_weights = True``), so that its folder reads as trained (bars_zoo.trainedness)."""
    model.trained_weights = True
    return model
