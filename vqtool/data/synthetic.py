"""Synthetic token shard sets of any size, for measuring the readers at scale (`vqtool bench data`).

Real shards in every respect (tars, sidecars, manifest, a VQGAN that "made" them), with random
class-conditional codes. Samples are written with tarfile directly: 1M samples in about a minute
per core.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np

from vqtool.core.config import VQGANModelConfig, from_dict
from vqtool.core.io import checkpoint as ck
from vqtool.data import shards as sh


def _add(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def _write(path: Path, first: int, z: np.ndarray, classes: np.ndarray) -> dict:
    """One shard of grids z (N, h, w) with keys first, first+1, ...; returns its sidecar stats."""
    head = io.BytesIO()
    np.save(head, z[0])
    header = head.getvalue()[: -z[0].nbytes]  # the .npy header is the same for every grid
    tmp = path.with_name(f".{path.name}.tmp")
    with tarfile.open(tmp, "w") as tf:
        for j in range(len(z)):
            key = f"{first + j:09d}"
            _add(tf, f"{key}.tokens.npy", header + z[j].tobytes())
            _add(tf, f"{key}.cls", str(int(classes[j])).encode())
            _add(tf, f"{key}.json", b'{"path": "synthetic/%d"}' % (first + j))
    tmp.replace(path)
    counts = np.bincount(z.ravel().astype(np.int64))
    g = f"{z.shape[1]}x{z.shape[2]}"
    return {"count": len(z), "grids": {g: len(z)}, "grid_examples": {g: [f"synthetic/{first}"]},
            "code_counts": {str(i): int(c) for i, c in enumerate(counts) if c}}


def make_token_shards(out: Path, n: int, vqgan: Path, grid: tuple[int, int] = (16, 16), n_classes: int = 10,
                      shard_size: int = 10_000, val: int = 64, seed: int = 0, progress=None) -> dict:
    """Write ``n`` training samples (+ ``val``) of random codes of the VQGAN's codebook as a
    class-conditional shard folder that `vqtool train-transformer` reads like any other."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = ck.load_checkpoint(vqgan, ck.VQGAN)
    n_embed = state["config"]["model"]["quantizer"]["n_embed"]
    dtype, rng = sh.code_dtype(n_embed), np.random.default_rng(seed)
    entries: dict[str, list] = {"train": [], "val": []}
    counts, done = np.zeros(n_embed, np.int64), 0
    for split, total in (("train", n), ("val", val)):
        for k, first in enumerate(range(0, total, shard_size)):
            m = min(shard_size, total - first)
            z = rng.integers(0, n_embed, (m, *grid), dtype=dtype)
            name = sh.shard_name(split, k)
            side = _write(out / name, done + first, z, rng.integers(0, n_classes, m))
            (out / name).with_suffix(".json").write_text(json.dumps(side))
            entries[split].append({"name": name, "count": m})
            for i, c in side["code_counts"].items():
                counts[int(i)] += c
            if progress:
                progress(m)
        done += total
    model_cfg = from_dict(VQGANModelConfig, state["config"]["model"], prefix="model.")
    sh.write_manifest(out, sh.Manifest(
        source=f"synthetic:{n}", vqgan=str(Path(vqgan).resolve()), vqgan_fingerprint=ck.state_fingerprint(state["model"]),
        codebook_size=n_embed, factor=model_cfg.factor, classes=[f"class{c}" for c in range(n_classes)],
        grid_counts=[[list(grid), n + val]], shards=entries["train"], val_shards=entries["val"],
        code_entropy_bits=sh.entropy_bits(counts), codes_used=int((counts > 0).sum())))
    return {"out": str(out), "samples": n, "val": val, "shards": len(entries["train"])}
