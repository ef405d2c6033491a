"""Coarse to fine: a coarse model samples the whole scene small first (the maps made 1/K the size),
then the fine model samples the full size conditioned on the same maps and on that thumbnail (its
low-resolution condition, factor K), so every window of a large image shares one global picture of
the scene: one time of day, one sky, the same water across the width.

The coarse model is any model of the fine one's conditions without the low-res one (a segmentation
model for a segmentation + low-res one), trained on the images made K times smaller (``vqtool
tokenize IMAGES --size S/K``); the fine model is trained with ``--cond lowres=K``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from vqtool.core.errors import VqtoolError
from vqtool.pipeline.bundle import Bundle
from vqtool.pipeline.generate import SampleOptions, generate_each, grid_size, padded

# mixed into the seed for the coarse stage, so its draws are not the fine stage's at the same positions
COARSE_SEED = 0x5EED_C0A5


@dataclass
class CoarseToFine:
    fine: Bundle
    coarse: Bundle

    @classmethod
    def pair(cls, fine: Bundle, coarse: Bundle) -> CoarseToFine:
        """The two models, or one message saying why they do not make a pair."""
        low = fine.layout.from_coarse
        if low is None:
            raise VqtoolError(f"--coarse: the fine model (--model) is {fine.layout.adjective}; coarse to fine needs "
                              "one also conditioned on a low-resolution image (tokenize --cond lowres=K)")
        if coarse.layout.from_coarse is not None:
            raise VqtoolError(f"--coarse: the coarse model is {coarse.layout.adjective}; it must sample from the "
                              "maps alone (a model without a low-resolution condition)")
        want = sorted(c.kind for c in fine.layout.conditions if c is not low)
        have = sorted(c.kind for c in coarse.layout.conditions)
        if want != have:
            raise VqtoolError(f"--coarse: the fine model's other conditions are {', '.join(want) or 'none'}, the "
                              f"coarse model's {', '.join(have) or 'none'}; they must be the same")
        return cls(fine, coarse)

    @property
    def factor(self) -> int:
        return self.fine.layout.from_coarse.factor

    def sizes(self, size: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
        """(thumbnail, fine grid) sizes (W, H) in pixels for an output ``size``: the fine grid is the
        size rounded up to the fine VQGAN's factor, the thumbnail 1/K of it."""
        Wf, Hf = padded(size, self.fine.factor)
        k = self.factor
        return (-(-Wf // k), -(-Hf // k)), (Wf, Hf)

    @staticmethod
    def coarse_options(opts: SampleOptions) -> SampleOptions:
        """The coarse stage's options: its own seed, no prefix or back-projection, and no guidance:
        ``--cfg`` guides the fine stage towards its maps and thumbnail (a coarse model is global, and a
        global model has no null map to contrast with)."""
        return replace(opts, seed=opts.seed ^ COARSE_SEED, prefix=None, back_project=0, cfg=None)

    def check(self, opts: SampleOptions) -> None:
        """Refuse options either stage cannot honour, before either samples."""
        opts.check(self.fine)
        self.coarse_options(opts).check(self.coarse)

    def entry(self, cond=None, class_: str | None = None) -> dict:
        """The coarse model's conditioning entry for ``--cond``/``--class`` (the fine model's without
        its low-res input)."""
        return self.coarse.layout.entries({"cond": cond, "class": class_})

    def generate(self, n: int, size: tuple[int, int] | None, cond=None, class_: str | None = None,
                 opts: SampleOptions | None = None, progress=None, first_sample: int = 0):
        """(images, thumbnails): ``n`` images of one conditioning and the coarse samples they grew from."""
        return self.generate_each([self.entry(cond, class_)] * n, size, opts, progress, first_sample)

    def generate_each(self, entries: list[dict], size: tuple[int, int] | None = None,
                      opts: SampleOptions | None = None, progress=None, first_sample: int = 0):
        """(images, thumbnails), one of each per coarse-model entry. Sample k is numbered
        ``first_sample + k`` in both stages (the coarse one with its own seed), so neither depends on
        the batch size; consecutive entries of one output size are sampled together."""
        opts = opts or SampleOptions()
        self.check(opts)
        sizes = [grid_size(self.fine, size, e) for e in entries]
        ims, thumbs, k = [], [], 0
        while k < len(entries):
            m = k + 1
            while m < len(entries) and sizes[m] == sizes[k]:
                m += 1
            i, t = self._run(entries[k:m], sizes[k], opts, progress, first_sample + k)
            ims, thumbs, k = ims + i, thumbs + t, m
        return ims, thumbs

    def _run(self, entries: list[dict], size: tuple[int, int], opts: SampleOptions, progress, first: int):
        thumb, grid = self.sizes(size)
        thumbs = generate_each(self.coarse, entries, thumb, self.coarse_options(opts), progress, first)
        low = self.fine.layout.from_coarse
        with tempfile.TemporaryDirectory(prefix="vqtool-coarse-") as d:
            fine = []
            for i, (e, im) in enumerate(zip(entries, thumbs)):
                im.save(Path(d) / f"{i}.png")
                fine.append({**e, low.kind: low.parse(Path(d) / f"{i}.png", self.fine.layout.adjective)})
            ims = generate_each(self.fine, fine, grid, opts, progress, first)
        return [im.crop((0, 0) + tuple(size)) for im in ims], thumbs

    def tokens(self, n: int, size: tuple[int, int]) -> int:
        """Tokens both stages sample for ``n`` images of ``size`` (progress totals)."""
        (tw, th), (gw, gh) = self.sizes(size)
        cw, ch = padded((tw, th), self.coarse.factor)
        return n * (cw // self.coarse.factor * (ch // self.coarse.factor) + gw // self.fine.factor * (gh // self.fine.factor))
