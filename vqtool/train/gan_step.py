"""One VQGAN training step and what it needs: the model, the loss with its discriminator, both
optimisers. The training loop, ``vqtool bench vqgan`` and the tests all call ``gan_step``."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vqtool.core import runtime
from vqtool.core.config import VQGANRecipe
from vqtool.core.errors import WeightsNotFound
from vqtool.core.tokenizer.inputs import BY_RECIPE
from vqtool.core.tokenizer.losses import VQGANLoss
from vqtool.core.tokenizer.vqgan import VQGAN
from vqtool.core.io.weights import build_lpips
from vqtool.train.common import NonFiniteGuard


@dataclass
class GANTrainer:
    """What one VQGAN step needs. ``ae``/``d_train`` are the DDP/compiled wrappers of ``model``/``disc``."""
    model: VQGAN
    ae: torch.nn.Module
    loss: VQGANLoss
    d_train: torch.nn.Module
    opt_ae: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    recipe: VQGANRecipe
    device: torch.device
    g_guard: NonFiniteGuard
    d_guard: NonFiniteGuard

    @property
    def input(self):
        """What the VQGAN encodes (core.tokenizer.inputs): images or label maps."""
        return BY_RECIPE[self.recipe.kind]

    @property
    def disc(self):
        return self.loss.discriminator


def gan_step(t: GANTrainer, x: torch.Tensor, step: int, lr: float, warn) -> tuple[dict, torch.Tensor, object]:
    """Generator step, then (image VQGAN, after disc_start) discriminator step on the same x̂.
    ``x``: the network input (t.input.net_input: images in [-1, 1], one-hot label maps). Returns (logs, x̂, quantizer output)."""
    r = t.recipe
    for g in (*t.opt_ae.param_groups, *t.opt_d.param_groups):
        g["lr"] = lr
    t.model.train()
    with runtime.autocast(t.device, r.train.amp):
        xrec, q = t.ae(x)
        loss, logs = t.input.loss(t.loss, x, xrec.float(), q.loss, step, t.model.last_layer(), t.disc)
    t.opt_ae.zero_grad(set_to_none=True)
    if t.g_guard.ok(loss, warn):
        loss.backward()
        if r.optim.grad_clip:
            torch.nn.utils.clip_grad_norm_([p for p in t.model.parameters() if p.requires_grad], r.optim.grad_clip)
        t.opt_ae.step()
    if t.input.adversarial and t.loss.disc_active(step):
        t.disc.requires_grad_(True)
        with runtime.autocast(t.device, r.train.amp):
            d_loss, dlogs = t.loss.discriminator_loss(x, xrec.float(), t.d_train)
        t.opt_d.zero_grad(set_to_none=True)
        if t.d_guard.ok(d_loss, warn):
            d_loss.backward()
            t.opt_d.step()
        logs.update(dlogs)
    logs["lr"] = lr
    return logs, xrec, q


def build_trainer(recipe: VQGANRecipe, device, make_perceptual=None, state: dict | None = None,
                  init: dict | None = None) -> GANTrainer:
    """Model, loss (with its discriminator) and both optimisers, restored from ``state`` on resume.
    ``init``: a VQGAN checkpoint to start from (its weights, and its discriminator when it has one
    of the recipe's shape); fresh optimisers, step 0. ``make_perceptual()`` builds the LPIPS module
    (or None) after the model, so the seeded initialisation order is the same with and without it."""
    runtime.seed_all(recipe.train.seed)
    model = VQGAN(recipe.model).to(device)
    perceptual = make_perceptual() if make_perceptual else None
    loss_mod = VQGANLoss(recipe.loss, recipe.model.out_channels, perceptual).to(device)
    disc = loss_mod.discriminator
    # built before freezing the tokenizer: its parameters get no gradient and Adam skips them, and a
    # run and its resumption list the same parameters whatever train.trainable says
    opt_ae = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=recipe.optim.lr,
                              betas=tuple(recipe.optim.betas))
    opt_d = torch.optim.Adam(disc.parameters(), lr=recipe.optim.lr, betas=tuple(recipe.optim.betas))
    if state is not None:
        model.load_state_dict(state["model"])
        ts = state["train_state"]
        disc.load_state_dict(ts["discriminator"])
        opt_ae.load_state_dict(ts["opt_ae"])
        opt_d.load_state_dict(ts["opt_d"])
        runtime.set_rng_state(ts["rng"])
    elif init is not None:
        model.load_state_dict(init["model"])
        d = (init.get("train_state") or {}).get("discriminator")
        if d is not None and _same_shapes(disc.state_dict(), d):
            disc.load_state_dict(d)
    if recipe.train.trainable == "decoder":
        model.freeze_tokenizer()
    if recipe.train.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ae, d_train = model, disc
    if runtime.is_distributed():
        ae = torch.nn.parallel.DistributedDataParallel(model)
        d_train = torch.nn.parallel.DistributedDataParallel(disc)
    if recipe.train.compile:
        ae = torch.compile(ae)
    return GANTrainer(model, ae, loss_mod, d_train, opt_ae, opt_d, recipe, device,
                      NonFiniteGuard("generator loss"), NonFiniteGuard("discriminator loss"))


def _same_shapes(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(a[k].shape == b[k].shape for k in a)


class Perceptual:
    """Builds the LPIPS module (or None) when called; ``state`` is what the checkpoint records."""

    def __init__(self, recipe: VQGANRecipe, weights_dir, device, warn):
        self.recipe, self.weights_dir, self.device, self.warn = recipe, weights_dir, device, warn
        p = recipe.loss.perceptual
        self.state = "off" if not BY_RECIPE[recipe.kind].adversarial or p == "none" else p

    def __call__(self):
        if self.state != "lpips":
            return None
        try:
            return build_lpips(self.weights_dir).to(self.device)
        except WeightsNotFound as e:
            if self.recipe.loss.on_missing_weights == "error":
                raise
            self.warn(f"TRAINING WITHOUT THE PERCEPTUAL (LPIPS) TERM: {e} "
                      "This recipe sets loss.on_missing_weights='skip'; reconstructions will be blurrier.")
            self.state = "skipped (weights missing)"
            return None
