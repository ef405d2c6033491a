"""Generate a sample set for FID: class-uniform, one sample per label map, or unconditional."""

from __future__ import annotations

from pathlib import Path

from vqtool.core import runtime
from vqtool.core.errors import VqtoolError
from vqtool.data import images as imgs
from vqtool.generate import generate, load_transformer


def generate_set(model: Path, out: Path, n: int, seed: int = 0, device: str = "auto", progress=None,
                 **sampling) -> list[Path]:
    b = load_transformer(model, runtime.resolve_device(device))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    maps = None
    if b.layout.mode == "seg":
        seg_dir = (b.ckpt.get("manifest") or {}).get("seg_dir")
        if not seg_dir or not Path(seg_dir).is_dir():
            raise VqtoolError(f"the model's label-map folder {seg_dir} is gone; sample with `vqtool sample --cond` instead")
        maps = imgs.list_images(seg_dir)
    classes = b.lay.get("classes") or []
    for k in range(n):
        kw = dict(n=1, seed=seed + k, **sampling)
        if maps is not None:
            kw["cond_path"] = maps[k % len(maps)]
        elif b.layout.mode == "class":
            kw["class_"] = classes[k % len(classes)]
        im = generate(b, **kw)[0]
        p = out / f"{k:06d}.png"
        im.save(p)
        written.append(p)
        if progress:
            progress(1)
    return written
