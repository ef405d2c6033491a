"""Tokenize an image folder (and its conditions: label, depth or edge maps, low-res images) into
webdataset shards of code grids.

Images are resized (shorter side to ``size``, longer side capped at ``max_side``) and kept whole,
trimmed only to a multiple of the downsampling factor, so a large image yields a grid larger
than the transformer's window (the paper trains on crops of high-resolution codes).
Shards are assigned to images deterministically; a rerun skips finished shards, so an
interrupted run resumes with no sample twice and none missing. Under torchrun each rank writes
its own shards and rank 0 writes the one manifest.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from vqtool.core import memory, runtime
from vqtool.core.callbacks import Callbacks
from vqtool.core.conditioning.base import SkipInput
from vqtool.core.errors import DataError, VqtoolError, check_writable
from vqtool.data import images as imgs
from vqtool.data import shards as sh
from vqtool.data.token_job import Job, claim_folder, open_job, plan




class _Items(torch.utils.data.Dataset):
    """Loads and preprocesses one image (and its conditions' inputs) per item; failures become reasons."""

    def __init__(self, items, size, max_side, f, conds: list, model_cfg=None, limit=0):
        self.items, self.size, self.max_side, self.f = items, size, max_side, f
        # (kind, folder, channels) of each condition tokenized beside the images: no models (workers)
        self.conds = [(c.cond, c.folder, c.channels) for c in conds]
        self.model_cfg, self.limit = model_cfg, limit

    def too_large(self, path) -> str | None:
        """Why one image alone would not fit the memory limit (read from its header), or None."""
        if not self.limit:
            return None
        try:
            w, h = imgs.image_size(path)
        except DataError:
            return None  # load_rgb gives the real reason
        _, _, Wt, Ht = imgs.fit_size(w, h, self.size, self.max_side, self.f)
        need = memory.encode_bytes(self.model_cfg, 1, Wt, Ht)
        if need > self.limit:
            return (f"encoding it at {Wt}x{Ht} would need about {memory.fmt(need)}, more than the "
                    f"{memory.fmt(self.limit)} limit (use --max-side or --max-memory)")
        return None

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        it = self.items[i]
        if it["problem"]:
            return {**it, "error": it["problem"]}
        big = self.too_large(it["src"])
        if big:
            return {**it, "error": big}
        try:
            im = imgs.load_rgb(it["src"])
        except DataError as e:
            return {**it, "error": str(e).split(": ", 1)[-1]}
        im, where = imgs.fit(im, self.f, self.size, self.max_side)
        out = {**it, "x": imgs.to_tensor(im), **where}
        for cond, folder, channels in self.conds:
            path = cond.find_input(folder, Path(it["rel"]))  # (a low-res image: the image itself)
            if path is None:
                return {**it, "error": f"no {cond.input_name} at the same relative path"}
            try:
                out[cond.kind] = cond.read_input(path, where, channels)
            except SkipInput as e:
                return {**it, "error": str(e)}
            except VqtoolError as e:
                return {**it, "fatal": str(e)}
        return out


class _Shard:
    """One shard being written: batches of same-size images encoded together, samples, and the
    shard's statistics (skipped images, upscaled count, grid sizes, code counts) for the manifest."""

    def __init__(self, job: Job, batch_size: int, limit: int):
        self.job, self.batch_size, self.limit = job, batch_size, limit
        self.samples, self.pending, self.skipped, self.upscaled = [], [], {}, 0

    def add(self, it: dict, warn) -> None:
        if "fatal" in it:
            raise DataError(it["fatal"])
        if "error" in it:
            self.skipped[it["path"]] = it["error"]
            warn(f"skipping {it['path']}: {it['error']}")
            return
        Ht, Wt = it["x"].shape[-2:]
        if self.pending and (self.pending[0]["x"].shape != it["x"].shape or len(self.pending) >= self.batch_size or (
                self.limit and memory.encode_bytes(self.job.model.cfg, len(self.pending) + 1, Wt, Ht) > self.limit)):
            self.flush()
        self.pending.append(it)
        self.upscaled += bool(it["upscaled"])

    def flush(self) -> None:
        if not self.pending:
            return
        j, pending = self.job, self.pending
        x = torch.stack([p["x"] for p in pending]).to(j.dev)
        with runtime.autocast(j.dev):
            grids = {"tokens.npy": j.model.encode(x).indices}
            if j.flip:
                grids["tokens_flip.npy"] = j.model.encode(x.flip(-1)).indices
            for c in j.conds:
                got = [p[c.cond.kind] for p in pending]  # None: made from the images themselves
                batch = torch.stack(got).to(j.dev) if got[0] is not None else None
                grids |= c.cond.encode_inputs(c.model, batch, j.flip, x)
        grids = {k: g.cpu().numpy().astype(j.dtype) for k, g in grids.items()}
        for b, p in enumerate(pending):
            s = {"__key__": f"{p['index']:09d}", **{k: g[b] for k, g in grids.items()},
                 "json": {"path": p["rel"], "orig_size": p["orig"], "resized": p["resized"], "box": p["box"]}}
            if p["cls"] is not None:
                s["cls"] = p["cls"]
            self.samples.append(s)
        self.pending = []

    def write(self, path: Path) -> None:
        self.flush()
        self.samples.sort(key=lambda s: s["__key__"])
        sh.write_shard(path, self.samples, {"skipped": self.skipped, "upscaled": self.upscaled,
                                            **sh.grid_stats(self.samples)})


@torch.no_grad()
def tokenize_dataset(images: Path, out: Path, vqgan: Path, seg_dir: Path | None = None,
                     seg_vqgan: Path | None = None, size: int | None = None, max_side: int = 0,
                     flip: bool = False, shard_size: int = 1000, batch_size: int = 16, workers: int = 0,
                     val_count: int | None = None, device: str = "auto",
                     callbacks: Callbacks | None = None, progress=None, max_memory: int | None = None,
                     overwrite: bool = False, conds: dict | None = None, cond_vqgans: dict | None = None) -> dict:
    """``conds``: the conditions to tokenize beside the images, by kind (``{"depth": folder,
    "lowres": 4}``); ``cond_vqgans``: their VQGANs by kind (default: runs/<kind>-vqgan/last.pt);
    ``seg_dir``/``seg_vqgan`` are the older spelling of the seg ones. ``max_memory``: bytes a batch
    may take (None: what is available now, 0: no limit); an image too large for it alone is
    skipped and reported, batches are cut to fit."""
    cb = callbacks or Callbacks()
    dev = runtime.init_distributed(runtime.resolve_device(device))
    out = Path(out)
    check_writable(out, "--out")
    conds, cond_vqgans = dict(conds or {}), dict(cond_vqgans or {})
    if seg_dir is not None:
        if "seg" in conds:
            raise DataError("label maps were given twice (--seg and --cond seg=...); give one")
        conds["seg"] = seg_dir
    if seg_vqgan is not None:
        cond_vqgans.setdefault("seg", seg_vqgan)
    job = open_job(images, vqgan, conds, cond_vqgans, size, max_side, flip, dev)
    plan(job, shard_size, val_count)
    claim_folder(out, job, overwrite, cb)
    for shard, why in job.source.problems:
        cb.warn(f"{shard}: {why}")
    limit = memory.available_bytes() if max_memory is None else max_memory
    mine = [p for n, p in enumerate(job.plan) if n % runtime.world_size() == runtime.rank()]
    todo = [p for p in mine if sh.shard_done(out / sh.shard_name(p[0], p[1])) is None]
    if len(todo) < len(mine):
        cb.info(f"resuming: {len(mine) - len(todo)} of {len(mine)} shard(s) already written")
    if progress:
        progress(0, total=sum(len(p[2]) for p in todo))
    t0, done_images = time.time(), 0
    for split, k, chunk in todo:
        ds = _Items(chunk, job.size, max_side, job.model.factor, job.conds, job.model.cfg, limit)
        shard = _Shard(job, batch_size, limit)
        for it in torch.utils.data.DataLoader(ds, batch_size=None, num_workers=workers):
            shard.add(it, cb.warn)
            done_images += 1
            if progress:
                progress(1, status=f"{done_images / max(time.time() - t0, 1e-9):.1f} img/s")
        shard.write(out / sh.shard_name(split, k))
    runtime.barrier()
    seconds = time.time() - t0
    if runtime.is_main():
        sh.write_manifest(out, _manifest(out, job))
    runtime.barrier()
    return _summary(sh.read_manifest(out), job, out, vqgan, done_images, seconds, cb.warn)


def _summary(manifest: sh.Manifest, job: Job, out: Path, vqgan, done_images: int, seconds: float, warn) -> dict:
    why = sh.codes_collapsed(manifest)
    if why:
        warn(f"CODEBOOK COLLAPSE: the VQGAN {vqgan} has collapsed onto a few codes: {why}, "
             f"{manifest.code_entropy_bits:.2f} bits/token ({manifest.codes_used} codes used); its "
             "reconstructions are flat. Check it with `vqtool eval-recon` and retrain it (see README, Troubleshooting); "
             "train-transformer refuses these shards without --force")
    m = manifest
    return {"out": str(out), "images": len(job.files), "samples": sum(s["count"] for s in m.shards + m.val_shards),
            "skipped": len(m.skipped), "skipped_files": m.skipped, "upscaled": m.upscaled,
            "shards": len(job.plan), "tokens": sum(int(np.prod(g)) * c for g, c in m.grid_counts),
            "code_entropy_bits": m.code_entropy_bits, "codes_used": m.codes_used,
            "conditions": ", ".join(c["kind"] for c in m.transformer_conditions()),
            "images_per_s": done_images / max(seconds, 1e-9), "seconds": seconds,
            "inputs": ", ".join(str(c.folder) for c in job.conds if c.folder) or None}


def _manifest(out: Path, job: Job) -> sh.Manifest:
    """The shard list and dataset statistics, summed from the shards' sidecars."""
    entries, skipped, grid_counts, upscaled = {"train": [], "val": []}, {}, {}, 0
    counts = np.zeros(job.model.n_embed, np.int64)
    for split, k, _ in job.plan:
        name = sh.shard_name(split, k)
        side = sh.shard_done(out / name)
        if side is None:
            raise DataError(f"shard {name} was not written (a rank failed?); rerun tokenize to resume")
        if "grids" not in side:  # written by an older vqtool: count from the shard itself
            side |= sh.grid_stats(sh.read_shard(out / name))
        entries[split].append({"name": name, "count": side["count"]})
        skipped.update(side.get("skipped", {}))
        upscaled += side.get("upscaled", 0)
        for g, c in side["grids"].items():
            g = tuple(int(v) for v in g.split("x"))
            grid_counts[g] = grid_counts.get(g, 0) + c
        for i, c in side["code_counts"].items():
            counts[int(i)] += c
    skipped.update(dict(job.source.problems))
    return sh.Manifest(
        source=job.source_name, vqgan=str(job.vqgan.resolve()), vqgan_fingerprint=job.record["vqgan_fingerprint"],
        codebook_size=job.model.n_embed, factor=job.model.factor, size=job.size, max_side=job.max_side,
        flip=job.flip, classes=job.classes, conditions=[c.record() for c in job.conds],
        grid_counts=[[list(g), c] for g, c in sorted(grid_counts.items())], shards=entries["train"],
        val_shards=entries["val"], skipped=skipped, upscaled=upscaled, code_entropy_bits=sh.entropy_bits(counts),
        codes_used=int((counts > 0).sum()))
