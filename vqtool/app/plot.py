"""`vqtool plot RUN`: a run's curves (metrics.jsonl) drawn to one PNG, for people without TensorBoard
or W&B. One small panel per series (losses, bits/token, codebook usage, d_weight, FID, ...), each
with its own y range; drawn with Pillow, so nothing beyond vqtool's dependencies is needed."""

from __future__ import annotations

import json
import math
from pathlib import Path

from vqtool.core.errors import VqtoolError

FIRST = ("loss", "bpt", "val_bpt", "unigram_bpt", "fid", "rec_loss", "nll_loss", "p_loss", "g_loss", "d_loss",
         "d_weight", "usage", "perplexity", "eval/psnr", "lr")  # shown first, in this order, when present
LEFT_OUT = {"step", "eval/images", "eval/size", "fid_n"}  # counts and sizes, not curves
W, H, COLS = 360, 200, 3


def series(run: Path) -> dict[str, list[tuple[int, float]]]:
    """Every numeric series of a run's metrics.jsonl, by flattened name, as (step, value) points."""
    from vqtool.train.loggers import scalars

    p = Path(run) / "metrics.jsonl" if Path(run).is_dir() else Path(run)
    if not p.is_file():
        raise VqtoolError(f"{run}: no metrics.jsonl (give a run folder of train-vqgan or train-transformer)")
    out: dict[str, list] = {}
    for line in p.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a half-written last line
        for k, v in scalars(rec).items():
            if k not in LEFT_OUT and math.isfinite(v):
                out.setdefault(k, []).append((int(rec.get("step", 0)), v))
    if not out:
        raise VqtoolError(f"{p} holds no numeric metrics yet")
    return out


def plot(run: Path, out: Path | None = None) -> dict:
    from PIL import Image, ImageDraw

    s = series(run)
    names = [k for k in FIRST if k in s] + sorted(k for k in s if k not in FIRST)
    rows = math.ceil(len(names) / COLS)
    im = Image.new("RGB", (W * min(COLS, len(names)), H * rows), "white")
    d = ImageDraw.Draw(im)
    for i, name in enumerate(names):
        _panel(d, (i % COLS) * W, (i // COLS) * H, name, s[name])
    out = Path(out) if out else (Path(run) if Path(run).is_dir() else Path(run).parent) / "curves.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    im.save(out)
    return {"out": str(out), "series": names, "points": sum(len(v) for v in s.values())}


def _panel(d, x0: int, y0: int, name: str, pts: list) -> None:
    """One series: title, y range, step range, the polyline (a dot where it has one point)."""
    left, top, right, bottom = x0 + 52, y0 + 22, x0 + W - 12, y0 + H - 24
    d.rectangle([left, top, right, bottom], outline=(190, 190, 190))
    steps, vals = [p[0] for p in pts], [p[1] for p in pts]
    s0, s1 = min(steps), max(steps)
    v0, v1 = min(vals), max(vals)
    if v1 == v0:
        v0, v1 = v0 - 0.5 * (abs(v0) or 1), v1 + 0.5 * (abs(v1) or 1)
    xy = [(left + (right - left) * ((s - s0) / (s1 - s0) if s1 > s0 else 0.5),
           bottom - (bottom - top) * (v - v0) / (v1 - v0)) for s, v in pts]
    if len(xy) > 1:
        d.line(xy, fill=(31, 119, 180), width=2)
    for x, y in xy[-1:] if len(xy) > 1 else xy:
        d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=(31, 119, 180))
    d.text((x0 + 8, y0 + 4), f"{name}   last {vals[-1]:.4g}", fill="black")
    d.text((x0 + 4, top), f"{v1:.3g}", fill=(90, 90, 90))
    d.text((x0 + 4, bottom - 10), f"{v0:.3g}", fill=(90, 90, 90))
    d.text((left, bottom + 6), f"step {s0}", fill=(90, 90, 90))
    d.text((right - 70, bottom + 6), f"step {s1}", fill=(90, 90, 90))
