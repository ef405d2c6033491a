"""Training loop for the transformer on token shards.

Each step takes random W×W window crops of the code grids (and the same crop of the cond grid),
prepends the conditioning tokens and trains next-token prediction of the image codes, as
taming's Net2NetTransformer: logits = GPT(cat(c, z)[:, :-1])[:, len(c)-1:].
Cond ids sit after the image codes in the vocabulary (taming shares ids; converted models keep
that). The token dataset is held in memory, so batches are a pure function of the step and a
resumed run continues exactly.
"""

from __future__ import annotations

import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vqtool.core import checkpoint as ck
from vqtool.core import runtime
from vqtool.core.config import TransformerRecipe, build_recipe, to_dict
from vqtool.core.errors import ConfigError, DataError
from vqtool.core.gpt import GPT, gpt_config_for
from vqtool.data import shards as sh
from vqtool.data.images import StepBatches
from vqtool.train.common import (Callbacks, MetricsLog, NonFiniteGuard, StopFlag, lr_at,
                                 prepare_run_dir, to_toml)


def layout_for(manifest: dict, window: int) -> dict:
    """Vocabulary layout of the conditioning, decided by what the shards hold."""
    n, mode = manifest["codebook_size"], manifest["mode"]
    lay = {"mode": mode, "n_embed": n, "window": window, "cond_offset": n, "sos": n}
    if mode == "seg":
        lay |= {"cond_vocab": manifest["cond_codebook_size"], "cond_len": window * window,
                "label_classes": manifest.get("label_classes"), "palette": manifest.get("palette")}
    elif mode == "class":
        k = len(manifest["classes"])
        lay |= {"cond_vocab": k + 1, "cond_len": 1, "classes": manifest["classes"], "null_class": n + k}
    else:
        lay |= {"cond_vocab": 1, "cond_len": 1}
    return lay


class WindowCrops(torch.utils.data.Dataset):
    """(cond + window) token sequences; item key (index, seed) fixes crop, flip and class drop."""

    def __init__(self, samples: list[dict], lay: dict, use_flip: bool, class_dropout: float, center: bool = False):
        self.s, self.lay, self.flip, self.drop, self.center = samples, lay, use_flip, class_dropout, center

    def __len__(self):
        return len(self.s)

    def __getitem__(self, key):
        i, seed = key
        rng = random.Random(seed)
        s, W, lay = self.s[i], self.lay["window"], self.lay
        flip = self.flip and not self.center and "tokens_flip.npy" in s and rng.random() < 0.5
        z = s["tokens_flip.npy" if flip else "tokens.npy"]
        h, w = z.shape
        r0 = (h - W) // 2 if self.center else rng.randint(0, h - W)
        c0 = (w - W) // 2 if self.center else rng.randint(0, w - W)
        zc = torch.from_numpy(z[r0:r0 + W, c0:c0 + W].astype(np.int64)).flatten()
        if lay["mode"] == "seg":
            c = s["cond_flip.npy" if flip else "cond.npy"]
            cond = torch.from_numpy(c[r0:r0 + W, c0:c0 + W].astype(np.int64)).flatten() + lay["cond_offset"]
        elif lay["mode"] == "class":
            drop = not self.center and rng.random() < self.drop
            cond = torch.tensor([lay["null_class"] if drop else lay["cond_offset"] + s["cls"]])
        else:
            cond = torch.tensor([lay["sos"]])
        return torch.cat([cond, zc])


def unigram_bits(samples: list[dict], n_embed: int) -> float:
    """Entropy of the code histogram in bits: what a model that ignores context would score."""
    counts = np.zeros(n_embed, np.float64)
    for s in samples:
        counts += np.bincount(s["tokens.npy"].ravel().astype(np.int64), minlength=n_embed)
    return sh.entropy_bits(counts)


MIN_UNIGRAM_BITS = 1.0  # below this the codes say almost nothing: a collapsed VQGAN made them


def same_shards(trained: dict | None, now: dict, folder: Path) -> None:
    """On --resume: the shards must be the ones the run was trained on (same VQGANs, same samples)."""
    if not trained:
        return
    keys = {"vqgan_fingerprint": "image VQGAN", "seg_vqgan_fingerprint": "segmentation VQGAN",
            "codebook_size": "codebook size", "mode": "conditioning", "shards": "shard list"}
    diff = [name for k, name in keys.items() if trained.get(k) != now.get(k)]
    if diff:
        raise DataError(f"{folder} is not the shard folder this run was trained on (its {', '.join(diff)} "
                        f"differ): the run used {trained.get('source')} tokenized with {trained.get('vqgan')}. "
                        "Resume with those shards, or start a new run with --out")


def usable(samples: list[dict], W: int, what: str, warn) -> list[dict]:
    """Samples whose grid holds a WxW window; the others are skipped with a count and the paths."""
    keep = [s for s in samples if min(s["tokens.npy"].shape) >= W]
    small = [s for s in samples if min(s["tokens.npy"].shape) < W]
    if small:
        paths = ", ".join((s.get("json") or {}).get("path", s["__key__"]) for s in small[:5])
        warn(f"skipping {len(small)} {what} grid(s) smaller than the {W}x{W} window ({paths}"
             f"{', …' if len(small) > 5 else ''}); tokenize with a larger --size to use them")
    return keep


def _check(manifest: dict, recipe: TransformerRecipe, lay: dict, folder: Path) -> None:
    W = recipe.data.window
    if not any(g[0] >= W and g[1] >= W for g, _ in manifest["grid_counts"]):
        sizes = sorted({tuple(g) for g, _ in manifest["grid_counts"]})
        raise DataError(f"{folder}: every code grid ({sizes[:4]}{' …' if len(sizes) > 4 else ''}) is smaller than "
                        f"the {W}x{W} window; tokenize at a larger --size or set data.window")
    vocab = lay["n_embed"] + lay["cond_vocab"]
    if recipe.gpt.vocab_size and recipe.gpt.vocab_size != vocab:
        raise ConfigError(f"'gpt.vocab_size' is {recipe.gpt.vocab_size}, but the shards need {vocab} "
                          f"(codebook {lay['n_embed']} + {lay['cond_vocab']} conditioning ids); set it to 0 "
                          "to take it from the shards")
    block = lay["cond_len"] + W * W - 1
    if recipe.gpt.block_size and recipe.gpt.block_size < block:
        raise ConfigError(f"'gpt.block_size' is {recipe.gpt.block_size}; {lay['mode']} conditioning with "
                          f"a {W}x{W} window needs {block}")


def _stage(path: str, fingerprint: str | None, seg: bool) -> dict:
    """The VQGAN that made the shards, to embed in the transformer checkpoint."""
    try:
        c = ck.load_checkpoint(path, ck.SEG_VQGAN if seg else ck.VQGAN)
    except ck.CheckpointError as e:
        raise DataError(f"the shards were made with {path}, which cannot be loaded ({e})") from None
    if fingerprint and ck.state_fingerprint(c["model"]) != fingerprint:
        raise DataError(f"{path} is not the VQGAN the shards were made with (fingerprint differs); "
                        "re-tokenize with it")
    return {"config": c["config"]["model"], "model": c["model"], "data": c.get("data")}


@torch.no_grad()
def validate(gpt, samples, lay, batch: int, device) -> float:
    """Mean next-token loss on centre crops of the held-out split, in bits per token."""
    if not samples:
        return float("nan")
    ds = WindowCrops(samples, lay, False, 0.0, center=True)
    tot, n = 0.0, 0
    gpt.eval()
    for k in range(0, len(ds), batch):
        seq = torch.stack([ds[(i, 0)] for i in range(k, min(k + batch, len(ds)))]).to(device)
        loss = _loss(gpt, seq, lay["cond_len"])
        tot += loss.item() * seq.shape[0]
        n += seq.shape[0]
    gpt.train()
    return tot / n / math.log(2)


def _loss(gpt, seq: torch.Tensor, lc: int) -> torch.Tensor:
    logits = gpt(seq[:, :-1])[:, lc - 1:]  # output t predicts z_t
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), seq[:, lc:].reshape(-1))


def train_transformer(shards: Path, out: Path, recipe: TransformerRecipe | None = None, resume: bool = False,
                      overrides: list[str] | None = None, device: str = "auto",
                      callbacks: Callbacks | None = None, sample_hook=None, force: bool = False) -> dict:
    cb = callbacks or Callbacks()
    out, shards = Path(out), Path(shards)
    dev = runtime.init_distributed(runtime.resolve_device(device))
    resume_from = prepare_run_dir(out, resume)
    state = None
    if resume_from is not None:
        state = ck.load_checkpoint(resume_from, ck.TRANSFORMER)
        recipe = build_recipe(state["config"], overrides, kinds=("transformer",))
    assert recipe is not None
    manifest = sh.read_manifest(shards)
    if state is not None:
        same_shards(state.get("manifest"), manifest, shards)
    lay = layout_for(manifest, recipe.data.window)
    _check(manifest, recipe, lay, shards)
    train = usable(sh.load_split(shards, manifest, "train"), recipe.data.window, "training", cb.warn)
    val = usable(sh.load_split(shards, manifest, "val"), recipe.data.window, "validation", cb.warn)
    if not train:
        raise DataError(f"{shards}: no training grid holds the {recipe.data.window}x{recipe.data.window} window")
    unigram = unigram_bits(train, lay["n_embed"])
    if unigram < MIN_UNIGRAM_BITS and not force:
        raise DataError(f"the codes in {shards} have {unigram:.3f} bits/token of entropy (< {MIN_UNIGRAM_BITS}): "
                        f"the VQGAN that made them ({manifest.get('vqgan')}) has collapsed onto a few codes, and a "
                        "transformer would learn nothing. Check it with `vqtool eval-recon`; --force trains anyway")
    first = _stage(manifest["vqgan"], manifest.get("vqgan_fingerprint"), seg=False)
    cond_stage = _stage(manifest["seg_vqgan"], manifest.get("seg_vqgan_fingerprint"), seg=True) \
        if lay["mode"] == "seg" else None
    gcfg = gpt_config_for(recipe.gpt, lay["n_embed"] + lay["cond_vocab"], lay["cond_len"] + recipe.data.window ** 2 - 1)
    recipe.gpt = gcfg

    runtime.seed_all(recipe.train.seed)
    gpt = GPT(gcfg).to(dev)
    opt = torch.optim.AdamW(gpt.optimizer_groups(recipe.optim.weight_decay), lr=recipe.optim.lr,
                            betas=tuple(recipe.optim.betas))
    step = 0
    if state is not None:
        gpt.load_state_dict(state["model"])
        opt.load_state_dict(state["train_state"]["opt"])
        runtime.set_rng_state(state["train_state"]["rng"])
        step = state["step"]
        cb.info(f"resuming from {resume_from} at step {step}")
    model = torch.nn.parallel.DistributedDataParallel(gpt) if runtime.is_distributed() else gpt
    if recipe.train.compile:
        model = torch.compile(model)
    max_steps, accum = recipe.train.max_steps, recipe.optim.grad_accum
    micro = recipe.optim.batch_size
    ds = WindowCrops(train, lay, recipe.data.use_flip, recipe.class_dropout)
    sampler = StepBatches(len(train), micro, recipe.train.seed, step * accum, max_steps * accum,
                          runtime.rank(), runtime.world_size())
    loader = torch.utils.data.DataLoader(ds, batch_sampler=sampler, num_workers=recipe.data.workers,
                                         collate_fn=torch.stack)
    if runtime.is_main():
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.toml").write_text(to_toml(to_dict(recipe)))
    metrics = MetricsLog(out)
    cb.info(f"{len(train)} training / {len(val)} validation grids; mode {lay['mode']}; "
            f"unigram entropy {unigram:.3f} bits/token; {sum(p.numel() for p in gpt.parameters()) / 1e6:.2f}M params")
    stop = StopFlag().install()
    guard, logs = NonFiniteGuard("loss"), {}

    def save(step_now: int) -> None:
        if runtime.is_main():
            ck.save_checkpoint(out / "last.pt", {
                "format": ck.TRANSFORMER, "config": to_dict(recipe), "model": gpt.state_dict(), "step": step_now,
                "cond": lay, "first_stage": first, "cond_stage": cond_stage,
                "manifest": {k: v for k, v in manifest.items() if k not in ("skipped",)},
                "metrics": {"val_bpt": logs.get("val_bpt"), "unigram_bpt": unigram},
                "train_state": {"opt": opt.state_dict(), "rng": runtime.rng_state()},
            })

    cb.on_start(step, max_steps)
    t0, tokens = time.time(), 0
    it = iter(loader)
    try:
        while step < max_steps:
            lr = lr_at(step, recipe.optim, max_steps)
            for g in opt.param_groups:
                g["lr"] = lr
            opt.zero_grad(set_to_none=True)
            tot, skipped = 0.0, False
            for a in range(accum):
                seq = next(it).to(dev)
                tokens += seq[:, lay["cond_len"]:].numel() * runtime.world_size()
                if skipped:  # the step is lost already; keep consuming its batches (exact resume)
                    continue
                sync = a == accum - 1 or not runtime.is_distributed()
                ctx = model.no_sync() if not sync else _null()
                with ctx, runtime.autocast(dev, recipe.train.amp):
                    loss = _loss(model, seq, lay["cond_len"]) / accum
                # every rank takes the same decision (all-reduced), so no rank waits in a gradient
                # all-reduce that another skipped; a skipped micro-batch drops the whole step
                if guard.ok(loss, cb.warn):
                    loss.backward()
                    tot += loss.item()
                else:
                    skipped = True
            if not skipped:
                if recipe.optim.grad_clip:
                    torch.nn.utils.clip_grad_norm_(gpt.parameters(), recipe.optim.grad_clip)
                opt.step()
            step += 1
            logs = {"loss": tot, "bpt": tot / math.log(2), "lr": lr,
                    "tok_s": tokens / max(time.time() - t0, 1e-9)}
            last = step == max_steps
            if step % recipe.train.log_every == 0 or last:
                logs["val_bpt"] = validate(gpt, val, lay, micro, dev)
                metrics.write({"step": step, **logs, "unigram_bpt": unigram})
            cb.on_step(step, logs)
            # the checkpoint comes first: a preview or FID that fails must not cost the step's save
            stop_now = stop.checkpoint(step, recipe.train.ckpt_every, last, save, cb.warn)
            if stop_now:
                break
            if sample_hook is not None and runtime.is_main() and recipe.train.image_every and (
                    step % recipe.train.image_every == 0 or last):
                sample_hook(gpt, lay, first, cond_stage, val or train, out / "samples" / f"sample-{step:06d}.png")
            if recipe.fid_every and runtime.is_main() and (step % recipe.fid_every == 0 or last):
                fid = _small_fid(gpt, lay, first, cond_stage, val or train, manifest, recipe.fid_n, cb.warn)
                if fid is None:
                    recipe.fid_every = 0  # weights missing: said once, not again
                else:
                    metrics.write({"step": step, "fid": fid, "fid_n": recipe.fid_n})
                    logs["fid"] = fid
    finally:
        stop.restore()
        runtime.barrier()
    return {"run_dir": str(out), "checkpoint": str(out / "last.pt"), "step": step, "mode": lay["mode"],
            "interrupted": stop.requested, "val_bpt": logs.get("val_bpt"), "unigram_bpt": unigram,
            "train_bpt": logs.get("bpt"), "tokens_per_s": logs.get("tok_s"),
            "params_m": sum(p.numel() for p in gpt.parameters()) / 1e6, "seconds": time.time() - t0}


def _small_fid(gpt, lay, first, cond_stage, samples, manifest, n, warn) -> float | None:
    """FID of n window-sized samples against the tokenized image folder (None without weights)."""
    import tempfile

    from vqtool.core.errors import VqtoolError
    from vqtool.eval.fid import compute_metrics
    from vqtool.generate import training_samples

    with tempfile.TemporaryDirectory() as tmp:
        for k in range(0, n, 4):
            part = samples[k % len(samples):] + samples[:k % len(samples)]
            training_samples(gpt, lay, first, cond_stage, part, Path(tmp) / f"g{k:05d}.png", n=min(4, n - k),
                             tiles=True, seed=k)
        try:
            return compute_metrics(Path(tmp), Path(manifest["source"]), device="cpu")["metrics"]["fid"]
        except VqtoolError as e:
            warn(f"in-training FID skipped: {e}")
            return None


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False
