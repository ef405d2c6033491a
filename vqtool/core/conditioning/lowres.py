"""A low-resolution image (super-resolution): the image downscaled by ``factor`` and encoded by the
image VQGAN itself, as taming's ``cond_stage_config: __is_first_stage__`` with
``downsample_cond_size`` does. No second VQGAN.

vqtool encodes the low-res image upscaled (bicubic) to the grid's size: one code per grid position,
each describing the blurred content of its own image code, so the condition is cropped with the image
like any map (taming feeds the whole low-res grid and has no sliding window for it). Models made
before this (``upscaled`` False) encoded the small image itself and placed each low-res code at the
``factor`` x ``factor`` image codes it covers: a 64px input of a 256px image became 8x8 codes of a
VQGAN trained on full-size images, decoding to 18 dB where the upscaled image's codes decode to 27.
``factor`` must divide the VQGAN's downsampling factor, so that the downscaled image of a tokenized
grid has whole pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vqtool.core import memory
from vqtool.core.conditioning.spatial import FolderMap
from vqtool.core.errors import VqtoolError
from vqtool.core.imagefile import image_size, load_rgb
from vqtool.core.tokenizer.tiles import encode_tiled

FACTORS = (2, 4, 8)


def check_factor(k, vqgan_factor: int) -> int:
    """A low-res factor the image VQGAN's grid allows, or one message naming those it does."""
    ok = [f for f in FACTORS if vqgan_factor % f == 0]
    try:
        k = int(k)
    except (TypeError, ValueError):
        raise VqtoolError(f"lowres={k!r}: the factor is a whole number, one of {', '.join(map(str, ok))}") from None
    if k not in ok:
        raise VqtoolError(f"lowres={k}: the factor must divide the VQGAN's downsampling factor {vqgan_factor}; "
                          f"use {', '.join(map(str, ok))}")
    return k


def downscale(x: torch.Tensor, k: int) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, 3, H/k, W/k): antialiased bicubic, the training inputs' low-res."""
    return F.interpolate(x, scale_factor=1 / k, mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)


def back_project(x: torch.Tensor, small: torch.Tensor, steps: int) -> torch.Tensor:
    """Iterative back-projection (Irani & Peleg, 1991): ``steps`` times, the difference between the
    low-res input ``small`` (B, 3, h, w) and the sample ``x`` (B, 3, H, W) downscaled as ``downscale``
    does is upscaled (bicubic) and added. The sample keeps its high frequencies (the detail the
    transformer drew) and takes the input's low ones, which the input's f x coarser codes lose."""
    for _ in range(steps):
        lo = F.interpolate(x, size=small.shape[-2:], mode="bicubic", antialias=True, align_corners=False)
        err = F.interpolate(small - lo, size=x.shape[-2:], mode="bicubic", align_corners=False)
        x = (x + err).clamp(-1, 1)
    return x


def lowres_codes(stage, small: torch.Tensor, k: int, h: int, w: int, upscaled: bool) -> torch.Tensor:
    """(B, h, w) codes of an h x w image grid from its low-res image (B, 3, H', W'). ``upscaled``: the
    image upscaled (bicubic) to the grid's pixels and encoded (in tiles when large). Else (models made
    before): the image padded (edge pixels repeated) to whole codes, encoded, each code repeated k x k,
    cut to the grid."""
    f = stage.factor
    if upscaled:
        up = F.interpolate(small, size=(h * f, w * f), mode="bicubic", align_corners=False).clamp(-1, 1)
        return torch.stack([encode_tiled(stage, u, lambda part: part[None]) for u in up])
    H, W = small.shape[-2:]
    ph, pw = -(-max(H, h * f // k) // f) * f, -(-max(W, w * f // k) // f) * f
    x = F.pad(small, (0, pw - W, 0, ph - H), mode="replicate") if (ph, pw) != (H, W) else small
    codes = stage.encode(x).indices  # (B, ph/f, pw/f)
    return codes.repeat_interleave(k, 1).repeat_interleave(k, 2)[:, :h, :w]


@dataclass
class LowRes(FolderMap):
    kind = "lowres"
    usage = "--cond lowres=small.png"
    adjective = "super-resolution"
    stage = "image"  # the image VQGAN
    field = "lowres.npy"
    input_name = "low-resolution image"
    job_names = {"lowres": "the low-resolution factor (--cond lowres=K)",
                 "lowres_upscaled": "how the low-res image is encoded (upscaled since vqtool 2026-12)"}
    fixed_size = True  # the output is factor x the input: --size must agree
    from_coarse = True  # coarse to fine: a coarse model's sample at 1/factor the size is this input
    projects = True  # --back-project: the sample downscaled is made the input again

    factor: int = 4  # the image is this many times larger than its low-res input, per side
    # taming's __is_first_stage__ layout (converted models): the low-res image, ``whole_px`` pixels a side,
    # encoded whole into ``whole`` x ``whole`` codes fed before the window's image tokens; 0: vqtool's own
    whole: int = 0
    whole_px: int = 0
    upscaled: bool = False  # the input upscaled to the grid is encoded (vqtool's tokenize since 2026-12)

    @property
    def window_only(self) -> bool:
        return bool(self.whole)  # the reference feeds one low-res grid per window: no rule beyond it

    def length(self, h: int, w: int) -> int:
        return self.whole * self.whole if self.whole else h * w

    def window(self, t: torch.Tensor, r0: int, c0: int, wh: int, ww: int) -> torch.Tensor:
        return t.reshape(t.shape[0], -1) if self.whole else super().window(t, r0, c0, wh, ww)

    def unflatten(self, flat: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return flat.reshape(flat.shape[0], self.whole, self.whole) if self.whole else super().unflatten(flat, h, w)

    @classmethod
    def new(cls, offset: int, wanted: dict) -> LowRes:
        return cls(offset=offset, vocab=wanted["codebook_size"], factor=wanted["factor"],
                   upscaled=bool(wanted.get("upscaled")), null_trained=bool(wanted.get("null_trained")))

    def describe(self) -> dict:
        d = {"kind": self.kind, "factor": self.factor}
        if self.whole:
            return d | {"taming_grid": f"{self.whole}x{self.whole} codes of a {self.whole_px}px image"}
        return d | {"encoded": "upscaled to the grid" if self.upscaled else "its own codes, each at the k x k it covers"}

    def default(self, model: str):
        raise VqtoolError(f"this model is {model}: give the small image with --cond lowres=FILE")

    def size_of(self, entry) -> tuple[int, int]:
        if self.whole:  # the window, whatever the input's size
            return self.whole_px * self.factor, self.whole_px * self.factor
        w, h = image_size(entry)
        return w * self.factor, h * self.factor

    def read(self, path, size: tuple[int, int], channels: int = 3) -> torch.Tensor:
        """(3, H/k, W/k) in [-1, 1]: the small image, resized only when it is not 1/k of ``size``."""
        im = load_rgb(path)
        want = (max(round(size[0] / self.factor), 1), max(round(size[1] / self.factor), 1))
        want = (self.whole_px, self.whole_px) if self.whole else want
        if im.size != want:
            im = im.resize(want, Image.BICUBIC)
        return torch.from_numpy(np.asarray(im, dtype=np.float32).copy()).permute(2, 0, 1) / 127.5 - 1

    def project(self, x: torch.Tensor, entry, steps: int) -> torch.Tensor:
        size = (x.shape[-1], x.shape[-2])
        return back_project(x, self.read(entry, size).to(x.device)[None], steps)

    def encode(self, stage, m: torch.Tensor) -> torch.Tensor:
        """(h, w) codes of the image grid ``m`` (3, H/k, W/k) is the low-res of (k divides the VQGAN's
        factor f, so the grid is a whole H/f x W/f)."""
        f, k = stage.factor, self.factor
        small = m[None].to(next(stage.parameters()).device)
        if self.whole:  # taming's encode_to_c: the small image's own codes
            return stage.encode(small).indices[0].cpu()
        return lowres_codes(stage, small, k, m.shape[-2] * k // f, m.shape[-1] * k // f, self.upscaled)[0].cpu()

    def random_tokens(self, n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
        k = 1 if self.upscaled else self.factor
        t = torch.randint(0, self.vocab or 8, (1, -(-h // k), -(-w // k)), generator=g)
        return (t.repeat_interleave(k, 1).repeat_interleave(k, 2)[:, :h, :w] + self.offset).expand(n, h, w)

    def memory_bytes(self, width: int, height: int, stage_cfg, tile: int, factor: int) -> int:
        if self.upscaled:  # a full-size input encoded in tiles, as a map's
            return super().memory_bytes(width, height, stage_cfg, tile, factor)
        k = self.factor
        return memory.vqgan_activation_bytes(stage_cfg, 1, height // k + factor, width // k + factor)

    # ---- tokenize: made from each image itself ---------------------------------------------------

    @classmethod
    def for_job(cls, value, stage_ckpt: dict) -> LowRes:
        """``value``: the factor K, or ``K:blocks`` for the encoding of models made before 2026-12 (the
        small image's own codes, each at the K x K it covers: a weaker condition, which a coarse-to-fine
        fine model needs to follow its label map rather than copy the thumbnail); ``stage_ckpt``: the image
        VQGAN's checkpoint."""
        k, _, how = str(value).partition(":")
        if how not in ("", "blocks"):
            raise VqtoolError(f"lowres={value}: after the factor comes ':blocks' (each low-res code at the K x K "
                              "codes it covers) or nothing (the input upscaled to the grid, the default)")
        f = 2 ** (len(stage_ckpt["config"]["model"]["ch_mult"]) - 1)
        return cls(factor=check_factor(k, f), upscaled=not how)

    def find_input(self, folder, rel):
        return rel  # the image itself

    def read_input(self, path, where: dict, channels: int) -> None:
        return None  # nothing to read: encode_inputs takes the prepared images

    def encode_inputs(self, stage, batch, flip: bool, images: torch.Tensor) -> dict:
        """Shard fields of a batch of prepared images (B, 3, H, W): the codes of their low-res versions
        (and of the mirrored images')."""
        h, w = images.shape[-2] // stage.factor, images.shape[-1] // stage.factor
        k, up = self.factor, self.upscaled
        out = {"lowres.npy": lowres_codes(stage, downscale(images, k), k, h, w, up)}
        if flip:
            out["lowres_flip.npy"] = lowres_codes(stage, downscale(images.flip(-1), k), k, h, w, up)
        return out

    def job_keys(self, fingerprint: str, folder) -> dict:
        return {"lowres": self.factor, "lowres_upscaled": self.upscaled}
