"""The embedded dataset: procedural landscapes with per-pixel label maps.

Everything is drawn in pixel units (noise lattices, tree and cloud sizes, ridge heights), so a
larger ``size`` shows a wider, taller piece of landscape at the same scale rather than an
upscaled small one: a 256² crop of a 1280×832 scene looks like a 256² scene. That is the
property of landscape photos the paper's sliding-window sampler relies on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vqtool.core.errors import check_writable
from vqtool.data.edges import EDGE_SIGMA, edge_map  # noqa: F401 (EDGE_SIGMA: the scenes' setting)

CLASSES = ["sky", "cloud", "mountain", "snow", "water", "grass", "tree", "rock", "sand"]
PALETTE = [  # viewable colours for the label maps, one per class id
    (110, 170, 240), (235, 235, 245), (120, 100, 90), (255, 255, 255), (30, 80, 200),
    (80, 170, 60), (20, 90, 30), (150, 150, 150), (230, 200, 120),
]
BIOMES = ["alpine", "lake", "desert", "forest"]
SKY, CLOUD, MOUNTAIN, SNOW, WATER, GRASS, TREE, ROCK, SAND = range(9)

_TIMES = {  # sky top, sky at horizon, light tint
    "day": ((70, 130, 220), (190, 215, 240), (1.0, 1.0, 1.0)),
    "golden": ((90, 120, 200), (250, 190, 130), (1.1, 0.95, 0.8)),
    "dusk": ((40, 50, 110), (200, 120, 140), (0.75, 0.7, 0.85)),
}


def palette_bytes() -> list[int]:
    flat = [c for rgb in PALETTE for c in rgb]
    return flat + [0] * (768 - len(flat))


def _value_noise(rng, h: int, w: int, ly: float, lx: float, y0: int = 0, x0: int = 0) -> np.ndarray:
    """Smooth value noise on an (ly, lx)-pixel lattice, values in [0, 1]."""
    gh, gw = int(h / ly) + 3, int(w / lx) + 3
    grid = rng.random((gh, gw), dtype=np.float32)
    y = (np.arange(h, dtype=np.float32) + y0 % ly) / ly
    x = (np.arange(w, dtype=np.float32) + x0 % lx) / lx
    iy, ix = y.astype(np.int32), x.astype(np.int32)
    fy, fx = y - iy, x - ix
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)  # smoothstep
    a, b = grid[iy][:, ix], grid[iy][:, ix + 1]
    c, d = grid[iy + 1][:, ix], grid[iy + 1][:, ix + 1]
    top = a + (b - a) * fx[None]
    bot = c + (d - c) * fx[None]
    return top + (bot - top) * fy[:, None]


def _fbm2(rng, h, w, ly, lx, octaves=3) -> np.ndarray:
    out, amp, tot = np.zeros((h, w), np.float32), 1.0, 0.0
    for o in range(octaves):
        out += amp * _value_noise(rng, h, w, max(ly / 2**o, 1.5), max(lx / 2**o, 1.5))
        tot += amp
        amp *= 0.5
    return out / tot


def _fbm1(rng, w: int, scale: float, octaves=4) -> np.ndarray:
    out, amp, tot = np.zeros(w, np.float32), 1.0, 0.0
    for o in range(octaves):
        lam = max(scale / 2**o, 2.0)
        pts = rng.random(int(w / lam) + 3).astype(np.float32)
        x = np.arange(w, dtype=np.float32) / lam
        i = x.astype(np.int32)
        f = x - i
        f = f * f * (3 - 2 * f)
        out += amp * (pts[i] + (pts[i + 1] - pts[i]) * f)
        tot += amp
        amp *= 0.5
    return out / tot


def render_scene(seed: int, index: int, width: int, height: int, biome: str | None = None):
    """One scene: (H, W, 3) uint8 image, (H, W) uint8 label map, (H, W) float32 inverse depth in [0, 1]
    (brighter = nearer, as MiDaS: 0 the far plane, 1 the ground at the bottom row) and the biome name."""
    rng = np.random.default_rng([seed % 2**64, index])  # any int seed; numpy takes non-negative ones
    biome = biome or BIOMES[index % len(BIOMES)]
    tod = ["day", "day", "golden", "dusk"][rng.integers(4)]
    sky_top, sky_hor, tint = (np.array(v, np.float32) for v in _TIMES[tod])
    H, W = height, width
    sc = _Canvas(rng, biome, tint, sky_hor, np.arange(H, dtype=np.float32)[:, None], np.zeros((H, W, 3), np.float32),
                 np.zeros((H, W), np.uint8), H * rng.uniform(0.42, 0.62), depth=np.zeros((H, W), np.float32))
    # the order of the layers is the order of the random draws: changing it changes every scene
    _sky(sc, sky_top)
    _mountains(sc)
    gtex = _ground(sc)
    _trees(sc)
    _rocks(sc)
    _water(sc, gtex)
    # light grain so flat regions have texture to learn
    sc.img += 3.0 * rng.standard_normal(sc.img.shape, dtype=np.float32)
    return sc.img.clip(0, 255).astype(np.uint8), sc.lab, sc.depth, biome


@dataclass
class _Canvas:
    rng: np.random.Generator
    biome: str
    tint: np.ndarray
    sky_hor: np.ndarray
    yy: np.ndarray  # (H, 1) row coordinates
    img: np.ndarray  # (H, W, 3) float
    lab: np.ndarray  # (H, W) class ids
    horizon: float
    fine: np.ndarray | None = None  # one fine texture, reused by every surface
    depth: np.ndarray | None = None  # (H, W) inverse depth; the sky and its clouds stay at 0 (far plane)

    def ground_depth(self, y):
        """Inverse depth of flat ground at row(s) ``y``: distance goes as 1 / (y - horizon), so inverse depth
        rises linearly from the horizon (0.04, nearer than the mountains behind) to the bottom row (1)."""
        h = max(self.shape[0] - self.horizon, 1.0)
        return 0.04 + 0.96 * np.clip((np.asarray(y, np.float32) - self.horizon) / h, 0, 1)

    @property
    def shape(self):
        return self.lab.shape


def _sky(sc: _Canvas, sky_top) -> None:
    """Gradient over a fixed 300 px towards the horizon; clouds: anisotropic noise, wide and flat,
    thresholded by a per-scene cover."""
    (H, W), rng, yy = sc.shape, sc.rng, sc.yy
    t = np.clip((sc.horizon - yy) / 300.0, 0, 1)[..., None]
    sc.img[:] = sc.sky_hor * (1 - t) + sky_top * t
    cover = rng.uniform(0.1, 0.55)
    cn = _fbm2(rng, H, W, 40, 110, 4)
    cloud = (cn > 1 - cover * 0.6) & (yy < sc.horizon - 20)
    sc.fine = _fbm2(rng, H, W, 10, 12, 3)
    shade = (0.85 + 0.3 * sc.fine)[..., None]
    _paint(sc.img, sc.lab, cloud, np.array([245, 245, 250], np.float32) * sc.tint * shade, CLOUD)


def _mountains(sc: _Canvas) -> None:
    """Two ridges whose heights are in pixels, the far one paler; snow on alpine (some lake) peaks."""
    W, rng, yy, biome, tint, horizon = sc.shape[1], sc.rng, sc.yy, sc.biome, sc.tint, sc.horizon
    if biome == "forest" and rng.random() >= 0.5:
        return
    base = {"alpine": (70, 190), "lake": (40, 140), "desert": (30, 110), "forest": (20, 60)}[biome]
    for layer, pale in ((0, 0.45), (1, 0.0)):
        amp = rng.uniform(*base) * (1.0 if layer == 0 else 0.6)
        ridge = horizon - amp * (0.3 + 0.9 * _fbm1(rng, W, 220 - 80 * layer, 5)) + 2
        m = (yy >= ridge[None]) & (yy < horizon)
        rock = {"desert": (170, 110, 70), "alpine": (110, 105, 110)}.get(biome, (95, 100, 115))
        slope = np.gradient(ridge)[None, :, None]
        tex = (0.8 + 0.35 * np.roll(sc.fine, 37 * layer, axis=1))[..., None] * (1 - 0.15 * np.tanh(slope))
        col = np.array(rock, np.float32) * tex * tint
        col = col * (1 - pale) + sc.sky_hor * pale
        _paint(sc.img, sc.lab, m, col, MOUNTAIN)
        sc.depth[m] = (0.015, 0.03)[layer]  # the far range, then the near one (snow sits on them)
        if biome == "alpine" or (biome == "lake" and rng.random() < 0.5):
            snowline = ridge + amp * rng.uniform(0.25, 0.45) + 12 * _fbm1(rng, W, 20, 2)
            s = m & (yy < snowline[None])
            _paint(sc.img, sc.lab, s, np.array([240, 245, 255], np.float32) * tex * tint * (1 - pale * 0.3), SNOW)


def _ground(sc: _Canvas) -> np.ndarray:
    """Sand dunes in the desert, grass elsewhere; returns the ground texture (the shore reuses it)."""
    (H, W), rng, yy = sc.shape, sc.rng, sc.yy
    gmask = yy >= sc.horizon
    gtex = (0.75 + 0.3 * _fbm2(rng, H, W, 14, 30, 2) + 0.15 * sc.fine)[..., None]
    if sc.biome == "desert":
        dunes = 0.9 + 0.15 * np.sin(np.arange(W)[None, :] / 23.0 + yy / 9.0)[..., None]
        ground, gl = np.array([220, 185, 120], np.float32) * gtex * dunes * sc.tint, SAND
    else:
        green = {"alpine": (95, 150, 70), "forest": (60, 120, 45), "lake": (85, 145, 60)}[sc.biome]
        ground, gl = np.array(green, np.float32) * gtex * sc.tint, GRASS
    _paint(sc.img, sc.lab, np.broadcast_to(gmask, (H, W)), ground, gl)
    np.copyto(sc.depth, np.broadcast_to(sc.ground_depth(yy), (H, W)), where=np.broadcast_to(gmask, (H, W)))
    return gtex


def _trees(sc: _Canvas) -> None:
    """Cones of fixed pixel size along the horizon (and rows in front, in forests)."""
    if sc.biome not in ("forest", "lake", "alpine"):
        return
    (H, W), rng = sc.shape, sc.rng
    density = {"forest": 0.9, "lake": 0.6, "alpine": 0.3}[sc.biome]
    rows = [sc.horizon + 2] + ([sc.horizon + 40, sc.horizon + 90, sc.horizon + 150] if sc.biome == "forest" else [])
    for row in rows:
        if row >= H + 40:
            continue
        x = rng.uniform(-10, 12)
        gap = rng.uniform(0.4, 1.0)
        while x < W + 10:
            if rng.random() < density * (0.4 + 0.6 * _smooth_gate(x, gap)):
                th, tw = rng.uniform(16, 36), rng.uniform(7, 13)
                _draw_tree(sc, x, row + rng.uniform(-3, 6), th, tw, rng)
            x += rng.uniform(4, 11)


def _rocks(sc: _Canvas) -> None:
    """Boulders on the ground (desert, alpine)."""
    if sc.biome not in ("desert", "alpine"):
        return
    (H, W), rng = sc.shape, sc.rng
    for _ in range(int(W / 64 * rng.uniform(0.5, 2.0))):
        cy = rng.uniform(sc.horizon + 8, H + 20)
        cx = rng.uniform(0, W)
        ry, rx = rng.uniform(5, 14), rng.uniform(8, 26)
        _draw_blob(sc, cy, cx, ry, rx, (120, 115, 110) if sc.biome == "alpine" else (150, 95, 60), ROCK, rng)


def _water(sc: _Canvas, gtex: np.ndarray) -> None:
    """A lake from the horizon down a varying depth, reflecting what stands above it; a sandy shore."""
    (H, W), rng, yy, horizon = sc.shape, sc.rng, sc.yy, sc.horizon
    if not (sc.biome == "lake" or (sc.biome in ("alpine", "forest") and rng.random() < 0.35)):
        return
    depth = rng.uniform(50, 180) * (0.5 + _fbm1(rng, W, 160, 3))
    wmask = (yy >= horizon) & (yy < horizon + depth[None])
    src = np.clip(2 * horizon - yy - 1, 0, H - 1).astype(np.int32)  # mirror row
    ripple = (np.sin(yy * 0.9 + np.arange(W)[None] * 0.05) * 2).astype(np.int32)
    xs = np.clip(np.arange(W)[None] + ripple, 0, W - 1)
    refl = sc.img[np.broadcast_to(src, (H, W)), xs]
    water = np.array([40, 90, 150], np.float32) * sc.tint
    wcol = 0.55 * refl + 0.45 * water
    wcol *= (0.9 + 0.2 * _value_noise(rng, H, W, 3, 24))[..., None]
    _paint(sc.img, sc.lab, wmask, wcol, WATER)
    shore = (yy >= horizon + depth[None]) & (yy < horizon + depth[None] + rng.uniform(4, 12))
    _paint(sc.img, sc.lab, shore, np.array([200, 180, 130], np.float32) * sc.tint * gtex, SAND)


def _paint(img, lab, mask, col, cls):
    """Set pixels under ``mask`` (H, W) to ``col`` (broadcastable to img) and their label."""
    np.copyto(img, np.broadcast_to(col, img.shape), where=mask[..., None])
    lab[mask] = cls


def _smooth_gate(x: float, gap: float) -> float:
    return 0.5 + 0.5 * np.sin(x / (60 * gap))


def _draw_tree(sc: _Canvas, cx, base, h, w, rng):  # a cone standing at row ``base``, at the ground's depth there
    img, lab, tint = sc.img, sc.lab, sc.tint
    H, W = lab.shape
    y0, y1 = int(max(base - h, 0)), int(min(base, H))
    x0, x1 = int(max(cx - w / 2, 0)), int(min(cx + w / 2 + 1, W))
    if y0 >= y1 or x0 >= x1:
        return
    yy = np.arange(y0, y1, dtype=np.float32)[:, None]
    xx = np.arange(x0, x1, dtype=np.float32)[None]
    half = (yy - (base - h)) / h * (w / 2)  # the cone widens towards the base
    m = np.abs(xx - cx) <= half
    g = rng.uniform(0.6, 1.0)
    col = np.array([25, 85, 35], np.float32) * g * tint
    shade = np.where(xx < cx, 1.15, 0.8)[..., None]
    region = img[y0:y1, x0:x1]
    region[m] = (col * shade * np.ones_like(region))[m]
    lab[y0:y1, x0:x1][m] = TREE
    sc.depth[y0:y1, x0:x1][m] = sc.ground_depth(base)


def _draw_blob(sc: _Canvas, cy, cx, ry, rx, rgb, cls, rng):  # a boulder standing on its flat bottom (cy + 0.4 ry)
    img, lab, tint = sc.img, sc.lab, sc.tint
    H, W = lab.shape
    y0, y1 = int(max(cy - ry, 0)), int(min(cy + ry + 1, H))
    x0, x1 = int(max(cx - rx, 0)), int(min(cx + rx + 1, W))
    if y0 >= y1 or x0 >= x1:
        return
    yy = np.arange(y0, y1, dtype=np.float32)[:, None]
    xx = np.arange(x0, x1, dtype=np.float32)[None]
    m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
    m &= yy <= cy + ry * 0.4  # flat bottom, sitting on the ground
    shade = (1.2 - 0.5 * (yy - (cy - ry)) / (2 * ry))[..., None]
    col = np.array(rgb, np.float32) * tint * shade * rng.uniform(0.8, 1.1)
    region = img[y0:y1, x0:x1]
    region[m] = np.broadcast_to(col, region.shape)[m]
    lab[y0:y1, x0:x1][m] = cls
    sc.depth[y0:y1, x0:x1][m] = sc.ground_depth(cy + ry * 0.4)


def make_scenes(out: Path, n: int, width: int, height: int, seed: int = 0, progress=None, depth: bool = False,
                edges: bool = False) -> dict:
    """Write ``n`` scenes as OUT/images/<biome>/NNNNN.png, OUT/seg/... and, when asked, OUT/depth/...
    (16-bit inverse depth, brighter = nearer) and OUT/edges/... (Canny edges of the image, 255 on an edge)."""
    out = Path(out)
    check_writable(out, "OUT")
    kinds = ["images", "seg"] + ["depth"] * depth + ["edges"] * edges
    for k, b in ((k, b) for k in kinds for b in BIOMES):
        (out / k / b).mkdir(parents=True, exist_ok=True)
    meta = {"classes": CLASSES, "palette": PALETTE, "biomes": BIOMES, "size": [width, height],
            "seed": seed, "n": n}
    (out / "classes.json").write_text(json.dumps(meta, indent=1))
    for i in range(n):
        img, lab, inv, biome = render_scene(seed, i, width, height)
        name = f"{biome}/{i:05d}.png"
        Image.fromarray(img).save(out / "images" / name)
        seg = Image.fromarray(lab, mode="P")
        seg.putpalette(palette_bytes())
        seg.save(out / "seg" / name)
        if depth:
            Image.fromarray((inv * 65535 + 0.5).astype(np.uint16)).save(out / "depth" / name)
        if edges:
            Image.fromarray(edge_map(img)).save(out / "edges" / name)
        if progress:
            progress(1)
    return meta
