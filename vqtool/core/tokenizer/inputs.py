"""What a VQGAN encodes: images, or label maps (the segmentation cond stage). One object per kind of
input, asked by the trainer, the losses, the previews and the evaluation instead of a recipe kind:
how a training crop is read, how it becomes the network's input, which loss trains it, whether a
perceptual term and a discriminator apply, how a batch is shown, and whether its evaluation scores
pixels or classes. Checkpoints record it as ``encodes``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from vqtool.core.errors import ConfigError
from vqtool.core.tokenizer.losses import seg_loss


@dataclass(frozen=True)
class Images:
    name: ClassVar[str] = "image"
    recipe_kind: ClassVar[str] = "vqgan"
    what: ClassVar[str] = "VQGAN"
    run: ClassVar[str] = "runs/vqgan"  # its default run folder
    labels: ClassVar[bool] = False  # training crops are RGB images
    categorical: ClassVar[bool] = False  # evaluated by pixels (PSNR, SSIM, LPIPS, rFID)
    adversarial: ClassVar[bool] = True  # PatchGAN and perceptual terms apply

    def channels(self, recipe, meta: dict | None) -> None:
        """Set the recipe's channel counts from the data (images: as the recipe says)."""

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
    adversarial: ClassVar[bool] = False

    def channels(self, recipe, meta: dict | None) -> None:
        n_labels = len(meta["classes"]) if meta else 0
        if recipe.model.in_channels in (0, 3) and n_labels:
            recipe.model.in_channels = recipe.model.out_channels = n_labels
        if recipe.model.in_channels <= 0:
            raise ConfigError("a segmentation VQGAN needs the number of classes: put classes.json beside the label "
                              "maps or set model.in_channels and model.out_channels")

    def net_input(self, x: torch.Tensor, channels: int) -> torch.Tensor:
        return F.one_hot(x, channels).permute(0, 3, 1, 2).float()  # (B, H, W) ids -> (B, K, H, W)

    def preview(self, x: torch.Tensor, palette) -> torch.Tensor:
        return colorize(x.argmax(1).cpu(), palette)

    def loss(self, loss_mod, x, xrec, qloss, step: int, last_layer, disc) -> tuple[torch.Tensor, dict]:
        return seg_loss(xrec, x, qloss, loss_mod.cfg.codebook_weight)


INPUTS = {i.name: i for i in (Images(), LabelMaps())}
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
