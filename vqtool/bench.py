"""Throughput and memory figures per stage, measured on the current device.

Goals are ratios against a reference measured in the same run (e.g. tokenize vs the encoder
alone, the fast sampler vs the naive one), never absolute wall-clock promises.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

from vqtool.core import runtime
from vqtool.core.config import load_recipe
from vqtool.core.errors import WeightsNotFound
from vqtool.core.loading import count_params


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_vqgan(recipe: str = "scenes-vqgan-tiny", overrides=None, steps: int = 5,
                batch_size: int | None = None, size: int | None = None, device: str = "auto") -> dict:
    """Training steps/s (generator + discriminator step) on synthetic batches."""
    from vqtool.core.losses import VQGANLoss, seg_loss
    from vqtool.core.vqgan import VQGAN
    from vqtool.core.weights import build_lpips

    dev = runtime.resolve_device(device)
    r = load_recipe(recipe, overrides, kinds=("vqgan", "seg-vqgan"))
    seg = r.kind == "seg-vqgan"
    if seg and r.model.in_channels in (0, 3):
        r.model.in_channels = r.model.out_channels = 9
    B, S = batch_size or r.optim.batch_size, size or r.data.size
    torch.manual_seed(0)
    model = VQGAN(r.model).to(dev)
    perceptual, note = None, "off"
    if not seg and r.loss.perceptual == "lpips":
        try:
            perceptual, note = build_lpips().to(dev), "lpips"
        except WeightsNotFound:
            note = "skipped (weights missing)"
    loss_mod = VQGANLoss(r.loss, r.model.out_channels, perceptual).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4, betas=(0.5, 0.9))
    opt_d = torch.optim.Adam(loss_mod.discriminator.parameters(), lr=1e-4, betas=(0.5, 0.9))
    if seg:
        x = F.one_hot(torch.randint(0, r.model.in_channels, (B, S, S)), r.model.in_channels)
        x = x.permute(0, 3, 1, 2).float().to(dev)
    else:
        x = torch.rand(B, 3, S, S, device=dev) * 2 - 1
    step_at = r.loss.disc_start  # measure with the discriminator on (the expensive regime)

    def one():
        with runtime.autocast(dev, r.train.amp):
            xrec, q = model(x)
            if seg:
                loss, _ = seg_loss(xrec.float(), x, q.loss)
            else:
                loss, _ = loss_mod.generator_loss(x, xrec.float(), q.loss, step_at, model.last_layer())
        opt.zero_grad()
        loss.backward()
        opt.step()
        if not seg:
            with runtime.autocast(dev, r.train.amp):
                d, _ = loss_mod.discriminator_loss(x, xrec.float())
            opt_d.zero_grad()
            d.backward()
            opt_d.step()

    one()
    runtime.reset_peak_memory(dev)
    _sync(dev)
    t = time.perf_counter()
    for _ in range(steps):
        one()
    _sync(dev)
    dt = (time.perf_counter() - t) / steps
    return {"stage": "vqgan", "recipe": recipe, "device": str(dev), "batch": B, "size": S,
            "params_m": count_params(model) / 1e6, "perceptual": note,
            "steps_per_s": 1 / dt, "images_per_s": B / dt, "peak_mem_mb": runtime.peak_memory_mb(dev)}
