"""The token rule every sampler shares: temperature, top-k and top-p filtering, and a draw from a
uniform that depends only on (seed, sample number, row, column), so the batch a sample is in and
the order tokens are computed in never change it."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class Rule:
    """How tokens are drawn: filtering, the seed, and classifier-free guidance (``guidance``: the
    scale s of u + s (c - u); None or 1: none)."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int = 0
    guidance: float | None = None

    def filtered(self, logits: torch.Tensor) -> torch.Tensor:
        return filter_logits(logits, self.temperature, self.top_k, self.top_p)

    @property
    def guided(self) -> bool:
        return self.guidance not in (None, 1.0)


def filter_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> torch.Tensor:
    """Temperature, then top-k (ties at the k-th value survive, as taming), then top-p."""
    if temperature <= 0:
        raise ValueError("temperature must be > 0")
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        if top_k < 1:
            raise ValueError("top_k must be >= 1")
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        probs = sorted_logits.softmax(-1)
        # drop a token when the mass before it already reaches top_p (the top token always stays)
        drop_sorted = probs.cumsum(-1) - probs >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, float("-inf"))
    return logits


def position_uniform(seed: int, sample: torch.Tensor, i: int | torch.Tensor, j: int | torch.Tensor) -> torch.Tensor:
    """A uniform in [0, 1) from (seed, sample number, i, j): SplitMix64 over int64 (wrapping).

    Any Python int is a valid seed: it is reduced modulo 2**64 before it meets a tensor (a seed
    times a 64-bit constant overflows a Python-int-to-int64 conversion). The result lives on the
    device of ``sample``."""
    sample = torch.as_tensor(sample, dtype=torch.int64)
    dev = sample.device
    s = seed % (1 << 64)
    s = s - (1 << 64) if s >= (1 << 63) else s  # the same 64 bits, as a signed int64
    x = (sample * 0x9E3779B1 + torch.as_tensor(i, dtype=torch.int64, device=dev) * 0x85EBCA77
         + torch.as_tensor(j, dtype=torch.int64, device=dev) * 0xC2B2AE3D
         + torch.tensor(s, dtype=torch.int64, device=dev) * 0x27D4EB2F165667C5
         - 7046029254386353131)  # SplitMix64's increment (0x9E3779B97F4A7C15 as int64): 0 does not map to 0
    for shift, mul in ((30, -4658895280553007687), (27, -7723592293110705685)):
        x = (x ^ ((x >> shift) & ((1 << (64 - shift)) - 1))) * mul
    x = x ^ ((x >> 31) & ((1 << 33) - 1))
    return ((x >> 11) & ((1 << 53) - 1)).double() / float(1 << 53)


def draw(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Inverse-CDF sample of each row of (filtered) logits with the given uniforms."""
    cdf = logits.double().softmax(-1).cumsum(-1)
    idx = (cdf <= (u[:, None] * cdf[:, -1:])).sum(-1)  # first token whose cdf exceeds u (u=0 is safe)
    return idx.clamp(max=logits.shape[-1] - 1)


