"""Reconstruction metrics of a VQGAN: PSNR, SSIM, LPIPS, rFID, codebook usage and perplexity
(and pixel accuracy / mIoU for segmentation VQGANs)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from vqtool.core import runtime
from vqtool.core.errors import WeightsNotFound
from vqtool.core.checkpoint import SEG_VQGAN
from vqtool.core.loading import load_vqgan
from vqtool.core.quantize import codebook_stats
from vqtool.data import images as imgs


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
               files: list[Path] | None = None, model=None, seg: bool | None = None, warn=print) -> dict:
    """Reconstruction quality over (the first n of) an image folder, centre-cropped to size².
    The kind (image or segmentation VQGAN) comes from the checkpoint's format, never from the
    channel count: a 3-class segmentation VQGAN has 3 channels too. With ``model``, give ``seg``."""
    dev = runtime.resolve_device(device)
    if model is None:
        model, ck = load_vqgan(vqgan, dev)
        size = size or ck["config"]["data"]["size"]
        seg = ck["format"] == SEG_VQGAN
    if seg is None:
        raise ValueError("eval_recon(model=...) needs seg=True/False")
    files = files or imgs.list_images(images)
    files = [f for f in files if imgs.header_ok(f) is None][: n or None]
    ds = imgs.CropDataset(files, size, size, random_crop=False, flip=False, labels=seg,
                          palette=(imgs.find_label_meta(images) or {}).get("palette") if seg else None)
    counts = torch.zeros(model.n_embed)
    res: dict[str, list] = {"psnr": [], "ssim": [], "lpips": [], "acc": [], "grad": [], "grad_rec": []}
    inter = union = None
    lp = None
    if not seg:
        try:
            from vqtool.core.weights import build_lpips

            lp = build_lpips(weights_dir).to(dev)
        except WeightsNotFound as e:
            warn(f"LPIPS skipped: {e}")
    tmp = tempfile.TemporaryDirectory() if (rfid and not seg) else None
    for k in range(0, len(files), batch_size):
        batch = imgs.collate([ds[(i, 0)] for i in range(k, min(k + batch_size, len(files)))])
        x = batch["x"].to(dev)
        if seg:
            K = model.cfg.in_channels
            q = model.encode(F.one_hot(x, K).permute(0, 3, 1, 2).float())
            pred = model.decode_indices(q.indices).argmax(1)
            res["acc"] += (pred == x).float().flatten(1).mean(1).tolist()
            i_ = torch.stack([((pred == c) & (x == c)).sum() for c in range(K)]).double()
            u_ = torch.stack([((pred == c) | (x == c)).sum() for c in range(K)]).double()
            inter = i_ if inter is None else inter + i_
            union = u_ if union is None else union + u_
        else:
            q = model.encode(x)
            xr = model.decode_indices(q.indices).clamp(-1, 1)
            a, b = (x + 1) / 2, ((xr + 1) / 2 * 255).round() / 255  # as it would be saved
            res["psnr"] += psnr(a, b).tolist()
            res["ssim"] += ssim(a.double(), b.double()).tolist()
            res["grad"] += mean_gradient(a).tolist()
            res["grad_rec"] += mean_gradient(b).tolist()
            if lp is not None:
                res["lpips"] += lp(x, b * 2 - 1).flatten().tolist()
            if tmp is not None:
                for j in range(x.shape[0]):
                    imgs.to_image(x[j]).save(Path(tmp.name) / f"o{k + j:06d}.png")
                    imgs.to_image(b[j] * 2 - 1).save(Path(tmp.name) / f"r{k + j:06d}.png")
        counts += q.counts.cpu()
    out = {"images": len(files), "size": size, **codebook_stats(counts)}
    if seg:
        present = union > 0
        out |= {"pixel_accuracy": float(np.mean(res["acc"])),
                "miou": float((inter[present] / union[present]).mean())}
    else:
        out |= {"psnr": float(np.mean(res["psnr"])), "ssim": float(np.mean(res["ssim"])),
                "sharpness": float(np.sum(res["grad_rec"]) / max(np.sum(res["grad"]), 1e-12)),
                "lpips": float(np.mean(res["lpips"])) if res["lpips"] else None}
        if tmp is not None:
            out["rfid"] = None
            try:
                import shutil

                from vqtool.eval.fid import compute_metrics

                o, r = Path(tmp.name) / "orig", Path(tmp.name) / "rec"
                o.mkdir()
                r.mkdir()
                for p in Path(tmp.name).glob("*.png"):
                    shutil.move(p, (o if p.name[0] == "o" else r) / p.name)
                if len(files) >= 2:
                    out["rfid"] = compute_metrics(r, o, inception_weights=inception_weights, weights_dir=weights_dir,
                                                  device=str(dev))["metrics"]["fid"]
            except WeightsNotFound as e:
                warn(f"rFID skipped: {e}")
            finally:
                tmp.cleanup()
    return out

