"""Reconstructions: side-by-side PNGs and (issue 5) quality metrics of a VQGAN."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from PIL import Image

from vqtool.core import memory, runtime
from vqtool.core.errors import DataError, check_writable
from vqtool.core.tokenizer.loading import load_vqgan
from vqtool.data import images as imgs
from vqtool.eval.metrics import recon_bytes


def output_names(paths: list[Path]) -> list[str]:
    """One name per input: its stem, or where stems collide (x.png and x.jpg, a/1.png and b/1.png)
    its path below the colliding files' common folder, '/' and '.' as '-' (a-1-png, x-jpg)."""
    stems = [Path(p).stem for p in paths]
    names = list(stems)
    for stem in {s for s in stems if stems.count(s) > 1}:
        group = [i for i, s in enumerate(stems) if s == stem]
        root = os.path.commonpath([str(Path(paths[i]).resolve().parent) for i in group])
        for i in group:
            names[i] = os.path.relpath(Path(paths[i]).resolve(), root).replace(os.sep, "-").replace(".", "-")
    return names


@torch.no_grad()
def reconstruct(paths: list[Path], vqgan: Path, out: Path, size: int | None = None,
                device: str = "auto", max_memory: int | None = None) -> list[Path]:
    """Encode and decode each image; write original | reconstruction as one PNG per input. Every
    input is checked (readable, within the pixel and memory limits) before any is written."""
    bad = [(p, "not found" if not Path(p).is_file() else why) for p in paths if (why := imgs.header_ok(Path(p)))]
    if bad:
        raise DataError(f"{bad[0][0]}: {bad[0][1]}" + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""))
    check_writable(out, "--out")
    dev = runtime.resolve_device(device)
    model, ckpt = load_vqgan(vqgan, dev, encodes="image")
    for p in paths:
        w, h = imgs.image_size(Path(p))
        _, _, Wt, Ht = imgs.fit_size(w, h, size or 0, 0, model.factor)
        need = w * h * memory.DECODED_INPUT_BYTES + recon_bytes(model.cfg, 1, Wt, Ht) + Wt * Ht * 6
        memory.check_on(dev, need, max_memory, f"reconstructing {p} at {Wt}x{Ht}",
                        "give a smaller --size (the shorter side)", need="about")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for p, name in zip(paths, output_names(paths)):
        im = imgs.fit(imgs.load_rgb(Path(p)), model.factor, size)[0]
        x = imgs.to_tensor(im)[None].to(dev)
        xrec = model.decode_indices(model.encode(x).indices)
        pair = Image.new("RGB", (im.size[0] * 2, im.size[1]))
        pair.paste(im, (0, 0))
        pair.paste(imgs.to_image(xrec[0]), (im.size[0], 0))
        dst = out / f"{name}-recon.png"
        pair.save(dst)
        written.append(dst)
    return written
