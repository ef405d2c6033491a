"""Generate a sample set for FID: each condition gives its entries (class-uniform, one sample per
label map in turn, or none: see core.conditioning), the files of a spatial one from a folder.

Sample k is sample number k of one seed (so the set is the same at any batch size) and files
are written batch by batch, so memory does not grow with N."""

from __future__ import annotations

from pathlib import Path

from vqtool.core import runtime
from vqtool.core.errors import VqtoolError
from vqtool.data import images as imgs
from vqtool.data.shards import Manifest
from vqtool.pipeline.bundle import load_transformer
from vqtool.pipeline.generate import SampleOptions, generate_each


def generate_set(model: Path, out: Path, n: int, seed: int = 0, device: str = "auto", batch_size: int = 16,
                 progress=None, max_memory: int | None = None, labels: Path | None = None, **sampling) -> list[Path]:
    """``labels``: label maps for a segmentation model (default: the folder its shards were made from)."""
    b = load_transformer(model, runtime.resolve_device(device))
    out = Path(out)
    spatial = [c for c in b.layout.conditions if c.spatial]
    if labels is not None and not spatial:
        raise VqtoolError(f"--labels was given, but {model} is {b.layout.adjective} (it takes no maps)")
    manifest = Manifest.from_dict(b.ckpt.manifest) if b.ckpt.manifest else None
    per_kind = {}
    for c in b.layout.conditions:
        inputs = None
        if c.spatial:
            rec = manifest.condition(c.kind) if manifest else None
            folder = labels or (rec or {}).get("inputs")
            if not folder or not Path(folder).is_dir():
                raise VqtoolError(f"the {c.input_name} folder {folder} is not there; name one with --labels DIR")
            inputs = imgs.list_images(folder)
        per_kind[c.kind] = c.set_entries(n, inputs)
    conds = [{k: v[i] for k, v in per_kind.items()} for i in range(n)]
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
