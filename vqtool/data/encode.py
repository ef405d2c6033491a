"""Tokenize an image folder (and its label maps) into webdataset shards of code grids.

Images are resized (shorter side to ``size``, longer side capped at ``max_side``) and kept whole,
trimmed only to a multiple of the downsampling factor, so a large image yields a grid larger
than the transformer's window (the paper trains on crops of high-resolution codes).
Shards are assigned to images deterministically; a rerun skips finished shards, so an
interrupted run resumes with no sample twice and none missing. Under torchrun each rank writes
its own shards and rank 0 writes the one manifest.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vqtool.core import memory, runtime
from vqtool.core.checkpoint import state_fingerprint
from vqtool.core.errors import DataError
from vqtool.core.loading import load_vqgan
from vqtool.data import images as imgs
from vqtool.data import shards as sh
from vqtool.train.common import Callbacks


MIN_CODE_BITS = 1.0  # code entropy below which tokenize warns of a collapsed VQGAN


def find_label(seg_dir: Path, rel: Path) -> Path | None:
    for ext in (".png", rel.suffix):
        cand = seg_dir / rel.with_suffix(ext)
        if cand.is_file():
            return cand
    return None


def auto_seg(images: Path, seg_vqgan: Path) -> Path | None:
    """The documented rule: labels live in a sibling folder named ``seg`` of the image folder
    (``data/scenes/images`` -> ``data/scenes/seg``) and a segmentation VQGAN exists."""
    cand = Path(images).resolve().parent / "seg"
    return cand if cand.is_dir() and Path(seg_vqgan).is_file() else None


def target_size(w: int, h: int, size: int, max_side: int, f: int) -> tuple[int, int, int, int]:
    """Resized (W, H) and the trimmed (W', H') that is a multiple of ``f``."""
    s = size / min(w, h) if size else 1.0
    if max_side and max(w, h) * s > max_side:
        s = max_side / max(w, h)
    W, H = max(round(w * s), f), max(round(h * s), f)
    return W, H, W // f * f, H // f * f


class _Items(torch.utils.data.Dataset):
    """Loads and preprocesses one image (and label map) per item; failures become reasons."""

    def __init__(self, items, size, max_side, f, seg_dir, palette, n_labels, model_cfg=None, limit=0):
        self.items, self.size, self.max_side, self.f = items, size, max_side, f
        self.seg_dir, self.palette, self.n_labels = seg_dir, palette, n_labels
        self.model_cfg, self.limit = model_cfg, limit

    def too_large(self, path) -> str | None:
        """Why one image alone would not fit the memory limit (read from its header), or None."""
        if not self.limit:
            return None
        try:
            with Image.open(path) as im:
                w, h = im.size
        except (OSError, ValueError):
            return None  # load_rgb gives the real reason
        _, _, Wt, Ht = target_size(w, h, self.size, self.max_side, self.f)
        need = memory.encode_bytes(self.model_cfg, 1, Wt, Ht)
        if need > self.limit:
            return (f"encoding it at {Wt}x{Ht} would need about {memory.fmt(need)}, more than the "
                    f"{memory.fmt(self.limit)} limit (use --max-side or --max-memory)")
        return None

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        it = self.items[i]
        big = self.too_large(it["path"])
        if big:
            return {**it, "error": big}
        try:
            im = imgs.load_rgb(it["path"])
        except DataError as e:
            return {**it, "error": str(e).split(": ", 1)[-1]}
        w, h = im.size
        W, H, Wt, Ht = target_size(w, h, self.size, self.max_side, self.f)
        im = im.resize((W, H), Image.BICUBIC) if (W, H) != (w, h) else im
        x0, y0 = (W - Wt) // 2, (H - Ht) // 2
        im = im.crop((x0, y0, x0 + Wt, y0 + Ht))
        out = {**it, "x": imgs.to_tensor(im), "orig": [w, h], "box": [x0, y0, Wt, Ht], "resized": [W, H],
               "upscaled": W > w or H > h}
        if self.seg_dir is not None:
            lp = find_label(self.seg_dir, Path(it["rel"]))
            if lp is None:
                return {**it, "error": "no label map at the same relative path"}
            lab = imgs.load_labels(lp, self.palette)
            if lab.shape != (h, w):
                return {**it, "error": f"label map {lp} is {lab.shape[1]}x{lab.shape[0]}, image is {w}x{h}"}
            bad = lab.max()
            if bad >= self.n_labels or lab.min() < 0:
                return {**it, "fatal": f"label map {lp} has class id {int(bad)}, but the segmentation VQGAN knows "
                                f"{self.n_labels} classes (ids 0..{self.n_labels - 1})"}
            li = Image.fromarray(lab.astype(np.int32)).resize((W, H), Image.NEAREST).crop((x0, y0, x0 + Wt, y0 + Ht))
            out["labels"] = torch.from_numpy(np.asarray(li, dtype=np.int64).copy())
        return out


def _split(files: list[Path], root: Path, val_count: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic held-out split keyed by relative path (the same wherever the folder lives)."""
    keys = [hashlib.sha1(f"{seed}:{f.relative_to(root).as_posix()}".encode()).hexdigest() for f in files]
    order = sorted(range(len(files)), key=keys.__getitem__)
    val = sorted(order[:val_count])
    vs = set(val)
    return [i for i in range(len(files)) if i not in vs], val


@torch.no_grad()
def tokenize_dataset(images: Path, out: Path, vqgan: Path, seg_dir: Path | None = None,
                     seg_vqgan: Path | None = None, size: int | None = None, max_side: int = 0,
                     flip: bool = False, shard_size: int = 1000, batch_size: int = 16, workers: int = 0,
                     val_count: int | None = None, device: str = "auto",
                     callbacks: Callbacks | None = None, progress=None, max_memory: int | None = None,
                     overwrite: bool = False) -> dict:
    """``max_memory``: bytes a batch may take (None: what is available now, 0: no limit); an
    image too large for it alone is skipped and reported, batches are cut to fit."""
    cb = callbacks or Callbacks()
    dev = runtime.init_distributed(runtime.resolve_device(device))
    images, out = Path(images), Path(out)
    model, ck = load_vqgan(vqgan, dev, seg=False)
    f = model.factor
    # default: the resolution the VQGAN's training images were brought to before cropping
    # (data.resize; 0 = native size, as the scenes recipes train)
    size = size if size is not None else ck["config"]["data"].get("resize", 0)
    files = imgs.list_images(images)
    root = images if images.is_dir() else images.parent
    classes = imgs.class_names(files, root) if images.is_dir() else None
    seg_model, seg_ck, meta, palette, n_labels = None, None, None, None, 0
    if seg_dir is not None:
        seg_dir = Path(seg_dir)
        if not seg_dir.is_dir():
            raise DataError(f"label map folder not found: {seg_dir}")
        seg_model, seg_ck = load_vqgan(seg_vqgan, dev, seg=True)
        if seg_model.factor != f:
            raise DataError(f"the segmentation VQGAN downsamples by {seg_model.factor}, the image VQGAN by {f}: "
                            "their grids must match")
        n_labels = seg_model.cfg.in_channels
        meta = imgs.find_label_meta(seg_dir) or {}
        palette = meta.get("palette") or (seg_ck.get("data") or {}).get("palette")
    limit = memory.available_bytes() if max_memory is None else max_memory
    dtype = sh.code_dtype(max(model.n_embed, seg_model.n_embed if seg_model is not None else 0))
    if val_count is None:
        val_count = min(max(len(files) // 20, 1), 500) if len(files) > 1 else 0
    train_idx, val_idx = _split(files, root, val_count)
    items = [{"path": str(p), "rel": str(p.relative_to(root)), "index": i,
              "cls": classes.index(p.relative_to(root).parts[0]) if classes else None}
             for i, p in enumerate(files)]
    plan = []  # (split, shard number, item list)
    for split, idx in (("train", train_idx), ("val", val_idx)):
        for k in range(0, len(idx), shard_size):
            plan.append((split, k // shard_size, [items[i] for i in idx[k:k + shard_size]]))
    job = {"files": hashlib.sha1("\n".join(it["rel"] for it in items).encode()).hexdigest(),
           "vqgan_fingerprint": state_fingerprint(model.state_dict()),
           "seg_vqgan_fingerprint": state_fingerprint(seg_model.state_dict()) if seg_model is not None else None,
           "labels": str(seg_dir.resolve()) if seg_dir is not None else None, "size": size, "max_side": max_side,
           "flip": flip, "shard_size": shard_size, "val_count": val_count,
           "source": str(images.resolve()), "vqgan": str(Path(vqgan).resolve())}
    old_job = sh.check_job(out, job, overwrite) if out.is_dir() else []  # every rank decides the same
    runtime.barrier()  # every rank has looked before rank 0 deletes anything
    if runtime.is_main():
        out.mkdir(parents=True, exist_ok=True)
        for stale in [*out.glob(".*.tmp-*"), *old_job]:
            stale.unlink()
        sh.write_job(out, job)
        if old_job:
            cb.warn(f"--overwrite: deleted the {len(old_job)} files of another tokenize job in {out}")
    runtime.barrier()
    mine = [p for n, p in enumerate(plan) if n % runtime.world_size() == runtime.rank()]
    todo = [p for p in mine if sh.shard_done(out / sh.shard_name(p[0], p[1])) is None]
    if len(todo) < len(mine):
        cb.info(f"resuming: {len(mine) - len(todo)} of {len(mine)} shard(s) already written")
    n_todo = sum(len(p[2]) for p in todo)
    if progress:
        progress(0, total=n_todo)
    t0, done_images = time.time(), 0
    for split, k, chunk in todo:
        ds = _Items(chunk, size, max_side, f, seg_dir, palette, n_labels, model.cfg, limit)
        loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers)
        samples, skipped, pending, upscaled = [], {}, [], 0

        def flush():
            if not pending:
                return
            x = torch.stack([p["x"] for p in pending]).to(dev)
            with runtime.autocast(dev):
                grids = [model.encode(x).indices]
                if flip:
                    grids.append(model.encode(x.flip(-1)).indices)
                if seg_model is not None:
                    lab = torch.stack([p["labels"] for p in pending]).to(dev)
                    oh = F.one_hot(lab, n_labels).permute(0, 3, 1, 2).float()  # (B, K, H, W)
                    grids.append(seg_model.encode(oh).indices)
                    if flip:
                        grids.append(seg_model.encode(oh.flip(-1)).indices)
            grids = [g.cpu().numpy().astype(dtype) for g in grids]
            for b, p in enumerate(pending):
                s = {"__key__": f"{p['index']:09d}", "tokens.npy": grids[0][b],
                     "json": {"path": p["rel"], "orig_size": p["orig"], "resized": p["resized"], "box": p["box"]}}
                if flip:
                    s["tokens_flip.npy"] = grids[1][b]
                if seg_model is not None:
                    s["cond.npy"] = grids[1 + flip][b]
                    if flip:
                        s["cond_flip.npy"] = grids[3][b]
                if p["cls"] is not None:
                    s["cls"] = p["cls"]
                samples.append(s)
            pending.clear()

        for it in loader:
            if "fatal" in it:
                raise DataError(it["fatal"])
            if "error" in it:
                skipped[it["path"]] = it["error"]
                cb.warn(f"skipping {it['path']}: {it['error']}")
            else:
                Ht, Wt = it["x"].shape[-2:]
                if pending and (pending[0]["x"].shape != it["x"].shape or len(pending) >= batch_size or (
                        limit and memory.encode_bytes(model.cfg, len(pending) + 1, Wt, Ht) > limit)):
                    flush()
                pending.append(it)
                upscaled += bool(it["upscaled"])
            done_images += 1
            if progress:
                progress(1, status=f"{done_images / max(time.time() - t0, 1e-9):.1f} img/s")
        flush()
        samples.sort(key=lambda s: s["__key__"])
        sh.write_shard(out / sh.shard_name(split, k), samples, {"skipped": skipped, "upscaled": upscaled})
    runtime.barrier()
    seconds = time.time() - t0
    manifest = None
    if runtime.is_main():
        manifest = _manifest(out, plan, job, images, model, ck, vqgan, seg_model, seg_ck, seg_vqgan, seg_dir,
                             classes, meta, palette, size, max_side, flip, f)
        sh.write_manifest(out, manifest)
    runtime.barrier()
    if manifest is None:
        manifest = sh.read_manifest(out)
    skipped = manifest["skipped"]
    if manifest["code_entropy_bits"] < MIN_CODE_BITS:
        cb.warn(f"the codes have {manifest['code_entropy_bits']:.3f} bits of entropy ({manifest['codes_used']} of "
                f"{manifest['codebook_size']} codes used): the VQGAN {vqgan} has collapsed onto a few codes; "
                "check it with `vqtool eval-recon` before training a transformer on these shards")
    n_samples = sum(s["count"] for s in manifest["shards"] + manifest["val_shards"])
    tokens = sum(int(np.prod(g)) * c for g, c in manifest["grid_counts"])
    return {"out": str(out), "images": len(files), "samples": n_samples, "skipped": len(skipped),
            "skipped_files": skipped, "upscaled": manifest["upscaled"], "shards": len(plan), "tokens": tokens,
            "code_entropy_bits": manifest["code_entropy_bits"], "codes_used": manifest["codes_used"],
            "mode": manifest["mode"],
            "images_per_s": done_images / max(seconds, 1e-9), "seconds": seconds,
            "seg_dir": str(seg_dir) if seg_dir else None}


def _manifest(out, plan, job, images, model, ck, vqgan, seg_model, seg_ck, seg_vqgan, seg_dir, classes, meta,
              palette, size, max_side, flip, f) -> dict:
    entries = {"train": [], "val": []}
    skipped, grid_counts, upscaled = {}, {}, 0
    counts = np.zeros(model.n_embed, np.int64)
    for split, k, _ in plan:
        name = sh.shard_name(split, k)
        side = sh.shard_done(out / name)
        if side is None:
            raise DataError(f"shard {name} was not written (a rank failed?); rerun tokenize to resume")
        entries[split].append({"name": name, "count": side["count"]})
        skipped.update(side.get("skipped", {}))
        upscaled += side.get("upscaled", 0)
    # grid sizes (from the shards' provenance) let train-transformer check its window up front
    for split, k, _ in plan:
        for s in sh.read_shard(out / sh.shard_name(split, k)):
            g = tuple(int(v) for v in s["tokens.npy"].shape)
            grid_counts[g] = grid_counts.get(g, 0) + 1
            counts += np.bincount(s["tokens.npy"].ravel().astype(np.int64), minlength=model.n_embed)
    mode = "seg" if seg_model is not None else "class" if classes else "uncond"
    return {
        "format": sh.FORMAT, "mode": mode, "source": str(Path(images).resolve()),
        "vqgan": str(Path(vqgan).resolve()), "vqgan_fingerprint": job["vqgan_fingerprint"],
        "codebook_size": model.n_embed, "factor": f, "size": size, "max_side": max_side, "flip": flip,
        "classes": classes,
        "seg_dir": str(Path(seg_dir).resolve()) if seg_dir else None,
        "seg_vqgan": str(Path(seg_vqgan).resolve()) if seg_model is not None else None,
        "seg_vqgan_fingerprint": job["seg_vqgan_fingerprint"],
        "cond_codebook_size": seg_model.n_embed if seg_model is not None else None,
        "label_classes": (meta or {}).get("classes") if seg_model is not None else None,
        "palette": palette if seg_model is not None else None,
        "grid_counts": [[list(g), c] for g, c in sorted(grid_counts.items())],
        "shards": entries["train"], "val_shards": entries["val"], "skipped": skipped, "upscaled": upscaled,
        "code_entropy_bits": sh.entropy_bits(counts), "codes_used": int((counts > 0).sum()),
    }
