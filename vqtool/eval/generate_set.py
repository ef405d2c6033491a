"""Generate a sample set for FID: each condition gives its entries (class-uniform, one sample per
map in turn, or none: see core.conditioning), the files of spatial ones from folders.

Sample k is sample number k of one seed (so the set is the same at any batch size) and files
are written batch by batch, so memory does not grow with N."""

from __future__ import annotations

import tempfile
from pathlib import Path

from vqtool.core import runtime
from vqtool.core.errors import VqtoolError
from vqtool.data import images as imgs
from vqtool.data.shards import Manifest
from vqtool.pipeline.bundle import load_transformer
from vqtool.pipeline.coarse import CoarseToFine
from vqtool.pipeline.generate import SampleOptions, generate_each


def generate_set(model: Path, out: Path, n: int, seed: int = 0, device: str = "auto", batch_size: int = 16,
                 progress=None, max_memory: int | None = None, labels: Path | None = None, conds: dict | None = None,
                 coarse: Path | None = None, **sampling) -> list[Path]:
    """``conds``: the folders of the model's spatial conditions, by kind (default: the folders its
    shards were made from); ``labels``: the folder of its one map kind (the older spelling). Sample
    k takes the k-th input (in turn) of the first kind, and the other kinds' files at the same
    relative path; a low-res image is made from the image there (the shards' source images by
    default), downscaled by the model's factor as tokenize does. ``coarse``: sample coarse to fine
    with this coarse model (the low-res inputs are its samples)."""
    dev = runtime.resolve_device(device)
    b = load_transformer(model, dev)
    pair = CoarseToFine.pair(b, load_transformer(coarse, dev)) if coarse else None
    out = Path(out)
    spatial = [c for c in b.layout.conditions if c.spatial and (pair is None or c is not b.layout.from_coarse)]
    folders = dict(conds or {})
    if labels is not None:
        maps = [c.kind for c in spatial if c.scene_folder]
        if len(maps) != 1:
            raise VqtoolError(f"--labels was given, but {model} is {b.layout.adjective} "
                              + ("(it takes no maps)" if not maps else "; give each map folder with --cond KIND=DIR"))
        folders.setdefault(maps[0], labels)
    for kind in folders:
        if kind not in [c.kind for c in spatial]:
            raise VqtoolError(f"--cond {kind}=... was given, but {model} is {b.layout.adjective}")
    manifest = Manifest.from_dict(b.ckpt.manifest) if b.ckpt.manifest else None
    with tempfile.TemporaryDirectory() as tmp:
        per_kind = _spatial_entries(b, spatial, folders, manifest, n, Path(tmp))
        for c in (pair.coarse if pair else b).layout.conditions:
            if not c.spatial and not c.reads:  # an overview is made from its map's entry
                per_kind[c.kind] = c.set_entries(n, None)
        conds_ = [{k: v[i] for k, v in per_kind.items()} for i in range(n)]
        return _write(pair or b, conds_, out, n, seed, batch_size, max_memory, progress, sampling)


def _spatial_entries(b, spatial: list, folders: dict, manifest, n: int, tmp: Path) -> dict:
    """Each spatial condition's file for samples 0..n-1, paired by relative path."""
    if not spatial:
        return {}

    def folder_of(c):
        if c.kind in folders:
            return Path(folders[c.kind])
        rec = manifest.condition(c.kind) if manifest else None
        if c.fixed_size and not (rec or {}).get("inputs"):  # a low-res image: made from the source images
            return Path(manifest.source) if manifest else None
        inputs = (rec or {}).get("inputs")
        return Path(inputs) if inputs else None

    first = spatial[0]
    root = folder_of(first)
    if not root or not root.is_dir():
        raise VqtoolError(f"the {first.input_name} folder {root or '(none recorded)'} is not there; name one with "
                          f"--labels DIR or --cond {first.kind}=DIR")
    listing = first.set_entries(n, imgs.list_images(root))
    out = {}
    for c in spatial:
        folder = folder_of(c)
        if folder is None or not folder.is_dir():
            raise VqtoolError(f"the {c.input_name} folder {folder} is not there; name one with --cond {c.kind}=DIR")
        made = c.fixed_size and c.kind not in folders  # downscale the image at that path
        files = []
        for i, p in enumerate(listing):
            rel = p.relative_to(root)
            q = p if c is first and not made else _at(folder, rel)
            if q is None:
                raise VqtoolError(f"no {'image' if made else c.input_name} for {p} in {folder} (the same relative path)")
            files.append(_downscaled(q, c.factor, tmp / c.kind / f"{i:06d}.png", b.factor) if made else q)
        out[c.kind] = files
    return out


def _at(folder: Path, rel: Path) -> Path | None:
    for cand in [folder / rel.with_suffix(e) for e in (rel.suffix, ".png", ".jpg", ".jpeg")]:
        if cand.is_file():
            return cand
    return None


def _downscaled(path: Path, k: int, dest: Path, f: int) -> Path:
    """The low-res input of an image: cut to whole low-res codes, downscaled as tokenize does."""
    from vqtool.core.conditioning.lowres import downscale

    if dest.is_file():
        return dest
    im = imgs.load_rgb(path)
    step = f * k
    im = im.crop((0, 0, max(im.width // step, 1) * step, max(im.height // step, 1) * step))
    dest.parent.mkdir(parents=True, exist_ok=True)
    imgs.to_image(downscale(imgs.to_tensor(im)[None], k)[0]).save(dest)
    return dest


def _write(b, conds: list, out: Path, n: int, seed: int, batch_size: int, max_memory, progress, sampling) -> list:
    """``b``: a bundle, or a coarse-to-fine pair."""
    opts = SampleOptions(seed=seed, batch_size=batch_size, max_memory=max_memory, **sampling)
    written = []
    for start in range(0, n, batch_size):
        part = conds[start:start + batch_size]
        if isinstance(b, CoarseToFine):
            ims = b.generate_each(part, opts=opts, first_sample=start)[0]
        else:
            ims = generate_each(b, part, opts=opts, first_sample=start)
        out.mkdir(parents=True, exist_ok=True)  # after the first batch: a refused option leaves no folder
        for k, im in enumerate(ims, start):
            p = out / f"{k:06d}.png"
            im.save(p)
            written.append(p)
        if progress:
            progress(len(ims))
    return written
