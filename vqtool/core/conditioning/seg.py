"""A segmentation map: label maps of class ids encoded by a segmentation VQGAN into one token per
grid position (taming's VQSegmentationModel), cropped with the image in training and sampling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vqtool.core.conditioning.base import SkipInput
from vqtool.core.conditioning.spatial import FolderMap
from vqtool.core.errors import VqtoolError
from vqtool.core.imagefile import find_label_meta, load_labels
from vqtool.core.tokenizer.tiles import encode_labels


@dataclass
class Segmentation(FolderMap):
    kind = "seg"
    usage = "--cond seg=labels.png"
    taming_key = "segmentation"
    adjective = "segmentation-conditional"
    stage = "seg"
    field = "cond.npy"
    input_name = "label map"
    scene_folder = "seg"
    job_names = {"seg_vqgan_fingerprint": "the segmentation VQGAN (--seg-vqgan)", "labels": "the label maps (--seg)"}

    label_classes: list | None = None  # label names, by id
    palette: list | None = None  # the label maps' palette, when they had one

    @classmethod
    def new(cls, offset: int, wanted: dict) -> Segmentation:
        return cls(offset=offset, vocab=wanted["codebook_size"], label_classes=wanted.get("label_classes"),
                   palette=wanted.get("palette"), null_trained=bool(wanted.get("null_trained")))

    def describe(self) -> dict:
        return {"kind": self.kind, "labels": len(self.label_classes or []), "codebook": self.vocab or None}

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

    def encode(self, stage, m: torch.Tensor) -> torch.Tensor:
        return encode_labels(stage, m)

    # ---- tokenize: the label map beside each image -------------------------------------------------

    @classmethod
    def for_job(cls, folder: Path, stage_ckpt: dict) -> Segmentation:
        """The condition of a tokenize job: its label names and palette from the folder's classes.json
        (else the segmentation VQGAN's training data)."""
        meta = find_label_meta(folder) or {}
        return cls(label_classes=meta.get("classes"),
                   palette=meta.get("palette") or (stage_ckpt.get("data") or {}).get("palette"))

    def read_input(self, path: Path, where: dict, n_labels: int) -> torch.Tensor:
        """(H', W') class ids of an image's label map, brought to the image's preparation ``where``
        (resized, then cropped: data.images.fit). A map of another size is a SkipInput; an id the
        segmentation VQGAN does not know stops the job."""
        lab = load_labels(path, self.palette)
        w, h = where["orig"]  # checked before the ids: a map of another size is skipped, not fatal
        if lab.shape != (h, w):
            raise SkipInput(f"label map {path} is {lab.shape[1]}x{lab.shape[0]}, image is {w}x{h}")
        bad = lab.max()
        if bad >= n_labels or lab.min() < 0:
            raise VqtoolError(f"label map {path} has class id {int(bad)}, but the segmentation VQGAN knows "
                              f"{n_labels} classes (ids 0..{n_labels - 1})")
        return torch.from_numpy(self.prepared(lab.astype(np.int32), path, where, Image.NEAREST).astype(np.int64))

    def encode_inputs(self, stage, batch: torch.Tensor, flip: bool, images=None) -> dict:
        """Shard fields of a batch of prepared label maps (B, H, W): their codes (and the mirrored maps')."""
        oh = F.one_hot(batch, stage.cfg.in_channels).permute(0, 3, 1, 2).float()  # (B, K, H, W)
        out = {"cond.npy": stage.encode(oh).indices}
        if flip:
            out["cond_flip.npy"] = stage.encode(oh.flip(-1)).indices
        return out
