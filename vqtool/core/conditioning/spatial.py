"""What the map kinds share: a spatial condition read from files beside the images (a label map, a
depth map, an edge map), one file per sample, encoded by its own cond-stage VQGAN into one token
per grid position and cropped with the image. Each kind says how its file is read and made the
network's input."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch
from PIL import Image

from vqtool.core import memory
from vqtool.core.conditioning.base import Condition, SkipInput, as_ids
from vqtool.core.errors import VqtoolError
from vqtool.core.imagefile import image_size


@dataclass
class FolderMap(Condition):
    option = "cond"
    spatial = True
    from_map = True
    bytes_per_pixel: ClassVar[int] = 20  # what reading one pixel of its file costs (numpy + PIL + torch)

    # trained by map dropout: a window's map replaced by the null map (the local model's id of no
    # token at every position), so --cfg can contrast a sample's map with no map at all
    null_trained: bool = False

    @property
    def guidable(self) -> bool:
        return self.null_trained

    def guidance_problem(self) -> str | None:
        if self.guidable:
            return None
        return (f"--cfg needs a null {self.input_name} trained by map dropout, and this {self.adjective} model was "
                "trained with map_dropout = 0; retrain a local model with --set map_dropout=0.1 or sample without --cfg")

    def unguided(self, t: torch.Tensor, none: int) -> torch.Tensor:
        return torch.full_like(t, none) if self.null_trained else t

    def set_entries(self, n: int, inputs: list | None) -> list:
        return [inputs[k % len(inputs)] for k in range(n)]  # one sample per map, in turn

    def parse(self, value, model: str) -> Path:
        if not Path(value).is_file():
            raise VqtoolError(f"{self.input_name} not found: {value}")
        return Path(value)

    def default(self, model: str):
        raise VqtoolError(f"this model is {model}: give a {self.input_name} with --cond {self.kind}=FILE")

    def size_of(self, entry) -> tuple[int, int]:
        return image_size(entry)

    def encode(self, stage, m: torch.Tensor) -> torch.Tensor:
        """(h, w) codes of one map as ``read`` returns it."""
        raise NotImplementedError

    def tokens(self, entries: list, h: int, w: int, stage, factor: int, cache: dict) -> torch.Tensor:
        for p in entries:  # each map encoded once per grid size
            if (self.field, p, h, w) not in cache:  # keyed by field: an overview shares its map's
                cache[(self.field, p, h, w)] = self.encode(stage, self.read(p, (w * factor, h * factor),
                                                                           stage.cfg.in_channels))
        return torch.stack([cache[(self.field, p, h, w)] for p in entries]).long() + self.offset

    def random_tokens(self, n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
        # a few codes, as a map's: one random map for every sample
        return (torch.randint(0, min(8, self.vocab or 8), (1, h, w), generator=g) + self.offset).expand(n, h, w)

    def memory_bytes(self, width: int, height: int, stage_cfg, tile: int, factor: int) -> int:
        # the map as read and the tiles of its encoding
        h, w = height // factor, width // factor
        t = min(tile + 16, h) * factor, min(tile + 16, w) * factor
        return width * height * self.bytes_per_pixel + memory.vqgan_activation_bytes(stage_cfg, 1, *t)

    def from_sample(self, s: dict, flip: bool) -> torch.Tensor:
        stem = self.field.removesuffix(".npy")
        return as_ids(s[f"{stem}_flip.npy" if flip else self.field], self.offset)

    def prepared(self, a: np.ndarray, path: Path, where: dict, resample) -> np.ndarray:
        """An image's map ``a`` (H, W) brought to the image's preparation ``where`` (resized, then cropped:
        data.images.fit); a map of another size than its image is a SkipInput."""
        (x0, y0, Wt, Ht), (W, H), (w, h) = where["box"], where["resized"], where["orig"]
        if a.shape != (h, w):
            raise SkipInput(f"{self.input_name} {path} is {a.shape[1]}x{a.shape[0]}, image is {w}x{h}")
        return np.asarray(Image.fromarray(a).resize((W, H), resample).crop((x0, y0, x0 + Wt, y0 + Ht))).copy()

    def find_input(self, folder: Path, rel: Path) -> Path | None:
        """The map of the image at ``rel``: the same relative path, as PNG or the image's type."""
        for ext in (".png", rel.suffix):
            cand = folder / rel.with_suffix(ext)
            if cand.is_file():
                return cand
        return None

    def job_keys(self, fingerprint: str, folder: Path) -> dict:
        """What makes a rerun of tokenize the same job, for this condition (job.json)."""
        fp, inputs = self.job_names
        return {fp: fingerprint, inputs: str(Path(folder).resolve())}
