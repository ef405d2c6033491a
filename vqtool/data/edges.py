"""Canny edge maps (Gaussian smoothing, Sobel gradients, non-maximum suppression, hysteresis), in
numpy: the conditioning signal of the paper's ImageNetEdges data, which taming computed with
scikit-image's ``canny`` (vqtool does not depend on scikit-image; tests compare against it)."""

from __future__ import annotations

import numpy as np


def _gauss(a: np.ndarray, sigma: float) -> np.ndarray:
    r = max(1, int(4 * sigma + 0.5))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k /= k.sum()
    p = np.pad(a, r, mode="reflect")
    p = sum(k[i] * p[:, i:i + a.shape[1]] for i in range(2 * r + 1))  # rows: (H + 2r, W)
    return sum(k[i] * p[i:i + a.shape[0]] for i in range(2 * r + 1))  # (H, W)


def _sobel(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.pad(a, 1, mode="edge")
    gx = (p[:-2, 2:] + 2 * p[1:-1, 2:] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[1:-1, :-2] + p[2:, :-2])
    gy = (p[2:, :-2] + 2 * p[2:, 1:-1] + p[2:, 2:]) - (p[:-2, :-2] + 2 * p[:-2, 1:-1] + p[:-2, 2:])
    return gx, gy


def _thin(mag: np.ndarray, gx: np.ndarray, gy: np.ndarray) -> np.ndarray:
    """Keep a pixel only where its magnitude is a maximum across the edge (4 directions)."""
    ang = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    d = ((ang + 22.5) // 45).astype(np.int8) % 4  # 0: horizontal gradient, 1: 45°, 2: vertical, 3: 135°
    p = np.pad(mag, 1)
    H, W = mag.shape

    def at(dy, dx):
        return p[1 + dy:1 + dy + H, 1 + dx:1 + dx + W]

    pairs = {0: ((0, 1), (0, -1)), 1: ((1, 1), (-1, -1)), 2: ((1, 0), (-1, 0)), 3: ((1, -1), (-1, 1))}
    keep = np.zeros_like(mag, dtype=bool)
    for k, (a, b) in pairs.items():
        keep |= (d == k) & (mag >= at(*a)) & (mag >= at(*b))
    return keep & (mag > 0)


def _hysteresis(strong: np.ndarray, weak: np.ndarray) -> np.ndarray:
    """Weak pixels in an 8-connected component that holds a strong one."""
    from scipy import ndimage  # already installed with torch-fidelity

    lab, n = ndimage.label(weak, structure=np.ones((3, 3), bool))
    hit = np.zeros(n + 1, bool)
    hit[np.unique(lab[strong & weak])] = True
    hit[0] = False
    return hit[lab]


def canny(gray: np.ndarray, sigma: float = 1.0, low: float = 0.1, high: float = 0.2) -> np.ndarray:
    """(H, W) bool edges of a grayscale image in [0, 1]; ``low`` / ``high``: hysteresis thresholds on
    the gradient magnitude of the smoothed image (scikit-image's convention)."""
    s = _gauss(gray.astype(np.float64), sigma)
    gx, gy = _sobel(s)
    mag = np.hypot(gx, gy)
    thin = _thin(mag, gx, gy)
    return _hysteresis(thin & (mag >= high), thin & (mag >= low))


EDGE_SIGMA = 2.0  # smoothing before the edge map: the scenes' grain (3 levels of 255) is not an edge
LUMA = np.array([0.2125, 0.7154, 0.0721], np.float32)  # scikit-image's rgb2gray


def edge_map(rgb: np.ndarray, sigma: float = EDGE_SIGMA) -> np.ndarray:
    """(H, W) uint8 edge map (255 on an edge) of an (H, W, 3) uint8 image: what make-scenes writes
    and what `vqtool edges` makes of a user's images, so that training and use agree."""
    gray = (rgb.astype(np.float32) @ LUMA) / 255
    return canny(gray, sigma).astype(np.uint8) * 255


def edges_folder(images, out, sigma: float = EDGE_SIGMA, progress=None, warn=None) -> dict:
    """Edge maps of every image of a folder, written to ``out`` at the same relative paths as PNG;
    an unreadable image is skipped and listed. A map that exists already is kept (a rerun resumes)."""
    from pathlib import Path

    from PIL import Image

    from vqtool.core.errors import DataError, check_writable
    from vqtool.data import images as imgs
    from vqtool.data import sources

    images, out = Path(images), Path(out)
    if not images.is_dir():
        raise DataError(f"image folder not found: {images}")
    if not sigma > 0:
        raise DataError(f"--sigma must be > 0 (got {sigma})")
    check_writable(out, "--out")
    src = sources.open_source(str(images))
    if progress:
        progress(0, total=len(src.files))
    skipped, written, kept = imgs.Skipped(), 0, 0
    for i, f in enumerate(src.files):
        dest = out / Path(src.rel(i)).with_suffix(".png")
        if dest.is_file():
            kept += 1
        else:
            try:
                rgb = np.asarray(imgs.load_rgb(f))
            except DataError as e:
                skipped.add(f, str(e).split(": ", 1)[-1])
                if warn:
                    warn(f"skipping {f}: {str(e).split(': ', 1)[-1]}")
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_name(f".{dest.name}.tmp")
                Image.fromarray(edge_map(rgb, sigma)).save(tmp, format="PNG")
                tmp.replace(dest)  # never a half-written map
                written += 1
        if progress:
            progress(1)
    return {"out": str(out), "images": len(src.files), "written": written, "kept": kept,
            "skipped": len(skipped.items), "sigma": sigma}
