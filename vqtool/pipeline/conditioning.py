"""Conditioning in: sample options (a label map, a class name, nothing) checked against the model
and turned into the conditioning tokens of a batch. Each condition of the model's layout reads its
own option (core.conditioning); nothing here knows the kinds."""

from __future__ import annotations

from pathlib import Path

from vqtool.pipeline.bundle import Bundle


def condition(b: Bundle, cond=None, class_: str | None = None) -> dict:
    """One sample's conditioning entry as ``cond_batch`` takes it, from ``--cond`` (a file, a list of
    "KIND=FILE" values, or {kind: file}) and ``--class``."""
    return b.layout.entries({"cond": cond, "class": class_})


def with_layout(cond, layout):
    """``cond`` with a box layout added (--layout FILE, or the API's list of objects) as --cond layout=."""
    if layout is None:
        return cond
    if cond is None or isinstance(cond, dict):
        return {**(cond or {}), "layout": layout}
    return [*([cond] if isinstance(cond, (str, Path)) else cond), f"layout={layout}"]


def stages(b: Bundle) -> dict:
    """The VQGANs the conditions encode with, by what they encode (the image VQGAN for a low-res image)."""
    return {"image": b.first, **b.stages}


def cond_batch(b: Bundle, entries: list[dict], h: int, w: int, cache: dict | None = None) -> list:
    """The layout's token tensors, on the model's device, for a batch of entries on an h x w grid;
    label maps are encoded once per (path, size) into ``cache``."""
    toks = b.layout.tokens(entries, h, w, stages(b), b.factor, {} if cache is None else cache)
    return b.layout.to(toks, b.device)


def read_map(b: Bundle, path: Path, size: tuple[int, int] | None = None):
    """The model's map condition read from ``path`` (a label map as (H, W) class ids) at ``size``
    (W, H; default its own)."""
    from vqtool.core.imagefile import image_size

    c = next(c for c in b.layout.conditions if c.spatial)
    return c.read(Path(path), size or image_size(path), stages(b)[c.stage].cfg.in_channels)


def spatial_inputs(b: Bundle, entries: list[dict]) -> list[Path]:
    """The files of the entries' spatial conditions (label maps): what decides a sample's size when
    --size is not given, and what the memory guard counts."""
    return [e[c.kind] for e in entries for c in b.layout.conditions if c.spatial and e[c.kind] is not None]
