"""Training loop for the transformer on token shards.

Each step takes random W×W window crops of the code grids (and the same crop of the cond grid),
prepends the conditioning tokens and trains next-token prediction of the image codes, as
taming's Net2NetTransformer: logits = GPT(cat(c, z)[:, :-1])[:, len(c)-1:].
Cond ids sit after the image codes in the vocabulary (taming shares ids; converted models keep
that). The shards are streamed (``data.token_stream``): batches are a pure function of (seed,
step, ranks), so a resumed run continues exactly, and memory does not grow with the dataset.
``train_step`` is one optimiser step (the loop, the bench and the tests call it);
``train_transformer`` sets up and runs the loop.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from vqtool.core import runtime
from vqtool.core.callbacks import Callbacks
from vqtool.core.conditioning.layout import Layout, kind_of
from vqtool.core.config import TransformerRecipe, build_recipe, to_dict
from vqtool.core.errors import DataError
from vqtool.core.formats import Stage, TransformerCheckpoint
from vqtool.core.io import checkpoint as ck
from vqtool.core.tokenizer.loading import load_vqgan
from vqtool.core.transformer import build_gpt, gpt_config_for
from vqtool.data import shards as sh
from vqtool.data.token_stream import RankStream
from vqtool.pipeline.previews import training_samples
from vqtool.train.common import (MetricsLog, NonFiniteGuard, StopFlag, check_resume_goal, lr_at, prepare_run_dir,
                                 write_config)
from vqtool.train.token_data import (StreamBatches, WindowCrops, check_shards, first_samples,
                                     same_shards, train_stream, usable)


def _stage(path: str, fingerprint: str | None, encodes: str) -> Stage:
    """A VQGAN that made the shards, to embed in the transformer checkpoint."""
    try:
        _, c = load_vqgan(path, encodes=encodes)
    except ck.CheckpointError as e:
        raise DataError(f"the shards were made with {path}, which cannot be loaded ({e})") from None
    if fingerprint and ck.state_fingerprint(c["model"]) != fingerprint:
        raise DataError(f"{path} is not the VQGAN the shards were made with (fingerprint differs); "
                        "re-tokenize with it")
    return Stage(c["config"]["model"], c["model"], c.get("data"))


def sequence_loss(gpt, seq: torch.Tensor, lc: int) -> torch.Tensor:
    """Next-token cross-entropy of the image tokens of (B, lc + W²) sequences."""
    logits = gpt(seq[:, :-1])[:, lc - 1:]  # output t predicts z_t
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), seq[:, lc:].reshape(-1))


@torch.no_grad()
def validate(gpt, samples, lay: Layout, batch: int, device) -> float:
    """Mean next-token loss on centre crops of the held-out split, in bits per token."""
    if not samples:
        return float("nan")
    ds = WindowCrops(samples, lay)
    tot, n = 0.0, 0
    gpt.eval()
    for k in range(0, len(ds), batch):
        seq = torch.stack([ds[i] for i in range(k, min(k + batch, len(ds)))]).to(device)
        tot += sequence_loss(gpt, seq, lay.cond_len()).item() * seq.shape[0]
        n += seq.shape[0]
    gpt.train()
    return tot / n / math.log(2)


@dataclass
class Trainer:
    """What one optimiser step needs: ``model`` (DDP/compiled wrapper or the GPT itself), its
    optimiser, the recipe, the non-finite guard."""
    gpt: torch.nn.Module  # GPT or LocalGPT
    model: torch.nn.Module
    opt: torch.optim.Optimizer
    recipe: TransformerRecipe
    cond_len: int
    device: torch.device
    guard: NonFiniteGuard


def train_step(t: Trainer, micro_batches: list[torch.Tensor], lr: float, warn) -> float | None:
    """One optimiser step over ``grad_accum`` micro-batches; the summed loss, or None when the
    step was skipped (a non-finite loss on any rank drops the whole step on every rank)."""
    for g in t.opt.param_groups:
        g["lr"] = lr
    t.opt.zero_grad(set_to_none=True)
    tot, accum = 0.0, len(micro_batches)
    for a, seq in enumerate(micro_batches):
        last = a == accum - 1 or not runtime.is_distributed()
        with (contextlib.nullcontext() if last else t.model.no_sync()), runtime.autocast(t.device, t.recipe.train.amp):
            loss = sequence_loss(t.model, seq.to(t.device), t.cond_len) / accum
        # every rank takes the same decision (all-reduced), so no rank waits in a gradient
        # all-reduce that another skipped
        if not t.guard.ok(loss, warn):
            return None
        loss.backward()
        tot += loss.item()
    if t.recipe.optim.grad_clip:
        torch.nn.utils.clip_grad_norm_(t.gpt.parameters(), t.recipe.optim.grad_clip)
    t.opt.step()
    return tot


@dataclass
class _Data:
    manifest: sh.Manifest
    lay: Layout
    train: RankStream  # this rank's training stream
    val: list  # held-out grids (small, in memory)
    shown: list  # grids whose conditioning the previews use: val, else a few training ones
    unigram: float
    first: Stage
    stages: dict  # the cond-stage VQGANs, by what they encode

    def parts(self) -> tuple:
        return self.manifest, self.lay, self.train, self.val, self.unigram, self.first


def _load_data(shards: Path, recipe: TransformerRecipe, state: TransformerCheckpoint | None, force: bool,
               warn) -> _Data:
    """Manifest, layout, the training stream, usable val grids, unigram entropy, the VQGAN stages."""
    manifest = sh.read_manifest(shards)
    if state is not None:
        same_shards(state.manifest, manifest, shards)
    lay = Layout.for_shards(manifest, recipe.data.window, recipe.class_dropout, recipe.map_dropout,
                            recipe.overview, recipe.lowres_dropout)
    check_shards(manifest, recipe, lay, shards)
    W = recipe.data.window
    train, unigram = train_stream(shards, manifest, lay, recipe, runtime.rank(), runtime.world_size(), warn)
    val = usable(sh.load_split(shards, manifest, "val"), W, "validation", warn)  # held-out: small, in memory
    why = sh.codes_collapsed(manifest)
    if why and not force:
        raise DataError(f"the codes in {shards} come from a VQGAN that has collapsed onto a few codes "
                        f"({manifest.vqgan}): {why}, "
                        f"{unigram:.2f} bits/token; its reconstructions are flat and a transformer would learn "
                        "nothing. Check it with `vqtool eval-recon`; --force trains anyway")
    first = _stage(manifest.vqgan, manifest.vqgan_fingerprint, "image")
    stages = {}
    for rec in manifest.conditions:
        encodes = kind_of(rec["kind"]).stage
        if encodes != "image":  # a low-res image is encoded by the first stage, embedded already
            stages[encodes] = _stage(rec["vqgan"], rec.get("fingerprint"), encodes)
    return _Data(manifest, lay, train, val, val or first_samples(train), unigram, first, stages)


def check_memory(recipe: TransformerRecipe, lay: Layout, dev, limit: int | None) -> None:
    """Refuse a recipe whose weights and activations cannot fit (``gpt.n_embd = 1048576``,
    ``optim.batch_size = 100000000``) before anything is allocated."""
    from vqtool.core import memory

    cfg = recipe.gpt
    params = memory.param_count_in(lambda k: build_gpt(replace(cfg, n_layer=k), lay), cfg.n_layer)
    need = memory.gpt_train_bytes(cfg, params, recipe.optim.batch_size)
    memory.check_on(dev, need, limit, f"training this transformer ({memory.fmt_count(params)} parameters, batch "
                                      f"{recipe.optim.batch_size} of {cfg.block_size} tokens)",
                    "lower gpt.n_embd, gpt.n_layer, data.window or optim.batch_size")


def _build(recipe: TransformerRecipe, lay: Layout, state: TransformerCheckpoint | None, dev, warn,
           max_memory: int | None = None) -> tuple[Trainer, int]:
    """The GPT, its optimiser (restored on resume) and the wrapped model; the start step (the
    memory it needs checked first). ``recipe.gpt`` has the sizes the shards decide."""
    check_memory(recipe, lay, dev, max_memory)
    runtime.seed_all(recipe.train.seed)
    gpt = build_gpt(recipe.gpt, lay).to(dev)
    opt = torch.optim.AdamW(gpt.optimizer_groups(recipe.optim.weight_decay), lr=recipe.optim.lr,
                            betas=tuple(recipe.optim.betas))
    step = 0
    if state is not None:
        gpt.load_state_dict(state.model)
        opt.load_state_dict(state.train_state["opt"])
        runtime.set_rng_state(state.train_state["rng"])
        step = state.step
        was = state.train_state.get("world", runtime.world_size())
        if was != runtime.world_size():
            warn(f"resuming on {runtime.world_size()} process(es) a run trained on {was}: each rank's share of "
                 "the shards differs, so the batches from here on are not those of an uninterrupted run")
    model = torch.nn.parallel.DistributedDataParallel(gpt) if runtime.is_distributed() else gpt
    if recipe.train.compile:
        model = torch.compile(model)
    return Trainer(gpt, model, opt, recipe, lay.cond_len(), dev, NonFiniteGuard("loss")), step


def _batches(train: RankStream, lay: Layout, recipe: TransformerRecipe, step: int):
    """An iterator of micro-batches from the rank's stream: a pure function of (seed, rank,
    world, step), so a resumed run continues exactly."""
    accum = recipe.optim.grad_accum
    ds = StreamBatches(train, lay, recipe.optim.batch_size, step * accum, recipe.train.max_steps * accum,
                       recipe.data.use_flip, recipe.class_dropout, recipe.map_dropout, recipe.lowres_dropout)
    return iter(torch.utils.data.DataLoader(ds, batch_size=None, num_workers=recipe.data.workers))


def _open_run(out: Path, recipe: TransformerRecipe | None, resume: bool, overrides) -> tuple:
    """(recipe, resume state or None, the file resumed from); a resume already at its goal is refused."""
    resume_from = prepare_run_dir(out, resume)
    if resume_from is None:
        return recipe, None, None
    state = TransformerCheckpoint.load(resume_from)
    recipe = build_recipe(state.config, overrides, kinds=("transformer",))
    check_resume_goal(state.step, recipe.train.max_steps, out)
    return recipe, state, resume_from


def train_transformer(shards: Path, out: Path, recipe: TransformerRecipe | None = None, resume: bool = False,
                      overrides: list[str] | None = None, device: str = "auto", callbacks: Callbacks | None = None,
                      sample_hook=training_samples, force: bool = False, max_memory: int | None = None) -> dict:
    cb = callbacks or Callbacks()
    out, shards = Path(out), Path(shards)
    dev = runtime.init_distributed(runtime.resolve_device(device))
    recipe, state, resume_from = _open_run(out, recipe, resume, overrides)
    d = _load_data(shards, recipe, state, force, cb.warn)
    lay = d.lay  # the sizes the shards decide, in a copy: the caller's recipe is not changed
    recipe = replace(recipe, gpt=gpt_config_for(recipe.gpt, lay.vocab_size, lay.block_size, lay.window))
    (manifest, _, train, val, unigram, first), (t, step) = d.parts(), _build(recipe, lay, state, dev, cb.warn,
                                                                             max_memory)
    params = sum(p.numel() for p in t.gpt.parameters())
    cb.info((f"resuming from {resume_from} at step {step}; " if state is not None else "")
            + f"{sum(train.counts)} training / {len(val)} validation grids; {lay.adjective}; "
            f"unigram entropy {unigram:.3f} bits/token; {params / 1e6:.2f}M params")
    max_steps, accum = recipe.train.max_steps, recipe.optim.grad_accum
    batches = _batches(train, lay, recipe, step)
    write_config(out, recipe)
    metrics, logs = MetricsLog(out, step, recipe.train.logger, to_dict(recipe)), {}

    def save(step_now: int) -> None:
        if runtime.is_main():
            TransformerCheckpoint(to_dict(recipe), t.gpt.state_dict(), lay, first, d.stages, step_now,
                                  manifest.record(), {"val_bpt": logs.get("val_bpt"), "unigram_bpt": unigram},
                                  {"opt": t.opt.state_dict(), "rng": runtime.rng_state(),
                                   "world": runtime.world_size()}).save(out / "last.pt")

    stop = StopFlag().install()
    cb.on_start(step, max_steps)
    t0, tokens, fid_off = time.time(), 0, set()  # fid_off: the in-training FID found no weights (said once)
    try:
        while step < max_steps:
            lr = lr_at(step, recipe.optim, max_steps)
            micro = [next(batches) for _ in range(accum)]  # consumed even when the step is skipped (exact resume)
            tokens += sum(m[:, t.cond_len:].numel() for m in micro) * runtime.world_size()
            tot = train_step(t, micro, lr, cb.warn)
            step += 1
            logs = {"loss": tot or 0.0, "bpt": (tot or 0.0) / math.log(2), "lr": lr,
                    "tok_s": tokens / max(time.time() - t0, 1e-9)}
            last = step == max_steps
            if step % recipe.train.log_every == 0 or last:
                logs["val_bpt"] = validate(t.gpt, val, lay, recipe.optim.batch_size, dev)
                metrics.write({"step": step, **logs, "unigram_bpt": unigram})
            cb.on_step(step, logs)
            # the checkpoint comes first: a preview or FID that fails must not cost the step's save
            if stop.checkpoint(step, recipe.train.ckpt_every, last, save, cb.warn):
                break
            _after_step(t.gpt, lay, first, d.shown, manifest, recipe, step, last, out, metrics, logs,
                        sample_hook, cb.warn, fid_off)
    finally:
        stop.restore()
        metrics.close()
        runtime.barrier()
    return {"run_dir": str(out), "checkpoint": str(out / "last.pt"), "step": step,
            "conditions": ", ".join(c.kind for c in lay.conditions),
            "interrupted": stop.requested, "val_bpt": logs.get("val_bpt"), "unigram_bpt": unigram,
            "train_bpt": logs.get("bpt"), "tokens_per_s": logs.get("tok_s"), "params_m": params / 1e6,
            "seconds": time.time() - t0}


def _after_step(gpt, lay, first, samples, manifest, recipe, step, last, out, metrics, logs, sample_hook, warn,
                fid_off: set):
    """Rank 0's previews and small FID, on schedule (``fid_off`` gets "fid" when its weights are
    missing: said once per run, and the recipe saved in the checkpoint keeps its fid_every)."""
    if not runtime.is_main():
        return
    if sample_hook is not None and recipe.train.image_every and (step % recipe.train.image_every == 0 or last):
        sample_hook(gpt, lay, first, samples, out / "samples" / f"sample-{step:06d}.png")
        metrics.image("samples", out / "samples" / f"sample-{step:06d}.png", step)
    if recipe.fid_every and "fid" not in fid_off and (step % recipe.fid_every == 0 or last):
        fid = _small_fid(gpt, lay, first, samples, manifest, recipe.fid_n, warn)  # on the training device
        if fid is None:
            fid_off.add("fid")
        else:
            metrics.write({"step": step, "fid": fid, "fid_n": recipe.fid_n})
            logs["fid"] = fid


def _small_fid(gpt, lay, first, samples, manifest, n, warn) -> float | None:
    """FID of n window-sized samples against the tokenized image folder (None without weights)."""
    import tempfile

    from vqtool.core.errors import VqtoolError
    from vqtool.eval.fid import compute_metrics

    with tempfile.TemporaryDirectory() as tmp:
        for k in range(0, n, 4):
            part = samples[k % len(samples):] + samples[:k % len(samples)]
            training_samples(gpt, lay, first, part, Path(tmp) / f"g{k:05d}.png", n=min(4, n - k), tiles=True, seed=k)
        try:
            dev = next(gpt.parameters()).device.type
            return compute_metrics(Path(tmp), Path(manifest.source), device=dev)["metrics"]["fid"]
        except VqtoolError as e:
            warn(f"in-training FID skipped: {e}")
            return None
