"""Reconstruction metrics of a VQGAN: PSNR, SSIM, LPIPS, rFID, codebook usage and perplexity
(and pixel accuracy / mIoU for segmentation VQGANs)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vqtool.core import memory, runtime
from vqtool.core.errors import DataError, WeightsNotFound, require_multiple
from vqtool.core.tokenizer.inputs import input_of
from vqtool.core.tokenizer.loading import load_vqgan
from vqtool.core.tokenizer.quantize import codebook_stats, collapsed, flat, spread
from vqtool.data import crops
from vqtool.data import images as imgs
from vqtool.data import sources


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of images in [0, 1], shape (B, C, H, W)."""
    mse = (a - b).pow(2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp(min=1e-12))


def mean_gradient(x: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) -> (B,): mean absolute difference between horizontal and vertical neighbours.

    Sharpness as a ratio: a reconstruction or sample's mean gradient divided by that of real
    images. Blur (an autoencoder averaging texture away) drives it towards 0; noise above 1.
    """
    x = x.float()
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().flatten(1).mean(1)
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().flatten(1).mean(1)
    return (dx + dy) / 2


def ssim(a: torch.Tensor, b: torch.Tensor, window: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Per-image SSIM (Wang et al. 2004) of images in [0, 1]: Gaussian 11x11 window, σ 1.5,
    K1 0.01, K2 0.03, per channel then averaged, 'valid' borders."""
    c1, c2 = 0.01**2, 0.03**2
    g = torch.exp(-((torch.arange(window) - window // 2) ** 2) / (2 * sigma**2)).double()
    g = (g / g.sum())
    k = (g[:, None] * g[None]).to(a)[None, None].repeat(a.shape[1], 1, 1, 1)  # (C, 1, w, w)

    def blur(x):
        return F.conv2d(x, k, groups=a.shape[1])

    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)


@torch.no_grad()
def eval_recon(images: Path, vqgan: Path, n: int | None = None, size: int | None = None, batch_size: int = 8,
               device: str = "auto", weights_dir=None, inception_weights=None, rfid: bool = True,
               files: list[Path] | None = None, model=None, encodes: str | None = None, warn=print,
               max_memory: int | None = None, judge: bool = True) -> dict:
    """Reconstruction quality over (the first n of) an image folder or tar shards, centre-cropped to size².
    What the VQGAN encodes (images or label maps) comes from its checkpoint, never from the channel
    count: a 3-class segmentation VQGAN has 3 channels too. With ``model``, give ``encodes``.
    ``judge``: warn when the codebook has collapsed or the reconstructions are flat (not in the
    trainer's scheduled evaluations: early reconstructions are all blur)."""
    dev = runtime.resolve_device(device)
    if model is None:
        model, ck = load_vqgan(vqgan, dev)
        size = size or ck["config"]["data"]["size"]
        encodes = ck["encodes"]
    if encodes is None:
        raise ValueError("eval_recon(model=...) needs encodes=")
    inp = input_of(encodes)
    require_multiple("--size", size, model.factor)
    memory.check_on(dev, recon_bytes(model.cfg, batch_size, size, size), max_memory,
                    f"reconstructing batches of {batch_size} crops of {size}x{size}", "lower --batch-size or --size",
                    need="about")
    skipped = imgs.Skipped()
    good = []
    for f in files or sources.open_source(images).files:  # a folder or tar shards
        if n and len(good) >= n:
            break
        why = imgs.header_ok(f)
        if why is None:
            good.append(f)
        else:
            skipped.add(f, why)
    ds = crops.CropDataset(good, size, size, random_crop=False, flip=False, inp=inp,
                           palette=(imgs.find_label_meta(images) or {}).get("palette") if inp.labels else None)
    # classes are scored as classes (pixel accuracy, mIoU), maps as maps, images by their pixels
    score = {"classes": lambda: _SegScores(model.cfg.in_channels), "depth": _DepthScores, "edges": _EdgeScores,
             "pixels": lambda: _ImageScores(_lpips(weights_dir, dev, warn), rfid)}[inp.scores]()
    counts, done = torch.zeros(model.n_embed), 0
    for k in range(0, len(good), batch_size):
        items = []
        for i in range(k, min(k + batch_size, len(good))):
            try:
                items.append(ds.load(i))
            except DataError as e:  # the header was fine, the data is not
                skipped.add(good[i], str(e).split(": ", 1)[-1])
        if items:
            x = torch.stack([it[0] for it in items]).to(dev)
            counts += score.add(model, x).counts.cpu()
            done += len(items)
    for p, why in list(skipped.items.items())[:10]:
        warn(f"skipped {p}: {why}")
    if not done:
        raise DataError(f"no image in {images} could be evaluated ({skipped.summary()})")
    out = {"images": done, "skipped": len(skipped.items), "size": size, **codebook_stats(counts),
           **score.result(inception_weights, weights_dir, dev, warn)}
    for why in (collapsed(out, model.n_embed), "spread" in out and flat(out["spread"])) if judge else ():
        if why:
            warn(f"{'FLAT RECONSTRUCTIONS' if 'spread' in why else 'CODEBOOK COLLAPSE'}: {why}. This VQGAN is "
                 "not usable for a transformer; retrain it (lower optim.lr, model.quantizer.restart_dead = true; "
                 "see README, Troubleshooting)")
    return out


def recon_bytes(model_cfg, batch: int, width: int, height: int) -> int:
    """Peak of encoding and decoding a batch (the input, the encoder's activations, then the decoder's)."""
    return memory.encode_bytes(model_cfg, batch, width, height) + memory.vqgan_activation_bytes(
        model_cfg, batch, height, width)


def _lpips(weights_dir, dev, warn):
    try:
        from vqtool.core.io.weights import build_lpips

        return build_lpips(weights_dir).to(dev)
    except WeightsNotFound as e:
        warn(f"LPIPS skipped: {e}")
        return None


class _SegScores:
    """Pixel accuracy and mIoU of reconstructed label maps."""

    def __init__(self, k: int):
        self.k, self.acc = k, []
        self.inter = self.union = torch.zeros(k, dtype=torch.float64)

    def add(self, model, x):
        q = model.encode(F.one_hot(x, self.k).permute(0, 3, 1, 2).float())  # (B, K, H, W)
        pred = model.decode_indices(q.indices).argmax(1)
        self.acc += (pred == x).float().flatten(1).mean(1).tolist()
        self.inter = self.inter + torch.stack([((pred == c) & (x == c)).sum() for c in range(self.k)]).double().cpu()
        self.union = self.union + torch.stack([((pred == c) | (x == c)).sum() for c in range(self.k)]).double().cpu()
        return q

    def result(self, *a) -> dict:
        present = self.union > 0
        return {"pixel_accuracy": float(np.mean(self.acc)),
                "miou": float((self.inter[present] / self.union[present]).mean())}


class _DepthScores:
    """PSNR and mean absolute error of reconstructed one-channel maps, on their [0, 1] scale (after the
    per-map normalisation the cond stage sees)."""

    def __init__(self):
        self.psnr, self.mae = [], []

    def add(self, model, x):
        q = model.encode(x)
        a, b = (x + 1) / 2, (model.decode_indices(q.indices).clamp(-1, 1) + 1) / 2
        self.psnr += psnr(a, b).tolist()
        self.mae += (a - b).abs().flatten(1).mean(1).tolist()
        return q

    def result(self, *a) -> dict:
        return {"psnr": float(np.mean(self.psnr)), "mae": float(np.mean(self.mae))}


class _EdgeScores:
    """Precision, recall and F1 of reconstructed edge maps (edge where the map is above its middle),
    an edge pixel counting as found within one pixel of the other map's (the usual tolerance)."""

    def __init__(self):
        self.tp_p = self.n_p = self.tp_r = self.n_r = 0.0

    def add(self, model, x):
        q = model.encode(x)
        pred, true = model.decode_indices(q.indices) > 0, x > 0  # (B, 1, H, W) bool
        near = lambda m: F.max_pool2d(m.float(), 3, 1, 1) > 0  # noqa: E731 (within one pixel)
        self.tp_p += float((pred & near(true)).sum())
        self.n_p += float(pred.sum())
        self.tp_r += float((true & near(pred)).sum())
        self.n_r += float(true.sum())
        return q

    def result(self, *a) -> dict:
        p = self.tp_p / self.n_p if self.n_p else 1.0 if not self.n_r else 0.0
        r = self.tp_r / self.n_r if self.n_r else 1.0
        return {"edge_precision": p, "edge_recall": r, "edge_f1": 2 * p * r / (p + r) if p + r else 0.0}


class _ImageScores:
    """PSNR, SSIM, sharpness, LPIPS (when its weights exist) and rFID of reconstructions (as saved: 8-bit)."""

    def __init__(self, lp, rfid: bool):
        self.lp, self.res = lp, {"psnr": [], "ssim": [], "lpips": [], "grad": [], "grad_rec": [], "spread": []}
        self.tmp = tempfile.TemporaryDirectory() if rfid else None
        if self.tmp is not None:
            for side in ("orig", "rec"):
                (Path(self.tmp.name) / side).mkdir()
        self.n = 0

    def add(self, model, x):
        q = model.encode(x)
        xr = model.decode_indices(q.indices).clamp(-1, 1)
        a, b = (x + 1) / 2, ((xr + 1) / 2 * 255).round() / 255  # as it would be saved
        self.res["psnr"] += psnr(a, b).tolist()
        self.res["ssim"] += ssim(a.double(), b.double()).tolist()
        self.res["grad"] += mean_gradient(a).tolist()
        self.res["grad_rec"] += mean_gradient(b).tolist()
        self.res["spread"] += [spread(a[j:j + 1], b[j:j + 1]) for j in range(a.shape[0])]
        if self.lp is not None:
            self.res["lpips"] += self.lp(x, b * 2 - 1).flatten().tolist()
        if self.tmp is not None:
            for j in range(x.shape[0]):
                for side, im in (("orig", x[j]), ("rec", b[j] * 2 - 1)):
                    imgs.to_image(im).save(Path(self.tmp.name) / side / f"{self.n + j:06d}.png")
        self.n += x.shape[0]
        return q

    def result(self, inception_weights, weights_dir, dev, warn) -> dict:
        r = self.res
        out = {"psnr": float(np.mean(r["psnr"])), "ssim": float(np.mean(r["ssim"])),
               "sharpness": float(np.sum(r["grad_rec"]) / max(np.sum(r["grad"]), 1e-12)),
               "spread": float(np.mean(r["spread"])),
               "lpips": float(np.mean(r["lpips"])) if r["lpips"] else None}
        if self.tmp is None:
            return out
        out["rfid"] = None
        try:
            from vqtool.eval.fid import compute_metrics

            if self.n >= 2:
                o, rec = Path(self.tmp.name) / "orig", Path(self.tmp.name) / "rec"
                out["rfid"] = compute_metrics(rec, o, inception_weights=inception_weights, weights_dir=weights_dir,
                                              device=str(dev))["metrics"]["fid"]
        except WeightsNotFound as e:
            warn(f"rFID skipped: {e}")
        finally:
            self.tmp.cleanup()
        return out
