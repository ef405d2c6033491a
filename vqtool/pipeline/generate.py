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
from vqtool.core.config.bounds import MODES, SEED_MAX, SEED_MIN
from vqtool.core.errors import VqtoolError
from vqtool.core.sampling import Rule
from vqtool.core.tokenizer.tiles import DECODE_MAX_TOKENS, DECODE_TILE, decode
from vqtool.data import images as imgs
from vqtool.pipeline.bundle import Bundle
from vqtool.pipeline.conditioning import cond_batch, condition, spatial_inputs, stages


@dataclass
class SampleOptions:
    top_k: int | None = 100
    top_p: float | None = None
    temperature: float = 1.0
    cfg: float | None = None  # classifier-free guidance scale (class models with a trained null class)
    seed: int = 0
    mode: str = "exact"  # the sliding-window rule: "exact" | "fast" (see core.sampling.window)
    batch_size: int = 4
    prefix: Path | None = None  # an image whose top half is kept (completion)
    naive: bool = False  # the reference rule, one full window forward per token
    max_memory: int | None = None  # bytes (None: what is available, 0: no limit)
    back_project: int = 0  # steps of back-projection onto a low-res input after decoding (0: none)

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
        if not isinstance(self.back_project, int) or self.back_project < 0:
            raise VqtoolError(f"--back-project {self.back_project!r}: give a whole number of steps >= 0")
        if self.back_project and not b.layout.projects:
            raise VqtoolError(f"--back-project makes a sample agree with its low-resolution input; this model is "
                              f"{b.layout.adjective} and has none (models trained with --cond lowres=K do)")
        if self.cfg is None:
            return
        if not b.layout.guidable:
            raise VqtoolError(b.layout.guidance_problem())
        if self.cfg <= 0:
            raise VqtoolError("--cfg must be > 0 (1 is no guidance)")

    def rule(self) -> Rule:
        return Rule(self.temperature, self.top_k, self.top_p, self.seed, self.cfg)


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


def grid_size(b: Bundle, size: tuple[int, int] | None, entry: dict | None) -> tuple[int, int]:
    """(W, H) in pixels: --size, else the size the entry's maps imply (a label map's own, a low-res
    image's times its factor), else the training window."""
    size = b.layout.size_of(entry, size) if entry is not None else size
    if size is None:
        s = b.layout.window * b.factor
        size = (s, s)
    return size


def check_memory(b: Bundle, n: int, size: tuple[int, int], opts: SampleOptions, inputs_px: int = 0) -> None:
    """Refuse a request whose estimated peak memory exceeds ``opts.max_memory`` (see core.memory):
    the images and the decoder, the conditioning's encoding, the sampler's caches, and
    ``inputs_px`` pixels of the largest input file decoded whole (a label map, the prefix image)."""
    f = b.factor
    Wf, Hf = padded(size, f)
    batch = min(opts.batch_size, n)
    need = (memory.sample_bytes(b.first.cfg, n, opts.batch_size, Wf, Hf, f, DECODE_TILE, DECODE_MAX_TOKENS)
            + b.layout.memory_bytes(Wf, Hf, stages(b), DECODE_TILE, f)
            + b.sampler.cache_bytes(b.gpt.cfg, b.layout, batch, Hf // f, Wf // f, opts.rule().guided)
            + inputs_px * memory.DECODED_INPUT_BYTES)
    memory.check(need, opts.max_memory, f"sampling {n} image(s) of {size[0]}x{size[1]} in batches of {batch}",
                 "ask for a smaller --size, --n or --batch-size")


def prefix_codes(b: Bundle, path: Path, h: int, w: int) -> torch.Tensor:
    """(1, h//2, w) codes of the top half of an image resized to the grid."""
    im = imgs.load_rgb(Path(path)).resize((w * b.factor, h * b.factor), Image.BICUBIC)
    return b.first.encode(imgs.to_tensor(im)[None].to(b.device)).indices[:, : h // 2]


@torch.no_grad()
def sample_tokens(b: Bundle, cond: list, h: int, w: int, opts: SampleOptions, first_sample: int = 0,
                  prefix: torch.Tensor | None = None, progress=None, limit: int | None = None) -> torch.Tensor:
    """(B, h, w) code grid for a batch of conditioning tokens (the layout's list); sample k of the
    batch is sample number ``first_sample + k`` of ``opts.seed``; ``prefix``: (1, r, w) known top
    rows. ``limit`` (the naive rule): stop after that many tokens. The model's own sampler does it."""
    pre = None if prefix is None else prefix.expand(b.layout.batch_of(cond), -1, -1)
    return b.sampler.sample(b.gpt, b.layout, h, w, cond, opts.rule(), opts.mode, first_sample, pre, progress,
                            naive=opts.naive, limit=limit)


@torch.no_grad()
def to_images(b: Bundle, z: torch.Tensor, size: tuple[int, int] | None = None, entries: list | None = None,
              back_project: int = 0) -> list[Image.Image]:
    """Decoded images, cropped to ``size`` (W, H), each made to agree ``back_project`` times with its
    entry's low-res input. One sample per decoder pass: conv kernels round differently at other
    batch sizes, and a sample's PNG must not depend on its batch."""
    ims = [imgs.to_image(decode(b.first, z[i:i + 1])[0]) for i in range(z.shape[0])]
    ims = [im.crop((0, 0) + tuple(size)) for im in ims] if size else ims
    return back_projected(b, ims, entries, back_project) if back_project else ims


def back_projected(b: Bundle, ims: list[Image.Image], entries: list[dict], steps: int) -> list[Image.Image]:
    """Each image made to agree ``steps`` times with its entry's low-res input (`sample --back-project`)."""
    return [imgs.to_image(b.layout.project(imgs.to_tensor(im)[None].to(b.device), e, steps)[0])
            for im, e in zip(ims, entries)]


def generate(b: Bundle, n: int = 1, size: tuple[int, int] | None = None, cond_path: Path | None = None,
             class_: str | None = None, opts: SampleOptions | None = None, progress=None, first_sample: int = 0,
             **options) -> list[Image.Image]:
    """``n`` images with one conditioning (``options``: SampleOptions fields, or give ``opts``);
    sample k is numbered ``first_sample + k`` and depends only on (seed, its number, the
    arguments), never on the batch size."""
    opts = opts or SampleOptions(**options)
    if opts.rule().guided and class_ is None and any(c.option == "class" and c.guidable for c in b.layout.conditions):
        raise VqtoolError("--cfg guides towards a class: give --class NAME (without one the guided and the "
                          "unguided predictions are the same null class, and --cfg would change nothing)")
    c = condition(b, cond_path, class_)
    return generate_each(b, [c] * n, size, opts, progress, first_sample)


def generate_each(b: Bundle, entries: list[dict], size: tuple[int, int] | None = None,
                  opts: SampleOptions | None = None, progress=None, first_sample: int = 0) -> list[Image.Image]:
    """One image per conditioning entry (see conditioning.condition), in batches of
    ``opts.batch_size``; consecutive samples whose grids have the same size share a batch."""
    opts = opts or SampleOptions()
    opts.check(b)
    sizes = [grid_size(b, size, e) for e in entries]
    files = [p for p in set(spatial_inputs(b, entries)) if Path(p).is_file()]
    files += [opts.prefix] if opts.prefix is not None else []
    inputs_px = max((w * h for w, h in map(imgs.image_size, files)), default=0)  # headers only
    for sz in set(sizes):
        check_memory(b, sizes.count(sz), sz, opts, inputs_px)
    cache: dict = {}
    pre, out, k = None, [], 0
    while k < len(entries):
        m = 1
        while m < opts.batch_size and k + m < len(entries) and sizes[k + m] == sizes[k]:
            m += 1
        Wf, Hf = padded(sizes[k], b.factor)  # cropped back to sizes[k] at the end
        h, w = Hf // b.factor, Wf // b.factor
        cond = cond_batch(b, entries[k:k + m], h, w, cache)
        if opts.prefix is not None and pre is None:
            pre = prefix_codes(b, opts.prefix, h, w)
        z = sample_tokens(b, cond, h, w, opts, first_sample + k, pre, progress)
        out += to_images(b, z, sizes[k], entries[k:k + m], opts.back_project)
        k += m
    return out
