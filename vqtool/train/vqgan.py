"""Training loop for the image VQGAN and the segmentation cond stage.

One autoencoder forward per batch serves both the generator and the discriminator step (taming
runs it twice); the discriminator does no work before ``disc_start``. Everything needed to
resume exactly (models, discriminator, both optimisers, RNG, step) is in ``last.pt``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F

from vqtool.core import checkpoint as ckpt_mod
from vqtool.core import runtime
from vqtool.core.config import VQGANRecipe, build_recipe, to_dict
from vqtool.core.errors import ConfigError, DataError, WeightsNotFound
from vqtool.core.losses import VQGANLoss, seg_loss
from vqtool.core.quantize import codebook_stats, collapsed
from vqtool.core.vqgan import VQGAN
from vqtool.core.weights import build_lpips
from vqtool.data import images as imgs
from vqtool.train.common import (Callbacks, MetricsLog, NonFiniteGuard, StopFlag, lr_at,
                                 prepare_run_dir, save_grid, to_toml)


def colorize(labels: torch.Tensor, palette: list | None) -> torch.Tensor:
    """(B, H, W) class ids -> (B, 3, H, W) in [-1, 1] for viewing."""
    n = int(labels.max()) + 1
    pal = torch.tensor(palette if palette and len(palette) >= n else
                       [[(37 * i) % 256, (91 * i) % 256, (151 * i) % 256] for i in range(max(n, 1))],
                       dtype=torch.float32)
    return (pal[labels] / 127.5 - 1).permute(0, 3, 1, 2)


def _setup_data(images: Path, seg: bool):
    files = imgs.list_images(images)
    skipped = imgs.Skipped()
    good = []
    for f in files:
        reason = imgs.header_ok(f)
        if reason:
            skipped.add(f, reason)
        else:
            good.append(f)
    if not good:
        raise DataError(f"none of the {len(files)} file(s) in {images} is a readable image")
    meta = imgs.find_label_meta(images) if seg else None
    palette = meta.get("palette") if meta else None
    return good, skipped, meta, palette


def train_vqgan(images: Path, out: Path, recipe: VQGANRecipe | None = None, resume: bool = False,
                overrides: list[str] | None = None, device: str = "auto",
                weights_dir: str | None = None, callbacks: Callbacks | None = None) -> dict:
    cb = callbacks or Callbacks()
    out = Path(out)
    device = runtime.init_distributed(runtime.resolve_device(device))
    resume_from = prepare_run_dir(out, resume)
    state = None
    if resume_from is not None:
        state = ckpt_mod.load_checkpoint(resume_from, (ckpt_mod.VQGAN, ckpt_mod.SEG_VQGAN))
        recipe = build_recipe(state["config"], overrides, kinds=("vqgan", "seg-vqgan"))
    assert recipe is not None
    seg = recipe.kind == "seg-vqgan"
    if recipe.optim.grad_accum != 1:
        raise ConfigError("'optim.grad_accum' must be 1 for VQGAN training (the GAN step is per batch)")

    files, skipped, meta, palette = _setup_data(images, seg)
    val_files = []
    if recipe.data.val_count:  # held out from training, for eval-recon every train.eval_every steps
        import hashlib

        root = Path(images)
        order = sorted(files, key=lambda p: hashlib.sha1(p.relative_to(root).as_posix().encode()).hexdigest())
        val_files = sorted(order[:recipe.data.val_count])
        files = [f for f in files if f not in set(val_files)]
    if seg:
        n_labels = len(meta["classes"]) if meta else 0
        if recipe.model.in_channels in (0, 3) and n_labels:
            recipe.model.in_channels = recipe.model.out_channels = n_labels
        if recipe.model.in_channels <= 0:
            raise ConfigError("seg-vqgan needs the number of classes: put classes.json beside the label "
                              "maps or set model.in_channels and model.out_channels")
    f = 2 ** (len(recipe.model.ch_mult) - 1)
    if recipe.data.size % f:
        raise ConfigError(f"'data.size' ({recipe.data.size}) must be a multiple of the downsampling factor {f}")

    runtime.seed_all(recipe.train.seed)
    model = VQGAN(recipe.model).to(device)
    perceptual, perceptual_state = None, "off"
    if not seg and recipe.loss.perceptual == "lpips":
        try:
            perceptual, perceptual_state = build_lpips(weights_dir).to(device), "lpips"
        except WeightsNotFound as e:
            if recipe.loss.on_missing_weights == "error":
                raise
            perceptual_state = "skipped (weights missing)"
            cb.warn(f"TRAINING WITHOUT THE PERCEPTUAL (LPIPS) TERM: {e} "
                    "This recipe sets loss.on_missing_weights='skip'; reconstructions will be blurrier.")
    loss_mod = VQGANLoss(recipe.loss, recipe.model.out_channels, perceptual).to(device)
    disc = loss_mod.discriminator
    ae_params = [p for p in model.parameters() if p.requires_grad]
    opt_ae = torch.optim.Adam(ae_params, lr=recipe.optim.lr, betas=tuple(recipe.optim.betas))
    opt_d = torch.optim.Adam(disc.parameters(), lr=recipe.optim.lr, betas=tuple(recipe.optim.betas))

    step = 0
    if state is not None:
        model.load_state_dict(state["model"])
        ts = state["train_state"]
        disc.load_state_dict(ts["discriminator"])
        opt_ae.load_state_dict(ts["opt_ae"])
        opt_d.load_state_dict(ts["opt_d"])
        runtime.set_rng_state(ts["rng"])
        for p, r in ts.get("skipped", {}).items():
            skipped.add(p, r)
        step = state["step"]
        cb.info(f"resuming from {resume_from} at step {step}")
    if recipe.train.channels_last:
        model = model.to(memory_format=torch.channels_last)

    ae, d_train = model, disc
    if runtime.is_distributed():
        ae = torch.nn.parallel.DistributedDataParallel(model)
        d_train = torch.nn.parallel.DistributedDataParallel(disc)
    if recipe.train.compile:
        ae = torch.compile(ae)

    max_steps = recipe.train.max_steps
    dataset = imgs.CropDataset(files, recipe.data.size, recipe.data.resize, recipe.data.random_crop,
                               recipe.data.flip, labels=seg, palette=palette)
    sampler = imgs.StepBatches(len(files), recipe.optim.batch_size, recipe.train.seed, step, max_steps,
                               runtime.rank(), runtime.world_size())
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=imgs.collate,
                                         num_workers=recipe.data.workers)
    if runtime.is_main():
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.toml").write_text(to_toml(to_dict(recipe)))
    metrics = MetricsLog(out)
    source = {"images": str(Path(images).resolve()), "n_images": len(files),
              "classes": imgs.class_names(files, Path(images)) if Path(images).is_dir() else None,
              "label_classes": meta.get("classes") if meta else None, "palette": palette}
    fmt = ckpt_mod.SEG_VQGAN if seg else ckpt_mod.VQGAN
    # images (not crops) smaller than data.size, kept across --resume
    upscaled = set(state["train_state"].get("upscaled", [])) if state is not None else set()
    was_collapsed = False
    g_guard, d_guard = NonFiniteGuard("generator loss"), NonFiniteGuard("discriminator loss")
    usage = torch.zeros(recipe.model.quantizer.n_embed)
    stop = StopFlag().install()

    def save(step_now: int) -> None:
        if not runtime.is_main():
            return
        ckpt_mod.save_checkpoint(out / "last.pt", {
            "format": fmt, "config": to_dict(recipe), "model": model.state_dict(), "step": step_now,
            "data": source, "perceptual": perceptual_state,
            "train_state": {"discriminator": disc.state_dict(), "opt_ae": opt_ae.state_dict(),
                            "opt_d": opt_d.state_dict(), "rng": runtime.rng_state(),
                            "skipped": dict(skipped.items), "upscaled": sorted(upscaled)},
        })

    cb.on_start(step, max_steps)
    t0, seen0, logs = time.time(), step, {}
    try:
        for batch in loader:
            for p, r in batch["failed"]:
                if p not in skipped.items:
                    cb.warn(f"skipping unreadable image {p}: {r}")
                skipped.add(p, r)
            upscaled.update(batch["upscaled"])
            x = batch["x"].to(device)
            if seg:
                x = F.one_hot(x, recipe.model.in_channels).permute(0, 3, 1, 2).float()  # (B,K,H,W)
            lr = lr_at(step, recipe.optim, max_steps)
            for g in (*opt_ae.param_groups, *opt_d.param_groups):
                g["lr"] = lr
            model.train()
            with runtime.autocast(device, recipe.train.amp):
                xrec, q = ae(x)
                if seg:
                    loss, logs = seg_loss(xrec.float(), x, q.loss, recipe.loss.codebook_weight)
                else:
                    disc.requires_grad_(False)  # the generator step must not train D (taming#27)
                    loss, logs = loss_mod.generator_loss(x, xrec.float(), q.loss, step,
                                                         model.last_layer(), disc)
            opt_ae.zero_grad(set_to_none=True)
            if g_guard.ok(loss, cb.warn):
                loss.backward()
                if recipe.optim.grad_clip:
                    torch.nn.utils.clip_grad_norm_(ae_params, recipe.optim.grad_clip)
                opt_ae.step()
            if not seg and loss_mod.disc_active(step):
                disc.requires_grad_(True)
                with runtime.autocast(device, recipe.train.amp):
                    d_loss, dlogs = loss_mod.discriminator_loss(x, xrec.float(), d_train)
                opt_d.zero_grad(set_to_none=True)
                if d_guard.ok(d_loss, cb.warn):
                    d_loss.backward()
                    opt_d.step()
                logs.update(dlogs)
            usage += q.counts.cpu()
            step += 1
            logs["lr"] = lr
            cb.on_step(step, logs)
            if step % recipe.train.log_every == 0 or step == max_steps:
                st = codebook_stats(usage)
                why = collapsed(st, recipe.model.quantizer.n_embed)
                if why and not was_collapsed:
                    cb.warn(f"CODEBOOK COLLAPSE at step {step}: {why}. Reconstructions will be flat; see README, "
                            "'Your own images' (lower optim.lr, model.quantizer.restart_dead = true)")
                was_collapsed = bool(why)
                dt = time.time() - t0
                ips = (step - seen0) * recipe.optim.batch_size * runtime.world_size() / max(dt, 1e-9)
                metrics.write({"step": step, **logs, **st, "images_per_s": ips})
                logs.update(st)
                usage.zero_()
            # the checkpoint comes first: a preview or evaluation that fails must not cost the save
            if stop.checkpoint(step, recipe.train.ckpt_every, step == max_steps, save, cb.warn):
                break
            if runtime.is_main() and recipe.train.image_every and (
                    step % recipe.train.image_every == 0 or step == max_steps):
                _write_recon_grid(x, xrec, seg, palette, out / "samples" / f"recon-{step:06d}.png")
            if (runtime.is_main() and val_files and recipe.train.eval_every
                    and (step % recipe.train.eval_every == 0 or step == max_steps)):
                from vqtool.eval.metrics import eval_recon

                model.eval()
                ev = eval_recon(images, None, size=recipe.data.size, device=device.type, rfid=False,
                                files=val_files[:recipe.train.eval_n], model=model, seg=seg, warn=cb.warn)
                model.train()
                metrics.write({"step": step, "eval": ev})
                logs.update({f"val_{k}": v for k, v in ev.items() if k in ("psnr", "pixel_accuracy", "usage")})
    finally:
        stop.restore()
        runtime.barrier()
    if skipped.items:
        cb.warn(skipped.summary())
    return {"run_dir": str(out), "checkpoint": str(out / "last.pt"), "step": step,
            "interrupted": stop.requested, "skipped": len(skipped.items),
            "skipped_files": dict(skipped.items), "upscaled": len(upscaled), "perceptual": perceptual_state,
            "collapsed": was_collapsed,
            "last": {k: v for k, v in logs.items() if isinstance(v, (int, float))},
            "seconds": time.time() - t0}


def _write_recon_grid(x, xrec, seg: bool, palette, path: Path) -> None:
    n = min(4, x.shape[0])
    if seg:
        a, b = colorize(x[:n].argmax(1).cpu(), palette), colorize(xrec[:n].argmax(1).cpu(), palette)
    else:
        a, b = x[:n].cpu(), xrec[:n].detach().cpu()
    ims = [imgs.to_image(t) for pair in zip(a, b) for t in pair]
    save_grid(ims, path, cols=2 * n)
