"""demo/report.html: one self-contained page (images inlined) with pictures, figures, loss
curves and the exact commands that reproduce each step."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from vqtool.data.scenes import PALETTE


def _b64(im: Image.Image, max_w: int = 1280) -> str:
    if im.width > max_w:
        im = im.resize((max_w, round(im.height * max_w / im.width)), Image.LANCZOS)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _label_rgb(path: str) -> Image.Image:
    im = Image.open(path)
    if im.mode == "P":
        return im.convert("RGB")
    flat = [c for rgb in PALETTE for c in rgb]
    im = im.convert("L").convert("P")
    im.putpalette(flat + [0] * (768 - len(flat)))
    return im.convert("RGB")


def plot_curves(series: dict[str, list[tuple[float, float]]], title: str, w: int = 560, h: int = 260) -> Image.Image:
    """A small line chart (no plotting dependency): one line per named series."""
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    pts = [p for s in series.values() for p in s]
    d.text((10, 6), title, fill="black")
    if not pts:
        d.text((10, h // 2), "no data", fill="gray")
        return im
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    L, R, T, B = 50, w - 10, 24, h - 24
    d.rectangle([L, T, R, B], outline="#999")
    for frac in (0, 0.5, 1):
        yv = y0 + frac * (y1 - y0)
        yy = B - frac * (B - T)
        d.text((4, yy - 6), f"{yv:.3g}", fill="#555")
    d.text((L, B + 6), f"step {x0:.0f}", fill="#555")
    d.text((R - 70, B + 6), f"step {x1:.0f}", fill="#555")
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"]
    for k, (name, s) in enumerate(series.items()):
        c = colours[k % len(colours)]
        xy = [(L + (x - x0) / (x1 - x0) * (R - L), B - (y - y0) / (y1 - y0) * (B - T)) for x, y in s]
        if len(xy) > 1:
            d.line(xy, fill=c, width=2)
        d.text((L + 8 + 150 * k, T + 4), name, fill=c)
    return im


def labelled_grid(rows: list[tuple[str, list]]) -> Image.Image:
    """Rows of equal-sized images, each row named at its left (the demo's class grid)."""
    w, h = rows[0][1][0].size
    pad = 80
    grid = Image.new("RGB", (pad + w * max(len(r) for _, r in rows), h * len(rows)), "white")
    d = ImageDraw.Draw(grid)
    for i, (name, ims) in enumerate(rows):
        d.text((6, i * h + h // 2 - 6), name, fill="black")
        for j, im in enumerate(ims):
            grid.paste(im, (pad + j * w, i * h))
    return grid


def _series(hist: list[dict], key: str) -> list[tuple[float, float]]:
    return [(r["step"], r[key]) for r in hist if isinstance(r.get(key), (int, float))]


def _vqgan_series(history: dict, key: str) -> list[tuple[float, float]]:
    """The image VQGAN's curve: the base run, then the decoder fine-tune counted on from its end."""
    base = _series(history.get("vqgan-base", []), key)
    offset = max((r["step"] for r in history.get("vqgan-base", []) if "step" in r), default=0)
    return base + [(x + offset, y) for x, y in _series(history.get("vqgan", []), key)]


def _vqgan_title(history: dict) -> str:
    base = [r["step"] for r in history.get("vqgan-base", []) if "step" in r]
    return f"image VQGAN (its decoder alone after step {max(base)})" if base else "image VQGAN"


def _f(value, fmt: str = ".2f", unit: str = "") -> str:
    return "n/a" if not isinstance(value, (int, float)) else f"{value:{fmt}}{unit}"


def _figure_rows(fig: dict) -> list[tuple[str, str]]:
    rec, seg, tr = fig.get("recon", {}), fig.get("seg_recon", {}), fig.get("transformer", {})
    ct, land, dep = fig.get("class_transformer", {}), fig.get("landscape", {}), fig.get("depth_recon", {})
    return [
        ("image VQGAN reconstruction PSNR (40 held-out scenes, 256x256)", _f(rec.get("psnr"), ".2f", " dB")),
        ("image VQGAN SSIM", _f(rec.get("ssim"), ".3f")),
        ("reconstruction sharpness (mean pixel gradient / the originals')", _f(rec.get("sharpness"), ".2f")),
        ("image VQGAN codebook usage / perplexity", f"{_f(rec.get('usage'), '.1f', '%')} / {_f(rec.get('perplexity'), '.1f')}"),
        ("LPIPS", "n/a (VGG16 weights not available)" if rec.get("lpips") is None else f"{rec['lpips']:.3f}"),
        ("rFID", "skipped: FID Inception weights not available (vqtool fetch-weights)"
         if rec.get("rfid") is None else f"{rec['rfid']:.2f}"),
        ("depth VQGAN PSNR / mean absolute error (normalised maps)",
         f"{_f(dep.get('psnr'), '.2f', ' dB')} / {_f(dep.get('mae'), '.4f')}"),
        ("segmentation VQGAN pixel accuracy / mIoU",
         f"{_f(100 * seg['pixel_accuracy'] if 'pixel_accuracy' in seg else None, '.1f', '%')} / {_f(seg.get('miou'), '.3f')}"),
        ("landscape sharpness (sample / the real scene of its map; the real scene through the VQGAN)",
         f"{_f(land.get('sample_sharpness'))} ({_f(land.get('real_recon_sharpness'))})"),
        ("landscape label agreement (sample; the real scene through the VQGAN)",
         f"{_f(land.get('sample_label_agreement'), '.1%')} ({_f(land.get('real_recon_label_agreement'), '.1%')})"),
        ("transformer validation bits/token (unigram entropy of the codes)",
         f"{_f(tr.get('val_bpt'), '.3f')} ({_f(tr.get('unigram_bpt'), '.3f')})"),
        ("class-conditional transformer validation bits/token (unigram entropy)",
         f"{_f(ct.get('val_bpt'), '.3f')} ({_f(ct.get('unigram_bpt'), '.3f')})"),
        ("1280x832 sample time (CPU)", f"{fig.get('sample_seconds', 'reused')} s"),
    ]


def _how_sampled(fig: dict) -> str:
    att = fig.get("attention") or {}
    W = att.get("window") or 16
    if att.get("kind") == "local":
        R = att.get("radius") or W // 2
        return (f"A VQGAN turns images into a grid of codes; a transformer trained on {W}x{W}-token crops of "
                f"those codes samples new grids. Each token attends to its causal neighbourhood (the {R} rows "
                f"above within &plusmn;{R} columns and the {R} tokens to its left, with the label map's codes "
                f"of the same places): the paper's sliding window made part of the model, so the whole grid "
                f"is sampled exactly in raster order with one rolling cache."
                + (f" The label codes are known before sampling, so {att['cond_layers']} blocks of their own first "
                   f"let each place see the labels {R} rows above and below it." if att.get("cond_layers") else ""))
    return (f"A VQGAN turns images into a grid of codes; a transformer trained on {W}x{W}-token windows of those "
            f"codes samples new grids. Beyond its window it slides: every token is sampled with the window "
            f"placed around it (the paper's rule), conditioned on the same window of the label map's codes.")


def _depth_rgb(path: str) -> Image.Image:
    """A depth map (16-bit) as grey with equalised contrast (each grey level as many pixels): the far
    sky, the horizon and the near ground all readable, brighter still nearer."""
    a = np.asarray(Image.open(path), dtype=np.float64)
    _, where, counts = np.unique(a, return_inverse=True, return_counts=True)
    cdf = (np.cumsum(counts) - counts) / a.size  # the fraction of pixels farther: the sky black
    return Image.fromarray((cdf[where.reshape(a.shape)] * 255).astype(np.uint8)).convert("RGB")


def _panels(panels: list[tuple[Image.Image, str]]) -> str:
    """Images side by side, each with its caption."""
    figs = "".join(f'<figure><img src="{_b64(im)}"><figcaption>{html.escape(c)}</figcaption></figure>' for im, c in panels)
    return f'<div class="pair">{figs}</div>'


def _depth_html(fig: dict) -> str:
    """Depth map | sample | real scene, and the sample's figures beside the real scene's through the VQGAN."""
    dep = fig.get("depth")
    if not dep:
        return ""
    e = html.escape
    real, sample = dep["quality"]
    panels = [(_depth_rgb(dep["depth_map"]), "depth map (input; brighter is nearer, contrast equalised)"), (Image.open(dep["sample"]), "sample"),
              (Image.open(dep["truth"]), "the real scene of this depth map (never seen by any model)")]
    return (f"<h2>Depth &rarr; landscape</h2><p>The same kind of model conditioned on a depth map instead of a label "
            f"map: nothing tells it what is water or rock, only how far each place is; sampled with classifier-free "
            f"guidance {e(str(dep.get('cfg', 'off')))} towards the map (its model was trained with map dropout). "
            f"Label agreement with the "
            f"scene's own label map <b>{_f(sample['label_agreement'], '.1%')}</b> (the real scene through the "
            f"VQGAN: {_f(real['label_agreement'], '.1%')}); sharpness <b>{_f(sample['sharpness'])}</b> of the real "
            f"scene's ({_f(real['sharpness'])}); {e(str(dep.get('sample_seconds', 'reused')))} s.</p>" + _panels(panels))


def _coarse_html(fig: dict) -> str:
    """The label map's landscape coarse to fine: map | thumbnail | sample | real scene, and the figures
    of both ways of sampling it beside the real scene's through the VQGAN."""
    c2f, land = fig.get("coarse"), fig.get("landscape", {})
    if not c2f:
        return ""
    e = html.escape
    real, sample = c2f["quality"]
    thumb, sampled = Image.open(c2f["thumbnail"]), Image.open(c2f["sample"])
    panels = [(_label_rgb(fig["label_map"]), "label map (input)"),
              (thumb.resize((thumb.width * 4, thumb.height * 4), Image.NEAREST), f"coarse stage, {thumb.width}x{thumb.height} (shown 4x)"),
              (sampled, f"fine stage, {c2f.get('mode', '')}")]
    if Path(fig.get("truth", "")).is_file():
        panels.append((Image.open(fig["truth"]), "the real scene"))
    return (f"<h2>Coarse to fine</h2><p>The same label map sampled in two stages: a model of whole scenes at "
            f"1/{round(sampled.width / thumb.width)} "
            f"scale draws one small picture of the scene first, then a local model draws the full size from the "
            f"label map and that picture, so every window shares one sky, one time of day, one lake. Label "
            f"agreement <b>{_f(sample['label_agreement'], '.1%')}</b> (one stage, above: "
            f"{_f(land.get('sample_label_agreement'), '.1%')}; the real scene through the VQGAN: "
            f"{_f(real['label_agreement'], '.1%')}); sharpness <b>{_f(sample['sharpness'])}</b> "
            f"({_f(land.get('sample_sharpness'))}; {_f(real['sharpness'])}); "
            f"{e(str(c2f.get('sample_seconds', 'reused')))} s.</p>" + _panels(panels))


def _superres_html(fig: dict) -> str:
    """The 4x super-resolution grid and its PSNR / sharpness beside bicubic upscaling."""
    sr = fig.get("superres")
    if not sr:
        return ""
    e = html.escape
    rows = "".join(f"<tr><td>{e(r['mode'])}</td><td><b>{_f(r['psnr'], '.2f', ' dB')}</b></td>"
                   f"<td><b>{_f(r['sharpness'])}</b></td></tr>" for r in sr["rows"])
    k, n, size = sr["rows"][0]["factor"], sr["rows"][0]["images"], sr["rows"][0]["size"]
    return (f"<h2>{k}x super-resolution</h2><p>{n} held-out {e(size)} scenes, each downscaled {k}x and sampled back "
            f"to full size by a transformer conditioned on the codes of the low-res image upscaled, then back-projected onto the "
            f"low-res image (`sample --back-project`: the sample downscaled is the input again, its detail kept). "
            f"Columns: low-res input (shown {k}x, nearest) | bicubic upscaling | vqtool, back-projected | the real "
            f"scene.</p>"
            f"<table><tr><td></td><td>PSNR</td><td>sharpness (of the real scenes')</td></tr>{rows}</table>"
            f'<img src="{_b64(Image.open(sr["grid"]))}">')


def write_report(out: Path, fig: dict, history: dict) -> Path:
    out = Path(out)
    e = html.escape
    sample = Image.open(fig["sample"])
    label = _label_rgb(fig["label_map"])
    truth = Image.open(fig["truth"]) if Path(fig.get("truth", "")).is_file() else None
    grid = Image.open(fig["class_grid"]) if fig.get("class_grid") else None
    curves = [
        plot_curves({"L1 reconstruction": _vqgan_series(history, "rec_loss"),
                     "perceptual": _vqgan_series(history, "p_loss")}, _vqgan_title(history)),
        plot_curves({"BCE": _series(history.get("seg-vqgan", []), "bce")}, "segmentation VQGAN"),
        plot_curves({"L1 reconstruction": _series(history.get("depth-vqgan", []), "rec_loss")}, "depth VQGAN"),
        plot_curves({"train bits/token": _series(history.get("transformer", []), "bpt"),
                     "val bits/token": _series(history.get("transformer", []), "val_bpt")}, "transformer"),
        plot_curves({"train bits/token": _series(history.get("class-transformer", []), "bpt"),
                     "val bits/token": _series(history.get("class-transformer", []), "val_bpt")},
                    "class-conditional transformer"),
        *(plot_curves({"train bits/token": _series(history.get(k, []), "bpt"),
                       "val bits/token": _series(history.get(k, []), "val_bpt")}, title)
          for k, title in (("depth-transformer", "depth transformer"), ("sr-transformer", "super-resolution transformer"),
                           ("coarse-transformer", "coarse transformer"), ("fine-transformer", "fine transformer"))
          if history.get(k)),
    ]
    table = "".join(f"<tr><td>{e(a)}</td><td><b>{e(b)}</b></td></tr>" for a, b in _figure_rows(fig))
    steps = "".join(f"<li><code>{e(c)}</code> <small>({e(str(fig['timings'].get(n, '')))} s)</small></li>"
                    for n, c in zip(fig["timings"], fig["commands"]))
    notes = "".join(f"<li>{e(n)}</li>" for n in fig.get("notes", []))
    # reconstructions at their own size (original | reconstruction), never scaled
    recon_html = "".join(f'<img src="{_b64(Image.open(p))}" style="max-width:none">'
                         for p in sorted((out / "recon").glob("*.png")))
    truth_html = (f'<figure><img src="{_b64(truth)}"><figcaption>the real scene of this label map '
                  f'(never seen by any model)</figcaption></figure>') if truth else ""
    grid_html = (f'<h2>Class-conditional samples</h2><p>One row per biome (the class), 128x128 each, '
                 f'classifier-free guidance {e(str(fig.get("cfg", 2.0)))}, top-k 100.</p>'
                 f'<img src="{_b64(grid)}" style="max-width:none">') if grid else ""
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>vqtool demo</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1320px;margin:2em auto;color:#222}}
img{{border:1px solid #ccc;max-width:100%}} td{{padding:4px 12px;border-bottom:1px solid #eee}} code{{font-size:12px}}
.pair{{display:flex;gap:8px;flex-wrap:wrap}} .pair figure{{margin:0;flex:1;min-width:300px}} figure img{{width:100%}}</style></head>
<body><h1>vqtool demo: taming transformers on procedural landscapes</h1>
<p>{_how_sampled(fig)} This {sample.width}x{sample.height} landscape was sampled from a label map no
model has seen.</p>
<div class="pair"><figure><img src="{_b64(label)}"><figcaption>label map (input)</figcaption></figure>
<figure><img src="{_b64(sample)}"><figcaption>sample, {e(Path(fig['sample']).stem)}</figcaption></figure>
{truth_html}</div>
<h2>Figures</h2><table>{table}</table>
{f"<ul>{notes}</ul>" if notes else ""}
{_coarse_html(fig)}
{_depth_html(fig)}
{_superres_html(fig)}
{grid_html}
<h2>Reconstructions at full size (original | reconstruction)</h2>{recon_html}
<h2>Training curves</h2><div class="pair">{''.join(f'<img src="{_b64(c)}">' for c in curves)}</div>
<h2>Reproduce each step</h2><ol>{steps}</ol>
<details><summary>all figures (JSON)</summary><pre>{e(json.dumps(fig, indent=1, default=str))}</pre></details>
</body></html>"""
    path = out / "report.html"
    path.write_text(doc)
    return path
