"""A transformer built for the sliding window (``gpt.attention = "local"``): each image token
attends only to its causal 2-D neighbourhood, with relative (2-D rotary) positions, so a token's
output does not depend on where a crop starts and megapixel grids sample exactly with one rolling
KV cache (``core.sampling.local``).

The grid of positions is h x (w+1). Position (r, c) holds the token to its left, z[r, c-1] (c = 0:
the row-start id), plus the conditioning of (r, c): the segmentation token at that place (none in
the extra last column), or the class / start token at every position. Its output predicts z[r, c]
(the extra column w only carries z[r, w-1] to the rows below). Query (r, c) sees the positions

    (r, c-R+1 .. c)                  its own row: the R tokens to its left
    (r-R .. r-1, c-R+1 .. c+R+1)     the R rows above: tokens c-R .. c+R

(R = ``gpt.radius``, default window/2: the paper's context), so nothing at or after z[r, c] in
raster order is seen, in any layer. Training crops are fed like any grid: a token near a crop
edge sees a cut neighbourhood, as tokens at the image's true borders do when sampling.

Conditions are known before sampling starts, so with ``gpt.cond_layers`` > 0 they first pass
through blocks of their own that are not causal: each position's condition sees the conditions
within R rows above and below and R+1 columns each side (the rows below included). The causal
blocks then add the result where they added the raw condition, so a token knows what the map
holds below it before it is drawn.
"""

from __future__ import annotations


import torch
import torch.nn as nn
import torch.nn.functional as F

from vqtool.core.config import GPTConfig
from vqtool.core.transformer.common import decay_groups, init_weights, mlp


def offsets(R: int) -> torch.Tensor:
    """(M, 2) neighbourhood offsets (rows up, columns right) of a query, itself included."""
    same = [(0, dc) for dc in range(-R + 1, 1)]
    above = [(dr, dc) for dr in range(1, R + 1) for dc in range(-R + 1, R + 2)]
    return torch.tensor(same + above, dtype=torch.long)


def cond_offsets(R: int) -> torch.Tensor:
    """(M, 2) offsets (rows up, columns right) a condition sees in the condition blocks: R rows
    above and below, R+1 columns each side, itself included."""
    return torch.tensor([(dr, dc) for dr in range(-R, R + 1) for dc in range(-R - 1, R + 2)], dtype=torch.long)


def rope(x: torch.Tensor, r: torch.Tensor, c: torch.Tensor, base: float = 100.0) -> torch.Tensor:
    """2-D rotary positions: the first half of each head rotated by the row, the second half by
    the column, so q.k depends only on (r - r', c - c'). x (..., N, hs); r, c (N,) or broadcastable."""
    hs = x.shape[-1]
    q = hs // 4  # rotation pairs per axis
    inv = base ** (-torch.arange(q, device=x.device, dtype=torch.float32) / q)
    out = []
    for part, pos in ((x[..., : hs // 2], r), (x[..., hs // 2:], c)):
        ang = pos.to(torch.float32)[..., None] * inv  # (N, q)
        cos, sin = ang.cos().to(x.dtype), ang.sin().to(x.dtype)
        a, b = part[..., :q], part[..., q:]
        out += [a * cos - b * sin, a * sin + b * cos]
    return torch.cat(out, -1)


def grid_mask(h: int, w1: int, R: int, device) -> torch.Tensor:
    """(N, N) bool: query position n may see key position m, on an h x w1 grid (raster order)."""
    n = torch.arange(h * w1, device=device)
    r, c = n // w1, n % w1
    dr, dc = r[:, None] - r[None, :], c[None, :] - c[:, None]  # rows up, columns right of the query
    same = (dr == 0) & (dc <= 0) & (dc > -R)
    above = (dr >= 1) & (dr <= R) & (dc > -R) & (dc <= R + 1)
    return same | above


def cond_mask(h: int, w1: int, R: int, device) -> torch.Tensor:
    """(N, N) bool of the condition blocks: the ``cond_offsets`` neighbourhood, in both directions."""
    n = torch.arange(h * w1, device=device)
    r, c = n // w1, n % w1
    return ((r[:, None] - r[None, :]).abs() <= R) & ((c[:, None] - c[None, :]).abs() <= R + 1)


class LocalAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0 and (cfg.n_embd // cfg.n_head) % 4 == 0, \
            "local attention needs a head size divisible by 4 (2-D rotary positions)"
        self.n_head = cfg.n_head
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)

    def heads(self, x, r, c):
        """(B, N, C) -> rotated q, k and v, each (B, nh, N, hs)."""
        B, N, C = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.n_head, C // self.n_head).permute(2, 0, 3, 1, 4)
        return rope(q, r, c), rope(k, r, c), v

    def forward(self, x, r, c, mask):
        B, N, C = x.shape
        q, k, v = self.heads(x, r, c)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.proj(y.transpose(1, 2).reshape(B, N, C))  # (B, nh, N, hs) -> (B, N, C)


class LocalBlock(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.n_embd), nn.LayerNorm(cfg.n_embd)
        self.attn = LocalAttention(cfg)
        self.mlp = mlp(cfg)
        self.drop = nn.Dropout(cfg.resid_pdrop)

    def forward(self, x, r, c, mask):
        return self.rest(x, self.attn(self.ln1(x), r, c, mask))

    def rest(self, x, y):
        """The block after attention: residual add of the attention output y, then the MLP
        (the rolling-cache sampler computes y its own way and shares this)."""
        x = x + self.drop(y)
        return x + self.mlp(self.ln2(x))


class LocalGPT(nn.Module):
    """``layout``: the conditioning (core.conditioning.Layout), which says what each position adds
    (a condition's token grid, or one token per sample at every position) and the training window."""

    def __init__(self, cfg: GPTConfig, layout):
        super().__init__()
        if cfg.radius < 1:
            raise ValueError("a local transformer needs gpt.radius >= 1")
        self.cfg, self.layout, self.R = cfg, layout, cfg.radius
        self.none = cfg.vocab_size  # the id of "no token": row start, no segmentation token
        self.tok_emb = nn.Embedding(cfg.vocab_size + 1, cfg.n_embd)
        self.drop = nn.Dropout(cfg.embd_pdrop)
        self.blocks = nn.ModuleList([LocalBlock(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        # registered last: with none, a model is built (and initialised) as before they existed
        self.cond_blocks = nn.ModuleList([LocalBlock(cfg) for _ in range(cfg.cond_layers)])
        self.apply(init_weights)  # the paper GPT's initialisation

    def inputs(self, z: torch.Tensor, cond: list) -> tuple[torch.Tensor, torch.Tensor]:
        """Position grids of input tokens (B, h, w+1) and conditioning ids (B, h, w+1, K) from codes
        z (B, h, w) and the layout's token tensors ``cond``."""
        B, h, w = z.shape
        none = torch.full((B, h, 1), self.none, dtype=torch.long, device=z.device)
        # position c holds z[r, c-1]
        return torch.cat([none, z.long()], 2), self.layout.position_grids(cond, h, w, self.none)

    def cond_embed(self, cg: torch.Tensor) -> torch.Tensor:
        """(..., C): the sum of each condition's embedding at each position (``cg``: (..., K) ids)."""
        e = self.tok_emb(cg[..., 0])
        for k in range(1, cg.shape[-1]):
            e = e + self.tok_emb(cg[..., k])
        return e

    def cond_grid(self, cg: torch.Tensor) -> torch.Tensor:
        """(B, h, w1, C): the conditions of a whole grid (B, h, w1, K) through the condition blocks
        (dense: training crops; the sampler computes the same in chunks)."""
        e = self.cond_embed(cg)
        if not len(self.cond_blocks):
            return e
        B, h, w1, C = e.shape
        n = torch.arange(h * w1, device=cg.device)
        r, c, mask = n // w1, n % w1, cond_mask(h, w1, self.R, cg.device)
        e = e.view(B, h * w1, C)
        for blk in self.cond_blocks:
            e = blk(e, r, c, mask)
        return e.view(B, h, w1, C)

    def embed(self, s: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        """Token embeddings plus the conditions' ``e`` (..., C) at the same positions."""
        return self.drop(self.tok_emb(s) + e)

    def forward_grid(self, s: torch.Tensor, cg: torch.Tensor) -> torch.Tensor:
        """Logits (B, h, w1, V) of every position of input grids (B, h, w1); positions are
        relative to the grid, so a crop gives the same logits wherever it starts."""
        B, h, w1 = s.shape
        n = torch.arange(h * w1, device=s.device)
        r, c = n // w1, n % w1
        mask = grid_mask(h, w1, self.R, s.device)
        x = self.embed(s, self.cond_grid(cg)).view(B, h * w1, -1)
        for blk in self.blocks:
            x = blk(x, r, c, mask)
        return self.head(self.ln_f(x)).view(B, h, w1, -1)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """The paper GPT's training interface: idx = (cond + W² codes)[:, :-1], (B, T), for the
        layout's window W; logits (B, T, V) whose last W² rows predict the W² codes in raster order
        (the first lc - 1 are zeros), so ``sequence_loss`` and DDP treat both models alike."""
        B, T = idx.shape
        W, lc = self.layout.window, self.layout.cond_len()
        if T != lc + W * W - 1:
            raise ValueError(f"a training window of {W}x{W} with {lc} conditioning tokens is {lc + W * W - 1} "
                             f"tokens long, not {T}")
        z = torch.cat([idx[:, lc:], idx[:, -1:]], 1).view(B, W, W)  # the last code is only a target: any id
        logits = self.forward_grid(*self.inputs(z, self.layout.split(idx[:, :lc], W, W)))[:, :, :W]
        logits = logits.reshape(B, W * W, -1)
        return torch.cat([logits.new_zeros(B, lc - 1, logits.shape[-1]), logits], 1)

    def optimizer_groups(self, weight_decay: float) -> list[dict]:
        return decay_groups(self, weight_decay)  # decay on Linear weights only, as the paper's GPT
