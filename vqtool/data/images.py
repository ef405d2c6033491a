"""Image folders and label maps: listing, class names from first-level sub-folders, resizing and
conversions. Files are decoded by ``core.imagefile`` (checked by header first; its readers are
re-exported here); a file that cannot be decoded is skipped and reported, never a crash."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vqtool.core.errors import DataError
from vqtool.core.imagefile import (DEFAULT_MAX_PIXELS, find_label_meta, header_ok, image_size,  # noqa: F401
                                   load_labels, load_rgb, max_pixels, opened, parse_pixels, pixel_problem, to_rgb)

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}

@dataclass
class Skipped:
    """Files that could not be used, with the reason, for the run summary."""

    items: dict[str, str] = field(default_factory=dict)
    upscaled: int = 0

    def add(self, path, reason: str) -> None:
        self.items.setdefault(str(path), reason)

    def summary(self, limit: int = 5) -> str:
        if not self.items:
            return "no files skipped"
        head = "; ".join(f"{p} ({r})" for p, r in list(self.items.items())[:limit])
        more = f" and {len(self.items) - limit} more" if len(self.items) > limit else ""
        return f"skipped {len(self.items)} file(s): {head}{more}"


def list_images(root: Path | str) -> list[Path]:
    root = Path(root)
    if not root.exists():
        raise DataError(f"image folder not found: {root}")
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    if not files:
        raise DataError(f"no images in {root} (looked for {', '.join(sorted(IMAGE_EXTS))})")
    return files


def class_names(files: list[Path], root: Path) -> list[str] | None:
    """Sorted first-level sub-folder names, when every image sits in one; else None."""
    names = set()
    for f in files:
        rel = f.relative_to(root).parts
        if len(rel) < 2:
            return None
        names.add(rel[0])
    return sorted(names) if len(names) > 1 else None


def resize_short(im: Image.Image, short: int, resample=Image.BICUBIC) -> Image.Image:
    w, h = im.size
    s = short / min(w, h)
    return im.resize((max(round(w * s), short), max(round(h * s), short)), resample)


def fit_size(w: int, h: int, size: int, max_side: int, f: int) -> tuple[int, int, int, int]:
    """Resized (W, H) (shorter side ``size``, longer capped at ``max_side``; 0: keep) and the
    trimmed (W', H') that is a multiple of the factor ``f``."""
    s = size / min(w, h) if size else 1.0
    if max_side and max(w, h) * s > max_side:
        s = max_side / max(w, h)
    W, H = max(round(w * s), f), max(round(h * s), f)
    return W, H, W // f * f, H // f * f


def fit(im: Image.Image, f: int, size: int | None = 0, max_side: int = 0) -> tuple[Image.Image, dict]:
    """The one preparation of a whole image for a VQGAN (tokenize, encode, reconstruct): resize
    (see fit_size), then centre-crop to multiples of ``f``. Returns the image and where it came from."""
    w, h = im.size
    W, H, Wt, Ht = fit_size(w, h, size or 0, max_side, f)
    im = im.resize((W, H), Image.BICUBIC) if (W, H) != (w, h) else im
    x0, y0 = (W - Wt) // 2, (H - Ht) // 2
    im = im.crop((x0, y0, x0 + Wt, y0 + Ht)) if (Wt, Ht) != (W, H) else im
    return im, {"orig": [w, h], "box": [x0, y0, Wt, Ht], "resized": [W, H], "upscaled": W > w or H > h}


def to_tensor(im: Image.Image) -> torch.Tensor:
    """PIL RGB -> (3, H, W) float in [-1, 1]."""
    a = torch.from_numpy(np.asarray(im, dtype=np.uint8).copy())
    return a.permute(2, 0, 1).float() / 127.5 - 1.0


def to_image(x: torch.Tensor) -> Image.Image:
    """(3, H, W) in [-1, 1] -> PIL RGB."""
    a = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
    return Image.fromarray(a)


def save_grid(images: list[Image.Image], path: Path, cols: int) -> None:
    """Paste equally sized PIL images into a grid PNG."""
    w, h = images[0].size
    rows = math.ceil(len(images) / cols)
    grid = Image.new("RGB", (w * cols, h * rows))
    for i, im in enumerate(images):
        grid.paste(im, ((i % cols) * w, (i // cols) * h))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
