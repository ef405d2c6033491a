"""Continuous one-channel maps: a depth map (the paper's D-RIN, depth from MiDaS) and an edge map
(its ImageNetEdges, Canny). Each is encoded by a one-channel cond-stage VQGAN into one token per
grid position and cropped with the image, like a label map.

The network sees a map in [-1, 1]. Depth is normalised per image, as taming's ``rgba_to_depth``
data does ((d - min) / (max - min), then 2d - 1), so a map's units never matter: inverse depth
(MiDaS, brighter = nearer) of any scale works; metric depth (brighter = farther) must be inverted
first. Edges are taken as they are (0 = no edge, 1 = edge).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vqtool.core.conditioning.spatial import FolderMap
from vqtool.core.imagefile import load_map
from vqtool.core.tokenizer.inputs import input_of
from vqtool.core.tokenizer.tiles import encode_tiled


@dataclass
class OneChannelMap(FolderMap):
    bytes_per_pixel = 16  # float32 numpy + PIL + torch
    def normalise(self, a: np.ndarray) -> np.ndarray:
        """(H, W) in [0, 1] as stored -> the network's [-1, 1], as its cond-stage VQGAN was trained."""
        return input_of(self.stage).normalise(a)

    def describe(self) -> dict:
        return {"kind": self.kind, "codebook": self.vocab or None}

    @classmethod
    def new(cls, offset: int, wanted: dict) -> OneChannelMap:
        return cls(offset=offset, vocab=wanted["codebook_size"], null_trained=bool(wanted.get("null_trained")))

    def read(self, path: Path, size: tuple[int, int], channels: int = 1) -> torch.Tensor:
        """(H, W) float map in [-1, 1] at ``size`` (W, H), bilinear resized."""
        a = self.normalise(load_map(path, self.input_name))
        im = Image.fromarray(a, mode="F")
        if im.size != tuple(size):
            im = im.resize(tuple(size), Image.BILINEAR)
        return torch.from_numpy(np.asarray(im, dtype=np.float32).copy())

    def encode(self, stage, m: torch.Tensor) -> torch.Tensor:
        return encode_tiled(stage, m, lambda part: part[None, None])

    # ---- tokenize: the map beside each image -----------------------------------------------------

    @classmethod
    def for_job(cls, folder: Path, stage_ckpt: dict) -> OneChannelMap:
        return cls()

    def read_input(self, path: Path, where: dict, channels: int) -> torch.Tensor:
        """(H', W') map of an image, brought to the image's preparation ``where`` (resized, then
        cropped: data.images.fit). A map of another size than its image is a SkipInput."""
        a = self.normalise(load_map(path, self.input_name))  # float32: PIL mode F
        return torch.from_numpy(self.prepared(a, path, where, Image.BILINEAR).astype(np.float32))

    def encode_inputs(self, stage, batch: torch.Tensor, flip: bool, images=None) -> dict:
        """Shard fields of a batch of prepared maps (B, H, W): their codes (and the mirrored maps')."""
        x = batch[:, None].float()  # (B, 1, H, W)
        stem = self.field.removesuffix(".npy")
        out = {self.field: stage.encode(x).indices}
        if flip:
            out[f"{stem}_flip.npy"] = stage.encode(x.flip(-1)).indices
        return out


@dataclass
class Depth(OneChannelMap):
    kind = "depth"
    usage = "--cond depth=depth.png"
    taming_key = "depth"  # D-RIN: a one-channel VQModel on MiDaS depth
    adjective = "depth-conditional"
    stage = "depth"
    field = "depth.npy"
    input_name = "depth map"
    scene_folder = "depth"
    overview = "depth-overview"
    job_names = {"depth_vqgan_fingerprint": "the depth VQGAN (--cond-vqgan depth=...)",
                 "depth_maps": "the depth maps (--cond depth=...)"}


@dataclass
class Edges(OneChannelMap):
    kind = "edges"
    usage = "--cond edges=edges.png"
    adjective = "edge-conditional"
    stage = "edges"
    field = "edges.npy"
    input_name = "edge map"
    scene_folder = "edges"
    job_names = {"edges_vqgan_fingerprint": "the edge VQGAN (--cond-vqgan edges=...)",
                 "edge_maps": "the edge maps (--cond edges=...)"}
