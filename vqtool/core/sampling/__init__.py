"""Sampling: the token rule every sampler shares (``rule``) and each model family's sampler,
behind one interface. ``sampler_for(gpt)`` is the one place that knows the families; callers ask
the sampler it returns and never which model they hold.

A sampler samples a grid of any size (``sample``), scores a given grid under its own geometry
(``bits_per_token``: the paper's exact windows, or the local model's neighbourhoods) and says what
its caches take (``cache_bytes``, for the memory guard).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vqtool.core.errors import VqtoolError
from vqtool.core.sampling.local import sample_local
from vqtool.core.sampling.rule import Rule
from vqtool.core.sampling.window import sample_grid, sample_naive
from vqtool.core.transformer import GPT, LocalGPT

__all__ = ["Rule", "sampler_for"]


def _to_raster(layout, seq: torch.Tensor) -> torch.Tensor:
    """(B, W, W) codes in raster order from codes sampled in a permuted model's order (laid out row by
    row: position k holds raster position order[k]); unchanged for any other model."""
    if not layout.permuted:
        return seq
    B, W = seq.shape[0], layout.window
    out = torch.empty_like(seq.reshape(B, -1))
    out[:, torch.tensor(layout.permuted["order"], device=seq.device)] = seq.reshape(B, -1)
    return out.view(B, W, W)


def _to_order(layout, z: torch.Tensor) -> torch.Tensor:
    """The inverse of ``_to_raster``: raster codes (B, W, W) in the model's order."""
    if not layout.permuted:
        return z
    B, W = z.shape[0], layout.window
    return z.reshape(B, -1)[:, torch.tensor(layout.permuted["order"], device=z.device)].view(B, W, W)


class WindowSampler:
    """The paper's GPT: cached decoding in the window, the sliding window beyond it (``mode``
    exact: the paper's rule; fast: a placement reused for half a window; ``naive``: the reference
    rule, one full window forward per token)."""

    exact_only = False

    @staticmethod
    def sample(gpt, layout, h, w, cond, rule: Rule, mode: str = "exact", first_sample: int = 0, prefix=None,
               progress=None, naive: bool = False, limit: int | None = None) -> torch.Tensor:
        layout.check_grid(h, w)
        if naive:
            return _to_raster(layout, sample_naive(gpt, layout, h, w, cond, rule, first_sample, limit=limit))
        if prefix is not None and layout.permuted:
            raise VqtoolError("--prefix keeps the top rows; this model feeds its tokens in another order "
                              f"(taming's {layout.permuted['name']}), so they are not the first tokens it draws")
        # a permuted model (inside its window): the grid sampled in its order, laid out row by row
        z = sample_grid(gpt, layout, h, w, cond, rule, mode, first_sample, prefix=prefix, progress=progress)
        return _to_raster(layout, z)

    @staticmethod
    def bits_per_token(gpt, layout, z: torch.Tensor, cond: list) -> float:
        n, h, w = z.shape
        rec: dict = {}
        layout.check_grid(h, w)
        z = _to_order(layout, z)
        sample_grid(gpt, layout, h, w, cond, Rule(), "exact", force=z, record=rec)
        nll = sum(F.cross_entropy(lg.float(), z[:, i, j].cpu(), reduction="sum").item() for (i, j), lg in rec.items())
        return nll / (n * h * w) / math.log(2)

    @staticmethod
    def cache_bytes(cfg, layout, batch: int, h: int, w: int, guided: bool) -> int:
        """KV caches of the rows one wavefront step batches (each row runs about W/2 + 1 columns
        behind the one above), each a full window."""
        W = layout.window
        rows = 1 if (h <= W and w <= W) else min(h, w // (W // 2 + 1) + 1)
        return batch * rows * (2 if guided else 1) * cfg.n_layer * 2 * cfg.block_size * cfg.n_embd * 4


class LocalSampler:
    """The local model: its own exact computation over the whole grid with one rolling KV cache
    (its fast way is its exact way: ``mode`` and ``naive`` change nothing)."""

    exact_only = True

    @staticmethod
    def sample(gpt, layout, h, w, cond, rule: Rule, mode: str = "exact", first_sample: int = 0, prefix=None,
               progress=None, naive: bool = False, limit: int | None = None) -> torch.Tensor:
        return sample_local(gpt, layout, h, w, cond, rule, first_sample, prefix=prefix, progress=progress)

    @staticmethod
    def bits_per_token(gpt, layout, z: torch.Tensor, cond: list) -> float:
        n, h, w = z.shape
        rec: dict = {}
        sample_local(gpt, layout, h, w, cond, Rule(), given=z, record=rec)
        nll = sum(F.cross_entropy(lg.float(), z[:, i, j].to(lg.device), reduction="sum").item()
                  for (i, j), lg in rec.items())
        return nll / (n * h * w) / math.log(2)

    @staticmethod
    def cache_bytes(cfg, layout, batch: int, h: int, w: int, guided: bool) -> int:
        """The ring of keys and values: R + w/(R+2) + 1 rows of w+1 positions, every layer; and the
        conditions of the whole grid (with condition blocks: one block's queries, keys, values and
        output too, and the neighbours a chunk gathers)."""
        R, b = cfg.radius, batch * (2 if guided else 1)
        rows = R + w // (R + 2) + 1
        grid = b * h * (w + 1) * cfg.n_embd * 4
        blocks = 4 * grid + 2 * 4 * 2 ** 24 if cfg.cond_layers else 0
        return b * cfg.n_layer * 2 * rows * (w + 1) * cfg.n_embd * 4 + grid + blocks


_SAMPLERS = ((LocalGPT, LocalSampler), (GPT, WindowSampler))


def sampler_for(gpt) -> type:
    """The sampler of the family ``gpt`` belongs to (a compiled or DDP wrapper: its module's)."""
    model = getattr(gpt, "module", gpt)
    for family, sampler in _SAMPLERS:
        if isinstance(model, family):
            return sampler
    raise TypeError(f"no sampler for {type(model).__name__}")  # a bug: build_gpt makes every model
