"""Decoding image files, checked by their header first: a file of a few KB can claim 30000x30000
pixels (a "decompression bomb") and decoding it would take gigabytes. Any mode is accepted
(grayscale, RGBA, palette, 16-bit and float images become 8-bit RGB); a file that cannot be read
is a DataError with the reason, a fault of the machine (too many open files) is re-raised as is."""

from __future__ import annotations

import errno
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from vqtool.core.errors import DataError

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


def header_ok(path: Path) -> str | None:
    """A cheap check (reads the header only): the reason the file is unusable, or None."""
    try:
        with Image.open(opened(path)) as im:
            return pixel_problem(im.size)
    except Exception as e:  # PIL raises many types for garbage
        _machine_fault(e)
        return f"not an image: {type(e).__name__}"


def find_label_meta(folder: Path) -> dict | None:
    """classes.json in the folder or one of its two parents (make-scenes writes OUT/classes.json)."""
    folder = Path(folder).resolve()
    for d in (folder, *list(folder.parents)[:2]):
        if (d / "classes.json").is_file():
            return json.loads((d / "classes.json").read_text())
    return None


class MapNote(UserWarning):
    """Something done to a one-channel map that the user should hear of once (the CLI shows it)."""


_SAID: set = set()


def forget_said() -> None:
    """A new command: what was said once may be said again."""
    _SAID.clear()


def say_once(key: str, message: str) -> None:
    """A MapNote the first time ``key`` comes up in this process."""
    if key not in _SAID:
        _SAID.add(key)
        import warnings

        warnings.warn(message, MapNote, stacklevel=3)


def _rgba_floats(im: Image.Image) -> np.ndarray:
    """(H, W) float32 from the four bytes of each RGBA pixel, as taming's rgba_to_depth reads them
    (little-endian: the alpha byte holds the sign and exponent)."""
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8)).view("<f4")[..., 0].astype(np.float32)


def load_map(path, what: str = "map") -> np.ndarray:
    """A one-channel map (a depth map, an edge map) as (H, W) float32 in [0, 1]: 8-bit and 16-bit
    grayscale PNGs scaled by their range (255, 65535), float TIFFs as they are, and taming's depth
    files (float32 packed into the bytes of an RGBA PNG: its ``rgba_to_depth``) as they are. An RGB
    file (or an RGBA one whose bytes are not finite floats: an opaque alpha never is) is converted
    to grayscale, which is said once."""
    try:
        with Image.open(opened(path)) as im:
            why = pixel_problem(im.size)
            if why is None:
                im.load()
                mode = im.mode
                if mode in ("I;16", "I;16B", "I;16L"):
                    a = np.asarray(im, dtype=np.float32) / 65535.0
                elif mode == "I":  # PIL opens some 16-bit PNGs as 32-bit integers
                    a = np.asarray(im, dtype=np.float32)
                    a = a / (65535.0 if a.max() > 255 else 255.0)
                elif mode == "F":
                    a = np.asarray(im, dtype=np.float32)
                elif mode in ("L", "1"):
                    a = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
                elif mode == "RGBA" and np.isfinite(packed := _rgba_floats(im)).all():
                    a = packed
                else:
                    say_once(f"rgb-{what}", f"{what}s given as colour images are converted to grayscale "
                                            f"(the first: {path}); save them as one-channel PNGs to skip this")
                    a = np.asarray(to_rgb(im).convert("L"), dtype=np.float32) / 255.0
    except (OSError, ValueError, SyntaxError) as e:
        _machine_fault(e)
        raise DataError(f"cannot read {what} {path}: {e}") from None
    if why:
        raise DataError(f"{what} {path}: {why}")
    if not np.isfinite(a).all():
        raise DataError(f"{what} {path} has values that are not finite numbers")
    return a
