"""What the transformer trains on: W×W window crops of the token shards, streamed (training) or
held in memory (validation), checked against the recipe and the conditioning layout."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from vqtool.core.config import TransformerRecipe
from vqtool.core.errors import ConfigError, DataError
from vqtool.core.conditioning.layout import Layout
from vqtool.data import shards as sh
from vqtool.data import tars, token_stream
from vqtool.data.token_stream import RankStream, decode


def crop(s: dict, lay: Layout, rng: random.Random, use_flip: bool, class_dropout: float,
         center: bool = False, map_dropout: float = 0.0, lowres_dropout: float = 0.0) -> torch.Tensor:
    """The (cond + window) token sequence of one decoded sample; ``rng`` picks crop, flip and
    class and map drops (``center``: the centre crop, no flip, no drop, as validation uses)."""
    W = lay.window
    flip = use_flip and not center and "tokens_flip.npy" in s and rng.random() < 0.5
    z = s["tokens_flip.npy" if flip else "tokens.npy"]
    h, w = z.shape
    r0 = (h - W) // 2 if center else rng.randint(0, h - W)
    c0 = (w - W) // 2 if center else rng.randint(0, w - W)
    zc = torch.from_numpy(z[r0:r0 + W, c0:c0 + W].astype(np.int64)).flatten()
    return torch.cat([lay.train_tokens(s, flip, r0, c0, rng, class_dropout, center, map_dropout, lowres_dropout), zc])


class StreamBatches(torch.utils.data.IterableDataset):
    """Micro-batches ``start, start+1, ... end-1`` of one rank's stream: micro-batch m is the
    stream's samples [m*B, (m+1)*B), each cropped by an rng keyed (seed, rank, position).
    DataLoader worker k of n builds micro-batches start+k, start+k+n, ... (it reads the whole
    stream but decodes only its own samples), and the loader interleaves them in order, so the
    batches do not depend on the number of workers."""

    def __init__(self, stream: RankStream, lay: Layout, batch: int, start: int, end: int,
                 use_flip: bool, class_dropout: float, map_dropout: float = 0.0, lowres_dropout: float = 0.0):
        self.stream, self.lay, self.batch, self.start, self.end = stream, lay, batch, start, end
        self.flip, self.drop, self.map_drop, self.low_drop = use_flip, class_dropout, map_dropout, lowres_dropout

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        k, n = (info.id, info.num_workers) if info is not None else (0, 1)
        B, st, out = self.batch, self.stream, []
        for pos, raw in st(self.start * B):
            m = pos // B
            if m >= self.end:
                return
            if (m - self.start) % n != k:
                continue
            rng = random.Random(f"{st.seed}:{st.rank}:{pos}")
            out.append(crop(decode(raw), self.lay, rng, self.flip, self.drop, map_dropout=self.map_drop,
                            lowres_dropout=self.low_drop))
            if len(out) == B:
                yield torch.stack(out)  # (B, cond + W²)
                out = []


def train_stream(folder: Path, manifest: sh.Manifest, lay: Layout, recipe: TransformerRecipe, rank: int, world: int,
                 warn) -> tuple[RankStream, float]:
    """The training stream of one rank, and the unigram entropy of the training codes; grids
    smaller than the window are left out (counted from the sidecars, paths named)."""
    W = recipe.data.window
    stats = token_stream.shard_stats(folder, manifest.shards)
    if not sum(st["count"] for st in stats):
        raise DataError(f"{folder} holds no training samples (empty shards)")
    small, examples, counts, fits = 0, [], np.zeros(lay.n_embed, np.float64), []
    for st in stats:
        fits.append(0)  # this shard's grids that hold the window
        for g, c in st["grids"].items():
            if min(token_stream.grid_size(g)) >= W:
                fits[-1] += c
            else:
                small += c
                examples += st["examples"].get(g, [])
        for i, c in st["code_counts"].items():
            counts[int(i)] += c
    if small:
        warn(f"skipping {small} training grid(s) smaller than the {W}x{W} window ({', '.join(examples[:5])}"
             f"{', …' if small > 5 else ''}); tokenize with a larger --size to use them")
    if not sum(fits):
        raise DataError(f"{folder}: no training grid holds the {W}x{W} window")
    stream = RankStream([st["path"] for st in stats], fits, recipe.train.seed, rank, world,
                        recipe.data.shuffle_buffer, keep=lambda s: min(token_stream.grid_of(s)) >= W)
    return stream, sh.entropy_bits(counts)


def first_samples(stream: RankStream, n: int = 64) -> list[dict]:
    """Up to n decoded samples of the first shard with usable grids (previews when there is no
    validation split)."""
    path = next(p for p, c in zip(stream.paths, stream.counts) if c)
    return [decode(s) for s in tars.samples(path) if stream.keep(s)][:n]


class WindowCrops(torch.utils.data.Dataset):
    """Centre crops of in-memory samples (the validation split): no randomness, item = index."""

    def __init__(self, samples: list[dict], layout: Layout):
        self.s, self.lay = samples, layout

    def __len__(self):
        return len(self.s)

    def __getitem__(self, i):
        return crop(self.s[i], self.lay, random.Random(0), False, 0.0, center=True)




def same_shards(trained: dict | None, now: sh.Manifest, folder: Path) -> None:
    """On --resume: the shards must be the ones the run was trained on (same VQGANs, same samples)."""
    if not trained:
        return
    was = sh.Manifest.from_dict(trained)

    def conds(m):  # each tokenized condition: its kind and the VQGAN that made its tokens
        return [(c["kind"], c.get("fingerprint")) for c in m.conditions]

    checks = {"image VQGAN": lambda m: m.vqgan_fingerprint, "codebook size": lambda m: m.codebook_size,
              "conditioning": lambda m: (conds(m), [c["kind"] for c in m.transformer_conditions()]),
              "shard list": lambda m: m.shards}
    diff = [name for name, get in checks.items() if get(was) != get(now)]
    if diff:
        raise DataError(f"{folder} is not the shard folder this run was trained on (its {', '.join(diff)} "
                        f"differ): the run used {was.source} tokenized with {was.vqgan}. "
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


def check_shards(manifest: sh.Manifest, recipe: TransformerRecipe, lay: Layout, folder: Path) -> None:
    """The shards can train this recipe: a window fits, vocabulary and block size agree."""
    W = recipe.data.window
    if not any(g[0] >= W and g[1] >= W for g, _ in manifest.grid_counts):
        sizes = sorted({tuple(g) for g, _ in manifest.grid_counts})
        raise DataError(f"{folder}: every code grid ({sizes[:4]}{' …' if len(sizes) > 4 else ''}) is smaller than "
                        f"the {W}x{W} window; tokenize at a larger --size or set data.window")
    if recipe.map_dropout > 0 and (recipe.gpt.attention != "local" or not any(c.spatial and c.guidable
                                                                               for c in lay.conditions)):
        raise ConfigError(f"'map_dropout' trains a null map (the local model's id of no token) for --cfg: it needs "
                          f"a label, depth or edge map or a low-res image in the shards and gpt.attention = "
                          f"\"local\"; this model is {lay.adjective} with {recipe.gpt.attention} attention")
    if recipe.lowres_dropout > 0 and (recipe.gpt.attention != "local" or lay.from_coarse is None):
        raise ConfigError(f"'lowres_dropout' trains a null low-res image for --cfg: it needs a low-res image in the "
                          f"shards (tokenize --cond lowres=K) and gpt.attention = \"local\"; this model is "
                          f"{lay.adjective} with {recipe.gpt.attention} attention")
    if recipe.overview > 0 and not any(c.reads for c in lay.conditions):
        raise ConfigError(f"'overview' adds a depth map's overview to every window: it needs a depth map in the "
                          f"shards; this model is {lay.adjective}")
    vocab = lay.vocab_size
    if recipe.gpt.vocab_size and recipe.gpt.vocab_size != vocab:
        raise ConfigError(f"'gpt.vocab_size' is {recipe.gpt.vocab_size}, but the shards need {vocab} "
                          f"(codebook {lay.n_embed} + {vocab - lay.n_embed} conditioning ids); set it to 0 "
                          "to take it from the shards")
    block = lay.block_size
    if recipe.gpt.block_size and recipe.gpt.block_size < block:
        raise ConfigError(f"'gpt.block_size' is {recipe.gpt.block_size}; {lay.adjective} conditioning with "
                          f"a {W}x{W} window needs {block}")
