"""From conditioning to images, the one path every caller takes (`vqtool sample`, the API,
eval-fid, training previews, the benchmarks, the demo):

    condition / cond_batch  ->  sample_tokens (core.sampling)  ->  to_images (core.tiles decode)

``generate`` / ``generate_each`` chain the three over batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from vqtool.core import memory
from vqtool.core.errors import VqtoolError
from vqtool.core.bounds import MODES, SEED_MAX, SEED_MIN
from vqtool.core.sampling import sample_grid, sample_naive
from vqtool.core.tiles import DECODE_MAX_TOKENS, DECODE_TILE, decode
from vqtool.data import images as imgs
from vqtool.pipeline.bundle import Bundle
from vqtool.pipeline.conditioning import MODE_NAMES, cond_batch, condition, has_null_class


@dataclass
class SampleOptions:
    top_k: int | None = 100
    top_p: float | None = None
    temperature: float = 1.0
    cfg: float | None = None  # classifier-free guidance scale (class models with a trained null class)
    seed: int = 0
    mode: str = "exact"  # "exact" | "fast" (see core.sampling)
    batch_size: int = 4
    prefix: Path | None = None  # an image whose top half is kept (completion)
    naive: bool = False  # the reference rule, one full window forward per token
    max_memory: int | None = None  # bytes (None: what is available, 0: no limit)

    def check(self, b: Bundle) -> None:
        """Refuse options this model cannot honour (one message each)."""
        if self.mode not in MODES:
            raise VqtoolError(f"mode {self.mode!r} is not one of {', '.join(MODES)}")
        if not isinstance(self.seed, int) or not SEED_MIN <= self.seed <= SEED_MAX:
            raise VqtoolError(f"seed {self.seed!r} is not a 64-bit integer ({SEED_MIN} … {SEED_MAX})")
        if self.temperature <= 0:
            raise VqtoolError("--temperature must be > 0")
        if self.top_k is not None and self.top_k < 1:
            raise VqtoolError("--top-k must be >= 1 (leave it out for no top-k filtering)")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise VqtoolError("--top-p must be in (0, 1]")
        if self.cfg is None:
            return
        if b.layout.mode != "class":
            raise VqtoolError(f"--cfg (classifier-free guidance) needs a class-conditional model trained with "
                              f"class_dropout > 0; this model is {MODE_NAMES[b.layout.mode]}")
        if not has_null_class(b):
            raise VqtoolError("--cfg needs a null class trained by class dropout, and this model was trained with "
                              "class_dropout = 0 (its null class is untrained); retrain with --set class_dropout=0.1 "
                              "or sample without --cfg")
        if self.cfg <= 0:
            raise VqtoolError("--cfg must be > 0 (1 is no guidance)")


FLAT_SAMPLE_STD = 2.0  # pixel standard deviation (0-255) below which a sample is one flat colour


def flat_samples(images: list[Image.Image]) -> list[tuple[int, float]]:
    """(index, pixel std) of the samples that are one flat colour: a collapsed VQGAN's, or a
    transformer that learnt nothing."""
    import numpy as np

    stds = [float(np.asarray(im, dtype=np.float32).std()) for im in images]
    return [(i, s) for i, s in enumerate(stds) if s < FLAT_SAMPLE_STD]


def padded(size: tuple[int, int], f: int) -> tuple[int, int]:
    """(W, H) rounded up to multiples of the factor: what is sampled before the crop to ``size``."""
    return -(-size[0] // f) * f, -(-size[1] // f) * f


def grid_size(b: Bundle, size: tuple[int, int] | None, cond_path: Path | None) -> tuple[int, int]:
    """(W, H) in pixels: --size, else the label map's size, else the training window."""
    if size is None and cond_path is not None and Path(cond_path).is_file():
        size = imgs.image_size(cond_path)
    if size is None:
        s = b.layout.window * b.factor
        size = (s, s)
    return size


def check_memory(b: Bundle, n: int, size: tuple[int, int], opts: SampleOptions, inputs_px: int = 0) -> None:
    """Refuse a request whose estimated peak memory exceeds ``opts.max_memory`` (see core.memory);
    ``inputs_px``: pixels of the largest input file decoded whole (a label map, the prefix image)."""
    f = b.factor
    Wf, Hf = padded(size, f)
    need = memory.sample_bytes(b.first.cfg, b.cond.cfg if b.layout.mode == "seg" else None, b.gpt.cfg, n,
                               opts.batch_size, Wf, Hf, f, b.layout.window, opts.cfg not in (None, 1.0),
                               DECODE_TILE, DECODE_MAX_TOKENS) + inputs_px * memory.DECODED_INPUT_BYTES
    memory.check(need, opts.max_memory,
                 f"sampling {n} image(s) of {size[0]}x{size[1]} in batches of {min(opts.batch_size, n)}",
                 "ask for a smaller --size, --n or --batch-size")


def prefix_codes(b: Bundle, path: Path, h: int, w: int) -> torch.Tensor:
    """(1, h//2, w) codes of the top half of an image resized to the grid."""
    im = imgs.load_rgb(Path(path)).resize((w * b.factor, h * b.factor), Image.BICUBIC)
    return b.first.encode(imgs.to_tensor(im)[None].to(b.device)).indices[:, : h // 2]


@torch.no_grad()
def sample_tokens(b: Bundle, cond: torch.Tensor, h: int, w: int, opts: SampleOptions, first_sample: int = 0,
                  prefix: torch.Tensor | None = None, progress=None, limit: int | None = None) -> torch.Tensor:
    """(B, h, w) code grid for a batch of conditioning tokens; sample k of the batch is sample
    number ``first_sample + k`` of ``opts.seed``. ``limit`` (naive only): stop after that many tokens."""
    kw = dict(seed=opts.seed, first_sample=first_sample, temperature=opts.temperature, top_k=opts.top_k,
              top_p=opts.top_p)
    pre = None if prefix is None else prefix.expand(cond.shape[0], -1, -1)
    if getattr(b.gpt, "local", False):  # one exact sampler: the window is in the model (naive/fast: the same)
        from vqtool.core.local_sampling import sample_local

        full = None
        if pre is not None:  # (B, rows, w) known codes on top, -1 (free) below
            full = torch.full((cond.shape[0], h, w), -1, dtype=torch.long, device=cond.device)
            full[:, :pre.shape[1]] = pre
        return sample_local(b.gpt, b.layout, h, w, cond, cfg_scale=opts.cfg or 1.0, prefix=full,
                            progress=progress, **kw)
    if opts.naive:
        return sample_naive(b.gpt, b.layout, h, w, cond, limit=limit, **kw)
    return sample_grid(b.gpt, b.layout, h, w, cond, cfg_scale=opts.cfg, mode=opts.mode, prefix=pre,
                       progress=progress, **kw)


@torch.no_grad()
def to_images(b: Bundle, z: torch.Tensor, size: tuple[int, int] | None = None) -> list[Image.Image]:
    """Decoded images, cropped to ``size`` (W, H). One sample per decoder pass: conv kernels round
    differently at other batch sizes, and a sample's PNG must not depend on its batch."""
    ims = [imgs.to_image(decode(b.first, z[i:i + 1])[0]) for i in range(z.shape[0])]
    return [im.crop((0, 0) + tuple(size)) for im in ims] if size else ims


def generate(b: Bundle, n: int = 1, size: tuple[int, int] | None = None, cond_path: Path | None = None,
             class_: str | None = None, opts: SampleOptions | None = None, progress=None, first_sample: int = 0,
             **options) -> list[Image.Image]:
    """``n`` images with one conditioning (``options``: SampleOptions fields, or give ``opts``);
    sample k is numbered ``first_sample + k`` and depends only on (seed, its number, the
    arguments), never on the batch size."""
    opts = opts or SampleOptions(**options)
    if opts.cfg not in (None, 1.0) and class_ is None and b.layout.mode == "class":
        raise VqtoolError("--cfg guides towards a class: give --class NAME (without one the guided and the "
                          "unguided predictions are the same null class, and --cfg would change nothing)")
    c = condition(b, cond_path, class_)
    return generate_each(b, [c] * n, size, opts, progress, first_sample)


def generate_each(b: Bundle, conds: list, size: tuple[int, int] | None = None, opts: SampleOptions | None = None,
                  progress=None, first_sample: int = 0) -> list[Image.Image]:
    """One image per entry of ``conds`` (see conditioning.condition), in batches of
    ``opts.batch_size``; consecutive samples whose grids have the same size share a batch."""
    opts = opts or SampleOptions()
    opts.check(b)
    maps = [c for c in conds if b.layout.mode == "seg"]
    sizes = [grid_size(b, size, c) for c in maps] or [grid_size(b, size, None)] * len(conds)
    files = [m for m in set(maps) if Path(m).is_file()] + ([opts.prefix] if opts.prefix is not None else [])
    inputs_px = max((w * h for w, h in map(imgs.image_size, files)), default=0)  # headers only
    for sz in set(sizes):
        check_memory(b, sizes.count(sz), sz, opts, inputs_px)
    cache: dict = {}
    pre, out, k = None, [], 0
    while k < len(conds):
        m = 1
        while m < opts.batch_size and k + m < len(conds) and sizes[k + m] == sizes[k]:
            m += 1
        Wf, Hf = padded(sizes[k], b.factor)  # cropped back to sizes[k] at the end
        h, w = Hf // b.factor, Wf // b.factor
        cond = cond_batch(b, conds[k:k + m], h, w, cache)
        if opts.prefix is not None and pre is None:
            pre = prefix_codes(b, opts.prefix, h, w)
        z = sample_tokens(b, cond, h, w, opts, first_sample + k, pre, progress)
        out += to_images(b, z, sizes[k])
        k += m
    return out
