"""Training loop for the image VQGAN and the segmentation cond stage.

One autoencoder forward per batch serves both the generator and the discriminator step (taming
runs it twice); the discriminator does no work before ``disc_start``. Everything needed to
resume exactly (models, discriminator, both optimisers, RNG, step) is in ``last.pt``.
``gan_step`` is one training step (the loop, the bench and the tests call it).
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import torch

from vqtool.core.io import checkpoint as ckpt_mod
from vqtool.core import runtime
from vqtool.core.config import VQGANRecipe, build_recipe, to_dict
from vqtool.core.errors import ConfigError, DataError
from vqtool.core.tokenizer.quantize import codebook_stats, collapsed, flat, spread
from vqtool.core.tokenizer.inputs import BY_RECIPE, input_of
from vqtool.core.tokenizer.loading import load_vqgan
from vqtool.core.tokenizer.vqgan import VQGAN
from vqtool.train.gan_step import GANTrainer, Perceptual, build_trainer, gan_step
from vqtool.data import crops
from vqtool.data import images as imgs
from vqtool.data import sources
from vqtool.core.callbacks import Callbacks
from vqtool.data.images import save_grid
from vqtool.train.common import MetricsLog, StopFlag, check_resume_goal, lr_at, prepare_run_dir, write_config


def _setup_data(images: str, inp):
    """The usable images (a folder's are header-checked now; tar members when loaded), the
    skipped ones, label-map metadata and palette."""
    src = sources.open_source(images)
    if inp.labels and src.root is None:
        raise DataError(f"a {inp.what} trains on a folder of label maps, not on tar shards")
    skipped = imgs.Skipped()
    for shard, why in src.problems:
        skipped.add(shard, why)
    good = []
    for f in src.files:
        reason = imgs.header_ok(f) if src.root is not None else None
        if reason:
            skipped.add(f, reason)
        else:
            good.append(f)
    if not good:
        raise DataError(f"none of the {len(src.files)} file(s) in {images} is a readable image")
    meta = imgs.find_label_meta(Path(images)) if inp.labels else None
    palette = meta.get("palette") if meta else None
    return src, good, skipped, meta, palette


def _hold_out(src: sources.Source, files: list, count: int) -> tuple[list, list]:
    """(train, val): ``count`` images held out for eval-recon, chosen by a hash of their relative name."""
    if not count:
        return files, []
    import hashlib

    rel = {f: src.rel(i) for i, f in enumerate(src.files)}
    order = sorted(files, key=lambda p: hashlib.sha1(rel[p].encode()).hexdigest())
    val = set(order[:count])
    return [f for f in files if f not in val], [f for f in files if f in val]


def _check_recipe(recipe: VQGANRecipe, meta: dict | None, device, max_memory: int | None) -> None:
    if recipe.optim.grad_accum != 1:
        raise ConfigError("'optim.grad_accum' must be 1 for VQGAN training (the GAN step is per batch)")
    BY_RECIPE[recipe.kind].channels(recipe, meta)
    f = recipe.model.factor
    if recipe.data.size % f:
        raise ConfigError(f"'data.size' ({recipe.data.size}) must be a multiple of the downsampling factor {f}")
    check_memory(recipe, device, max_memory)


def check_memory(recipe: VQGANRecipe, device, limit: int | None) -> None:
    """Refuse a recipe whose weights and activations cannot fit (``model.ch = 1000000``,
    ``data.size = 1048576``, ``optim.batch_size = 100000000``) before anything is allocated."""
    from vqtool.core import memory
    from vqtool.core.tokenizer.discriminator import PatchDiscriminator

    m, loss = recipe.model, recipe.loss
    params = memory.param_count_in(lambda k: VQGAN(replace(m, num_res_blocks=k)), m.num_res_blocks)
    disc = memory.param_count(lambda: PatchDiscriminator(m.out_channels, loss.disc_ndf, loss.disc_num_layers))
    need = memory.vqgan_train_bytes(m, params, disc, recipe.optim.batch_size, recipe.data.size)
    memory.check_on(device, need, limit,
                    f"training this VQGAN ({memory.fmt_count(params)} parameters, batch {recipe.optim.batch_size} of "
                    f"{recipe.data.size}x{recipe.data.size})",
                    "lower model.ch, model.quantizer.n_embed, data.size or optim.batch_size")


class _Run:
    """The run's bookkeeping: metrics, codebook usage and collapse warnings, skipped images."""

    def __init__(self, out: Path, recipe: VQGANRecipe, skipped, state: dict | None, warn):
        self.out, self.recipe, self.skipped, self.warn = out, recipe, skipped, warn
        self.metrics = MetricsLog(out, state["step"] if state is not None else 0, recipe.train.logger, to_dict(recipe))
        # images (not crops) smaller than data.size, kept across --resume
        self.upscaled = set(state["train_state"].get("upscaled", [])) if state is not None else set()
        if state is not None:
            for p, r in state["train_state"].get("skipped", {}).items():
                skipped.add(p, r)
        self.usage = torch.zeros(recipe.model.quantizer.n_embed)
        self.was_collapsed = self.was_flat = False
        self.t0, self.logs, self.said = time.time(), {}, set()

    def warn_once(self, msg: str) -> None:
        """For what every scheduled evaluation would repeat (offline: "LPIPS skipped")."""
        if msg not in self.said:
            self.said.add(msg)
            self.warn(msg)

    def summary(self) -> dict:
        return {"skipped": len(self.skipped.items), "skipped_files": dict(self.skipped.items),
                "upscaled": len(self.upscaled), "collapsed": self.was_collapsed or self.was_flat,
                "flat": self.was_flat,
                "last": {k: v for k, v in self.logs.items() if isinstance(v, (int, float))},
                "seconds": time.time() - self.t0}

    def batch_seen(self, batch: dict) -> None:
        for p, r in batch["failed"]:
            if p not in self.skipped.items:
                self.warn(f"skipping unreadable image {p}: {r}")
            self.skipped.add(p, r)
        self.upscaled.update(batch["upscaled"])

    def log(self, step: int, seen0: int, logs: dict, q, x: torch.Tensor, xrec: torch.Tensor) -> None:
        self.usage += q.counts.cpu()
        self.logs = logs
        r = self.recipe
        if step % r.train.log_every and step != r.train.max_steps:
            return
        st = codebook_stats(self.usage)
        why = collapsed(st, r.model.quantizer.n_embed)
        if why and not self.was_collapsed:
            self.warn(f"CODEBOOK COLLAPSE at step {step}: {why}. Reconstructions will be flat; see README, "
                      "'Your own images' (lower optim.lr, model.quantizer.restart_dead = true)")
        if not BY_RECIPE[r.kind].can_be_flat:  # a label map may be one class; an image in one colour is broken
            st["spread"] = spread(x, xrec)
            # judged once the autoencoder has had a quarter of its steps (early reconstructions are all blur)
            is_flat = flat(st["spread"]) if step >= r.train.max_steps // 4 else None
            if is_flat and not self.was_flat:
                self.warn(f"FLAT RECONSTRUCTIONS at step {step}: {is_flat}. The model learnt the mean colour; "
                          "lower optim.lr, or check the data (see README, Troubleshooting)")
            self.was_flat = bool(is_flat)
        self.was_collapsed = bool(why)
        ips = (step - seen0) * r.optim.batch_size * runtime.world_size() / max(time.time() - self.t0, 1e-9)
        self.metrics.write({"step": step, **logs, **st, "images_per_s": ips})
        logs.update(st)
        self.usage.zero_()


def _source(src: sources.Source, files: list, meta: dict | None, palette) -> dict:
    """What the checkpoint records about its training data (tokenize and the sampler read it)."""
    images = src.spec if src.root is None else str(Path(src.spec).resolve())
    return {"images": images, "n_images": len(files), "classes": src.classes,
            "label_classes": meta.get("classes") if meta else None, "palette": palette}


def _loader(files: list[Path], recipe: VQGANRecipe, palette, step: int):
    """Batches of random crops: a pure function of (seed, step), split across ranks."""
    dataset = crops.CropDataset(files, recipe.data.size, recipe.data.resize, recipe.data.random_crop,
                                recipe.data.flip, inp=BY_RECIPE[recipe.kind], palette=palette)
    sampler = crops.StepBatches(len(files), recipe.optim.batch_size, recipe.train.seed, step,
                               recipe.train.max_steps, runtime.rank(), runtime.world_size())
    return torch.utils.data.DataLoader(dataset, batch_sampler=sampler, collate_fn=crops.collate,
                                       num_workers=recipe.data.workers)


def checkpoint_recipe(path: Path, overrides: list[str] | None = None, encodes: str = "image") -> VQGANRecipe:
    """``--init-from`` without ``--recipe``: the recipe the checkpoint was trained with (its loss,
    optimiser and data settings; a converted taming checkpoint has its model, the paper's defaults
    for the rest), with ``overrides``."""
    _, init = load_vqgan(path, encodes=encodes)
    return build_recipe(init["config"], overrides, kinds=(input_of(encodes).recipe_kind,))


def _init_from(path: Path | None, recipe: VQGANRecipe | None, resume: bool) -> dict | None:
    """The checkpoint a new run starts from (``--init-from``); its architecture replaces the
    recipe's [model]. Checked before anything is written."""
    if path is not None and (resume or recipe is None):
        raise ConfigError("--init-from starts a new run from a checkpoint's weights; --resume continues a run: "
                          "give one of them")
    if path is None:
        if recipe is not None and recipe.train.trainable == "decoder" and not resume:
            raise ConfigError("'train.trainable' = 'decoder' trains the decoder of an existing VQGAN: "
                              "give it with --init-from (or continue a run with --resume)")
        return None
    _, init = load_vqgan(path, encodes=BY_RECIPE[recipe.kind].name)
    recipe.model = build_recipe({"kind": recipe.kind, "model": init["config"]["model"]}).model
    return init


def _open_run(out: Path, recipe: VQGANRecipe | None, resume: bool, overrides, init_from) -> tuple:
    """(recipe, resume state or None, --init-from checkpoint or None, the file resumed from)."""
    init = _init_from(init_from, recipe, resume)
    resume_from = prepare_run_dir(out, resume)
    state = ckpt_mod.load_checkpoint(resume_from, ckpt_mod.VQGAN) if resume_from else None
    if state is not None:
        recipe = build_recipe(state["config"], overrides, kinds=tuple(BY_RECIPE))
        check_resume_goal(state["step"], recipe.train.max_steps, out)
    return recipe, state, init, resume_from


def train_vqgan(images: Path, out: Path, recipe: VQGANRecipe | None = None, resume: bool = False,
                overrides: list[str] | None = None, device: str = "auto",
                weights_dir: str | None = None, callbacks: Callbacks | None = None,
                init_from: Path | None = None, max_memory: int | None = None) -> dict:
    """Train (or with ``resume`` continue) a VQGAN run in ``out``. ``init_from``: a VQGAN checkpoint
    whose weights (and discriminator, when it has one) a new run starts from, at step 0.
    ``max_memory``: bytes a step may take (None: what the device has free; 0: no limit)."""
    cb = callbacks or Callbacks()
    out, spec, images = Path(out), str(images), Path(images)  # the spec as typed: a pipe: command is no path
    device = runtime.init_distributed(runtime.resolve_device(device))
    recipe, state, init, resume_from = _open_run(out, recipe, resume, overrides, init_from)
    inp = BY_RECIPE[recipe.kind]
    src, files, skipped, meta, palette = _setup_data(spec, inp)
    files, val_files = _hold_out(src, files, recipe.data.val_count)
    _check_recipe(recipe, meta, device, max_memory)
    perceptual = Perceptual(recipe, weights_dir, device, cb.warn)
    t = build_trainer(recipe, device, perceptual, state, init)
    step = state["step"] if state is not None else 0
    if state is not None:
        cb.info(f"resuming from {resume_from} at step {step}")
    loader, max_steps = _loader(files, recipe, palette, step), recipe.train.max_steps
    write_config(out, recipe)
    source = _source(src, files, meta, palette)
    started = state.get("init_from") if state is not None else _init_record(init_from, init)
    run = _Run(out, recipe, skipped, state, cb.warn)

    def save(step_now: int) -> None:
        if runtime.is_main():
            ckpt_mod.save_checkpoint(out / "last.pt", {
                "format": ckpt_mod.VQGAN, "encodes": inp.name, "config": to_dict(recipe),
                "model": t.model.state_dict(), "step": step_now, "data": source, "perceptual": perceptual.state,
                "init_from": started,
                "train_state": {"discriminator": t.disc.state_dict(), "opt_ae": t.opt_ae.state_dict(),
                                "opt_d": t.opt_d.state_dict(), "rng": runtime.rng_state(),
                                "skipped": dict(skipped.items), "upscaled": sorted(run.upscaled)}})

    stop = StopFlag().install()
    cb.on_start(step, max_steps)
    seen0 = step
    try:
        for batch in loader:
            run.batch_seen(batch)
            x = inp.net_input(batch["x"].to(device), recipe.model.in_channels)
            logs, xrec, q = gan_step(t, x, step, lr_at(step, recipe.optim, max_steps), cb.warn)
            step += 1
            cb.on_step(step, logs)
            run.log(step, seen0, logs, q, x, xrec)
            # the checkpoint comes first: a preview or evaluation that fails must not cost the save
            if stop.checkpoint(step, recipe.train.ckpt_every, step == max_steps, save, cb.warn):
                break
            _after_step(t, images, x, xrec, val_files, palette, step, out, run)
    finally:
        stop.restore()
        run.metrics.close()
        runtime.barrier()
    if skipped.items:
        cb.warn(skipped.summary())
    return {"run_dir": str(out), "checkpoint": str(out / "last.pt"), "step": step, "interrupted": stop.requested,
            "perceptual": perceptual.state, **run.summary()}


def _init_record(path: Path | None, init: dict | None) -> dict | None:
    """What a run started from, for info and for the decoder check (the tokenizer's fingerprint)."""
    if init is None:
        return None
    return {"path": str(Path(path).resolve()), "step": init.get("step"),
            "fingerprint": ckpt_mod.state_fingerprint(init["model"])}


def _after_step(t: GANTrainer, images, x, xrec, val_files, palette, step, out, run: _Run) -> None:
    """Rank 0's reconstruction grid and held-out evaluation, on schedule."""
    r, last = t.recipe, step == t.recipe.train.max_steps
    if not runtime.is_main():
        return
    if r.train.image_every and (step % r.train.image_every == 0 or last):
        _write_recon_grid(x, xrec, t.input, palette, out / "samples" / f"recon-{step:06d}.png")
        run.metrics.image("reconstructions", out / "samples" / f"recon-{step:06d}.png", step)
    if val_files and r.train.eval_every and (step % r.train.eval_every == 0 or last):
        from vqtool.eval.metrics import eval_recon

        t.model.eval()
        ev = eval_recon(images, None, size=r.data.size, device=t.device.type, rfid=False,
                        files=val_files[:r.train.eval_n], model=t.model, encodes=t.input.name, warn=run.warn_once,
                        judge=False)
        t.model.train()
        run.metrics.write({"step": step, "eval": ev})
        run.logs.update({f"val_{k}": v for k, v in ev.items() if k in ("psnr", "pixel_accuracy", "usage")})


def _write_recon_grid(x, xrec, inp, palette, path: Path) -> None:
    n = min(4, x.shape[0])
    a, b = inp.preview(x[:n], palette), inp.preview(xrec[:n], palette)
    ims = [imgs.to_image(t) for pair in zip(a, b) for t in pair]
    save_grid(ims, path, cols=2 * n)
