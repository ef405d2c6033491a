"""From a transformer checkpoint to images: conditioning from label maps or classes, grid
sampling (core.sampling), and decoding of large grids in blended tiles."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from vqtool.core import checkpoint as ck
from vqtool.core import memory
from vqtool.core.config import GPTConfig, from_dict
from vqtool.core.errors import VqtoolError
from vqtool.core.gpt import GPT
from vqtool.core.loading import vqgan_from_state
from vqtool.core.sampling import Layout, cond_tokens, sample_grid, sample_naive
from vqtool.core.vqgan import VQGAN
from vqtool.data import images as imgs


@dataclass
class Bundle:
    gpt: GPT
    layout: Layout
    lay: dict
    first: VQGAN
    cond: VQGAN | None
    ckpt: dict

    @property
    def factor(self) -> int:
        return self.first.factor


def load_transformer(path: Path | str, device="cpu") -> Bundle:
    c = ck.load_checkpoint(path, ck.TRANSFORMER)
    gpt = GPT(from_dict(GPTConfig, c["config"]["gpt"], prefix="gpt."))
    gpt.load_state_dict(c["model"])
    gpt = gpt.to(device).eval().requires_grad_(False)
    first = vqgan_from_state(c["first_stage"]["config"], c["first_stage"]["model"], device)
    cond = None
    if c.get("cond_stage"):
        cond = vqgan_from_state(c["cond_stage"]["config"], c["cond_stage"]["model"], device)
    return Bundle(gpt, Layout.from_dict(c["cond"]), c["cond"], first, cond, c)


# --------------------------------------------------------------------------- conditioning


MODE_NAMES = {"uncond": "unconditional", "class": "class-conditional", "seg": "segmentation-conditional"}


def resolve_class(b: Bundle, value: str) -> int:
    classes = b.lay.get("classes") or []
    if b.layout.mode != "class":
        raise VqtoolError(f"--class was given, but this model is {MODE_NAMES[b.layout.mode]} (it has no classes)")
    if value in classes:
        return classes.index(value)
    if value.isdigit() and int(value) < len(classes):
        return int(value)
    raise VqtoolError(f"unknown class {value!r}; valid classes: " + ", ".join(f"{i}={c}" for i, c in enumerate(classes)))


def read_label_map(b: Bundle, path: Path, size: tuple[int, int]) -> torch.Tensor:
    """Label map as (H, W) class ids at ``size``, nearest-neighbour resized."""
    if b.layout.mode != "seg":
        raise VqtoolError(f"--cond was given, but this model is {MODE_NAMES[b.layout.mode]} (no segmentation)")
    if not Path(path).is_file():
        raise VqtoolError(f"label map not found: {path}")
    lab = imgs.load_labels(Path(path), b.lay.get("palette"))
    k = b.cond.cfg.in_channels
    names = b.lay.get("label_classes") or [str(i) for i in range(k)]
    bad = sorted(set(np.unique(lab).tolist()) - set(range(k)))
    if bad:
        raise VqtoolError(f"label map {path} has class ids {bad} the model does not know; valid: "
                          + ", ".join(f"{i}={n}" for i, n in enumerate(names)))
    im = Image.fromarray(lab.astype(np.int32)).resize(size, Image.NEAREST)
    return torch.from_numpy(np.asarray(im, dtype=np.int64).copy())


@torch.no_grad()
def encode_labels(model: VQGAN, lab: torch.Tensor, tile: int = 64, margin: int = 8) -> torch.Tensor:
    """(H, W) labels -> (h, w) cond codes; large maps in overlapping tiles (memory stays bounded)."""
    f, k = model.factor, model.cfg.in_channels
    H, W = lab.shape
    h, w = H // f, W // f
    dev = next(model.parameters()).device

    def enc(part):
        oh = F.one_hot(part.to(dev), k).permute(2, 0, 1)[None].float()  # (1, K, H, W)
        return model.encode(oh).indices[0].cpu()

    if h * w <= tile * tile:
        return enc(lab)
    out = torch.zeros(h, w, dtype=torch.long)
    for r in range(0, h, tile):
        for c in range(0, w, tile):
            r0, c0 = max(r - margin, 0), max(c - margin, 0)
            r1, c1 = min(r + tile + margin, h), min(c + tile + margin, w)
            codes = enc(lab[r0 * f:r1 * f, c0 * f:c1 * f])
            rr, cc = min(r + tile, h), min(c + tile, w)
            out[r:rr, c:cc] = codes[r - r0:rr - r0, c - c0:cc - c0]
    return out


# --------------------------------------------------------------------------- decoding


DECODE_TILE, DECODE_MAX_TOKENS = 64, 128 * 128


@torch.no_grad()
def decode(model: VQGAN, z: torch.Tensor, tile: int = DECODE_TILE, overlap: int = 16,
           max_tokens: int = DECODE_MAX_TOKENS) -> torch.Tensor:
    """(B, h, w) codes -> (B, C, h·f, w·f). Above ``max_tokens`` decode overlapping tiles and
    blend them with linear ramps, so memory (and the decoder's global attention) stays bounded."""
    B, h, w = z.shape
    if h * w <= max_tokens:
        return model.decode_indices(z)
    f = model.factor
    out = torch.zeros(B, model.cfg.out_channels, h * f, w * f)
    wsum = torch.zeros(1, 1, h * f, w * f)
    step = tile - overlap
    rows = sorted({min(r, max(h - tile, 0)) for r in range(0, h, step)})
    cols = sorted({min(c, max(w - tile, 0)) for c in range(0, w, step)})
    ramp = torch.linspace(0, 1, overlap * f + 2)[1:-1]
    for r in rows:
        for c in cols:
            part = model.decode_indices(z[:, r:r + tile, c:c + tile]).float().cpu()
            th, tw = part.shape[-2:]
            wy, wx = torch.ones(th), torch.ones(tw)
            if r > 0:
                wy[:overlap * f] = ramp
            if r + tile < h:
                wy[-overlap * f:] = ramp.flip(0)
            if c > 0:
                wx[:overlap * f] = ramp
            if c + tile < w:
                wx[-overlap * f:] = ramp.flip(0)
            wm = wy[:, None] * wx[None]
            out[..., r * f:r * f + th, c * f:c * f + tw] += part * wm
            wsum[..., r * f:r * f + th, c * f:c * f + tw] += wm
    return out / wsum


# --------------------------------------------------------------------------- the pipeline


def padded(size: tuple[int, int], f: int) -> tuple[int, int]:
    """(W, H) rounded up to multiples of the factor: what is sampled before the crop to ``size``."""
    return -(-size[0] // f) * f, -(-size[1] // f) * f


def grid_size(b: Bundle, size: tuple[int, int] | None, cond_path: Path | None) -> tuple[int, int]:
    """(W, H) in pixels: --size, else the label map's size, else the training window."""
    if size is None and cond_path is not None and Path(cond_path).is_file():
        with Image.open(cond_path) as im:
            size = im.size
    if size is None:
        s = b.layout.window * b.factor
        size = (s, s)
    return size


def has_null_class(b: Bundle) -> bool:
    """A class model whose null class was trained (class dropout): it can guide and sample
    without a class."""
    return (b.layout.mode == "class" and b.layout.null_class is not None
            and (b.ckpt.get("config") or {}).get("class_dropout", 0) > 0)


def check_options(b: Bundle, top_k: int | None, top_p: float | None, temperature: float,
                  cfg: float | None) -> None:
    """Refuse sampling options this model cannot honour (one message each)."""
    if temperature <= 0:
        raise VqtoolError("--temperature must be > 0")
    if top_k is not None and top_k < 1:
        raise VqtoolError("--top-k must be >= 1 (leave it out for no top-k filtering)")
    if top_p is not None and not 0 < top_p <= 1:
        raise VqtoolError("--top-p must be in (0, 1]")
    if cfg is None:
        return
    if b.layout.mode != "class":
        raise VqtoolError(f"--cfg (classifier-free guidance) needs a class-conditional model trained with "
                          f"class_dropout > 0; this model is {MODE_NAMES[b.layout.mode]}")
    if not has_null_class(b):
        raise VqtoolError("--cfg needs a null class trained by class dropout, and this model was trained with "
                          "class_dropout = 0 (its null class is untrained); retrain with --set class_dropout=0.1 "
                          "or sample without --cfg")
    if cfg <= 0:
        raise VqtoolError("--cfg must be > 0 (1 is no guidance)")


def check_memory(b: Bundle, n: int, batch_size: int, size: tuple[int, int], cfg: float | None,
                 limit: int | None) -> None:
    """Refuse a request whose estimated peak memory exceeds ``limit`` (see core.memory)."""
    f = b.factor
    Wf, Hf = padded(size, f)
    need = memory.sample_bytes(b.first.cfg, b.cond.cfg if b.layout.mode == "seg" else None, b.gpt.cfg, n,
                               batch_size, Wf, Hf, f, b.layout.window, cfg not in (None, 1.0), DECODE_TILE,
                               DECODE_MAX_TOKENS)
    memory.check(need, limit, f"sampling {n} image(s) of {size[0]}x{size[1]} in batches of {min(batch_size, n)}",
                 "ask for a smaller --size, --n or --batch-size")


@torch.no_grad()
def generate(b: Bundle, n: int = 1, size: tuple[int, int] | None = None, cond_path: Path | None = None,
             class_: str | None = None, top_k: int | None = 100, top_p: float | None = None,
             temperature: float = 1.0, cfg: float | None = None, seed: int = 0, mode: str = "exact",
             batch_size: int = 4, prefix: Path | None = None, naive: bool = False, progress=None,
             first_sample: int = 0, max_memory: int | None = None) -> list[Image.Image]:
    """Sample ``n`` images with one conditioning; sample k is numbered ``first_sample + k`` and
    depends only on (seed, its number, the arguments), never on the batch size."""
    if b.layout.mode == "seg" and cond_path is None:
        raise VqtoolError("this model is segmentation-conditional: give a label map with --cond")
    cls = resolve_class(b, class_) if class_ is not None else None
    if b.layout.mode == "class" and class_ is None:
        if not has_null_class(b):
            raise VqtoolError("this model is class-conditional and was trained without class dropout (no "
                              "unconditional mode): give --class NAME|ID; classes: " + ", ".join(b.lay.get("classes") or []))
        cls = b.layout.null_class - b.layout.cond_offset  # the null class: unconditional samples
    if cond_path is not None and b.layout.mode != "seg":
        raise VqtoolError(f"--cond was given, but this model is {MODE_NAMES[b.layout.mode]} (no segmentation)")
    cond = cond_path if b.layout.mode == "seg" else cls
    return generate_each(b, [cond] * n, size, top_k, top_p, temperature, cfg, seed, mode, batch_size, prefix,
                         naive, progress, first_sample, max_memory)


@torch.no_grad()
def generate_each(b: Bundle, conds: list, size: tuple[int, int] | None = None, top_k: int | None = 100,
                  top_p: float | None = None, temperature: float = 1.0, cfg: float | None = None, seed: int = 0,
                  mode: str = "exact", batch_size: int = 4, prefix: Path | None = None, naive: bool = False,
                  progress=None, first_sample: int = 0, max_memory: int | None = None) -> list[Image.Image]:
    """One image per entry of ``conds`` (a label-map path, a class id or None), in batches.
    Consecutive samples whose grids have the same size share a batch."""
    check_options(b, top_k, top_p, temperature, cfg)
    sizes = [grid_size(b, size, c if b.layout.mode == "seg" else None) for c in conds]
    for sz in set(sizes):
        check_memory(b, sizes.count(sz), batch_size, sz, cfg, max_memory)
    f = b.factor
    dev = next(b.gpt.parameters()).device
    grids: dict = {}  # label map -> cond codes, encoded once per (path, size)
    pre = None
    out: list[Image.Image] = []
    k = 0
    while k < len(conds):
        W, H = sizes[k]
        m = 1
        while m < batch_size and k + m < len(conds) and sizes[k + m] == (W, H):
            m += 1
        Wf, Hf = padded((W, H), f)  # cropped back at the end
        h, w = Hf // f, Wf // f
        part = conds[k:k + m]
        if b.layout.mode == "seg":
            for c in part:
                if (c, Wf, Hf) not in grids:
                    grids[(c, Wf, Hf)] = encode_labels(b.cond, read_label_map(b, c, (Wf, Hf)))
            cond = cond_tokens(b.layout, m, torch.stack([grids[(c, Wf, Hf)] for c in part]), h=h, w=w)
        elif b.layout.mode == "class":
            cond = cond_tokens(b.layout, m, classes=part)
        else:
            cond = cond_tokens(b.layout, m)
        cond = cond.to(dev)
        if prefix is not None and pre is None:
            im = imgs.load_rgb(Path(prefix)).resize((Wf, Hf), Image.BICUBIC)
            pre = b.first.encode(imgs.to_tensor(im)[None].to(dev)).indices[:, : h // 2]
        kw = dict(seed=seed, first_sample=first_sample + k, temperature=temperature, top_k=top_k, top_p=top_p)
        if naive:
            z = sample_naive(b.gpt, b.layout, h, w, cond, **kw)
        else:
            z = sample_grid(b.gpt, b.layout, h, w, cond, cfg_scale=cfg, mode=mode,
                            prefix=None if pre is None else pre.expand(m, -1, -1), progress=progress, **kw)
        # one sample per decoder pass: conv kernels round differently at other batch sizes, and a
        # sample's PNG must not depend on the batch it was drawn in
        out += [imgs.to_image(decode(b.first, z[i:i + 1])[0]).crop((0, 0, W, H)) for i in range(m)]
        k += m
    return out


def training_samples(gpt, lay, first_stage, cond_stage, samples, path: Path, n: int = 4,
                     tiles: bool = False, seed: int = 0) -> None:
    """Decoded window-sized samples during training (conditioning from held-out grids): one grid
    PNG, or with ``tiles`` one PNG per sample (``path`` stem + index)."""
    from vqtool.train.common import save_grid

    layout = Layout.from_dict(lay)
    dev = next(gpt.parameters()).device
    first = vqgan_from_state(first_stage["config"], first_stage["model"], dev)
    W = layout.window
    n = min(n, len(samples))
    if layout.mode == "seg":
        cond = torch.stack([torch.from_numpy(s["cond.npy"][:W, :W].astype(np.int64)) for s in samples[:n]])
        cond = cond_tokens(layout, n, cond, h=W, w=W)
    elif layout.mode == "class":
        cond = cond_tokens(layout, n, classes=[s.get("cls", 0) for s in samples[:n]])
    else:
        cond = cond_tokens(layout, n)
    was = gpt.training
    gpt.eval()
    z = sample_grid(gpt, layout, W, W, cond.to(dev), seed=seed, top_k=100)
    gpt.train(was)
    x = decode(first, z)
    if tiles:
        for k, t in enumerate(x):
            imgs.to_image(t).save(path.with_name(f"{path.stem}-{k}.png"))
        return
    save_grid([imgs.to_image(t) for t in x], path, cols=n)
