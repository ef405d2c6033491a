"""A small Python API beside the CLI.

    import vqtool
    m = vqtool.load("runs/vqgan/last.pt")            # any vqtool checkpoint
    idx = vqtool.encode(m, "photo.png")              # (h, w) code indices
    img = vqtool.decode(m, idx)                      # PIL image
    t = vqtool.load("runs/transformer/last.pt")
    imgs = vqtool.sample(t, n=2, size=(1280, 832), cond="seg.png", mode="fast")
    sr = vqtool.sample(vqtool.load("runs/sr/last.pt"), cond={"lowres": "small.png"})  # 4x the small image
    big = vqtool.sample(vqtool.load("runs/fine/last.pt"), coarse=vqtool.load("runs/coarse/last.pt"),
                        cond="seg.png", size=(1280, 832))  # coarse to fine
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from vqtool.core.io import checkpoint as ck
from vqtool.core import runtime


def load(path: str | Path, device: str = "auto"):
    """A VQGAN (torch module with .encode/.decode_indices) or a transformer bundle (for sample)."""
    dev = runtime.resolve_device(device)
    c = ck.load_checkpoint(path)
    if c["format"] == ck.TRANSFORMER:
        from vqtool.pipeline.bundle import load_transformer

        return load_transformer(path, dev)
    from vqtool.core.tokenizer.loading import vqgan_from_state

    return vqgan_from_state(c["config"]["model"], c["model"], dev)


def _vqgan(model):
    return model.first if hasattr(model, "first") else model


@torch.no_grad()
def encode(model, image: str | Path | Image.Image, size: int | None = None) -> torch.Tensor:
    """Code indices (h, w) of an RGB image (resized so its shorter side is ``size``, trimmed to the factor)."""
    from vqtool.data import images as imgs

    m = _vqgan(model)
    im = image if isinstance(image, Image.Image) else imgs.load_rgb(Path(image))
    x = imgs.to_tensor(imgs.fit(imgs.to_rgb(im), m.factor, size)[0])[None].to(next(m.parameters()).device)
    return m.encode(x).indices[0].cpu()


@torch.no_grad()
def decode(model, indices: torch.Tensor) -> Image.Image:
    """A PIL image from (h, w) code indices (large grids are decoded in blended tiles)."""
    from vqtool.data import images as imgs
    from vqtool.core.tokenizer.tiles import decode as decode_grid

    m = _vqgan(model)
    idx = torch.as_tensor(indices).long()
    if idx.dim() != 2:
        raise ValueError(f"indices must be (h, w), got shape {tuple(idx.shape)}")
    if int(idx.max()) >= m.n_embed or int(idx.min()) < 0:
        raise ValueError(f"indices must be in [0, {m.n_embed})")
    return imgs.to_image(decode_grid(m, idx[None].to(next(m.parameters()).device))[0])


def sample(bundle, n: int = 1, size: tuple[int, int] | None = None, cond: str | Path | dict | list | None = None,
           class_: str | None = None, coarse=None, layout=None, **kw) -> list[Image.Image]:
    """Images from a transformer bundle (see `vqtool sample --help` for the keyword options). ``cond``:
    the file of a model with one map kind, ``{"seg": "lab.png", "lowres": "small.png"}``, or a list of
    "KIND=FILE" strings as --cond takes them. ``coarse``: a bundle that samples the scene small first
    (coarse to fine; ``bundle`` then takes its samples as its low-res input). ``layout``: a scene model's
    box layout, a JSON file or the list of {"class", "box": [x, y, w, h]} objects itself."""
    from vqtool.pipeline.coarse import CoarseToFine
    from vqtool.pipeline.conditioning import with_layout
    from vqtool.pipeline.generate import SampleOptions, generate

    cond = with_layout(cond, layout)

    if coarse is not None:
        return CoarseToFine.pair(bundle, coarse).generate(n, size, cond, class_, SampleOptions(**kw))[0]
    return generate(bundle, n=n, size=size, cond_path=cond, class_=class_, **kw)
