"""The VQGAN objective: L1 + LPIPS reconstruction, codebook loss, PatchGAN hinge loss with
taming's adaptive weight and a discriminator that stays off until ``disc_start``.

The segmentation cond stage trains with BCE on one-hot label maps plus the codebook loss
(taming's BCELossWithQuant), without a discriminator.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vqtool.core.config import LossConfig
from vqtool.core.tokenizer.discriminator import PatchDiscriminator


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    # D wants real logits >= +1 and fake logits <= -1; beyond the margin nothing is pushed
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def vanilla_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    return 0.5 * (F.softplus(-logits_real).mean() + F.softplus(logits_fake).mean())


def adaptive_weight(nll: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor,
                    eps: float = 1e-4) -> torch.Tensor:
    """||∇nll|| / (||∇g|| + eps) at the decoder's last layer, clamped to [0, 1e4], detached.

    Why: the GAN gradient's scale is arbitrary and changes during training; matching its norm
    to the reconstruction gradient's at the shared last layer keeps either term from swamping
    the other. Detached, so it is a weight, not a path for gradients.
    """
    g_nll = torch.autograd.grad(nll, last_layer, retain_graph=True)[0]
    g_gan = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    return (g_nll.norm() / (g_gan.norm() + eps)).clamp(0.0, 1e4).detach()


def feature_distance(disc: nn.Module, x: torch.Tensor, xrec: torch.Tensor) -> torch.Tensor:
    """Sum over the discriminator's layers of mean |f(x) - f(x̂)| / mean |f(x)|.

    Why: a perceptual distance with no downloaded network. The PatchGAN's features are local
    texture detectors (random ones before ``disc_start``, trained ones after); matching them asks
    the decoder for the texture statistics of each patch rather than the pixel average, which
    is what L1 alone rewards. Dividing by the real features' size keeps every layer, and the
    term as a whole, on the scale of the L1 pixel loss however large the activations grow.
    BatchNorm runs on its running statistics so x and x̂ are measured by the same function.
    """
    was = disc.training
    disc.eval()
    try:
        dist = x.new_zeros(())
        for f in disc.features(torch.cat([x, xrec]).float()):
            fr, ff = f.chunk(2)  # (B, C, h, w) each: real half, reconstruction half
            fr = fr.detach()
            dist = dist + (fr - ff).abs().mean() / (fr.abs().mean() + 1e-6)
        return dist
    finally:
        disc.train(was)


def full_precision(t: torch.Tensor):
    """Leave any autocast region: ``.float()`` inside autocast does not stop the next conv from
    running in bf16. LPIPS distances and hinge margins are compared against small numbers."""
    return torch.autocast(t.device.type, enabled=False)


class VQGANLoss(nn.Module):
    def __init__(self, cfg: LossConfig, in_channels: int = 3, perceptual: nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        self.perceptual = perceptual  # an LPIPS module, or None (LPIPS off)
        self.discriminator = PatchDiscriminator(in_channels, cfg.disc_ndf, cfg.disc_num_layers)
        self.d_loss_fn = hinge_d_loss if cfg.disc_loss == "hinge" else vanilla_d_loss

    def disc_active(self, step: int) -> bool:
        # taming multiplies by disc_factor=0 before disc_start; we skip the work instead
        return self.cfg.disc_factor > 0 and step >= self.cfg.disc_start

    def generator_loss(self, x, xrec, qloss, step: int, last_layer: torch.Tensor | None,
                       disc: nn.Module | None = None) -> tuple[torch.Tensor, dict]:
        rec = (x - xrec).abs()  # L1, per pixel
        p_loss = torch.zeros((), device=x.device)
        if self.perceptual is not None and self.cfg.perceptual_weight > 0:
            with full_precision(x):
                p_loss = self.perceptual(x.float(), xrec.float()).mean()  # (B,1,1,1) in taming
            rec = rec + self.cfg.perceptual_weight * p_loss
        elif self.cfg.perceptual == "disc-features" and self.cfg.perceptual_weight > 0:
            with full_precision(x):
                p_loss = feature_distance(disc or self.discriminator, x, xrec)
            rec = rec + self.cfg.perceptual_weight * p_loss
        nll = rec.mean()
        loss = nll + self.cfg.codebook_weight * qloss
        logs = {"rec_loss": (x - xrec).abs().mean().item(), "p_loss": p_loss.item(),
                "q_loss": qloss.item()}
        if self.disc_active(step):
            disc = disc or self.discriminator
            # the generator wants D to call its output real: minimise -D(x̂) (hinge generator loss)
            with full_precision(x):
                g_loss = -disc(xrec.float()).mean()
            if last_layer is not None and torch.is_grad_enabled():
                d_weight = adaptive_weight(nll, g_loss, last_layer, self.cfg.adaptive_eps)
            else:
                d_weight = torch.zeros((), device=x.device)
            d_weight = d_weight * self.cfg.disc_weight
            loss = loss + d_weight * self.cfg.disc_factor * g_loss
            logs.update(g_loss=g_loss.item(), d_weight=d_weight.item())
        logs["loss"] = loss.item()
        return loss, logs

    def discriminator_loss(self, x, xrec, disc: nn.Module | None = None) -> tuple[torch.Tensor, dict]:
        disc = disc or self.discriminator
        with full_precision(x):
            real, fake = disc(x.detach().float()), disc(xrec.detach().float())
        d_loss = self.cfg.disc_factor * self.d_loss_fn(real, fake)
        return d_loss, {"d_loss": d_loss.item(), "logits_real": real.mean().item(),
                        "logits_fake": fake.mean().item()}


def seg_loss(logits: torch.Tensor, onehot: torch.Tensor, qloss: torch.Tensor,
             codebook_weight: float = 1.0) -> tuple[torch.Tensor, dict]:
    """taming's BCELossWithQuant: BCE-with-logits against the one-hot map, plus the VQ loss."""
    bce = F.binary_cross_entropy_with_logits(logits, onehot)
    loss = bce + codebook_weight * qloss
    return loss, {"bce": bce.item(), "q_loss": qloss.item(), "loss": loss.item()}
