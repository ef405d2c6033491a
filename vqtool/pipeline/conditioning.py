"""Conditioning in: label maps, class names or nothing, checked against the model, and turned
into the conditioning tokens of a batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vqtool.core.errors import VqtoolError
from vqtool.core.sampling import cond_tokens
from vqtool.core.tiles import encode_labels
from vqtool.data import images as imgs
from vqtool.pipeline.bundle import Bundle

MODE_NAMES = {"uncond": "unconditional", "class": "class-conditional", "seg": "segmentation-conditional"}


def resolve_class(b: Bundle, value: str) -> int:
    classes = b.layout.classes or []
    if b.layout.mode != "class":
        raise VqtoolError(f"--class was given, but this model is {MODE_NAMES[b.layout.mode]} (it has no classes)")
    if value in classes:
        return classes.index(value)
    if value.isdigit() and int(value) < len(classes):
        return int(value)
    raise VqtoolError(f"unknown class {value!r}; valid classes: " + ", ".join(f"{i}={c}" for i, c in enumerate(classes)))


def has_null_class(b: Bundle) -> bool:
    """A class model whose null class was trained (class dropout): it can guide and sample
    without a class."""
    return (b.layout.mode == "class" and b.layout.null_class is not None
            and (b.ckpt.get("config") or {}).get("class_dropout", 0) > 0)


def read_label_map(b: Bundle, path: Path, size: tuple[int, int]) -> torch.Tensor:
    """Label map as (H, W) class ids at ``size``, nearest-neighbour resized."""
    if b.layout.mode != "seg":
        raise VqtoolError(f"--cond was given, but this model is {MODE_NAMES[b.layout.mode]} (no segmentation)")
    if not Path(path).is_file():
        raise VqtoolError(f"label map not found: {path}")
    lab = imgs.load_labels(Path(path), b.layout.palette)
    k = b.cond.cfg.in_channels
    names = b.layout.label_classes or [str(i) for i in range(k)]
    bad = np.unique(lab[(lab < 0) | (lab >= k)])
    if bad.size:
        shown = ", ".join(f"{i}={n}" for i, n in enumerate(names[:12])) + (", …" if len(names) > 12 else "")
        hint = " (values up to {}: a depth map or a photo?)".format(int(bad.max())) if bad.max() > 255 else ""
        raise VqtoolError(f"label map {path} has {bad.size} class id(s) the model does not know, the first "
                          f"{int(bad[0])}{hint}; it knows {k}: {shown}")
    im = Image.fromarray(lab.astype(np.int32)).resize(size, Image.NEAREST)
    return torch.from_numpy(np.asarray(im, dtype=np.int64).copy())


def condition(b: Bundle, cond_path: Path | None = None, class_: str | None = None):
    """One sample's conditioning as ``cond_batch`` takes it: a label-map path, a class id, or
    None (unconditional; a class model's trained null class)."""
    cls = resolve_class(b, class_) if class_ is not None else None
    if b.layout.mode == "seg" and cond_path is None:
        raise VqtoolError("this model is segmentation-conditional: give a label map with --cond")
    if cond_path is not None and b.layout.mode != "seg":
        raise VqtoolError(f"--cond was given, but this model is {MODE_NAMES[b.layout.mode]} (no segmentation)")
    if b.layout.mode == "seg":
        return cond_path
    if cls is not None:
        return cls
    if b.layout.mode == "class":
        if not has_null_class(b):
            raise VqtoolError("this model is class-conditional and was trained without class dropout (no "
                              "unconditional mode): give --class NAME|ID; classes: " + ", ".join(b.layout.classes or []))
        return b.layout.null_class - b.layout.cond_offset  # the null class: unconditional samples
    return None


def cond_batch(b: Bundle, conds: list, h: int, w: int, cache: dict | None = None) -> torch.Tensor:
    """(B, L) conditioning tokens on the model's device for entries of ``condition``; label maps
    are encoded once per (path, size) into ``cache``."""
    lay = b.layout
    if lay.mode == "seg":
        cache = {} if cache is None else cache
        f = b.factor
        for c in conds:
            if (c, h, w) not in cache:
                cache[(c, h, w)] = encode_labels(b.cond, read_label_map(b, c, (w * f, h * f)))
        cond = cond_tokens(lay, len(conds), torch.stack([cache[(c, h, w)] for c in conds]), h=h, w=w)
    elif lay.mode == "class":
        cond = cond_tokens(lay, len(conds), classes=conds)
    else:
        cond = cond_tokens(lay, len(conds))
    return cond.to(b.device)
