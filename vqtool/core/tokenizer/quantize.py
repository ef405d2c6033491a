"""Vector quantizers: nearest-neighbour VQ (with the options the field learned since 2021) and
taming's Gumbel quantizer for converted models.

VQ-VAE (van den Oord et al. 2017): z_q = argmin_k ||z - e_k||, gradients pass straight through
(z + sg(z_q - z)), and the loss is ||sg(z) - e||² (moves codes) + β·||z - sg(e)||² (commitment).
taming's VectorQuantizer2 trains with β on the *codebook* term instead (``legacy=True``); we keep
the paper's placement by default and the legacy one for converted models.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from vqtool.core import runtime
from vqtool.core.config import QuantizerConfig


class QuantOut(NamedTuple):
    quant: torch.Tensor  # (B, C, H, W), straight-through
    loss: torch.Tensor  # scalar
    indices: torch.Tensor  # (B, H, W) int64
    counts: torch.Tensor  # (n_embed,) assignments in this batch (summed over ranks in training)


def codebook_stats(counts: torch.Tensor) -> dict[str, float]:
    """Usage (% of codebook entries assigned at least once) and perplexity (exp of the entropy of
    the assignment histogram: the number of equally used codes it is worth). One definition for
    training (the assignments of the last train.log_every steps) and eval-recon (the evaluated
    images)."""
    counts = counts.double()
    total = counts.sum().clamp(min=1)
    p = counts / total
    perplexity = torch.exp(-(p * torch.log(p.clamp(min=1e-12))).sum()).item()
    return {"usage": 100.0 * (counts > 0).double().mean().item(), "perplexity": perplexity}


COLLAPSE_USAGE = 10.0  # % of codes; below this (or the perplexity below) the codebook has collapsed


# reconstructions whose spread (per-image pixel std) is below this share of the originals' are flat
FLAT_SPREAD = 0.2


def spread(x: torch.Tensor, xrec: torch.Tensor) -> float:
    """Mean over a batch of each reconstruction's spatial spread (per-channel pixel standard deviation,
    averaged over channels) over its original's: near 1 for a faithful autoencoder, near 0 when
    every output is one flat colour."""
    def sd(t):  # (B, C, H, W) -> (B,)
        return t.detach().float().flatten(2).std(2).mean(1)

    return float((sd(xrec) / sd(x).clamp(min=1e-3)).mean())


def flat(ratio: float) -> str | None:
    """Why reconstructions count as flat (their pixel spread a small share of the originals'), or None."""
    if ratio < FLAT_SPREAD:
        return (f"the reconstructions' pixel spread is {ratio:.2f} of the originals' (floor {FLAT_SPREAD}): "
                "they are nearly one colour")
    return None


def collapsed(stats: dict[str, float], n_embed: int) -> str | None:
    """Why a codebook counts as collapsed (usage < 10% or perplexity < max(2, n_embed/64)), or None."""
    floor = max(2.0, n_embed / 64)
    if stats["usage"] < COLLAPSE_USAGE or stats["perplexity"] < floor:
        return (f"codebook usage {stats['usage']:.1f}% (floor {COLLAPSE_USAGE:.0f}%), perplexity "
                f"{stats['perplexity']:.1f} (floor {floor:.0f}) of {n_embed} codes")
    return None


class VectorQuantizer(nn.Module):
    def __init__(self, cfg: QuantizerConfig):
        super().__init__()
        self.cfg = cfg
        self.n_embed, self.embed_dim = cfg.n_embed, cfg.embed_dim
        d = cfg.codebook_dim or cfg.embed_dim
        self.code_dim = d
        # low-dimensional lookup (ViT-VQGAN, LlamaGen): project in, look up, project out
        self.proj_in = nn.Linear(cfg.embed_dim, d) if cfg.codebook_dim else None
        self.proj_out = nn.Linear(d, cfg.embed_dim) if cfg.codebook_dim else None
        self.embedding = nn.Embedding(cfg.n_embed, d)
        self.embedding.weight.data.uniform_(-1.0 / cfg.n_embed, 1.0 / cfg.n_embed)  # taming's init
        if cfg.ema:
            self.embedding.weight.requires_grad_(False)
            self.register_buffer("ema_count", torch.ones(cfg.n_embed))
            self.register_buffer("ema_sum", self.embedding.weight.data.clone())
        if cfg.restart_dead:
            self.register_buffer("usage_ema", torch.zeros(cfg.n_embed))
            self.register_buffer("steps", torch.zeros((), dtype=torch.long))

    # ----------------------------------------------------------------- lookup

    def _codebook(self) -> torch.Tensor:
        w = self.embedding.weight.float()
        return F.normalize(w, dim=1) if self.cfg.l2_norm else w

    def _project_in(self, zf: torch.Tensor) -> torch.Tensor:
        ze = self.proj_in(zf) if self.proj_in is not None else zf
        return F.normalize(ze, dim=1) if self.cfg.l2_norm else ze

    def nearest(self, ze: torch.Tensor) -> torch.Tensor:
        """Index of the nearest code for each row of ``ze`` (N, d)."""
        cb = self._codebook()
        # ||z||² - 2 z·e + ||e||², in fp32 (bf16 distances collapse codes)
        dist = ze.pow(2).sum(1, keepdim=True) - 2 * ze @ cb.t() + cb.pow(2).sum(1)[None]
        return dist.argmin(1)

    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """(B, H, W) indices -> (B, embed_dim, H, W) quantized latent."""
        zq = F.embedding(indices, self._codebook())  # (B, H, W, d)
        if self.proj_out is not None:
            zq = self.proj_out(zq)
        return zq.permute(0, 3, 1, 2).contiguous()

    # ----------------------------------------------------------------- forward

    def forward(self, z: torch.Tensor) -> QuantOut:
        with torch.autocast(z.device.type, enabled=False):
            return self._forward(z.float())

    def _forward(self, z: torch.Tensor) -> QuantOut:
        B, C, H, W = z.shape
        zf = z.permute(0, 2, 3, 1).reshape(-1, C)  # (B*H*W, C)
        ze = self._project_in(zf)  # (N, d)
        idx = self.nearest(ze.detach())
        zq = F.embedding(idx, self._codebook())  # (N, d)
        counts = torch.bincount(idx, minlength=self.n_embed).float()

        commit = F.mse_loss(ze, zq.detach())  # pulls the encoder towards its code
        if self.cfg.ema:
            loss = self.cfg.beta * commit  # codes move by EMA, not by gradient
        else:
            codebook = F.mse_loss(zq, ze.detach())  # pulls the code towards the encoder
            if self.cfg.legacy:  # taming VectorQuantizer2(legacy=True): beta on the wrong term
                loss = commit + self.cfg.beta * codebook
            else:
                loss = self.cfg.beta * commit + codebook

        if self.training:
            counts = runtime.all_reduce_(counts)
            with torch.no_grad():
                if self.cfg.ema:
                    self._ema_update(ze.detach(), idx, counts)
                if self.cfg.restart_dead:
                    self._maybe_restart(ze.detach(), counts)

        zq = ze + (zq - ze).detach()  # straight-through estimator
        if self.proj_out is not None:
            zq = self.proj_out(zq)
        quant = zq.reshape(B, H, W, -1).permute(0, 3, 1, 2).contiguous()  # (B, C, H, W)
        return QuantOut(quant, loss, idx.reshape(B, H, W), counts)

    # ----------------------------------------------------------------- codebook upkeep

    def _ema_update(self, ze: torch.Tensor, idx: torch.Tensor, counts: torch.Tensor) -> None:
        decay, eps = self.cfg.ema_decay, 1e-5
        sums = torch.zeros_like(self.ema_sum).index_add_(0, idx, ze)
        runtime.all_reduce_(sums)
        self.ema_count.mul_(decay).add_(counts, alpha=1 - decay)
        self.ema_sum.mul_(decay).add_(sums, alpha=1 - decay)
        n = self.ema_count.sum()
        smoothed = (self.ema_count + eps) / (n + self.n_embed * eps) * n  # Laplace smoothing
        self.embedding.weight.data.copy_(self.ema_sum / smoothed[:, None])

    def _maybe_restart(self, ze: torch.Tensor, counts: torch.Tensor) -> None:
        # usage as a share of a uniform assignment (1.0 = every code used equally), not a raw count:
        # the global batch (batch size x GPUs x tokens per image) then does not change what "dead" means
        share = counts * (self.n_embed / counts.sum().clamp(min=1))
        # mean share over the current window of restart_every steps (the buffer keeps its old name,
        # so checkpoints load). Why a window, not a slow EMA: an EMA with decay 0.99 needs ~400 steps
        # before an unused code looks dead, and by then a collapse has set in (measured: the tiny
        # recipe collapsed to one code within 50 steps on photos and restarted nothing until ~400)
        self.usage_ema.add_(share, alpha=1.0 / self.cfg.restart_every)
        self.steps += 1
        if int(self.steps) % self.cfg.restart_every:
            return
        dead = self.usage_ema < self.cfg.restart_threshold
        self.usage_ema.zero_()  # a new window; restarted codes get 1.0 below: judged on the next one
        n_dead = int(dead.sum())
        if n_dead == 0:
            return
        pick = torch.randint(0, ze.shape[0], (n_dead,), device=ze.device)
        new = ze[pick] + 1e-4 * torch.randn_like(ze[pick])
        runtime.broadcast_(new)  # every rank restarts with rank 0's vectors
        self.restart_codes(dead, new)

    def restart_codes(self, dead: torch.Tensor, new: torch.Tensor) -> None:
        """Replace the codes in mask ``dead`` by ``new`` and reset their running statistics."""
        self.embedding.weight.data[dead] = new.to(self.embedding.weight.dtype)
        if self.cfg.ema:  # without this the next EMA step drags the code straight back
            self.ema_count[dead] = 1.0
            self.ema_sum[dead] = new
        if self.cfg.restart_dead:
            self.usage_ema[dead] = 1.0


class GumbelQuantizer(nn.Module):
    """taming's GumbelQuantize (DALL-E style): logits over codes from a 1x1 conv, hard
    Gumbel-softmax in training, argmax at inference; KL to a uniform prior as its loss."""

    def __init__(self, cfg: QuantizerConfig, kl_weight: float = 5e-4, temperature: float = 1.0):
        super().__init__()
        self.cfg = cfg
        self.n_embed, self.embed_dim = cfg.n_embed, cfg.embed_dim
        self.kl_weight, self.temperature = kl_weight, temperature
        self.proj = nn.Conv2d(cfg.embed_dim, cfg.n_embed, 1)
        self.embed = nn.Embedding(cfg.n_embed, cfg.embed_dim)

    def codes_from_indices(self, indices: torch.Tensor) -> torch.Tensor:
        return self.embed(indices).permute(0, 3, 1, 2).contiguous()

    def forward(self, z: torch.Tensor) -> QuantOut:
        logits = self.proj(z.float())  # (B, n_embed, H, W)
        if self.training:
            onehot = F.gumbel_softmax(logits, tau=self.temperature, dim=1, hard=True)
            quant = torch.einsum("bnhw,nd->bdhw", onehot, self.embed.weight)
            q = F.softmax(logits, dim=1)
            loss = self.kl_weight * (q * torch.log(q * self.n_embed + 1e-10)).sum(1).mean()
        else:
            quant = self.codes_from_indices(logits.argmax(1))
            loss = logits.new_zeros(())
        idx = logits.argmax(1)
        counts = torch.bincount(idx.flatten(), minlength=self.n_embed).float()
        return QuantOut(quant, loss, idx, counts)


def build_quantizer(cfg: QuantizerConfig) -> nn.Module:
    return GumbelQuantizer(cfg) if cfg.kind == "gumbel" else VectorQuantizer(cfg)
