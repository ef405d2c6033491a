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
from pathlib import Path

from vqtool.core.errors import VqtoolError

GiB = 2**30
_UNITS = {"": 1, "b": 1, "k": 2**10, "kb": 10**3, "kib": 2**10, "m": 2**20, "mb": 10**6, "mib": 2**20,
          "g": GiB, "gb": 10**9, "gib": GiB, "t": 2**40, "tb": 10**12, "tib": 2**40}
DECODED_INPUT_BYTES = 48  # per pixel of an input file decoded whole: RGB, int64 ids, colour keys, masks
ACTIVATIONS = 6  # live full-resolution tensors per conv block (input, norm, act, conv out, residual, upsample)


class MemoryLimitError(VqtoolError):
    pass


def parse_bytes(text: str) -> int:
    """'16GB', '512MiB', '2.5g', '0' -> bytes (0 means: no limit)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    if not m or m.group(2).lower() not in _UNITS:
        raise ValueError(f"{text!r} is not a memory size like 16GB, 512MiB or 0 (no limit)")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


# where the limits are read (module constants, so tests can point them at a fake tree)
MEMINFO = "/proc/meminfo"
PROC_STATUS = "/proc/self/status"
PROC_CGROUP = "/proc/self/cgroup"
CGROUP_ROOT = "/sys/fs/cgroup"
_NO_LIMIT = 2**62  # cgroup files say "max" (v2) or a page-rounded 2^63 (v1) for no limit


def _read_int(path: str) -> int | None:
    try:
        text = open(path).read().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        v = int(text)
    except ValueError:
        return None
    return None if v >= _NO_LIMIT else v


def _meminfo() -> int | None:
    try:
        with open(MEMINFO) as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _address_space() -> int | None:
    """What the address-space limit (ulimit -v, RLIMIT_AS) leaves: the limit minus what the process
    has mapped now."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = 0
    try:
        with open(PROC_STATUS) as f:
            for line in f:
                if line.startswith("VmSize:"):
                    used = int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return max(soft - used, 0)


def _cgroup() -> int | None:
    """What the memory cgroup (a container's limit) leaves: its limit minus its usage, for the
    process's own cgroup and every parent (v2: memory.max/memory.current; v1:
    memory.limit_in_bytes/memory.usage_in_bytes)."""
    try:
        lines = open(PROC_CGROUP).read().splitlines()
    except OSError:
        return None
    left = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        if controllers == "":  # v2 unified hierarchy
            base, files = Path(CGROUP_ROOT), ("memory.max", "memory.current")
        elif "memory" in controllers.split(","):
            base, files = Path(CGROUP_ROOT) / "memory", ("memory.limit_in_bytes", "memory.usage_in_bytes")
        else:
            continue
        # the process's cgroup as mounted here, or (inside a namespace) the mount's root itself
        d = base / rel.lstrip("/")
        chain = [d, *d.parents] if d.is_dir() else [base]
        for c in chain:
            if c != base and base not in c.parents:
                break
            limit = _read_int(str(c / files[0]))
            if limit is not None:
                usage = _read_int(str(c / files[1])) or 0
                left.append(max(limit - usage, 0))
    return min(left) if left else None


def limits() -> dict[str, int]:
    """Every limit on the memory this process can still take, by name."""
    found = {"available memory": _meminfo(), "the address-space limit (ulimit -v)": _address_space(),
             "the cgroup memory limit": _cgroup()}
    out = {k: v for k, v in found.items() if v is not None}
    if not out:
        out["physical memory"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return out


def available() -> tuple[int, str]:
    """The smallest of free RAM, the address-space limit and the cgroup limit, and its name."""
    name, v = min(limits().items(), key=lambda kv: kv[1])
    return v, name


def available_bytes() -> int:
    """Memory this process can still take (see ``available``)."""
    return available()[0]


def fmt(n: int) -> str:
    if n >= 2**40:
        return f"{n / 2**40:,.0f} TiB" if n >= 2**50 else f"{n / 2**40:.1f} TiB"
    if n >= GiB / 10:
        return f"{n / GiB:.1f} GiB"
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def check(estimate: int, limit: int | None, what: str, hint: str, option: str = "--max-memory",
          need: str = "about") -> None:
    """Refuse when ``estimate`` exceeds ``limit`` (None: the smallest of free RAM, the process's
    address-space limit and its cgroup limit; 0: no limit)."""
    if limit == 0:
        return
    source = option
    if limit is None:
        limit, source = available()
    if estimate > limit:
        raise MemoryLimitError(f"{what} would need {need} {fmt(estimate)}, more than the {fmt(limit)} of {source}; "
                               f"{hint}, or raise the limit with {option} (0: no limit)")


def vqgan_activation_bytes(model_cfg, batch: int, height: int, width: int) -> int:
    """Peak activations of one VQGAN encoder or decoder pass at full resolution."""
    c = model_cfg.ch * model_cfg.ch_mult[0]
    return batch * max(c, model_cfg.in_channels, model_cfg.out_channels) * height * width * 4 * ACTIVATIONS


def sample_bytes(first_cfg, n: int, batch: int, width: int, height: int, factor: int, tile: int,
                 max_tokens: int) -> int:
    """The images of ``vqtool sample``: n images of width x height (multiples of ``factor``) and the
    decoder's activations for a batch. Tiled decoding above ``max_tokens`` tokens keeps those to a
    tile, but the blended output is held whole. (The conditioning's share and the sampler's caches
    are added by their owners: conditioning.Layout.memory_bytes, a sampler's cache_bytes.)"""
    h, w = height // factor, width // factor
    px = height * width
    b = min(batch, n)
    images = n * 3 * px  # the PIL images of the whole request (uint8)
    if h * w <= max_tokens:
        return images + vqgan_activation_bytes(first_cfg, b, height, width)
    th, tw = min(tile, h) * factor, min(tile, w) * factor
    return images + vqgan_activation_bytes(first_cfg, b, th, tw) + 3 * b * 3 * px * 4 + 2 * px * 4  # out, out/wsum, wsum


def encode_bytes(model_cfg, batch: int, width: int, height: int) -> int:
    """Peak of encoding ``batch`` images of width x height (tokenize): input + activations."""
    return batch * 3 * width * height * 4 + vqgan_activation_bytes(model_cfg, batch, height, width)


def fmt_count(n: int) -> str:
    """A parameter count for people: 2.4M, 1.4B."""
    return f"{n / 1e9:,.1f}B" if n >= 1e9 else f"{n / 1e6:.1f}M"


def param_count(build) -> int:
    """Parameters of the module ``build()`` makes, counted on the meta device (nothing allocated), so
    a recipe asking for terabytes of weights is measured before any is made."""
    from unittest import mock

    import torch

    def keep(t, *args, **kwargs):
        return t

    # initialisers do nothing useful on meta tensors, and the first meta normal_ costs seconds
    inits = {k: keep for k in ("normal_", "uniform_", "kaiming_uniform_", "kaiming_normal_", "trunc_normal_",
                               "xavier_uniform_", "xavier_normal_", "constant_", "ones_", "zeros_")}
    with torch.device("meta"), mock.patch.multiple(torch.nn.init, **inits):
        m = build()
    return sum(p.numel() for p in m.parameters()) + sum(b.numel() for b in m.buffers())


def param_count_in(build, n: int) -> int:
    """``param_count(lambda: build(n))`` for a model whose size grows linearly in ``n`` (its layer or
    block count), without building thousands of layers: exact from the counts at 1 and 2."""
    if n <= 4:
        return param_count(lambda: build(n))
    one, two = param_count(lambda: build(1)), param_count(lambda: build(2))
    return one + (n - 1) * (two - one)


# fp32 weights, their gradients and AdamW's two moments
TRAIN_BYTES_PER_PARAM = 16


def vqgan_train_bytes(model_cfg, params: int, disc_params: int, batch: int, size: int) -> int:
    """A lower bound on a VQGAN training step: weights, gradients and optimiser states of the
    autoencoder and the discriminator, and the encoder's and decoder's activations at full resolution
    (kept for the backward pass). Deliberately low: it refuses what cannot fit, never what might."""
    acts = 2 * vqgan_activation_bytes(model_cfg, batch, size, size)
    return (params + disc_params) * TRAIN_BYTES_PER_PARAM + acts


def gpt_train_bytes(gpt_cfg, params: int, batch: int) -> int:
    """A lower bound on a transformer training step: weights, gradients, optimiser states, each
    layer's residual stream and the logits of a batch of windows (kept for the backward pass)."""
    tokens = batch * max(gpt_cfg.block_size, 1)
    return (params * TRAIN_BYTES_PER_PARAM + tokens * gpt_cfg.n_embd * 4 * (gpt_cfg.n_layer + 1)
            + tokens * gpt_cfg.vocab_size * 4 * 2)


def device_limit(dev) -> tuple[int, str] | None:
    """Free memory of a CUDA device (what training and sampling weights live in), or None on the CPU."""
    import torch

    if getattr(dev, "type", str(dev)) != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(dev)
    return free, f"free memory of {torch.cuda.get_device_name(dev)}"


def check_on(dev, estimate: int, limit: int | None, what: str, hint: str, option: str = "--max-memory",
             need: str = "at least") -> None:
    """``check`` against the device that will hold the work: a GPU's free memory, else the host's limits."""
    if limit is None and (gpu := device_limit(dev)) is not None:
        if estimate > gpu[0]:
            raise MemoryLimitError(f"{what} would need {need} {fmt(estimate)}, more than the {fmt(gpu[0])} of "
                                   f"{gpu[1]}; {hint}, or set the limit with {option} (0: no limit)")
        return
    check(estimate, limit, what, hint, option, need)
