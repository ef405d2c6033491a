"""Image folders and label maps: listing, robust loading (checked by header first), conversions.

Any size and mode is accepted: grayscale, RGBA, palette and 16-bit images are converted to 8-bit
RGB. A file that cannot be decoded is skipped and reported, never a crash. Class names come from
first-level sub-folders.
"""

from __future__ import annotations

import errno
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from vqtool.core.errors import DataError

IMAGE_EXTS = {".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"}

# An image is checked by its header before it is decoded: a file of a few hundred KB can claim
# 30000x30000 pixels (a "decompression bomb") and decoding it takes gigabytes. PIL's own check only
# warns below twice its limit and then decodes anyway, so vqtool's check replaces it.
DEFAULT_MAX_PIXELS = 100_000_000  # 10000x10000; env VQTOOL_MAX_PIXELS or `vqtool --max-pixels` raise it
Image.MAX_IMAGE_PIXELS = None


def max_pixels() -> int:
    """The pixel limit (0: none): env VQTOOL_MAX_PIXELS ('250M', '4e8', '0'), else the default."""
    import os

    text = os.environ.get("VQTOOL_MAX_PIXELS", "").strip()
    return parse_pixels(text) if text else DEFAULT_MAX_PIXELS


def parse_pixels(text: str) -> int:
    """'250M', '1.5G', '400000000', '0' (no limit) -> a pixel count; ValueError otherwise."""
    t = str(text).strip().lower()
    scale = {"k": 10**3, "m": 10**6, "g": 10**9}.get(t[-1:], 1)
    try:
        v = float(t[:-1] if scale > 1 else t)
    except ValueError:
        raise ValueError(f"{text!r} is not a pixel count like 250M, 400000000 or 0 (no limit)") from None
    if not v >= 0 or v == float("inf"):
        raise ValueError(f"{text!r} is not a pixel count like 250M, 400000000 or 0 (no limit)")
    return int(v * scale)


# reading errors that are the machine's, not the file's: they stop the command (exit 1) instead of
# skipping the image as unreadable
MACHINE_ERRNOS = {errno.EMFILE, errno.ENFILE, errno.EIO, errno.ENOMEM}


def _machine_fault(e: BaseException) -> None:
    if isinstance(e, OSError) and e.errno in MACHINE_ERRNOS:
        raise e


def pixel_problem(size: tuple[int, int]) -> str | None:
    """Why an image of ``size`` (W, H) is refused before decoding, or None."""
    limit = max_pixels()
    w, h = size
    if limit and w * h > limit:
        return (f"its header says {w}x{h}, {w * h / 1e6:,.0f} megapixels, more than the limit of {limit / 1e6:,.0f} "
                "megapixels (a decompression bomb, or a very large image: raise the limit with "
                "`vqtool --max-pixels 500M ...` or VQTOOL_MAX_PIXELS)")
    return None


def image_size(path) -> tuple[int, int]:
    """(W, H) from an image's header (nothing decoded), within the pixel limit; DataError otherwise."""
    try:
        with Image.open(opened(path)) as im:
            size = im.size
    except (OSError, ValueError, SyntaxError) as e:
        _machine_fault(e)
        raise DataError(f"cannot read image {path}: {e}") from None
    why = pixel_problem(size)
    if why:
        raise DataError(f"image {path}: {why}")
    return size


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


def to_rgb(im: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode (16-bit and float images are rescaled, alpha dropped)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        im = Image.fromarray((a / hi * 255).clip(0, 255).astype(np.uint8))
    elif im.mode == "F":
        a = np.asarray(im, dtype=np.float64)
        a = (a - a.min()) / max(a.max() - a.min(), 1e-12)
        im = Image.fromarray((a * 255).astype(np.uint8))
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA"):
        bg = Image.new("RGB", im.size, (255, 255, 255))
        bg.paste(im.convert("RGBA"), mask=im.convert("RGBA").split()[-1])
        return bg
    return im.convert("RGB")


def opened(path):
    """What PIL opens: a file path, or the bytes of a member of a tar shard (``tars.TarMember``)."""
    return io.BytesIO(path.read()) if hasattr(path, "read") else path


def load_rgb(path) -> Image.Image:
    """Open and fully decode an image (a path or a tar member) as RGB; raises DataError with the reason."""
    try:
        with Image.open(opened(path)) as im:
            why = pixel_problem(im.size)
            if why is None:
                im.load()
                return to_rgb(im)
    except (OSError, ValueError, SyntaxError) as e:
        _machine_fault(e)
        raise DataError(f"cannot read image {path}: {e}") from None
    raise DataError(f"image {path}: {why}")


def load_labels(path: Path, palette: list | None = None) -> np.ndarray:
    """A label map as (H, W) int64 class ids: palette/grayscale PNG values, or RGB colours
    that are all in ``palette``."""
    try:
        with Image.open(path) as im:
            why = pixel_problem(im.size)
            if why is None:
                im.load()
                if im.mode in ("P", "L", "I", "I;16"):
                    return np.asarray(im).astype(np.int64)
                rgb = np.asarray(im.convert("RGB"))
    except (OSError, ValueError, SyntaxError) as e:
        _machine_fault(e)
        raise DataError(f"cannot read label map {path}: {e}") from None
    if why:
        raise DataError(f"label map {path}: {why}")
    if not palette:
        raise DataError(f"{path} is an RGB label map but no palette is known to map its colours")
    key = rgb[..., 0].astype(np.int64) << 16 | rgb[..., 1].astype(np.int64) << 8 | rgb[..., 2]
    lut = {r << 16 | g << 8 | b: i for i, (r, g, b) in enumerate(palette)}
    out = np.full(key.shape, -1, np.int64)
    for k, i in lut.items():
        out[key == k] = i
    if (out < 0).any():
        y, x = (int(v[0]) for v in np.nonzero(out < 0))
        bad = tuple(int(c) for c in rgb[y, x])
        raise DataError(f"{path}: colour {bad} at x={x}, y={y} is not in the dataset's palette")
    return out


def find_label_meta(folder: Path) -> dict | None:
    """classes.json in the folder or one of its two parents (make-scenes writes OUT/classes.json)."""
    folder = Path(folder).resolve()
    for d in (folder, *list(folder.parents)[:2]):
        if (d / "classes.json").is_file():
            return json.loads((d / "classes.json").read_text())
    return None


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


def header_ok(path: Path) -> str | None:
    """A cheap check (reads the header only): the reason the file is unusable, or None."""
    try:
        with Image.open(opened(path)) as im:
            return pixel_problem(im.size)
    except Exception as e:  # PIL raises many types for garbage
        _machine_fault(e)
        return f"not an image: {type(e).__name__}"


def save_grid(images: list[Image.Image], path: Path, cols: int) -> None:
    """Paste equally sized PIL images into a grid PNG."""
    w, h = images[0].size
    rows = math.ceil(len(images) / cols)
    grid = Image.new("RGB", (w * cols, h * rows))
    for i, im in enumerate(images):
        grid.paste(im, ((i % cols) * w, (i // cols) * h))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(path)
