"""Reconstructions: side-by-side PNGs and (issue 5) quality metrics of a VQGAN."""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from vqtool.core import runtime
from vqtool.core.loading import load_vqgan
from vqtool.data import images as imgs


@torch.no_grad()
def reconstruct(paths: list[Path], vqgan: Path, out: Path, size: int | None = None,
                device: str = "auto") -> list[Path]:
    """Encode and decode each image; write original | reconstruction as one PNG per input."""
    dev = runtime.resolve_device(device)
    model, ckpt = load_vqgan(vqgan, dev, seg=False)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p in paths:
        im = imgs.fit(imgs.load_rgb(Path(p)), model.factor, size)[0]
        x = imgs.to_tensor(im)[None].to(dev)
        xrec = model.decode_indices(model.encode(x).indices)
        pair = Image.new("RGB", (im.size[0] * 2, im.size[1]))
        pair.paste(im, (0, 0))
        pair.paste(imgs.to_image(xrec[0]), (im.size[0], 0))
        dst = out / f"{Path(p).stem}-recon.png"
        pair.save(dst)
        written.append(dst)
    return written
