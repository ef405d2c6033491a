"""Generate a sample set for FID: class-uniform, one sample per label map, or unconditional.

Sample k is sample number k of one seed (so the set is the same at any batch size) and files
are written batch by batch, so memory does not grow with N."""

from __future__ import annotations

from pathlib import Path

from vqtool.core import runtime
from vqtool.core.errors import VqtoolError
from vqtool.data import images as imgs
from vqtool.pipeline.bundle import load_transformer
from vqtool.pipeline.generate import SampleOptions, generate_each


def generate_set(model: Path, out: Path, n: int, seed: int = 0, device: str = "auto", batch_size: int = 16,
                 progress=None, max_memory: int | None = None, labels: Path | None = None, **sampling) -> list[Path]:
    """``labels``: label maps for a segmentation model (default: the folder its shards were made from)."""
    b = load_transformer(model, runtime.resolve_device(device))
    out = Path(out)
    if labels is not None and b.layout.mode != "seg":
        raise VqtoolError(f"--labels was given, but {model} is not segmentation-conditional")
    if b.layout.mode == "seg":
        seg_dir = labels or (b.ckpt.get("manifest") or {}).get("seg_dir")
        if not seg_dir or not Path(seg_dir).is_dir():
            raise VqtoolError(f"the label-map folder {seg_dir} is not there; name one with --labels DIR")
        maps = imgs.list_images(seg_dir)
        conds = [maps[k % len(maps)] for k in range(n)]
    elif b.layout.mode == "class":
        conds = [k % len(b.layout.classes or [0]) for k in range(n)]
    else:
        conds = [None] * n
    opts = SampleOptions(seed=seed, batch_size=batch_size, max_memory=max_memory, **sampling)
    written = []
    for start in range(0, n, batch_size):
        part = conds[start:start + batch_size]
        ims = generate_each(b, part, opts=opts, first_sample=start)
        out.mkdir(parents=True, exist_ok=True)  # after the first batch: a refused option leaves no folder
        for k, im in enumerate(ims, start):
            p = out / f"{k:06d}.png"
            im.save(p)
            written.append(p)
        if progress:
            progress(len(ims))
    return written
