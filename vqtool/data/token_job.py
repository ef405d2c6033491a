"""A tokenize job: the models and settings, the images and their deterministic shard plan, and
the record (job.json) that tells a rerun of the same job from another one."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vqtool.core import runtime
from vqtool.core.callbacks import Callbacks
from vqtool.core.conditioning.base import Condition
from vqtool.core.conditioning.layout import KINDS, kind_of
from vqtool.core.io.checkpoint import state_fingerprint
from vqtool.core.errors import DataError, VqtoolError
from vqtool.core.tokenizer.inputs import input_of
from vqtool.core.tokenizer.loading import load_vqgan
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
class CondInput:
    """A condition tokenized beside the images: its kind (core.conditioning), the folder of its
    inputs (None: made from the images, a low-res image), and the VQGAN that encodes them."""
    cond: Condition
    folder: Path | None
    vqgan: Path
    model: torch.nn.Module
    fingerprint: str

    @property
    def channels(self) -> int:
        return self.model.cfg.in_channels

    def record(self) -> dict:
        """Its manifest record: the kind's own fields and where its tokens came from."""
        return {**{k: v for k, v in self.cond.record().items() if k not in ("offset", "vocab")},
                "vqgan": str(self.vqgan.resolve()), "fingerprint": self.fingerprint,
                "codebook_size": self.model.n_embed, "inputs": str(self.folder.resolve()) if self.folder else None}


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
    conds: list[CondInput] = field(default_factory=list)
    classes: list | None = None
    files: list = field(default_factory=list)
    plan: list = field(default_factory=list)  # (split, shard number, item list)
    record: dict = field(default_factory=dict)  # job.json: what makes a rerun the same job

    @property
    def source_name(self) -> str:
        """The images as the manifest records them: a folder's absolute path, else the spec as given."""
        return self.source.spec if self.source.root is None else str(self.images.resolve())

    @property
    def dtype(self):
        return sh.code_dtype(max([self.model.n_embed] + [c.model.n_embed for c in self.conds]))


def open_job(images, vqgan, conds: dict, cond_vqgans: dict, size, max_side, flip, dev) -> Job:
    """``conds``: what each condition is made from, by kind (a folder of maps; a low-res factor);
    ``cond_vqgans``: their VQGANs, by kind (default: the kind's run folder's last.pt)."""
    spec, images = str(images), Path(images)  # the spec as typed: a pipe: command is no path
    model, ck = load_vqgan(vqgan, dev, encodes="image")
    # default size: what the VQGAN's training images were brought to before cropping
    # (data.resize; 0 = native size, as the scenes recipes train)
    size = size if size is not None else ck["config"]["data"].get("resize", 0)
    src = sources.open_source(spec)
    job = Job(images, src, Path(vqgan), model, ck, size, max_side, flip, dev)
    job.files, job.classes = src.files, src.classes
    for kind in KINDS:  # the fixed order of their tokens, whatever the order given
        if kind in conds:
            job.conds.append(_cond_input(kind_of(kind), conds[kind], cond_vqgans.get(kind), job))
    return job


def _cond_input(kind: type[Condition], value, vqgan: Path | None, job: Job) -> CondInput:
    if kind.stage == "image":  # made from the images and encoded by the image VQGAN (a low-res image)
        return CondInput(kind.for_job(value, job.ckpt), None, job.vqgan, job.model,
                         state_fingerprint(job.model.state_dict()))
    if kind.stage is None:  # read from the user's files, no VQGAN (a box layout)
        return CondInput(kind.for_job(value, job.ckpt), Path(value), job.vqgan, job.model, "")
    if job.source.root is None:
        raise DataError(f"{kind.input_name}s (--cond {kind.kind}=DIR) come with image folders; tar shards are "
                        "tokenized without them")
    folder = Path(value)
    if not folder.is_dir():
        raise DataError(f"{kind.input_name} folder not found: {folder}")
    vqgan = Path(vqgan or Path(input_of(kind.stage).run) / "last.pt")
    if not vqgan.is_file():
        raise DataError(f"no {input_of(kind.stage).what} for the {kind.input_name}s in {folder}: {vqgan} does not "
                        f"exist; train one (vqtool train-vqgan {folder} --kind {kind.stage}) or name it with "
                        f"--cond-vqgan {kind.kind}=PATH")
    m, ck = load_vqgan(vqgan, job.dev, encodes=kind.stage)
    if m.factor != job.model.factor:
        levels = job.model.factor.bit_length()  # ch_mult entries for that factor
        raise DataError(f"the {kind.kind} VQGAN downsamples by {m.factor}, the image VQGAN by {job.model.factor}: "
                        f"their grids must match (train it with {levels} levels, e.g. --set 'model.ch_mult="
                        f"{[1] * (levels - 2) + [2, 4]}')")
    return CondInput(kind.for_job(folder, ck), folder, vqgan, m, state_fingerprint(m.state_dict()))


def parse_conds(values: list[str] | None, option: str = "--cond") -> dict:
    """``--cond KIND=VALUE`` values by kind: a kind tokenize does not know, a value without a kind,
    or a kind given twice is one message."""
    known = [k for k, c in KINDS.items() if c.job_names]  # the kinds tokenize makes beside the images
    out = {}
    for v in values or []:
        kind, eq, rest = v.partition("=")
        if not eq or not rest:
            raise VqtoolError(f"{option} {v!r} is not KIND=VALUE, e.g. {option} depth=data/depth")
        if kind not in known:
            raise VqtoolError(f"{option} {v!r}: unknown kind {kind!r}; known: {', '.join(known)}")
        if kind in out:
            raise VqtoolError(f"{option} {kind}=... was given twice; give each kind once")
        out[kind] = rest
    return out


def auto_conds(images, cond_vqgans: dict, skip: set) -> dict:
    """The documented rule: the maps of a kind live in a sibling folder named after it (``data/scenes/images``
    -> ``data/scenes/seg``, ``.../depth``, ``.../edges``) and are used when their VQGAN exists."""
    from vqtool.data import tars

    if tars.is_tar_source(images):
        return {}
    found = {}
    for kind, c in KINDS.items():
        if c.option != "cond" or c.stage in ("image", None) or kind in skip:
            continue
        cand = Path(images).resolve().parent / kind
        vq = Path(cond_vqgans.get(kind) or Path(input_of(c.stage).run) / "last.pt")
        if cand.is_dir() and vq.is_file():
            found[kind] = cand
    return found


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
        "vqgan_fingerprint": state_fingerprint(job.model.state_dict()), "size": job.size,
        "max_side": job.max_side, "flip": job.flip, "shard_size": shard_size, "val_count": val_count,
        "source": job.source_name, "vqgan": str(job.vqgan.resolve())}
    for c in job.conds:
        job.record |= c.cond.job_keys(c.fingerprint, c.folder)


def claim_folder(out: Path, job: Job, overwrite: bool, cb: Callbacks) -> None:
    """Refuse another job's shards (unless --overwrite), clear stale temporaries, record this job."""
    names = {k: v for c in job.conds for k, v in c.cond.job_names.items()}
    old_job = sh.check_job(out, job.record, overwrite, names) if out.is_dir() else []  # every rank decides the same
    runtime.barrier()  # every rank has looked before rank 0 deletes anything
    if runtime.is_main():
        out.mkdir(parents=True, exist_ok=True)
        for stale in [*out.glob(".*.tmp-*"), *old_job]:
            stale.unlink()
        sh.write_job(out, job.record)
        if old_job:
            cb.warn(f"--overwrite: deleted the {len(old_job)} files of another tokenize job in {out}")
    runtime.barrier()
