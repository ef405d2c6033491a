"""A tokenize job: the models and settings, the images and their deterministic shard plan, and
the record (job.json) that tells a rerun of the same job from another one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vqtool.core import runtime
from vqtool.core.callbacks import Callbacks
from vqtool.core.checkpoint import state_fingerprint
from vqtool.core.errors import DataError
from vqtool.core.loading import load_vqgan
from vqtool.data import images as imgs
from vqtool.data import sources
from vqtool.data import shards as sh


def _split(rels: list[str], val_count: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """Deterministic held-out split keyed by relative name (the same wherever the data lives)."""
    keys = [hashlib.sha1(f"{seed}:{r}".encode()).hexdigest() for r in rels]
    order = sorted(range(len(rels)), key=keys.__getitem__)
    val = sorted(order[:val_count])
    vs = set(val)
    return [i for i in range(len(rels)) if i not in vs], val


@dataclass
class Job:
    """A tokenize job: the models, the settings, and the images with their shard plan."""
    images: Path
    source: sources.Source
    vqgan: Path
    model: torch.nn.Module
    ckpt: dict
    size: int
    max_side: int
    flip: bool
    dev: torch.device
    seg_dir: Path | None = None
    seg_vqgan: Path | None = None
    seg_model: torch.nn.Module | None = None
    meta: dict | None = None
    palette: list | None = None
    classes: list | None = None
    files: list = field(default_factory=list)
    plan: list = field(default_factory=list)  # (split, shard number, item list)
    record: dict = field(default_factory=dict)  # job.json: what makes a rerun the same job

    @property
    def source_name(self) -> str:
        """The images as the manifest records them: a folder's absolute path, else the spec as given."""
        return self.source.spec if self.source.root is None else str(self.images.resolve())

    @property
    def n_labels(self) -> int:
        return self.seg_model.cfg.in_channels if self.seg_model is not None else 0

    @property
    def dtype(self):
        return sh.code_dtype(max(self.model.n_embed, self.seg_model.n_embed if self.seg_model is not None else 0))


def open_job(images, vqgan, seg_dir, seg_vqgan, size, max_side, flip, dev) -> Job:
    spec, images = str(images), Path(images)  # the spec as typed: a pipe: command is no path
    model, ck = load_vqgan(vqgan, dev, seg=False)
    # default size: what the VQGAN's training images were brought to before cropping
    # (data.resize; 0 = native size, as the scenes recipes train)
    size = size if size is not None else ck["config"]["data"].get("resize", 0)
    src = sources.open_source(spec)
    job = Job(images, src, Path(vqgan), model, ck, size, max_side, flip, dev)
    job.files, job.classes = src.files, src.classes
    if seg_dir is not None and src.root is None:
        raise DataError("label maps (--seg) come with image folders; tar shards are tokenized without them "
                        "(pass --no-seg)")
    if seg_dir is not None:
        job.seg_dir, job.seg_vqgan = Path(seg_dir), Path(seg_vqgan)
        if not job.seg_dir.is_dir():
            raise DataError(f"label map folder not found: {seg_dir}")
        job.seg_model, seg_ck = load_vqgan(seg_vqgan, dev, seg=True)
        if job.seg_model.factor != model.factor:
            raise DataError(f"the segmentation VQGAN downsamples by {job.seg_model.factor}, the image VQGAN by "
                            f"{model.factor}: their grids must match")
        job.meta = imgs.find_label_meta(job.seg_dir) or {}
        job.palette = job.meta.get("palette") or (seg_ck.get("data") or {}).get("palette")
    return job


def plan(job: Job, shard_size: int, val_count: int | None) -> None:
    """Items, their split and shards (deterministic), and the job record."""
    src, files = job.source, job.files
    if val_count is None:
        val_count = min(max(len(files) // 20, 1), 500) if len(files) > 1 else 0
    rels = [src.rel(i) for i in range(len(files))]
    train_idx, val_idx = _split(rels, val_count)
    items = [{"path": str(p), "src": p, "rel": rels[i], "index": i,
              "cls": src.labels[i] if src.classes else None,
              "problem": "no class (.cls, or cls/label/class in .json) where the others have one"
              if src.classes and src.labels[i] is None else None}
             for i, p in enumerate(files)]
    for split, idx in (("train", train_idx), ("val", val_idx)):
        for k in range(0, len(idx), shard_size):
            job.plan.append((split, k // shard_size, [items[i] for i in idx[k:k + shard_size]]))
    job.record = {
        "files": hashlib.sha1("\n".join(it["rel"] for it in items).encode()).hexdigest(),
        "vqgan_fingerprint": state_fingerprint(job.model.state_dict()),
        "seg_vqgan_fingerprint": state_fingerprint(job.seg_model.state_dict()) if job.seg_model is not None else None,
        "labels": str(job.seg_dir.resolve()) if job.seg_dir is not None else None, "size": job.size,
        "max_side": job.max_side, "flip": job.flip, "shard_size": shard_size, "val_count": val_count,
        "source": job.source_name, "vqgan": str(job.vqgan.resolve())}


def claim_folder(out: Path, job: Job, overwrite: bool, cb: Callbacks) -> None:
    """Refuse another job's shards (unless --overwrite), clear stale temporaries, record this job."""
    old_job = sh.check_job(out, job.record, overwrite) if out.is_dir() else []  # every rank decides the same
    runtime.barrier()  # every rank has looked before rank 0 deletes anything
    if runtime.is_main():
        out.mkdir(parents=True, exist_ok=True)
        for stale in [*out.glob(".*.tmp-*"), *old_job]:
            stale.unlink()
        sh.write_job(out, job.record)
        if old_job:
            cb.warn(f"--overwrite: deleted the {len(old_job)} files of another tokenize job in {out}")
    runtime.barrier()
