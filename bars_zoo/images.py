"""Images as the zoo's models are fed: one reader for training, evaluation, the demo and users.

:func:`read_image` opens an image file and :func:`prepare_image` takes an already opened PIL
image; both give the ``uint8`` tensor ``(C, H, W)`` a model of input ``C x H x W`` is fed,
made in this order:

1. the image as it is shown: its EXIF orientation applied (a phone's portrait JPEG is upright);
2. 16-bit grayscale (Pillow modes ``I;16*`` and ``I``) scaled to 8 bits (``v / 257``), not
   clipped at 255 (which makes almost every pixel of a 16-bit PNG white);
3. transparent pixels composed on black (the data sets' background), for ``RGBA``/``LA``/``PA``
   and palette or grayscale images with a transparent colour;
4. converted to grayscale ``L`` (``C = 1``) or ``RGB`` (``C = 3``);
5. scaled (bilinear) so that it covers ``H x W`` and center-cropped to it (``ImageOps.fit``); an
   image of that size is kept as it is.  Its aspect ratio is kept: nothing is stretched.

An image over ``PIL.Image.MAX_IMAGE_PIXELS`` pixels (Pillow's decompression-bomb limit, about
89 million by default) is refused before it is decoded.  Every refusal is a
:class:`~bars_zoo.errors.DatasetError` naming the file.

:func:`preprocess` is the public form (``bars_zoo.preprocess``): paths, PIL images or ``uint8``
tensors to the normalised float batch a model takes, from its ``pretrained_cfg``.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn

from bars_zoo._read import check_regular
from bars_zoo.errors import ArgumentTypeError, ConfigError, DatasetError, ImageNotFoundError

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from bars_zoo.pretrainedcfg import PretrainedCfg

    #: what :func:`preprocess` takes, alone or in a list
    ImageLike = str | os.PathLike[str] | PILImage.Image | Tensor


def _check_shape(shape: tuple[int, int, int]) -> None:
    if shape[0] not in (1, 3):
        raise ConfigError(
            f"images are read as 1 (grayscale) or 3 (RGB) channels, not {shape[0]}",
            hint="use a model whose input is 1xHxW or 3xHxW",
        )


def _too_large(name: object) -> DatasetError:
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    return DatasetError(
        f"the image {name} is too large to open safely: over the limit of {limit:,} pixels "
        "(PIL.Image.MAX_IMAGE_PIXELS, Pillow's decompression-bomb guard)",
        hint="scale it down first (it is resized to the model's input anyway), or raise "
        "PIL.Image.MAX_IMAGE_PIXELS in Python if you trust the file",
    )


def prepare_image(img: PILImage.Image, shape: tuple[int, int, int], name: object = "") -> Tensor:
    """An opened PIL image as the ``uint8`` tensor ``(C, H, W)`` of ``shape`` (steps 1-5 of the
    module's docstring); ``name`` names it in errors."""
    from PIL import Image, ImageOps

    _check_shape(shape)
    c, h, w = shape
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and img.width * img.height > limit:
        raise _too_large(name or f"of {img.width}x{img.height}")
    img = ImageOps.exif_transpose(img)
    if img.mode.startswith("I;16") or img.mode == "I":  # convert() would clip at 255
        wide = np.asarray(img).astype(np.float64)
        img = Image.fromarray(np.clip(np.rint(wide / 257), 0, 255).astype(np.uint8), "L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, "black"), rgba)
    img = img.convert("L" if c == 1 else "RGB")
    if img.size != (w, h):
        img = ImageOps.fit(img, (w, h), method=Image.Resampling.BILINEAR)
    arr = np.asarray(img, dtype=np.uint8)
    arr = arr[None] if c == 1 else arr.transpose(2, 0, 1)  # (H, W) or (H, W, C) -> (C, H, W)
    return torch.from_numpy(arr.copy(order="C"))  # writable, contiguous


def read_image(path: str | os.PathLike[str], shape: tuple[int, int, int]) -> Tensor:
    """The image file at ``path`` as the ``uint8`` tensor ``(C, H, W)`` of ``shape``; a file that
    is not an image PIL can decode, truncated or too large is a :class:`DatasetError` naming it,
    a missing file (or a folder) an :class:`ImageNotFoundError` (``no such file: PATH``, exit
    status 2), and one that may not be read stays a :class:`PermissionError`, which the CLI names."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    check_regular(path)  # a FIFO would keep Image.open waiting for a writer
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as opened:
                return prepare_image(opened, shape, path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(path) from None
    except FileNotFoundError:
        raise ImageNotFoundError(
            f"no such file: {path}", hint="check the path (a missing image cannot be read)"
        ) from None
    except IsADirectoryError:
        raise ImageNotFoundError(
            f"{path} is a folder, not an image file", hint="name the image files in it"
        ) from None
    except PermissionError:
        raise
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise DatasetError(
            f"cannot read the image {path}: {getattr(exc, 'strerror', None) or exc}",
            hint="replace or remove the file (it is not an image PIL can decode)",
        ) from None


def _as_tensor(item: Any, shape: tuple[int, int, int], index: int) -> Tensor:
    from PIL import Image

    if isinstance(item, str) and item.lower().startswith(("http://", "https://", "ftp://")):
        raise ImageNotFoundError(  # a Path would read "https:/example.com/x.png": no such file
            f"image {index + 1}: {item} is a URL; preprocess reads local files only",
            hint="download it first (urllib.request.urlretrieve(url, 'x.png')), then pass the "
            "file, or open it as a PIL image",
        )
    if isinstance(item, (str, os.PathLike)):
        return read_image(item, shape)
    if isinstance(item, Image.Image):
        return prepare_image(item, shape, f"number {index + 1}")
    if isinstance(item, Tensor):
        if item.dtype != torch.uint8 or item.dim() not in (2, 3):
            raise ConfigError(
                f"image {index + 1}: a tensor image must be uint8 (H, W) or (C, H, W), got "
                f"{item.dtype} {tuple(item.shape)}",
                hint="pass pixel values 0-255 as torch.uint8, or the PIL image or file",
            )
        arr = item.detach().cpu().numpy()
        if arr.ndim == 3:
            if arr.shape[0] not in (1, 3, 4):
                raise ConfigError(
                    f"image {index + 1}: a (C, H, W) tensor needs 1, 3 or 4 channels, got "
                    f"{arr.shape[0]}",
                    hint="channels come first: (C, H, W)",
                )
            arr = arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)  # (H, W, C)
        mode = "L" if arr.ndim == 2 else "RGB" if arr.shape[2] == 3 else "RGBA"
        return prepare_image(Image.fromarray(np.ascontiguousarray(arr), mode), shape, index + 1)
    raise ConfigError(
        f"image {index + 1}: cannot read a {type(item).__name__} as an image",
        hint="pass file paths, PIL images or uint8 tensors",
    )


def _model_cfg(model: object) -> PretrainedCfg:
    """The input size and normalisation ``model`` is fed with: its ``pretrained_cfg``; for a model
    without one (``bars_zoo.build(spec)``), the config of the known data set its input and class
    count match (:func:`bars_zoo.knowndata.dataset_for`), as ``save_pretrained`` records it."""
    from bars_zoo.knowndata import dataset_for
    from bars_zoo.pretrainedcfg import PretrainedCfg, default_cfg
    from bars_zoo.spec import NetworkSpec

    if isinstance(model, PretrainedCfg):
        return model
    if not isinstance(model, nn.Module):
        shown = (
            f"{type(model).__name__} {model!r}" if isinstance(model, str) else type(model).__name__
        )
        name = repr(model) if isinstance(model, str) else "'bars-fmnist-m'"
        raise ArgumentTypeError(
            f"preprocess needs a model (or its PretrainedCfg), got {shown}",
            hint=f"pass the model: model = bars_zoo.load({name}); bars_zoo.preprocess(images, model)",
        )
    cfg = getattr(model, "pretrained_cfg", None)
    if isinstance(cfg, PretrainedCfg):
        return cfg
    spec = getattr(model, "spec", None)
    if isinstance(spec, NetworkSpec) and dataset_for(spec) is not None:
        return default_cfg(spec)
    what = (
        f"its input {'x'.join(map(str, spec.input_shape))} with {spec.num_classes} classes is "
        "no known data set's"
        if isinstance(spec, NetworkSpec)
        else "it has no .spec"
    )
    raise ConfigError(
        "preprocess needs the model's input size and normalisation (mean/std), but this model has "
        f"no pretrained_cfg and {what}",
        hint="pass a model from bars_zoo.load(...), or a PretrainedCfg with the input_size, mean "
        "and std its training used (or set model.pretrained_cfg to one)",
    )


def preprocess(images: ImageLike | Sequence[ImageLike], model: nn.Module | PretrainedCfg) -> Tensor:
    """Images as ``model`` takes them: the normalised float batch ``(N, C, H, W)``.

    ``images``: one or a list of file paths, PIL images or ``uint8`` tensors ``(H, W)`` /
    ``(C, H, W)`` (a batch ``(N, C, H, W)`` too), of any size.  Each is read as
    :func:`read_image` reads it (upright, 16-bit and transparency handled, converted to the
    model's channels, scaled to cover its input and center-cropped: as training and evaluation
    on an image folder read images), then scaled to 0-1 and normalised with the model's
    ``pretrained_cfg.mean``/``std``.  ``model``: a model from :func:`bars_zoo.load` (the batch
    is put on its device) or its :class:`~bars_zoo.registry.PretrainedCfg`. ::

        model = bars_zoo.load("bars-fmnist-m")
        probs = model(bars_zoo.preprocess(["shoe.png", "shirt.jpg"], model)).softmax(dim=1)
    """
    cfg = _model_cfg(model)
    shape = tuple(cfg.input_size)
    assert len(shape) == 3
    items: list[Any]
    if isinstance(images, Tensor) and images.dim() == 4:
        items = list(images.unbind(0))
    elif isinstance(images, (str, os.PathLike, Tensor)) or not isinstance(images, Sequence):
        items = [images]
    else:
        items = list(images)
    if not items:
        raise ConfigError("preprocess got no images", hint="pass at least one image")
    batch = torch.stack([_as_tensor(x, shape, i) for i, x in enumerate(items)])  # (N, C, H, W)
    mean = torch.tensor(cfg.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(cfg.std, dtype=torch.float32).view(1, -1, 1, 1)
    x = (batch.float() / 255 - mean) / std
    if isinstance(model, nn.Module):
        param = next(model.parameters(), None)
        if param is not None:
            x = x.to(param.device)
    return x


__all__ = ["prepare_image", "preprocess", "read_image"]
