"""Memory estimates made before work starts, so a request that cannot fit is refused with a
message instead of being killed by the kernel half-way.

The estimates count the buffers that grow with the request (pixels, tokens, batch): decoded
images, label maps, the full-resolution activations of a VQGAN encoder/decoder tile and the
transformer's KV caches. They are deliberately generous (a few live activation tensors per
conv block); model weights and the interpreter are left out.
"""

from __future__ import annotations

import os
import re

from vqtool.core.errors import VqtoolError

GiB = 2**30
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": GiB, "gb": 10**9, "gib": GiB, "t": 2**40, "tb": 10**12, "tib": 2**40}
ACTIVATIONS = 6  # live full-resolution tensors per conv block (input, norm, act, conv out, residual, upsample)


class MemoryLimitError(VqtoolError):
    pass


def parse_bytes(text: str) -> int:
    """'16GB', '512MiB', '2.5g', '0' -> bytes (0 means: no limit)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"{text!r} is not a memory size like 16GB, 512MiB or 0 (no limit)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def available_bytes() -> int:
    """Memory this process can still take: MemAvailable on Linux, else physical memory."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def fmt(n: int) -> str:
    if n >= GiB / 10:
        return f"{n / GiB:.1f} GiB"
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def check(estimate: int, limit: int | None, what: str, hint: str) -> None:
    """Refuse when ``estimate`` exceeds ``limit`` (None: what is available now; 0: no limit)."""
    if limit == 0:
        return
    source = "--max-memory" if limit is not None else "available memory"
    limit = available_bytes() if limit is None else limit
    if estimate > limit:
        raise MemoryLimitError(f"{what} would need about {fmt(estimate)}, more than the {fmt(limit)} of {source}; "
                               f"{hint}, or raise the limit with --max-memory (0: no limit)")


def vqgan_activation_bytes(model_cfg, batch: int, height: int, width: int) -> int:
    """Peak activations of one VQGAN encoder or decoder pass at full resolution."""
    c = model_cfg.ch * model_cfg.ch_mult[0]
    return batch * max(c, model_cfg.in_channels, model_cfg.out_channels) * height * width * 4 * ACTIVATIONS


def kv_cache_bytes(gpt_cfg, sequences: int) -> int:
    """KV caches of ``sequences`` full windows (keys and values of every layer, fp32)."""
    return sequences * gpt_cfg.n_layer * 2 * gpt_cfg.block_size * gpt_cfg.n_embd * 4


def sample_bytes(first_cfg, cond_cfg, gpt_cfg, n: int, batch: int, width: int, height: int, factor: int,
                 window: int, guided: bool, tile: int, max_tokens: int) -> int:
    """Peak of ``vqtool sample``: n images of width x height (multiples of ``factor``) in
    batches of ``batch``. Tiled decoding above ``max_tokens`` tokens keeps the decoder's
    activations to a tile, but the blended output is held whole."""
    h, w = height // factor, width // factor
    px = height * width
    b = min(batch, n)
    images = n * 3 * px  # the PIL images of the whole request (uint8)
    if h * w <= max_tokens:
        decode = vqgan_activation_bytes(first_cfg, b, height, width)
    else:
        th, tw = min(tile, h) * factor, min(tile, w) * factor
        decode = vqgan_activation_bytes(first_cfg, b, th, tw) + 3 * b * 3 * px * 4 + 2 * px * 4  # out, out/wsum, wsum
    labels = 0
    if cond_cfg is not None:  # label map ids (numpy + torch) and the one-hot tiles of its encoding
        t = min(tile + 16, h) * factor, min(tile + 16, w) * factor
        labels = px * 20 + vqgan_activation_bytes(cond_cfg, 1, *t)
    # rows one wavefront step batches: each row runs about W/2 + 1 columns behind the one above
    rows = 1 if (h <= window and w <= window) else min(h, w // (window // 2 + 1) + 1)
    cache = kv_cache_bytes(gpt_cfg, b * rows * (2 if guided else 1))
    return images + decode + labels + cache


def encode_bytes(model_cfg, batch: int, width: int, height: int) -> int:
    """Peak of encoding ``batch`` images of width x height (tokenize): input + activations."""
    return batch * 3 * width * height * 4 + vqgan_activation_bytes(model_cfg, batch, height, width)
