"""Throughput and memory figures per stage, measured on the current device.

Goals are ratios against a reference measured in the same run (e.g. tokenize vs the encoder
alone, the fast sampler vs the naive one), never absolute wall-clock promises.
"""

from __future__ import annotations

import time

import torch

from vqtool.core import runtime
from vqtool.core.config import load_recipe
from vqtool.core.errors import require_multiple
from vqtool.core.tokenizer.inputs import BY_RECIPE
from vqtool.core.tokenizer.loading import count_params


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _seconds_per_step(one, steps: int, dev) -> float:
    """Mean seconds of ``one()`` after a warm-up call, with the peak-memory counter reset."""
    one()
    runtime.reset_peak_memory(dev)
    _sync(dev)
    t = time.perf_counter()
    for _ in range(steps):
        one()
    _sync(dev)
    return (time.perf_counter() - t) / steps


def bench_vqgan(recipe: str = "scenes-vqgan-tiny", overrides=None, steps: int = 5,
                batch_size: int | None = None, size: int | None = None, device: str = "auto") -> dict:
    """Training steps/s of the trainer's own step (generator + discriminator) on synthetic batches."""
    from vqtool.train.gan_step import Perceptual, build_trainer, gan_step

    dev = runtime.resolve_device(device)
    r = load_recipe(recipe, overrides, kinds=tuple(BY_RECIPE))
    inp = BY_RECIPE[r.kind]
    inp.channels(r, {"classes": list(range(9))})  # label maps: the scenes' 9 classes
    B, S = batch_size or r.optim.batch_size, size or r.data.size
    require_multiple("--size", S, r.model.factor)
    r.loss.on_missing_weights = "skip"  # a speed figure, with or without LPIPS's weights
    perceptual = Perceptual(r, None, dev, lambda m: None)
    t = build_trainer(r, dev, perceptual)
    raw = torch.randint(0, r.model.in_channels, (B, S, S)) if inp.labels else torch.rand(B, 3, S, S) * 2 - 1
    x = inp.net_input(raw.to(dev), r.model.in_channels)
    step_at = max(r.loss.disc_start, 0)  # measure with the discriminator on (the expensive regime)
    dt = _seconds_per_step(lambda: gan_step(t, x, step_at, r.optim.lr, lambda m: None), steps, dev)
    return {"stage": "vqgan", "recipe": recipe, "device": str(dev), "batch": B, "size": S,
            "params_m": count_params(t.model) / 1e6, "perceptual": perceptual.state,
            "steps_per_s": 1 / dt, "images_per_s": B / dt, "peak_mem_mb": runtime.peak_memory_mb(dev)}


def random_vqgan(path) -> str:
    """A randomly initialised scenes-vqgan-tiny checkpoint (throughput does not depend on training)."""
    from vqtool.core.io import checkpoint as ck
    from vqtool.core.config import to_dict
    from vqtool.core.tokenizer.vqgan import VQGAN

    r = load_recipe("scenes-vqgan-tiny")
    torch.manual_seed(0)
    ck.save_checkpoint(path, {"format": ck.VQGAN, "config": to_dict(r), "model": VQGAN(r.model).state_dict(), "step": 0})
    return str(path)


def bench_all(device: str = "auto") -> list[dict]:
    """Every stage on the tiny scenes models, one row each (sample: naive, exact and fast)."""
    rows = [bench_vqgan(device=device)]
    rows.append(bench_tokenize(n=32, device=device))
    rows.append(bench_transformer(device=device))
    rows += bench_sample(device=device)
    return rows


def bench_tokenize(images: str | None = None, vqgan: str | None = None, n: int = 64,
                   batch_size: int = 16, device: str = "auto") -> dict:
    """Full tokenize (read, resize, encode, write shards) vs the encoder alone on the same batches."""
    import tempfile
    from pathlib import Path

    from vqtool.core.tokenizer.loading import load_vqgan
    from vqtool.data import images as imgs
    from vqtool.data.encode import tokenize_dataset

    dev = runtime.resolve_device(device)
    with tempfile.TemporaryDirectory() as tmp:
        if vqgan is None:
            vqgan = "runs/vqgan/last.pt" if Path("runs/vqgan/last.pt").is_file() else random_vqgan(Path(tmp) / "v.pt")
        if images is None:
            from vqtool.data.scenes import make_scenes

            make_scenes(Path(tmp) / "scenes", n, 256, 256, seed=123)
            images = str(Path(tmp) / "scenes" / "images")
        files = imgs.list_images(images)[:n]
        sub = Path(tmp) / "subset"
        for f in files:
            (sub / f.parent.name).mkdir(parents=True, exist_ok=True)
            (sub / f.parent.name / f.name).symlink_to(f.resolve())
        model, ck = load_vqgan(vqgan, dev, encodes="image")
        size = ck["config"]["data"].get("resize", 0)  # what tokenize does by default (0: native)
        t = time.perf_counter()
        tokenize_dataset(sub, Path(tmp) / "shards", Path(vqgan), size=size, batch_size=batch_size, val_count=0,
                         device=device)
        full = time.perf_counter() - t

        xs = [imgs.to_tensor(imgs.fit(imgs.load_rgb(f), model.factor, size)[0]) for f in files]
        runtime.reset_peak_memory(dev)
        t = time.perf_counter()
        with torch.no_grad():
            for k in range(0, len(xs), batch_size):
                with runtime.autocast(dev):
                    model.encode(torch.stack(xs[k:k + batch_size]).to(dev))
        _sync(dev)
        enc = time.perf_counter() - t
    return {"stage": "tokenize", "device": str(dev), "images": len(files), "batch": batch_size,
            "tokenize_images_per_s": len(files) / full, "encoder_images_per_s": len(files) / enc,
            "ratio_time_tokenize_over_encoder": full / enc, "peak_mem_mb": runtime.peak_memory_mb(dev)}


def bench_transformer(recipe: str = "scenes-transformer-tiny", overrides=None, steps: int = 5,
                      batch_size: int | None = None, conditioning: str = "seg", n_embed: int = 256,
                      device: str = "auto") -> dict:
    """Training tokens/s and peak memory on synthetic token windows, of the model the recipe
    describes (either family: ``gpt.attention``), with one synthetic condition of a kind."""
    from vqtool.core.conditioning.layout import Layout, synthetic
    from vqtool.core.transformer import build_gpt, gpt_config_for
    from vqtool.train.common import NonFiniteGuard
    from vqtool.train.transformer import Trainer, train_step

    dev = runtime.resolve_device(device)
    r = load_recipe(recipe, overrides, kinds=("transformer",))
    W = r.data.window
    lay = Layout.for_codes(n_embed, W, [synthetic(conditioning, n_embed)])
    cfg = gpt_config_for(r.gpt, lay.vocab_size, lay.block_size, W)
    torch.manual_seed(0)
    gpt = build_gpt(cfg, lay).to(dev)
    opt = torch.optim.AdamW(gpt.optimizer_groups(0.01), lr=1e-4, betas=(0.9, 0.95))
    B, lc = batch_size or r.optim.batch_size, lay.cond_len()
    seq = torch.randint(0, n_embed, (B, lc + W * W), device=dev)
    t = Trainer(gpt, gpt, opt, r, lc, dev, NonFiniteGuard("loss"))
    dt = _seconds_per_step(lambda: train_step(t, [seq], 1e-4, lambda m: None), steps, dev)
    return {"stage": "transformer", "recipe": recipe, "device": str(dev), "model": f"{type(gpt).__name__} "
            f"(gpt.attention = {cfg.attention!r})", "conditioning": conditioning, "batch": B,
            "params_m": count_params(gpt) / 1e6, "steps_per_s": 1 / dt, "tokens_per_s": B * W * W / dt,
            "peak_mem_mb": runtime.peak_memory_mb(dev)}


def _local_twin(b, dev):
    """A local transformer (``gpt.attention = "local"``) of the same size and layout as b's GPT,
    randomly initialised: its sampling speed is what the local row measures (b itself when local)."""
    from dataclasses import replace

    from vqtool.core.transformer import build_gpt
    from vqtool.pipeline.bundle import Bundle

    if b.gpt.cfg.attention == "local":
        return b
    cfg = replace(b.gpt.cfg, attention="local", radius=b.layout.window // 2)
    torch.manual_seed(0)
    return Bundle(build_gpt(cfg, b.layout).to(dev).eval(), b.layout, b.first, b.stages, b.ckpt)


def bench_sample(model: str | None = None, size: tuple[int, int] = (1280, 832), n: int = 1,
                 naive_tokens: int = 32, recipe: str = "scenes-transformer-tiny",
                 modes=("naive", "exact", "fast", "local"),
                 device: str = "auto", seed: int = 0) -> list[dict]:
    """Sampled tokens/s of the naive reference (one full window forward per token), exact mode
    and fast mode, on the same model and batch, and of a local transformer of the same size
    (exact with its rolling cache). The naive sampler's cost per token is the same at every
    position, so it is timed on its first ``naive_tokens`` tokens."""
    from vqtool.core.conditioning.layout import Layout
    from vqtool.pipeline.bundle import Bundle, load_transformer
    from vqtool.pipeline.generate import SampleOptions, sample_tokens

    dev = runtime.resolve_device(device)
    if model:
        b = load_transformer(model, dev)
        layout, f, name = b.layout, b.factor, model
    else:
        from vqtool.core.conditioning.layout import synthetic
        from vqtool.core.transformer import build_gpt, gpt_config_for

        r = load_recipe(recipe, kinds=("transformer",))
        W, ne = r.data.window, 256
        torch.manual_seed(0)
        layout = Layout.for_codes(ne, W, [synthetic("seg", ne)])
        gpt = build_gpt(gpt_config_for(r.gpt, layout.vocab_size, layout.block_size, W), layout)
        b = Bundle(gpt.to(dev).eval(), layout, None)
        f, name = 16, f"random {recipe}"
    w, h = -(-size[0] // f), -(-size[1] // f)
    cond = layout.to(layout.random_tokens(n, h, w, torch.Generator().manual_seed(seed)), dev)
    rows = []
    for mode in modes:
        runtime.reset_peak_memory(dev)
        _sync(dev)
        t = time.perf_counter()
        opts = SampleOptions(seed=seed, top_k=100, mode="fast" if mode == "fast" else "exact", naive=mode == "naive")
        bb = _local_twin(b, dev) if mode == "local" else b
        # a local model has one sampler, which samples the whole grid whatever the row
        limited = mode == "naive" and not bb.sampler.exact_only
        sample_tokens(bb, cond, h, w, opts, limit=naive_tokens if limited else None)
        count = naive_tokens * n if limited else h * w * n
        _sync(dev)
        dt = time.perf_counter() - t
        rows.append({"stage": "sample", "mode": mode, "device": str(dev), "size": f"{size[0]}x{size[1]}",
                     "model": name if bb is b else f"local twin of {name} (random, R={bb.gpt.R})",
                     "params_m": count_params(bb.gpt) / 1e6,
                     "grid": f"{w}x{h}", "batch": n, "tokens_timed": count, "tokens_per_s": count / dt,
                     "peak_mem_mb": runtime.peak_memory_mb(dev)})
    base = next((r["tokens_per_s"] for r in rows if r["mode"] == "naive"), None)
    exact = next((r["tokens_per_s"] for r in rows if r["mode"] == "exact"), None)
    for r in rows:
        r["speedup_vs_naive"] = r["tokens_per_s"] / base if base else None
        r["speedup_vs_exact"] = r["tokens_per_s"] / exact if exact else None
    return rows
