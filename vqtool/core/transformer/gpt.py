"""The transformer: a GPT over flattened code grids with conditioning tokens prepended.

Layout of taming's minGPT (pre-LN blocks, learned absolute positions initialised to zero,
exact GELU, separate key/query/value/proj Linears, no weight tying), so converted checkpoints
load key for key; attention runs through scaled_dot_product_attention, and a preallocated
KV cache makes decoding one token cost one position.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from vqtool.core.config import GPTConfig
from vqtool.core.transformer.common import decay_groups, init_weights, mlp


@dataclass
class KVCache:
    """Keys and values of every layer for up to ``max_len`` positions: (L, B, nh, T, hs)."""

    k: torch.Tensor
    v: torch.Tensor

    @classmethod
    def empty(cls, cfg: GPTConfig, batch: int, max_len: int, device, dtype=torch.float32) -> KVCache:
        shape = (cfg.n_layer, batch, cfg.n_head, max_len, cfg.n_embd // cfg.n_head)
        return cls(torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype))


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        assert cfg.n_embd % cfg.n_head == 0
        self.n_head, self.p = cfg.n_head, cfg.attn_pdrop
        self.key = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.query = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.value = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.resid_drop = nn.Dropout(cfg.resid_pdrop)

    def forward(self, x, cache: KVCache | None = None, layer: int = 0, start: int = 0, last_only: bool = False):
        B, T, C = x.shape
        nh, hs = self.n_head, C // self.n_head
        if last_only:  # keys/values for every position, a query only for the last one
            return self._last(x, cache, layer, start)
        # (B, T, C) -> (B, nh, T, hs)
        q = self.query(x).view(B, T, nh, hs).transpose(1, 2)
        k = self.key(x).view(B, T, nh, hs).transpose(1, 2)
        v = self.value(x).view(B, T, nh, hs).transpose(1, 2)
        drop = self.p if self.training else 0.0
        if cache is None:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        else:
            cache.k[layer, :, :, start:start + T] = k
            cache.v[layer, :, :, start:start + T] = v
            k, v = cache.k[layer, :, :, :start + T], cache.v[layer, :, :, :start + T]
            if T == 1:  # one new token sees everything cached
                y = F.scaled_dot_product_attention(q, k, v)
            else:  # new token t sees the cache and new tokens <= t
                mask = torch.ones(T, start + T, dtype=torch.bool, device=x.device).tril(start)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        y = y.transpose(1, 2).reshape(B, T, C)  # (B, nh, T, hs) -> (B, T, C)
        return self.resid_drop(self.proj(y))

    def _last(self, x, cache, layer, start):
        B, T, C = x.shape
        nh, hs = self.n_head, C // self.n_head
        q = self.query(x[:, -1:]).view(B, 1, nh, hs).transpose(1, 2)  # (B, nh, 1, hs)
        k = self.key(x).view(B, T, nh, hs).transpose(1, 2)
        v = self.value(x).view(B, T, nh, hs).transpose(1, 2)
        if cache is not None:
            cache.k[layer, :, :, start:start + T] = k
            cache.v[layer, :, :, start:start + T] = v
            k, v = cache.k[layer, :, :, :start + T], cache.v[layer, :, :, :start + T]
        y = F.scaled_dot_product_attention(q, k, v)  # the last position sees every key: no mask
        return self.resid_drop(self.proj(y.transpose(1, 2).reshape(B, 1, C)))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.attn = CausalSelfAttention(cfg)
        self.mlp = mlp(cfg)

    def forward(self, x, cache=None, layer=0, start=0, last_only=False):
        if last_only:  # only the last position's output is needed (the final block when sampling)
            x = x[:, -1:] + self.attn(self.ln1(x), cache, layer, start, last_only=True)
        else:
            x = x + self.attn(self.ln1(x), cache, layer, start)
        return x + self.mlp(self.ln2(x))


class GPT(nn.Module):
    """The paper's GPT. ``layout`` (the conditioning) is the local model's business; this one reads
    conditioning tokens as any others."""

    def __init__(self, cfg: GPTConfig, layout=None):
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos_emb = nn.Parameter(torch.zeros(1, cfg.block_size, cfg.n_embd))
        self.drop = nn.Dropout(cfg.embd_pdrop)
        self.blocks = nn.Sequential(*[Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.apply(init_weights)

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None, start: int = 0,
                last: bool = False, pos: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B, T, V) for tokens ``idx`` (B, T), the sequence's tokens start..start+T-1, at
        positions start..start+T-1 or, given ``pos`` (T,), at those (a window smaller than the
        training one keeps its training positions); with ``last`` only the last position's, (B, V),
        and the final block computes nothing else. (A flag, not an index tensor: deciding it from a
        tensor would sync the GPU every call.)"""
        B, T = idx.shape
        if start + T > self.cfg.block_size:
            raise ValueError(f"sequence of {start + T} tokens exceeds block_size {self.cfg.block_size}")
        x = self.drop(self.tok_emb(idx) + (self.pos_emb[:, start:start + T] if pos is None else self.pos_emb[:, pos]))
        n = len(self.blocks)
        for i, block in enumerate(self.blocks):
            x = block(x, cache, i, start, last_only=last and i == n - 1)
        if last:
            return self.head(self.ln_f(x[:, -1]))  # (B, V)
        return self.head(self.ln_f(x))

    def optimizer_groups(self, weight_decay: float) -> list[dict]:
        return decay_groups(self, weight_decay)
