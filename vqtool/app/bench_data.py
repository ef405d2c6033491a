"""`vqtool bench data`: the data path at scale.

- train-transformer on synthetic shard sets of increasing size, each run in its own process so
  its peak RSS (``wait4``'s ``ru_maxrss``) is its own: the streaming reader's memory must not grow
  with the dataset.
- the streaming reader against the in-memory reader it replaced (every sample decoded into a
  list, random crops by index), on the same shards: samples/s of the reader alone, and
  training tokens/s with each.
- tokenize from a tar source against the same images in a folder.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from vqtool.core import runtime
from vqtool.core.config import load_recipe


def _measured(cmd: list[str], env: dict) -> tuple[dict, float, float]:
    """Run a vqtool command in a child process: its --json result, peak RSS (MiB), seconds."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen([sys.executable, "-m", "vqtool", *cmd, "--json"], stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {err.read().decode()[-2000:]}")
        return json.loads(out.read()), usage.ru_maxrss / 1024, seconds  # ru_maxrss: KiB on Linux


def synthetic_set(work: Path, n: int, vqgan: str) -> tuple[Path, float]:
    """A synthetic class-conditional shard set of n samples (16x16 grids), made once and reused."""
    from vqtool.data.synthetic import make_token_shards

    folder = work / f"synthetic-{n}"
    m = folder / "manifest.json"
    if m.is_file() and json.loads(m.read_text()).get("source") == f"synthetic:{n}":
        return folder, 0.0
    t = time.perf_counter()
    make_token_shards(folder, n, Path(vqgan))
    return folder, time.perf_counter() - t


def bench_scale(sizes=(10_000, 1_000_000), steps: int = 50, work: Path | None = None,
                recipe: str = "scenes-transformer-tiny", device: str = "cpu") -> list[dict]:
    """train-transformer on synthetic sets of each size: tokens/s and the run's peak RSS."""
    from vqtool.app.bench import random_vqgan

    work = Path(work or tempfile.mkdtemp(prefix="vqtool-bench-data-"))
    work.mkdir(parents=True, exist_ok=True)
    vq = work / "vqgan.pt"
    vqgan = str(vq) if vq.is_file() else random_vqgan(vq)
    env = {**os.environ, "VQTOOL_OFFLINE": "1"}
    rows = []
    for n in sizes:
        folder, built = synthetic_set(work, n, vqgan)
        out = work / f"run-{n}"
        shutil.rmtree(out, ignore_errors=True)
        res, rss, sec = _measured(["train-transformer", str(folder), "--recipe", recipe, "--out", str(out),
                                   "--device", device, "--set", f"train.max_steps={steps}",
                                   "--set", f"train.log_every={steps}", "--set", f"train.ckpt_every={steps}",
                                   "--set", "train.image_every=0"], env)
        rows.append({"stage": "data", "what": "train-transformer (streaming)", "samples": n,
                     "build_s": round(built, 1), "steps": steps, "tokens_per_s": res["tokens_per_s"],
                     "peak_rss_mb": round(rss, 1), "seconds": round(sec, 1)})
    base = rows[0]["peak_rss_mb"]
    for r in rows:
        r["rss_vs_smallest"] = round(r["peak_rss_mb"] / base, 3)
    return rows


def _in_memory_batches(samples: list[dict], lay, batch: int, seed: int, use_flip: bool):
    """The reader vqtool had before streaming: all samples in a list, crops by random index."""
    from vqtool.train.token_data import crop

    rng = random.Random(seed)
    while True:
        idx = [rng.randrange(len(samples)) for _ in range(batch)]
        yield torch.stack([crop(samples[i], lay, random.Random(rng.random()), use_flip, 0.0) for i in idx])


def bench_readers(shards: Path, steps: int = 30, reader_batches: int = 200, recipe: str = "scenes-transformer-tiny",
                  device: str = "cpu") -> list[dict]:
    """Streaming vs in-memory reader on the same shards: reader samples/s, training tokens/s."""
    from vqtool.core.transformer import build_gpt, gpt_config_for
    from vqtool.core.conditioning.layout import Layout
    from vqtool.data import shards as sh
    from vqtool.train.common import NonFiniteGuard
    from vqtool.train.token_data import StreamBatches, train_stream, usable
    from vqtool.train.transformer import Trainer, train_step

    dev = runtime.resolve_device(device)
    r = load_recipe(recipe, kinds=("transformer",))
    manifest = sh.read_manifest(shards)
    lay = Layout.for_shards(manifest, r.data.window)
    B, total = r.optim.batch_size, reader_batches + steps + 1
    stream, _ = train_stream(Path(shards), manifest, lay, r, 0, 1, lambda m: None)
    t = time.perf_counter()
    memory = usable(sh.load_split(shards, manifest), r.data.window, "training", lambda m: None)
    load_s = time.perf_counter() - t
    readers = {"streaming": lambda: iter(StreamBatches(stream, lay, B, 0, total, r.data.use_flip, 0.0)),
               "in-memory (before)": lambda: _in_memory_batches(memory, lay, B, r.train.seed, r.data.use_flip)}
    rows = []
    for name, make in readers.items():
        it = make()
        next(it)  # the stream fills its buffer first: part of its start-up, like the in-memory load
        t = time.perf_counter()
        for _ in range(reader_batches):
            next(it)
        read_s = time.perf_counter() - t
        torch.manual_seed(0)
        gpt = build_gpt(gpt_config_for(r.gpt, lay.vocab_size, lay.block_size, lay.window), lay).to(dev)
        opt = torch.optim.AdamW(gpt.optimizer_groups(0.01), lr=1e-4)
        tr = Trainer(gpt, gpt, opt, r, lay.cond_len(), dev, NonFiniteGuard("loss"))
        t = time.perf_counter()
        for _ in range(steps):
            train_step(tr, [next(it)], 1e-4, lambda m: None)
        train_s = time.perf_counter() - t
        rows.append({"stage": "data", "what": f"reader: {name}", "shards": str(shards), "samples": sum(stream.counts),
                     "reader_samples_per_s": round(reader_batches * B / read_s, 1),
                     "train_tokens_per_s": round(steps * B * r.data.window ** 2 / train_s, 1),
                     "load_s": round(load_s, 2) if name != "streaming" else 0.0})
    return rows


def _pack(files: list[Path], root: Path, out: Path, per_shard: int = 32) -> None:
    """The images as webdataset tar shards, class ids in .cls (what ImageNet tars hold)."""
    import io
    import tarfile

    names = sorted({f.parent.name for f in files})
    out.mkdir(parents=True, exist_ok=True)
    for k in range(0, len(files), per_shard):
        with tarfile.open(out / f"images-{k // per_shard:06d}.tar", "w") as tf:
            for f in files[k:k + per_shard]:
                key = f.relative_to(root).with_suffix("").as_posix().replace("/", "_")
                for name, data in ((f"{key}{f.suffix}", f.read_bytes()),
                                   (f"{key}.cls", str(names.index(f.parent.name)).encode())):
                    info = tarfile.TarInfo(name)
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))


def bench_tokenize_sources(n: int, work: Path, device: str = "cpu") -> list[dict]:
    """tokenize images/s from tar shards vs the same images in a folder (one random VQGAN)."""
    from vqtool.app.bench import random_vqgan
    from vqtool.data import images as imgs
    from vqtool.data.encode import tokenize_dataset
    from vqtool.data.scenes import make_scenes

    scenes = work / f"scenes-{n}"
    if not (scenes / "images").is_dir():
        make_scenes(scenes, n, 256, 256, seed=7)
    files = imgs.list_images(scenes / "images")
    packed = work / f"scenes-{n}-tars"
    if not packed.is_dir():
        _pack(files, scenes / "images", packed)
    vq = work / "vqgan.pt"
    vqgan = vq if vq.is_file() else Path(random_vqgan(vq))
    rows = []
    for what, source in (("folder", scenes / "images"), ("tar shards", packed)):
        out = work / f"tokenize-{what.split()[0]}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        s = tokenize_dataset(source, out, vqgan, val_count=0, device=device)
        dt = time.perf_counter() - t
        rows.append({"stage": "data", "what": f"tokenize from {what}", "images": s["images"],
                     "samples": s["samples"], "images_per_s": round(s["images"] / dt, 2), "seconds": round(dt, 2)})
    return rows


def bench_data(sizes=(10_000, 1_000_000), steps: int = 50, work: Path | None = None, shards: Path | None = None,
               tokenize_images: int = 64, device: str = "cpu") -> list[dict]:
    """Every row of `vqtool bench data`: scale, readers, tokenize tar vs folder."""
    from vqtool.core.errors import VqtoolError

    if not sizes or min(sizes) < 1:
        raise VqtoolError("--samples needs one or more positive sample counts, e.g. 10000,1000000")
    if shards is not None and not (Path(shards) / "manifest.json").is_file():
        raise VqtoolError(f"--shards {shards}: no manifest.json there (a folder written by `vqtool tokenize`)")
    work = Path(work or tempfile.mkdtemp(prefix="vqtool-bench-data-"))
    rows = bench_scale(sorted(sizes), steps, work, device=device)
    rows += bench_readers(Path(shards) if shards else work / f"synthetic-{min(sizes)}", device=device)
    if tokenize_images:
        rows += bench_tokenize_sources(tokenize_images, work, device)
    return rows
