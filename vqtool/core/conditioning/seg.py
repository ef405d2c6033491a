"""A segmentation map: label maps of class ids encoded by a segmentation VQGAN into one token per
grid position (taming's VQSegmentationModel), cropped with the image in training and sampling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vqtool.core import memory
from vqtool.core.conditioning.base import Condition, SkipInput, as_ids
from vqtool.core.errors import VqtoolError
from vqtool.core.imagefile import find_label_meta, load_labels
from vqtool.core.tokenizer.tiles import encode_labels


@dataclass
class Segmentation(Condition):
    kind = "seg"
    adjective = "segmentation-conditional"
    option = "cond"
    spatial = True
    stage = "seg"
    field = "cond.npy"
    input_name = "label map"
    job_names = {"seg_vqgan_fingerprint": "the segmentation VQGAN (--seg-vqgan)", "labels": "the label maps (--seg)"}

    label_classes: list | None = None  # label names, by id
    palette: list | None = None  # the label maps' palette, when they had one

    @classmethod
    def new(cls, offset: int, wanted: dict) -> Segmentation:
        return cls(offset=offset, vocab=wanted["codebook_size"], label_classes=wanted.get("label_classes"),
                   palette=wanted.get("palette"))

    def set_entries(self, n: int, inputs: list | None) -> list:
        return [inputs[k % len(inputs)] for k in range(n)]  # one sample per label map, in turn

    def describe(self) -> dict:
        return {"kind": self.kind, "labels": len(self.label_classes or []), "codebook": self.vocab or None}

    def parse(self, value, model: str) -> Path:
        if not Path(value).is_file():
            raise VqtoolError(f"label map not found: {value}")
        return Path(value)

    def default(self, model: str):
        raise VqtoolError("this model is segmentation-conditional: give a label map with --cond")

    def read(self, path: Path, size: tuple[int, int], n_labels: int) -> torch.Tensor:
        """(H, W) class ids of a label map at ``size`` (W, H), nearest-neighbour resized; ids the
        segmentation VQGAN does not know are one message."""
        lab = load_labels(Path(path), self.palette)
        names = self.label_classes or [str(i) for i in range(n_labels)]
        bad = np.unique(lab[(lab < 0) | (lab >= n_labels)])
        if bad.size:
            shown = ", ".join(f"{i}={n}" for i, n in enumerate(names[:12])) + (", …" if len(names) > 12 else "")
            hint = " (values up to {}: a depth map or a photo?)".format(int(bad.max())) if bad.max() > 255 else ""
            raise VqtoolError(f"label map {path} has {bad.size} class id(s) the model does not know, the first "
                              f"{int(bad[0])}{hint}; it knows {n_labels}: {shown}")
        im = Image.fromarray(lab.astype(np.int32)).resize(size, Image.NEAREST)
        return torch.from_numpy(np.asarray(im, dtype=np.int64).copy())

    def tokens(self, entries: list, h: int, w: int, stage, factor: int, cache: dict) -> torch.Tensor:
        for p in entries:  # each label map encoded once per grid size
            if (p, h, w) not in cache:
                cache[(p, h, w)] = encode_labels(stage, self.read(p, (w * factor, h * factor), stage.cfg.in_channels))
        return torch.stack([cache[(p, h, w)] for p in entries]).long() + self.offset

    def random_tokens(self, n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
        # a few codes, as a label map's: one random map for every sample
        return (torch.randint(0, min(8, self.vocab or 8), (1, h, w), generator=g) + self.offset).expand(n, h, w)

    def memory_bytes(self, width: int, height: int, stage_cfg, tile: int, factor: int) -> int:
        # label ids (numpy + torch) and the one-hot tiles of its encoding
        h, w = height // factor, width // factor
        t = min(tile + 16, h) * factor, min(tile + 16, w) * factor
        return width * height * 20 + memory.vqgan_activation_bytes(stage_cfg, 1, *t)

    def from_sample(self, s: dict, flip: bool) -> torch.Tensor:
        return as_ids(s["cond_flip.npy" if flip else "cond.npy"], self.offset)

    # ---- tokenize: the label map beside each image -------------------------------------------------

    @classmethod
    def for_folder(cls, folder: Path, stage_ckpt: dict) -> Segmentation:
        """The condition of a tokenize job: its label names and palette from the folder's classes.json
        (else the segmentation VQGAN's training data)."""
        meta = find_label_meta(folder) or {}
        return cls(label_classes=meta.get("classes"),
                   palette=meta.get("palette") or (stage_ckpt.get("data") or {}).get("palette"))

    def find_input(self, folder: Path, rel: Path) -> Path | None:
        """The label map of the image at ``rel``: the same relative path, as PNG or the image's type."""
        for ext in (".png", rel.suffix):
            cand = folder / rel.with_suffix(ext)
            if cand.is_file():
                return cand
        return None

    def read_input(self, path: Path, where: dict, n_labels: int) -> torch.Tensor:
        """(H', W') class ids of an image's label map, brought to the image's preparation ``where``
        (resized, then cropped: data.images.fit). A map of another size is a SkipInput; an id the
        segmentation VQGAN does not know stops the job."""
        (x0, y0, Wt, Ht), (W, H), (w, h) = where["box"], where["resized"], where["orig"]
        lab = load_labels(path, self.palette)
        if lab.shape != (h, w):
            raise SkipInput(f"label map {path} is {lab.shape[1]}x{lab.shape[0]}, image is {w}x{h}")
        bad = lab.max()
        if bad >= n_labels or lab.min() < 0:
            raise VqtoolError(f"label map {path} has class id {int(bad)}, but the segmentation VQGAN knows "
                              f"{n_labels} classes (ids 0..{n_labels - 1})")
        li = Image.fromarray(lab.astype(np.int32)).resize((W, H), Image.NEAREST).crop((x0, y0, x0 + Wt, Ht + y0))
        return torch.from_numpy(np.asarray(li, dtype=np.int64).copy())

    def encode_inputs(self, stage, batch: torch.Tensor, flip: bool) -> dict:
        """Shard fields of a batch of prepared label maps (B, H, W): their codes (and the mirrored maps')."""
        oh = F.one_hot(batch, stage.cfg.in_channels).permute(0, 3, 1, 2).float()  # (B, K, H, W)
        out = {"cond.npy": stage.encode(oh).indices}
        if flip:
            out["cond_flip.npy"] = stage.encode(oh.flip(-1)).indices
        return out

    def job_keys(self, fingerprint: str, folder: Path) -> dict:
        """What makes a rerun of tokenize the same job, for this condition (job.json)."""
        return {"seg_vqgan_fingerprint": fingerprint, "labels": str(Path(folder).resolve())}
