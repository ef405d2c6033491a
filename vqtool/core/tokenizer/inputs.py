"""What a VQGAN encodes: images, label maps (the segmentation cond stage), or one-channel maps
(the depth and edge cond stages). One object per kind of
input, asked by the trainer, the losses, the previews and the evaluation instead of a recipe kind:
how a training crop is read, how it becomes the network's input, which loss trains it, whether a
perceptual term and a discriminator apply, how a batch is shown, and whether its evaluation scores
pixels or classes. Checkpoints record it as ``encodes``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vqtool.core.errors import ConfigError
from vqtool.core.imagefile import load_labels, load_map, load_rgb
from vqtool.core.tokenizer.losses import seg_loss


@dataclass(frozen=True)
class Images:
    name: ClassVar[str] = "image"
    recipe_kind: ClassVar[str] = "vqgan"
    what: ClassVar[str] = "VQGAN"
    run: ClassVar[str] = "runs/vqgan"  # its default run folder
    labels: ClassVar[bool] = False  # training crops are RGB images
    categorical: ClassVar[bool] = False  # a map of classes (one may fill a map; an image in one colour is broken)
    can_be_flat: ClassVar[bool] = False  # one value everywhere is a broken reconstruction (not for label or edge maps)
    scores: ClassVar[str] = "pixels"  # how eval-recon scores it: pixels (PSNR, SSIM, LPIPS, rFID), classes, depth, edges
    adversarial: ClassVar[bool] = True  # PatchGAN and perceptual terms apply

    def channels(self, recipe, meta: dict | None) -> None:
        """Set the recipe's channel counts from the data (images: as the recipe says)."""

    def load(self, path, palette) -> tuple[Image.Image, int]:
        """A training file as a PIL image and the resampling that suits it."""
        return load_rgb(path), Image.BICUBIC

    def as_tensor(self, im: Image.Image) -> torch.Tensor:
        """A (cropped) PIL image as the crop tensor: (3, H, W) in [-1, 1]."""
        a = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy())
        return a.permute(2, 0, 1).float() / 127.5 - 1.0

    def net_input(self, x: torch.Tensor, channels: int) -> torch.Tensor:
        return x

    def preview(self, x: torch.Tensor, palette) -> torch.Tensor:
        """(B, C, H, W) network input or output -> (B, 3, H, W) in [-1, 1] for viewing."""
        return x.detach().cpu()

    def loss(self, loss_mod, x, xrec, qloss, step: int, last_layer, disc) -> tuple[torch.Tensor, dict]:
        """The generator's loss: L1 + perceptual + (after disc_start) the adaptive PatchGAN term."""
        disc.requires_grad_(False)  # the generator step must not train D (taming#27)
        return loss_mod.generator_loss(x, xrec, qloss, step, last_layer, disc)


@dataclass(frozen=True)
class LabelMaps(Images):
    """taming's VQSegmentationModel: one-hot label maps in, per-class logits out, BCE loss."""

    name: ClassVar[str] = "seg"
    recipe_kind: ClassVar[str] = "seg-vqgan"
    what: ClassVar[str] = "segmentation VQGAN"
    run: ClassVar[str] = "runs/seg-vqgan"
    labels: ClassVar[bool] = True
    categorical: ClassVar[bool] = True
    scores: ClassVar[str] = "classes"  # pixel accuracy, mIoU
    can_be_flat: ClassVar[bool] = True
    adversarial: ClassVar[bool] = False

    def channels(self, recipe, meta: dict | None) -> None:
        n_labels = len(meta["classes"]) if meta else 0
        if recipe.model.in_channels in (0, 3) and n_labels:
            recipe.model.in_channels = recipe.model.out_channels = n_labels
        if recipe.model.in_channels <= 0:
            raise ConfigError("a segmentation VQGAN needs the number of classes: put classes.json beside the label "
                              "maps or set model.in_channels and model.out_channels")

    def load(self, path, palette) -> tuple[Image.Image, int]:
        return Image.fromarray(load_labels(path, palette).astype(np.int32)), Image.NEAREST

    def as_tensor(self, im: Image.Image) -> torch.Tensor:
        return torch.from_numpy(np.asarray(im, dtype=np.int64).copy())  # (H, W) class ids

    def net_input(self, x: torch.Tensor, channels: int) -> torch.Tensor:
        return F.one_hot(x, channels).permute(0, 3, 1, 2).float()  # (B, H, W) ids -> (B, K, H, W)

    def preview(self, x: torch.Tensor, palette) -> torch.Tensor:
        return colorize(x.argmax(1).cpu(), palette)

    def loss(self, loss_mod, x, xrec, qloss, step: int, last_layer, disc) -> tuple[torch.Tensor, dict]:
        return seg_loss(xrec, x, qloss, loss_mod.cfg.codebook_weight)


@dataclass(frozen=True)
class DepthMaps(Images):
    """A one-channel depth map (the paper's D-RIN cond stage): trained as an image of one channel, L1
    plus the perceptual term on the map repeated to RGB and, after disc_start, the PatchGAN."""

    name: ClassVar[str] = "depth"
    recipe_kind: ClassVar[str] = "depth-vqgan"
    what: ClassVar[str] = "depth VQGAN"
    run: ClassVar[str] = "runs/depth-vqgan"
    input_name: ClassVar[str] = "depth map"
    scores: ClassVar[str] = "depth"  # PSNR and mean absolute error of the normalised map
    per_image: ClassVar[bool] = True  # min-max normalised per map, as taming's rgba_to_depth data

    def normalise(self, a: np.ndarray) -> np.ndarray:
        """(H, W) in [0, 1] as stored -> the network's [-1, 1]."""
        if self.per_image:
            lo, hi = float(a.min()), float(a.max())
            a = (a - lo) / max(hi - lo, 1e-8)
        return (a * 2.0 - 1.0).astype(np.float32)

    def channels(self, recipe, meta: dict | None) -> None:
        if recipe.model.in_channels == 3:  # the image default: a map has one channel
            recipe.model.in_channels = recipe.model.out_channels = 1
        if (recipe.model.in_channels, recipe.model.out_channels) != (1, 1):
            raise ConfigError(f"a {self.what} has one input and one output channel; 'model.in_channels' and "
                              "'model.out_channels' must be 1")

    def load(self, path, palette) -> tuple[Image.Image, int]:
        return Image.fromarray(self.normalise(load_map(path, self.input_name)), mode="F"), Image.BILINEAR

    def as_tensor(self, im: Image.Image) -> torch.Tensor:
        return torch.from_numpy(np.asarray(im, dtype=np.float32).copy())[None]  # (1, H, W)

    def preview(self, x: torch.Tensor, palette) -> torch.Tensor:
        return x.detach().cpu().clamp(-1, 1).expand(-1, 3, -1, -1)


@dataclass(frozen=True)
class EdgeMaps(DepthMaps):
    """A one-channel edge map (the paper's ImageNetEdges cond stage): 1 = edge, as stored."""

    name: ClassVar[str] = "edges"
    recipe_kind: ClassVar[str] = "edges-vqgan"
    what: ClassVar[str] = "edge VQGAN"
    run: ClassVar[str] = "runs/edges-vqgan"
    input_name: ClassVar[str] = "edge map"
    scores: ClassVar[str] = "edges"  # edge precision, recall and F1
    can_be_flat: ClassVar[bool] = True  # a map without edges
    per_image: ClassVar[bool] = False


INPUTS = {i.name: i for i in (Images(), LabelMaps(), DepthMaps(), EdgeMaps())}
BY_RECIPE = {i.recipe_kind: i for i in INPUTS.values()}


def input_of(name: str) -> Images:
    if name not in INPUTS:
        raise ConfigError(f"unknown VQGAN input {name!r}; known: {', '.join(INPUTS)}")
    return INPUTS[name]


def colorize(labels: torch.Tensor, palette: list | None) -> torch.Tensor:
    """(B, H, W) class ids -> (B, 3, H, W) in [-1, 1] for viewing."""
    n = int(labels.max()) + 1
    pal = torch.tensor(palette if palette and len(palette) >= n else
                       [[(37 * i) % 256, (91 * i) % 256, (151 * i) % 256] for i in range(max(n, 1))],
                       dtype=torch.float32)
    return (pal[labels] / 127.5 - 1).permute(0, 3, 1, 2)
