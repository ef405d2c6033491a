"""A map's overview (a transformer recipe's ``overview = S``): the whole map summarised as S x S
cells, each holding the commonest of the map's codes inside it, added at every position of every
window. A local model sees only its window's part of a map; the overview tells every window what
the whole scene holds (mountains or a lake), so that windows far apart can choose one kind of scene.

The map is known before sampling starts, so the overview is exact when sampling, and a training
crop takes it from its sample's whole code grid, not from the crop. It is made from its map's
entry (``reads``): `vqtool sample --cond depth=FILE` gives both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vqtool.core.conditioning.maps import Depth


def cells(ids: torch.Tensor, side: int) -> torch.Tensor:
    """(B, side²): the commonest id of each of side x side cells of grids ``ids`` (B, h, w), in raster
    order; a grid smaller than ``side`` repeats its rows or columns (every cell holds one at least)."""
    B, h, w = ids.shape
    # ties go to the smallest id (torch.mode), the same on every device
    return torch.stack([ids[:, r0:r1, c0:c1].reshape(B, -1).mode(1).values
                        for r0, r1 in _spans(h, side) for c0, c1 in _spans(w, side)], 1)


def _spans(n: int, side: int) -> list[tuple[int, int]]:
    """``side`` index ranges splitting 0..n-1, none empty (a short axis repeats its indices)."""
    starts = [min(i * n // side, n - 1) for i in range(side)]
    return [(a, max(a + 1, (i + 1) * n // side)) for i, a in enumerate(starts)]


@dataclass
class DepthOverview(Depth):
    kind = "depth-overview"
    adjective = ""  # a model is named by its map: "depth-conditional"
    spatial = False
    reads = "depth"
    # not a kind of its own to give or tokenize: no option, job keys, scene folder or taming key
    option, job_names, scene_folder, taming_key, usage, overview = None, {}, None, None, "", None
    side: int = 4  # cells a side

    @classmethod
    def new(cls, offset: int, wanted: dict) -> DepthOverview:
        return cls(offset=offset, vocab=wanted["codebook_size"], null_trained=bool(wanted.get("null_trained")),
                   side=int(wanted["side"]))

    def describe(self) -> dict:
        return {"kind": self.kind, "cells": f"{self.side}x{self.side}"}

    def length(self, h: int, w: int) -> int:
        return self.side ** 2

    def tokens(self, entries: list, h: int, w: int, stage, factor: int, cache: dict) -> torch.Tensor:
        return cells(super().tokens(entries, h, w, stage, factor, cache), self.side)  # the map's own codes, cached

    def random_tokens(self, n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
        return cells(super().random_tokens(1, h, w, g), self.side).expand(n, -1)

    def memory_bytes(self, width: int, height: int, stage_cfg, tile: int, factor: int) -> int:
        return 0  # its map's encoding, counted by the map

    def from_sample(self, s: dict, flip: bool) -> torch.Tensor:
        return cells(super().from_sample(s, flip)[None], self.side)[0]
