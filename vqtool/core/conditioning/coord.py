"""Where a crop sits: taming's coordinate conditioning (``CoordStage``, the FacesHQ transformer).

Each pixel of an H x W image holds its raster index over the whole image, (row * W + col) / (H * W)
in [0, 1); averaged over each token's f x f pixels and rounded to ``levels`` steps, that is one token
per grid position saying where it is. A window cut from a larger grid carries its own place, so a
model trained on crops knows which part of a face (or scene) it is drawing; sampled beyond its
window, every window gets the coordinates of its place in the whole image, as the reference's
sliding loop gives them. Nothing comes from the user: the tokens follow from the grid's size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vqtool.core.conditioning.base import Condition


def coord_codes(h: int, w: int, f: int, levels: int) -> torch.Tensor:
    """(h, w) coordinate codes of an h x w token grid of f x f-pixel tokens, computed as taming's
    FacesHQ data and CoordStage.encode do: float64 raster index / (H W), to float32, area-averaged
    by f, clamped to [0, 1], times ``levels``, rounded."""
    H, W = h * f, w * f
    c = torch.from_numpy((np.arange(H * W).reshape(H, W) / (H * W)).astype(np.float32))[None, None]
    c = F.interpolate(c, scale_factor=1 / f, mode="area").clamp(0.0, 1.0)
    return (levels * c).round().long()[0, 0]


@dataclass
class Coord(Condition):
    kind = "coord"
    adjective = "position-conditional"
    spatial = True
    stage = "image"  # made beside the images, as a low-res image is; no VQGAN of its own encodes it
    input_name = "coordinate map"
    job_names = {"coord": "the coordinate levels (--cond coord=N)"}

    levels: int = 1024  # rounding steps of [0, 1]: taming's CoordStage n_embed
    factor: int = 16  # pixels per token side: CoordStage's down_factor (the image VQGAN's factor)

    @classmethod
    def new(cls, offset: int, wanted: dict) -> Coord:
        levels = int(wanted.get("levels", 1024))
        return cls(offset=offset, vocab=levels + 1, levels=levels, factor=int(wanted.get("factor", 16)))

    def describe(self) -> dict:
        return {"kind": self.kind, "levels": self.levels}

    def default(self, model: str):
        return None  # nothing to give: the grid's size says it all

    def set_entries(self, n: int, inputs: list | None) -> list:
        return [None] * n

    def grid(self, h: int, w: int) -> torch.Tensor:
        return coord_codes(h, w, self.factor, self.levels) + self.offset

    def tokens(self, entries: list, h: int, w: int, stage, factor: int, cache: dict) -> torch.Tensor:
        return self.grid(h, w)[None].expand(len(entries), h, w)

    def random_tokens(self, n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
        return self.tokens([None] * n, h, w, None, self.factor, {})

    def from_sample(self, s: dict, flip: bool) -> torch.Tensor:
        # a mirrored image is an image of its own: its places are numbered as it is fed
        return self.grid(*s["tokens.npy"].shape)

    # ---- tokenize: nothing is stored, the manifest records the levels and the factor ---------------

    @classmethod
    def for_job(cls, value, stage_ckpt: dict) -> Coord:
        from vqtool.core.errors import VqtoolError

        try:
            levels = int(value)
        except (TypeError, ValueError):
            raise VqtoolError(f"coord={value!r}: give the number of coordinate levels, e.g. coord=1024") from None
        if levels < 2:
            raise VqtoolError(f"coord={levels}: the coordinate levels must be >= 2 (taming's FacesHQ: 1024)")
        return cls(levels=levels, factor=2 ** (len(stage_ckpt["config"]["model"]["ch_mult"]) - 1))

    def find_input(self, folder, rel):
        return rel

    def read_input(self, path, where: dict, channels: int) -> None:
        return None

    def encode_inputs(self, stage, batch, flip: bool, images: torch.Tensor) -> dict:
        return {}

    def job_keys(self, fingerprint: str, folder) -> dict:
        return {"coord": self.levels}
