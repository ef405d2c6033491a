"""A small pixel classifier of scene classes, to score how well samples follow their label map.

The colour measure (eval.agreement) gives each pixel the class of the nearest mean colour, so a
dusk sky reads as sand and one sample's sky colour swings it by points. This network sees a
neighbourhood (about 70 pixels across: texture and context, not one colour), is trained on real
scenes of every time of day with their label maps, and its per-class IoU against the label map is
averaged over all samples and maps of a run. It never sees the scenes it scores if trained on
another seed's scenes (the shipped one: make-scenes seed 0, the demo's training scenes; the demo's
held-out maps are seed 2026).

The checkpoint describes itself: {"format": FORMAT, "config": {...}, "model": state_dict}.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from vqtool.core.errors import VqtoolError

FORMAT = "vqtool-pixel-classifier"


class PixelClassifier(nn.Module):
    """RGB in [-1, 1] (B, 3, H, W), with ``position`` a fourth channel, each pixel's height in its
    whole image (-1 top, 1 bottom) -> class logits (B, k, H, W): a stride-2 stem, dilated 3x3 convs
    at half resolution (receptive field ~70 px), logits upsampled back.

    Why the height: 70 pixels of a calm lake and of the sky it mirrors look the same, and so do a
    blue mountain and a dusk sky; where they sit in the image tells them apart (a classifier
    without it gave the real lake scene's sky an IoU of 0.06)."""

    def __init__(self, n_classes: int, width: int = 32, dilations=(1, 2, 4, 8, 1), position: bool = False):
        super().__init__()
        self.position = position
        self.stem = nn.Conv2d(3 + position, width, 4, stride=2, padding=1)
        self.body = nn.ModuleList(nn.Conv2d(width, width, 3, padding=d, dilation=d) for d in dilations)
        self.norms = nn.ModuleList(nn.GroupNorm(8, width) for _ in dilations)
        self.head = nn.Conv2d(width, n_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[-2:]
        h = F.gelu(self.stem(x))
        for conv, norm in zip(self.body, self.norms):
            h = h + F.gelu(norm(conv(h)))  # residual: a deep stack of dilations trains quickly
        return F.interpolate(self.head(h), size=(H, W), mode="bilinear", align_corners=False)


def heights(H: int, rows: slice = slice(None)) -> torch.Tensor:
    """(1, h, 1) the height of each row in an image of H rows, -1 at the top to 1 at the bottom."""
    return (torch.linspace(-1, 1, H) if H > 1 else torch.zeros(1))[rows][None, :, None]


def _pairs(scenes: Path) -> list[tuple[Path, Path]]:
    from vqtool.data.images import list_images

    images = list_images(scenes / "images")
    pairs = [(p, scenes / "seg" / p.relative_to(scenes / "images").with_suffix(".png")) for p in images]
    pairs = [(a, b) for a, b in pairs if b.is_file()]
    if not pairs:
        raise VqtoolError(f"no images with label maps under {scenes} (make-scenes data: images/ and seg/ side by side)")
    return pairs


def train_classifier(scenes: Path, steps: int = 1500, crop: int = 96, batch: int = 16, seed: int = 0,
                     progress=None) -> dict:
    """A classifier checkpoint trained on ``scenes`` (images/ and seg/ of make-scenes data): random
    crops, mirrored half the time, cross-entropy, AdamW."""
    from vqtool.core.imagefile import find_label_meta, load_labels
    from vqtool.data.images import load_rgb, to_tensor

    scenes = Path(scenes)
    pairs = _pairs(scenes)
    meta = find_label_meta(pairs[0][1].parent) or {}
    classes = meta.get("classes")
    data = [(to_tensor(load_rgb(a)), torch.from_numpy(load_labels(b).astype(np.int64))) for a, b in pairs]
    k = len(classes) if classes else int(max(int(lab.max()) for _, lab in data)) + 1
    rng = random.Random(seed)
    torch.manual_seed(seed)
    net = PixelClassifier(k, position=True)
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=steps, pct_start=0.1)
    for step in range(steps):
        xs, ys = [], []
        for _ in range(batch):
            x, y = data[rng.randrange(len(data))]
            H, W = y.shape
            c = min(crop, H, W)
            r0, c0 = rng.randrange(H - c + 1), rng.randrange(W - c + 1)
            pos = heights(H, slice(r0, r0 + c)).expand(1, c, c)  # the crop's rows in the whole scene
            x, y = torch.cat([x[:, r0:r0 + c, c0:c0 + c], pos]), y[r0:r0 + c, c0:c0 + c]
            if rng.random() < 0.5:
                x, y = x.flip(-1), y.flip(-1)
            xs.append(x)
            ys.append(y)
        loss = F.cross_entropy(net(torch.stack(xs)), torch.stack(ys))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if progress:
            progress(1, status=f"loss {loss.item():.3f}")
    return {"format": FORMAT, "config": {"n_classes": k, "classes": classes, "trained_on": str(scenes),
                                         "images": len(data), "steps": steps, "crop": crop, "batch": batch, "position": True,
                                         "seed": seed},
            "model": net.state_dict()}


def load_classifier(path: Path, device="cpu") -> tuple[PixelClassifier, dict]:
    c = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(c, dict) or c.get("format") != FORMAT:
        raise VqtoolError(f"{path} is not a vqtool pixel classifier (make one with `vqtool bench classifier`)")
    net = PixelClassifier(c["config"]["n_classes"], position=c["config"].get("position", False))
    net.load_state_dict(c["model"])
    return net.to(device).eval(), c["config"]


@torch.no_grad()
def predict(net: PixelClassifier, im) -> np.ndarray:
    """(H, W) class ids of a PIL image."""
    from vqtool.data.images import to_tensor

    x = to_tensor(im.convert("RGB"))
    if net.position:
        x = torch.cat([x, heights(x.shape[1]).expand(1, *x.shape[1:])])
    return net(x[None].to(next(net.parameters()).device))[0].argmax(0).cpu().numpy()


def iou(preds: list[np.ndarray], labels: np.ndarray, k: int) -> dict:
    """Per-class IoU over all ``preds`` against one label map (pixels pooled over the samples), for
    the classes the map holds; their mean; and pixel accuracy."""
    inter, union = np.zeros(k), np.zeros(k)
    present = np.bincount(labels.reshape(-1), minlength=k)[:k] > 0
    acc = []
    for p in preds:
        for c in np.flatnonzero(present):
            a, b = p == c, labels == c
            inter[c] += (a & b).sum()
            union[c] += (a | b).sum()
        acc.append(float((p == labels).mean()))
    per = {int(c): float(inter[c] / max(union[c], 1)) for c in np.flatnonzero(present)}
    return {"miou": float(np.mean(list(per.values()))), "per_class_iou": per, "pixel_accuracy": float(np.mean(acc))}
