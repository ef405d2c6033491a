"""Sampling code grids of any size from a transformer trained on W×W windows.

The paper's rule (taming scripts/sample_conditional.py): for token (i, j) the window is placed
with the token at local row/column W/2, clamped to the grid, and the same window is cut from the
conditioning tokens; the logits come from one forward of cond-crop + window tokens. A grid with
fewer rows or columns than the window keeps the training window's positions (``positions``).

``sample_naive`` is that rule verbatim (one full forward per token). ``sample_grid`` computes
the same logits faster:
- only the prefix the target needs is run, and the head only at the target;
- consecutive tokens of a row that share a window placement (the borders) reuse one KV cache;
- rows advance together in a staggered wavefront (a token needs the row above only up to its
  window's right edge), and the rows of a wavefront step are batched.
``mode="fast"`` keeps a placement for up to ``stride`` tokens and decodes them from its KV cache:
an approximation (less right-hand context in the rows above), about ``stride`` times cheaper.

Every sampled token is a pure function of its logits and (seed, sample number, i, j), so batch
size and processing order never change a sample. ``cond`` is the layout's list of token tensors
(core.conditioning); ``prefix`` (n, r, w) the known top rows of the grid (image completion).
"""

from __future__ import annotations

import torch

from vqtool.core.conditioning.layout import Layout
from vqtool.core.sampling.rule import Rule, draw, position_uniform
from vqtool.core.transformer.gpt import GPT, KVCache


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


def positions(layout: Layout, h: int, w: int, device=None) -> torch.Tensor | None:
    """The position of each token of an h x w window's sequence (its conditioning, then its codes)
    in the training window's, or None for the training window itself (positions 0, 1, ...).

    Why: training only ever sees full W x W windows, so the model knows a code at (r, c) by the
    position cond_len(W, W) + r*W + c. A grid smaller than the window packed contiguously would put
    its codes where training put conditioning (fewer rows of a map come first) or another column
    (fewer columns per row); laid out on the training window's rows, each token keeps its own."""
    W = layout.window
    if (h, w) == (W, W):
        return None
    grid = (torch.arange(h)[:, None] * W + torch.arange(w)).reshape(-1)  # (h*w,) raster index in W x W
    out, at = [], 0
    for c in layout.conditions:
        n, full = c.length(h, w), c.length(W, W)
        out.append(at + (torch.arange(n) if n == full else grid))  # a class, boxes: the same tokens at any size
        at += full
    out.append(at + grid)
    return torch.cat(out).to(device)


# --------------------------------------------------------------------------- one step's logits


class _Step:
    """Logits at one batch of targets, with classifier-free guidance when asked: the batch is the
    conditional sequences, then their unconditional twins (the layout's ``unguided`` tokens)."""

    def __init__(self, layout: Layout, rule: Rule, cond: list, wh: int, ww: int):
        self.layout, self.rule = layout, rule
        self.guided = rule.guided and layout.guidable
        self.cond, self.twin_cond = cond, (layout.unguided(cond) if self.guided else None)
        self.force = None
        self.pos = positions(layout, wh, ww, cond[0].device)  # every window here is wh x ww

    def at(self, a: int, b: int) -> torch.Tensor | None:
        """Positions of the window sequence's tokens a..b-1 (None: the same numbers)."""
        return None if self.pos is None else self.pos[a:b]

    def finish(self, logits: torch.Tensor) -> torch.Tensor:
        logits = logits[..., :self.layout.n_embed]  # never sample a conditioning id
        if self.guided:  # classifier-free guidance: u + s (c - u)
            c, u = logits.float().chunk(2)
            logits = u + self.rule.guidance * (c - u)
        return logits

    def twin(self, tok: torch.Tensor) -> torch.Tensor:
        """Next-token input (B, 1), duplicated for the unconditional half when guiding."""
        tok = tok[:, None]
        return torch.cat([tok, tok]) if self.guided else tok

    def seqs(self, windows: list) -> torch.Tensor:
        """Prefill sequences of windows [(r0, c0, wh, ww, known codes (n, p))]: conditioning crop +
        codes, every window's conditional rows first, then (guiding) their twins."""
        out = [torch.cat([self.layout.crop(self.cond, r0, c0, wh, ww), zw], 1) for r0, c0, wh, ww, zw in windows]
        if self.guided:
            out += [torch.cat([self.layout.crop(self.twin_cond, r0, c0, wh, ww), zw], 1)
                    for r0, c0, wh, ww, zw in windows]
        return torch.cat(out)


# --------------------------------------------------------------------------- samplers


@torch.no_grad()
def sample_naive(gpt: GPT, layout: Layout, h: int, w: int, cond: list, rule: Rule, first_sample: int = 0,
                 record=None, limit: int | None = None) -> torch.Tensor:
    """The paper's sliding window, one full forward of the whole window per token (reference).
    ``limit`` stops after that many tokens (for timing)."""
    n, dev = layout.batch_of(cond), cond[0].device
    W = layout.window
    Wh, Ww = min(h, W), min(w, W)
    pos = positions(layout, Wh, Ww, dev)
    z = torch.zeros(n, h, w, dtype=torch.long, device=dev)
    ids = torch.arange(first_sample, first_sample + n, device=dev)
    for i in range(h):
        r0 = window_start(i, h, Wh)
        for j in range(w):
            if limit is not None and i * w + j >= limit:
                return z
            c0 = window_start(j, w, Ww)
            cc = layout.crop(cond, r0, c0, Wh, Ww)
            zw = z[:, r0:r0 + Wh, c0:c0 + Ww].reshape(n, -1)
            seq = torch.cat([cc, zw], 1)
            logits = gpt(seq[:, :-1], pos=None if pos is None else pos[:-1])  # (n, Lc + Wh*Ww - 1, V): every time
            p = (i - r0) * Ww + (j - c0)
            lg = logits[:, cc.shape[1] - 1 + p, :layout.n_embed]
            if record is not None:
                record[(i, j)] = lg.float().cpu()
            z[:, i, j] = draw(rule.filtered(lg), position_uniform(rule.seed, ids, i, j)).to(z.device)
    return z


@torch.no_grad()
def sample_grid(gpt: GPT, layout: Layout, h: int, w: int, cond: list, rule: Rule, mode: str = "exact",
                first_sample: int = 0, stride: int | None = None, prefix: torch.Tensor | None = None,
                record=None, progress=None, force: torch.Tensor | None = None) -> torch.Tensor:
    """Sample an (n, h, w) grid. ``force``: an (n, h, w) grid whose tokens are taken instead of
    sampled (with ``record``, this scores a grid under the windows of ``mode``)."""
    n, dev = layout.batch_of(cond), cond[0].device
    W = layout.window
    Wh, Ww = min(h, W), min(w, W)
    stride = 1 if mode == "exact" else (stride or max(W // 2, 1))
    step = _Step(layout, rule, cond, Wh, Ww)
    step.force = force
    z = torch.zeros(n, h, w, dtype=torch.long, device=dev)
    done = [0] * h  # columns sampled per row
    if prefix is not None:
        r = prefix.shape[1]
        z[:, :r] = prefix.to(dev)
        done[:r] = [w] * r
    ids = torch.arange(first_sample, first_sample + n, device=dev)
    if h <= W and w <= W:  # one placement for the whole grid: plain cached decoding
        _decode_window(gpt, step, z, done, ids, record, progress)
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
            _run_group(gpt, step, z, rows, [blocks[nxt[i]] for i in rows], p, length, h, w, Wh, Ww, ids, record)
        for i in ready:
            c0, j0, j1 = blocks[nxt[i]]
            done[i], nxt[i] = j1, nxt[i] + 1
            if progress:
                progress(n * (j1 - j0))
    return z


def _decode_window(gpt, step: _Step, z, done, ids, record, progress):
    """Grid within the window: prefill cond (+ known rows), then one token per forward."""
    n, h, w = z.shape
    r = sum(1 for d in done if d >= w)  # known (prefix) rows
    seq = step.seqs([(0, 0, h, w, z[:, :r].reshape(n, -1))])
    L = seq.shape[1]
    cache = KVCache.empty(gpt.cfg, seq.shape[0], L + h * w - r * w, seq.device, gpt.tok_emb.weight.dtype)
    logits = gpt(seq, cache=cache, start=0, last=True, pos=step.at(0, L))
    for t, pos in enumerate(range(r * w, h * w)):
        i, j = divmod(pos, w)
        lg = step.finish(logits)
        if record is not None:
            record[(i, j)] = lg.float().cpu()
        if step.force is not None:
            tok = step.force[:, i, j].to(z.device)
        else:
            tok = draw(step.rule.filtered(lg), position_uniform(step.rule.seed, ids, i, j)).to(z.device)
        z[:, i, j] = tok
        if progress:
            progress(n)
        if pos + 1 < h * w:
            logits = gpt(step.twin(tok), cache=cache, start=L + t, pos=step.at(L + t, L + t + 1))[:, -1]


def _run_group(gpt, step: _Step, z, rows, blks, p, length, h, w, Wh, Ww, ids, record):
    """Prefill the windows of several rows (same prefix length p), then decode ``length`` tokens
    of each from one KV cache. Batch = rows x samples (x2 with guidance)."""
    n = z.shape[0]
    windows, cols = [], []
    for i, (c0, j0, _) in zip(rows, blks):
        r0 = window_start(i, h, Wh)
        windows.append((r0, c0, Wh, Ww, z[:, r0:r0 + Wh, c0:c0 + Ww].reshape(n, -1)[:, :p]))
        cols.append(j0)
    seq = step.seqs(windows)  # (R*n [x2], Lc + p)
    L = seq.shape[1]
    cache = KVCache.empty(gpt.cfg, seq.shape[0], L + length - 1, seq.device, gpt.tok_emb.weight.dtype)
    logits = gpt(seq, cache=cache, start=0, last=True, pos=step.at(0, L))
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
            tok = draw(step.rule.filtered(lg), position_uniform(step.rule.seed, sample_t, rows_t, j)).to(z.device)
        for k, i in enumerate(rows):
            z[:, i, cols[k] + t] = tok[k * n:(k + 1) * n]
        if t + 1 < length:
            logits = gpt(step.twin(tok), cache=cache, start=L + t, pos=step.at(L + t, L + t + 1))[:, -1]
