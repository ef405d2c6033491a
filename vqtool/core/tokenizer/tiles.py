"""Encoding and decoding of grids larger than a model should see at once: overlapping tiles,
blended (decoder) or cut at their centres (label-map encoder), so memory stays bounded."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vqtool.core.tokenizer.vqgan import VQGAN

DECODE_TILE, DECODE_MAX_TOKENS = 64, 128 * 128


@torch.no_grad()
def decode(model: VQGAN, z: torch.Tensor, tile: int = DECODE_TILE, overlap: int = 16,
           max_tokens: int = DECODE_MAX_TOKENS) -> torch.Tensor:
    """(B, h, w) codes -> (B, C, h·f, w·f). Above ``max_tokens`` decode overlapping tiles and
    blend them with linear ramps, so memory (and the decoder's global attention) stays bounded."""
    B, h, w = z.shape
    if h * w <= max_tokens:
        return model.decode_indices(z)
    f = model.factor
    out = torch.zeros(B, model.cfg.out_channels, h * f, w * f)
    wsum = torch.zeros(1, 1, h * f, w * f)
    step = tile - overlap
    rows = sorted({min(r, max(h - tile, 0)) for r in range(0, h, step)})
    cols = sorted({min(c, max(w - tile, 0)) for c in range(0, w, step)})
    ramp = torch.linspace(0, 1, overlap * f + 2)[1:-1]
    for r in rows:
        for c in cols:
            part = model.decode_indices(z[:, r:r + tile, c:c + tile]).float().cpu()
            th, tw = part.shape[-2:]
            wy, wx = torch.ones(th), torch.ones(tw)
            if r > 0:
                wy[:overlap * f] = ramp
            if r + tile < h:
                wy[-overlap * f:] = ramp.flip(0)
            if c > 0:
                wx[:overlap * f] = ramp
            if c + tile < w:
                wx[-overlap * f:] = ramp.flip(0)
            wm = wy[:, None] * wx[None]
            out[..., r * f:r * f + th, c * f:c * f + tw] += part * wm
            wsum[..., r * f:r * f + th, c * f:c * f + tw] += wm
    return out / wsum


@torch.no_grad()
def encode_labels(model: VQGAN, lab: torch.Tensor, tile: int = 64, margin: int = 8) -> torch.Tensor:
    """(H, W) labels -> (h, w) cond codes; large maps in overlapping tiles (memory stays bounded)."""
    k = model.cfg.in_channels
    return encode_tiled(model, lab, lambda part: F.one_hot(part, k).permute(2, 0, 1)[None].float(), tile, margin)


def encode_tiled(model: VQGAN, m: torch.Tensor, prepare, tile: int = 64, margin: int = 8) -> torch.Tensor:
    """(..., H, W) map -> (h, w) codes of ``prepare(crop)`` (the network's (1, C, H, W) input); large
    maps in overlapping tiles, each keeping its centre (memory stays bounded)."""
    f = model.factor
    H, W = m.shape[-2:]
    h, w = H // f, W // f
    dev = next(model.parameters()).device

    def enc(part):
        return model.encode(prepare(part.to(dev))).indices[0].cpu()

    if h * w <= tile * tile:
        return enc(m)
    out = torch.zeros(h, w, dtype=torch.long)
    for r in range(0, h, tile):
        for c in range(0, w, tile):
            r0, c0 = max(r - margin, 0), max(c - margin, 0)
            r1, c1 = min(r + tile + margin, h), min(c + tile + margin, w)
            codes = enc(m[..., r0 * f:r1 * f, c0 * f:c1 * f])
            rr, cc = min(r + tile, h), min(c + tile, w)
            out[r:rr, c:cc] = codes[r - r0:rr - r0, c - c0:cc - c0]
    return out
