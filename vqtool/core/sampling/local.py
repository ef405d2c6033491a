"""Exact sampling of any grid from a local transformer with one rolling KV cache.

Raster order over the whole grid, one position per token: each layer's keys/values of a position
are written once into a ring of rows and read by the positions below and to the right. A position
(r, c) needs row r-1 up to column c+R+1, so rows advance together in a wavefront: at step t, row r
is at column t - D*r with D = R + 2, and every row of the step is one batched forward. The ring
holds the rows a step touches plus R above them.

The conditions are known before the first token: the model's condition blocks (``gpt.cond_layers``)
run over the whole grid first, in chunks of positions, each reading its neighbours as the wavefront
does (``_conditions``); the wavefront then adds the result at each position.

The logits equal the model's own full-grid forward (``LocalGPT.forward_grid``) at every position,
hence a naive crop of each token's receptive field, up to float rounding (tested). Tokens are drawn
with ``sampling.position_uniform(seed, sample, i, j)``: batch size and order never change a sample.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from vqtool.core.conditioning.layout import Layout
from vqtool.core.sampling.rule import Rule, draw, position_uniform
from vqtool.core.transformer.local import LocalGPT, cond_offsets, offsets


class _Ring:
    """Keys and values of every layer for ``rows`` grid rows (row r lives at r % rows)."""

    def __init__(self, m: LocalGPT, batch: int, rows: int, w1: int, device, dtype):
        cfg = m.cfg
        hs = cfg.n_embd // cfg.n_head
        shape = (cfg.n_layer, batch, cfg.n_head, rows, w1, hs)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.rows, self.w1 = rows, w1


def _attend(blk, x, ring: _Ring, layer: int, r, c, off):
    """One block for positions (r, c) (n,) of a step: x (B, n, C)."""
    q, k, v = blk.attn.heads(blk.ln1(x), r, c)  # (B, nh, n, hs)
    slot = r % ring.rows
    ring.k[layer][:, :, slot, c] = k
    ring.v[layer][:, :, slot, c] = v
    # causal offsets never reach a row below r: no lower bound (h None)
    return blk.rest(x, _neighbours(blk, q, ring.k[layer], ring.v[layer], r, c, off, None, ring.w1))


def _neighbours(blk, q, k, v, r, c, off, h: int | None, w1: int):
    """Attention of queries q (B, nh, n, hs) at positions (r, c) (n,) over the keys/values k, v
    (B, nh, rows, w1, hs) at their ``off`` neighbours (row index taken modulo ``rows``; positions
    outside 0..h-1 x 0..w1-1 masked), then the attention's projection: (B, n, C)."""
    B, nh, n, hs = q.shape
    kr, kc = r[:, None] - off[:, 0], c[:, None] + off[:, 1]  # (n, M) key positions
    ok = (kr >= 0) & (kc >= 0) & (kc < w1)
    if h is not None:
        ok &= kr < h
    rows = k.shape[2]
    ks = k[:, :, kr % rows, kc.clamp(0, w1 - 1)]  # (B, nh, n, M, hs)
    vs = v[:, :, kr % rows, kc.clamp(0, w1 - 1)]
    # (B, nh, n, 1, hs) against (B, nh, n, M, hs): one query per position over its own keys
    y = F.scaled_dot_product_attention(q.unsqueeze(3), ks, vs, attn_mask=ok[:, None, :].expand(n, 1, -1))
    return blk.attn.proj(y.squeeze(3).transpose(1, 2).reshape(B, n, nh * hs))


def _conditions(m: LocalGPT, cg: torch.Tensor, chunk_elems: int = 2 ** 24) -> torch.Tensor:
    """(B, h, w1, C): the grid's conditions (B, h, w1, K) through the condition blocks, equal to
    ``m.cond_grid`` without its N x N mask: every block's queries in chunks of positions, each over
    its ``cond_offsets`` neighbours (a chunk gathers about ``chunk_elems`` keys' values)."""
    e = m.cond_embed(cg)
    if not len(m.cond_blocks):
        return e
    B, h, w1, C = e.shape
    off = cond_offsets(m.R).to(cg.device)
    n = torch.arange(h * w1, device=cg.device)
    r, c = n // w1, n % w1
    step = max(1, chunk_elems // (B * len(off) * C))
    for blk in m.cond_blocks:
        x = e.view(B, h * w1, C)
        q, k, v = blk.attn.heads(blk.ln1(x), r, c)  # (B, nh, N, hs)
        k, v = (t.reshape(*t.shape[:2], h, w1, -1) for t in (k, v))
        out = torch.empty_like(x)
        for i in range(0, h * w1, step):
            j = slice(i, i + step)
            out[:, j] = blk.rest(x[:, j], _neighbours(blk, q[:, :, j], k, v, r[j], c[j], off, h, w1))
        e = out.view(B, h, w1, C)
    return e


@torch.no_grad()
def sample_local(m: LocalGPT, layout: Layout, h: int, w: int, cond: list, rule: Rule, first_sample: int = 0,
                 prefix: torch.Tensor | None = None, progress=None, record: dict | None = None,
                 given: torch.Tensor | None = None) -> torch.Tensor:
    """(B, h, w) codes. ``cond``: the layout's token tensors. ``prefix`` (B, r, w): the known top
    rows (image completion); ``given`` (B, h, w): every code known (a likelihood pass with
    ``record``, which receives {(row, column): logits (B, V)}, as the window sampler's)."""
    dev = cond[0].device
    B = layout.batch_of(cond)
    guided = rule.guided and layout.guidable
    cond2 = [torch.cat([c, u]) for c, u in zip(cond, layout.unguided(cond))] if guided else cond
    known = given
    if prefix is not None:  # (B, h, w), -1 where free
        known = torch.full((B, h, w), -1, dtype=torch.long, device=dev)
        known[:, :prefix.shape[1]] = prefix.to(dev)
    R, D, w1 = m.R, m.R + 2, w + 1
    ring = _Ring(m, layout.batch_of(cond2), w // D + 1 + R, w1, dev, next(m.parameters()).dtype)
    off = offsets(R).to(dev)
    z = torch.zeros(B, h, w, dtype=torch.long, device=dev)
    e_all = _conditions(m, layout.position_grids(cond2, h, w, m.none))  # (B2, h, w1, C)
    sample_ids = torch.arange(first_sample, first_sample + B, device=dev)[:, None]
    for t in range(w1 + D * (h - 1)):
        lo, hi = max(0, math.ceil((t - w) / D)), min(h - 1, t // D)
        r = torch.arange(lo, hi + 1, device=dev)
        c = t - D * r
        tok = torch.where(c > 0, z[:, r, (c - 1).clamp(min=0)], m.none)  # (B, n): the token to the left
        x = m.embed(torch.cat([tok, tok]) if guided else tok, e_all[:, r, c])
        for i, blk in enumerate(m.blocks):
            x = _attend(blk, x, ring, i, r, c, off)
        live = c < w  # the extra column carries z[r, w-1] and predicts nothing
        rl, cl = r[live], c[live]
        if len(rl):
            logits = m.head(m.ln_f(x[:, live]))[..., : layout.n_embed].float()  # (B2, n', V)
            if guided:  # classifier-free guidance: u + s (c - u)
                cu, un = logits.chunk(2)
                logits = un + rule.guidance * (cu - un)
            if record is not None:
                for k, (r_, c_) in enumerate(zip(rl.tolist(), cl.tolist())):
                    record[(r_, c_)] = logits[:, k].clone()
            u = position_uniform(rule.seed, sample_ids, rl[None, :], cl[None, :])  # (B, n')
            new = draw(rule.filtered(logits.reshape(-1, logits.shape[-1])), u.reshape(-1)).view(B, -1)
            if known is not None:
                k = known[:, rl, cl]
                new = torch.where(k >= 0, k, new)
            z[:, rl, cl] = new
            if progress:
                progress(len(rl) * B)
    return z


@torch.no_grad()
def naive_logits(m: LocalGPT, z: torch.Tensor, cond: list) -> dict:
    """The reference: for every position, the model's full forward on a crop of the position
    grid that holds the position's whole receptive field (L*R rows up, L*(R+2) columns each
    side), read at that position. {(r, c): logits (B, V)}."""
    s, cg = m.inputs(z, cond)
    B, h, w1 = s.shape
    L, R, Lc = len(m.blocks), m.R, len(m.cond_blocks)
    up, side = L * R + Lc * R, L * (R + 2) + Lc * (R + 1)  # the condition blocks also reach Lc*R rows down
    out = {}
    for r in range(h):
        for c in range(w1 - 1):
            r0, r1 = max(0, r - up), min(h, r + Lc * R + 1)
            c0, c1 = max(0, c - side), min(w1, c + side + 1)
            logits = m.forward_grid(s[:, r0:r1, c0:c1], cg[:, r0:r1, c0:c1])
            out[(r, c)] = logits[:, r - r0, c - c0]
    return out

