"""What the transformer trains on: W×W window crops of the token shards, checked against the
recipe and the conditioning layout."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from vqtool.core.config import TransformerRecipe
from vqtool.core.errors import ConfigError, DataError
from vqtool.core.layout import Layout
from vqtool.data import shards as sh


class WindowCrops(torch.utils.data.Dataset):
    """(cond + window) token sequences; item key (index, seed) fixes crop, flip and class drop."""

    def __init__(self, samples: list[dict], layout: Layout, use_flip: bool, class_dropout: float,
                 center: bool = False):
        self.s, self.lay, self.flip, self.drop, self.center = samples, layout, use_flip, class_dropout, center

    def __len__(self):
        return len(self.s)

    def __getitem__(self, key):
        i, seed = key
        rng = random.Random(seed)
        s, W, lay = self.s[i], self.lay.window, self.lay
        flip = self.flip and not self.center and "tokens_flip.npy" in s and rng.random() < 0.5
        z = s["tokens_flip.npy" if flip else "tokens.npy"]
        h, w = z.shape
        r0 = (h - W) // 2 if self.center else rng.randint(0, h - W)
        c0 = (w - W) // 2 if self.center else rng.randint(0, w - W)
        zc = torch.from_numpy(z[r0:r0 + W, c0:c0 + W].astype(np.int64)).flatten()
        if lay.mode == "seg":
            c = s["cond_flip.npy" if flip else "cond.npy"]
            cond = torch.from_numpy(c[r0:r0 + W, c0:c0 + W].astype(np.int64)).flatten() + lay.cond_offset
        elif lay.mode == "class":
            drop = not self.center and rng.random() < self.drop
            cond = torch.tensor([lay.null_class if drop else lay.cond_offset + s["cls"]])
        else:
            cond = torch.tensor([lay.sos])
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


def check_shards(manifest: dict, recipe: TransformerRecipe, lay: Layout, folder: Path) -> None:
    """The shards can train this recipe: a window fits, vocabulary and block size agree."""
    W = recipe.data.window
    if not any(g[0] >= W and g[1] >= W for g, _ in manifest["grid_counts"]):
        sizes = sorted({tuple(g) for g, _ in manifest["grid_counts"]})
        raise DataError(f"{folder}: every code grid ({sizes[:4]}{' …' if len(sizes) > 4 else ''}) is smaller than "
                        f"the {W}x{W} window; tokenize at a larger --size or set data.window")
    vocab = lay.vocab_size
    if recipe.gpt.vocab_size and recipe.gpt.vocab_size != vocab:
        raise ConfigError(f"'gpt.vocab_size' is {recipe.gpt.vocab_size}, but the shards need {vocab} "
                          f"(codebook {lay.n_embed} + {lay.cond_vocab} conditioning ids); set it to 0 "
                          "to take it from the shards")
    block = lay.block_size
    if recipe.gpt.block_size and recipe.gpt.block_size < block:
        raise ConfigError(f"'gpt.block_size' is {recipe.gpt.block_size}; {lay.mode} conditioning with "
                          f"a {W}x{W} window needs {block}")
