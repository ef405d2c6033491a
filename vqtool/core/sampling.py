"""Sampling code grids of any size from a transformer trained on W×W windows.

The paper's rule (taming scripts/sample_conditional.py): for token (i, j) the window is placed
with the token at local row/column W/2, clamped to the grid, and the same window is cut from the
conditioning tokens; the logits come from one forward of cond-crop + window tokens.

``sample_naive`` is that rule verbatim (one full forward per token). ``sample_grid`` computes
the same logits faster:
- only the prefix the target needs is run, and the head only at the target;
- consecutive tokens of a row that share a window placement (the borders) reuse one KV cache;
- rows advance together in a staggered wavefront (a token needs the row above only up to its
  window's right edge), and the rows of a wavefront step are batched.
``mode="fast"`` keeps a placement for up to ``stride`` tokens and decodes them from its KV cache:
an approximation (less right-hand context in the rows above), about ``stride`` times cheaper.

Every sampled token is a pure function of its logits and (seed, sample number, i, j), so batch
size and processing order never change a sample.
"""

from __future__ import annotations


import torch

from vqtool.core.gpt import GPT, KVCache
from vqtool.core.layout import Layout


# --------------------------------------------------------------------------- filtering


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


# --------------------------------------------------------------------------- window geometry


def window_start(pos: int, size: int, window: int) -> int:
    """Clamped start of the window along one axis: the token sits at local W//2 in the interior."""
    return min(max(pos - window // 2, 0), max(size - window, 0))


def row_blocks(w: int, window: int, stride: int) -> list[tuple[int, int, int]]:
    """(c0, j_start, j_end) runs of a row: columns sampled from one window placement.

    stride 1 (exact): maximal runs of columns whose paper placement is the same (the borders);
    stride s (fast): up to s columns from the first column's placement."""
    Ww = min(w, window)
    out, j = [], 0
    while j < w:
        c0 = window_start(j, w, Ww)
        end = j + 1
        if stride == 1:
            while end < w and window_start(end, w, Ww) == c0:
                end += 1
        else:
            end = min(j + stride, c0 + Ww, w)
        out.append((c0, j, end))
        j = end
    return out


# --------------------------------------------------------------------------- conditioning


def cond_tokens(layout: Layout, n: int, cond=None, classes=None, h: int = 0, w: int = 0) -> torch.Tensor:
    """Conditioning ids for n samples: seg (n, h, w) grid, class/uncond (n, 1)."""
    if layout.mode == "seg":
        assert cond is not None and tuple(cond.shape[-2:]) == (h, w)
        return cond.long() + layout.cond_offset
    if layout.mode == "class":
        return (torch.as_tensor(classes).long().view(-1, 1) + layout.cond_offset).expand(n, 1)
    return torch.full((n, 1), layout.sos, dtype=torch.long)


def _crop_cond(c: torch.Tensor, layout: Layout, r0, c0, Wh, Ww) -> torch.Tensor:
    if layout.mode == "seg":
        return c[:, r0:r0 + Wh, c0:c0 + Ww].reshape(c.shape[0], -1)
    return c


class _Step:
    """Logits at one batch of targets, with classifier-free guidance when asked."""

    def __init__(self, gpt: GPT, layout: Layout, temperature, top_k, top_p, cfg_scale, null):
        self.gpt, self.layout = gpt, layout
        self.t, self.k, self.p = temperature, top_k, top_p
        self.cfg, self.null = cfg_scale, null
        self.force = None

    def finish(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits[..., :self.layout.n_embed]  # never sample a conditioning id
        if self.null is not None:  # classifier-free guidance: u + s (c - u)
            c, u = logits.float().chunk(2)
            logits = u + self.cfg * (c - u)
        return logits

    def twin(self, tok: torch.Tensor) -> torch.Tensor:
        """Next-token input (B, 1), duplicated for the unconditional half when guiding."""
        tok = tok[:, None]
        return torch.cat([tok, tok]) if self.null is not None else tok

    def guided(self, seq: torch.Tensor) -> torch.Tensor:
        """Append the unconditional twin of a class-conditional batch (class token -> null)."""
        if self.null is None:
            return seq
        u = seq.clone()
        u[:, 0] = self.null
        return torch.cat([seq, u])


# --------------------------------------------------------------------------- samplers


@torch.no_grad()
def sample_naive(gpt: GPT, layout: Layout, h: int, w: int, cond: torch.Tensor, seed: int = 0,
                 first_sample: int = 0, temperature=1.0, top_k=None, top_p=None, record=None,
                 limit: int | None = None) -> torch.Tensor:
    """The paper's sliding window, one full forward of the whole window per token (reference).
    ``limit`` stops after that many tokens (for timing)."""
    n = cond.shape[0]
    W = layout.window
    Wh, Ww = min(h, W), min(w, W)
    z = torch.zeros(n, h, w, dtype=torch.long, device=cond.device)
    ids = torch.arange(first_sample, first_sample + n, device=cond.device)
    for i in range(h):
        r0 = window_start(i, h, Wh)
        for j in range(w):
            if limit is not None and i * w + j >= limit:
                return z
            c0 = window_start(j, w, Ww)
            cc = _crop_cond(cond, layout, r0, c0, Wh, Ww)
            zw = z[:, r0:r0 + Wh, c0:c0 + Ww].reshape(n, -1)
            seq = torch.cat([cc, zw], 1)
            logits = gpt(seq[:, :-1])  # (n, Lc + Wh*Ww - 1, V): the whole window, every time
            p = (i - r0) * Ww + (j - c0)
            lg = logits[:, cc.shape[1] - 1 + p, :layout.n_embed]
            if record is not None:
                record[(i, j)] = lg.float().cpu()
            u = position_uniform(seed, ids, i, j)
            z[:, i, j] = draw(filter_logits(lg, temperature, top_k, top_p), u).to(z.device)
    return z


@torch.no_grad()
def sample_grid(gpt: GPT, layout: Layout, h: int, w: int, cond: torch.Tensor, seed: int = 0,
                first_sample: int = 0, temperature: float = 1.0, top_k: int | None = None,
                top_p: float | None = None, cfg_scale: float | None = None, mode: str = "exact",
                stride: int | None = None, prefix: torch.Tensor | None = None, record=None,
                progress=None, force: torch.Tensor | None = None) -> torch.Tensor:
    """Sample an (n, h, w) grid. ``cond``: (n, h, w) seg ids or (n, 1) class/SOS ids (offset
    applied, see cond_tokens). ``prefix``: (n, r, w) known top rows (image completion).
    ``force``: an (n, h, w) grid whose tokens are taken instead of sampled (with ``record``, this
    scores a grid under the windows of ``mode``)."""
    n = cond.shape[0]
    dev = cond.device
    W = layout.window
    Wh, Ww = min(h, W), min(w, W)
    stride = 1 if mode == "exact" else (stride or max(W // 2, 1))
    null = layout.null_class if (layout.mode == "class" and cfg_scale not in (None, 1.0)) else None
    step = _Step(gpt, layout, temperature, top_k, top_p, cfg_scale, null)
    step.force = force
    z = torch.zeros(n, h, w, dtype=torch.long, device=dev)
    done = [0] * h  # columns sampled per row
    if prefix is not None:
        r = prefix.shape[1]
        z[:, :r] = prefix.to(dev)
        done[:r] = [w] * r
    ids = torch.arange(first_sample, first_sample + n, device=dev)
    if h <= W and w <= W:  # one placement for the whole grid: plain cached decoding
        _decode_window(gpt, layout, step, z, cond, done, seed, ids, record, progress)
        return z
    blocks = row_blocks(w, W, stride)
    nxt = [0 if done[i] < w else len(blocks) for i in range(h)]
    while any(b < len(blocks) for b in nxt):
        ready = []  # rows whose next block has all its context
        for i in range(h):
            if nxt[i] >= len(blocks):
                continue
            c0, j0, j1 = blocks[nxt[i]]
            r0 = window_start(i, h, Wh)
            need = min(c0 + Ww, w)
            if all(done[k] >= need for k in range(r0, i)):
                ready.append(i)
        groups: dict[tuple[int, int], list[int]] = {}
        for i in ready:
            c0, j0, j1 = blocks[nxt[i]]
            p = (i - window_start(i, h, Wh)) * Ww + (j0 - c0)
            groups.setdefault((p, j1 - j0), []).append(i)
        for (p, length), rows in groups.items():
            _run_group(gpt, layout, step, z, cond, rows, [blocks[nxt[i]] for i in rows], p, length,
                       h, w, Wh, Ww, seed, ids, record)
        for i in ready:
            c0, j0, j1 = blocks[nxt[i]]
            done[i], nxt[i] = j1, nxt[i] + 1
            if progress:
                progress(n * (j1 - j0))
    return z


def _decode_window(gpt, layout, step, z, cond, done, seed, ids, record, progress):
    """Grid within the window: prefill cond (+ known rows), then one token per forward."""
    n, h, w = z.shape
    r = sum(1 for d in done if d >= w)  # known (prefix) rows
    cc = cond.reshape(n, -1) if layout.mode == "seg" else cond
    seq = step.guided(torch.cat([cc, z[:, :r].reshape(n, -1)], 1))
    L = seq.shape[1]
    cache = KVCache.empty(gpt.cfg, seq.shape[0], L + h * w - r * w, seq.device, gpt.tok_emb.weight.dtype)
    logits = gpt(seq, cache=cache, start=0, last=True)
    for t, pos in enumerate(range(r * w, h * w)):
        i, j = divmod(pos, w)
        lg = step.finish(logits)
        if record is not None:
            record[(i, j)] = lg.float().cpu()
        if step.force is not None:
            tok = step.force[:, i, j].to(z.device)
        else:
            tok = draw(filter_logits(lg, step.t, step.k, step.p), position_uniform(seed, ids, i, j)).to(z.device)
        z[:, i, j] = tok
        if progress:
            progress(n)
        if pos + 1 < h * w:
            logits = gpt(step.twin(tok), cache=cache, start=L + t)[:, -1]


def _run_group(gpt, layout, step, z, cond, rows, blks, p, length, h, w, Wh, Ww, seed, ids, record):
    """Prefill the windows of several rows (same prefix length p), then decode ``length`` tokens
    of each from one KV cache. Batch = rows x samples (x2 with guidance)."""
    n = z.shape[0]
    seqs, cols = [], []
    for i, (c0, j0, _) in zip(rows, blks):
        r0 = window_start(i, h, Wh)
        cc = _crop_cond(cond, layout, r0, c0, Wh, Ww)
        zw = z[:, r0:r0 + Wh, c0:c0 + Ww].reshape(n, -1)[:, :p]
        seqs.append(torch.cat([cc, zw], 1))
        cols.append(j0)
    seq = step.guided(torch.cat(seqs))  # (R*n [x2], Lc + p)
    L = seq.shape[1]
    cache = KVCache.empty(gpt.cfg, seq.shape[0], L + length - 1, seq.device, gpt.tok_emb.weight.dtype)
    logits = gpt(seq, cache=cache, start=0, last=True)
    rows_t = torch.tensor(rows, device=z.device).repeat_interleave(n)
    cols_t = torch.tensor(cols, device=z.device).repeat_interleave(n)
    sample_t = ids.repeat(len(rows))
    for t in range(length):
        lg = step.finish(logits)  # (R*n, V)
        j = cols_t + t
        if record is not None:
            for k in range(len(rows)):
                record[(rows[k], int(cols[k] + t))] = lg[k * n:(k + 1) * n].float().cpu()
        if step.force is not None:
            tok = torch.cat([step.force[:, i, cols[k] + t] for k, i in enumerate(rows)]).to(z.device)
        else:
            u = position_uniform(seed, sample_t, rows_t, j)
            tok = draw(filter_logits(lg, step.t, step.k, step.p), u).to(z.device)
        for k, i in enumerate(rows):
            z[:, i, cols[k] + t] = tok[k * n:(k + 1) * n]
        if t + 1 < length:
            logits = gpt(step.twin(tok), cache=cache, start=L + t)[:, -1]
