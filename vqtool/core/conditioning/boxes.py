"""A box layout: objects as a class and a box each, the conditioning of taming's scene models
(COCO and Open Images, ``DummyCondStage`` with ``ObjectsBoundingBoxConditionalBuilder`` or the
centre-point one).

Per object a class token (its class id, plus ``n_classes`` times a flag word: 1 group, 2 occluded,
4 depiction, 8 inside) and its box as two tokens on an S x S grid of points (S = isqrt(grid_tokens);
a point is row * S + column, each rounded from x (S - 1)), or one centre-point token. Up to
``max_objects`` objects, padded with the "none" token (grid_tokens - 1), then two tokens for the crop
the image is of the whole (encode_crop). The tokens are the same for every position of a window but
differ between windows: each window keeps the objects that touch it and names its own crop, as the
reference's training crops did, so a model with encode_crop samples beyond its window.

An entry is a tuple of objects (representation, x, y, w, h), boxes relative to the whole image.
Token tensors: (B, nr, nc, L), the tokens of the window at every start (r0, c0) of the grid.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from vqtool.core.conditioning.base import Condition, SkipInput
from vqtool.core.conditioning.box_files import find_layout, layout_for_job, load_json_list, prepared_objects
from vqtool.core.errors import VqtoolError

FULL = (0.0, 0.0, 1.0, 1.0)
FLAGS = {"group": 1, "occluded": 2, "depiction": 4, "inside": 8}  # taming's modifier bits
STORED = 65535  # boxes are stored in shards as fractions of this (uint16)


def overlap(a, b) -> float:
    """Intersection area of two (x, y, w, h) boxes (taming's ``intersection_area``)."""
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    return max(0.0, min(ax1, bx1) - max(a[0], b[0])) * max(0.0, min(ay1, by1) - max(a[1], b[1]))


def in_crop(box, crop) -> tuple:
    """A box relative to ``crop``, clamped to it (taming's ``rescale_annotations``, unflipped)."""
    x0 = min(max((box[0] - crop[0]) / crop[2], 0.0), 1.0)
    y0 = min(max((box[1] - crop[1]) / crop[3], 0.0), 1.0)
    return x0, y0, min(box[2] / crop[2], 1 - x0), min(box[3] / crop[3], 1 - y0)


@dataclass
class BoxLayout(Condition):
    kind = "layout"
    usage = "--layout boxes.json"
    adjective = "layout-conditional"
    option = "cond"  # --cond layout=boxes.json, or sample --layout boxes.json
    field = "layout.npy"
    input_name = "box layout"
    local_ok = False
    job_names = {"layout_inputs": "the box layouts (--cond layout=...)"}

    classes: list | None = None  # class names, by id
    n_classes: int = 0  # what the flag word multiplies (taming: the dataset's class count)
    max_objects: int = 30
    grid_tokens: int = 8192  # taming's no_tokens: the point grid is isqrt(grid_tokens)², the last id "none"
    points: bool = False  # one centre-point token per object (objects_center_points) instead of two corners
    group: bool = True  # use_group_parameter
    extra: bool = False  # use_additional_parameters: occluded, depiction, inside
    crop: bool = True  # encode_crop: boxes stay relative to the whole image, two crop tokens follow
    span: int = 16  # the training window, tokens per side: what a crop is of the grid

    @classmethod
    def new(cls, offset: int, wanted: dict) -> BoxLayout:
        names = {f: wanted[f] for f in ("classes", "n_classes", "max_objects", "grid_tokens", "points", "group",
                                        "extra", "crop", "span") if f in wanted}
        c = cls(offset=offset, **names)
        c.vocab = c.grid_tokens
        return c

    def describe(self) -> dict:
        return {"kind": self.kind, "classes": self.n_classes, "objects": self.max_objects,
                "tokens": "centre points" if self.points else "boxes", "crop": self.crop}

    # ---- the builder (taming/data/conditional_builder) --------------------------------------------

    @property
    def none(self) -> int:
        return self.grid_tokens - 1

    def length(self, h: int, w: int) -> int:
        return self.max_objects * (2 if self.points else 3) + (2 if self.crop else 0)

    def point(self, x: float, y: float) -> int:
        s = math.isqrt(self.grid_tokens)
        return int(round(y * (s - 1))) * s + int(round(x * (s - 1)))

    def build(self, objects, crop=FULL) -> list[int]:
        """The tokens (without the offset) of the objects seen through ``crop`` (x, y, w, h), in order."""
        kept = [o for o in objects[:self.max_objects] if overlap(o[1:], crop) > 0.0]
        frame, extra = (FULL, [self.point(crop[0], crop[1]), self.point(crop[0] + crop[2], crop[1] + crop[3])]) \
            if self.crop else (crop, [])
        out = []
        for rep, *box in kept:
            x, y, w, h = in_crop(box, frame)
            out += [rep, self.point(x + w / 2, y + h / 2)] if self.points else \
                [rep, self.point(x, y), self.point(x + w, y + h)]
        return out + [self.none] * (self.length(1, 1) - len(extra) - len(out)) + extra

    def crops(self, h: int, w: int):
        """(r0, c0, crop) of every window start of an h x w grid."""
        Wh, Ww = min(h, self.span), min(w, self.span)
        for r0 in range(h - Wh + 1):
            for c0 in range(w - Ww + 1):
                yield r0, c0, (c0 / w, r0 / h, Ww / w, Wh / h)

    # ---- sampling --------------------------------------------------------------------------------

    def parse(self, value, model: str) -> tuple:
        """A layout file's objects, or (the API) the list of objects itself."""
        return self.read_objects(value if isinstance(value, list) else Path(value), strict=True)

    def default(self, model: str):
        raise VqtoolError(f"this model is {model}: give a box layout with --layout boxes.json (a JSON list of "
                          '{"class": NAME or id, "box": [x, y, w, h]} relative to the image)')

    def set_entries(self, n: int, inputs: list | None) -> list:
        raise VqtoolError("eval-fid does not sample layout-conditional models yet (it has no layouts to draw "
                          "from): sample them with vqtool sample --layout boxes.json")

    def tokens(self, entries: list, h: int, w: int, stage, factor: int, cache: dict) -> torch.Tensor:
        nr, nc = h - min(h, self.span) + 1, w - min(w, self.span) + 1
        out = torch.empty(len(entries), nr, nc, self.length(h, w), dtype=torch.long)
        for b, e in enumerate(entries):
            for r0, c0, crop in self.crops(h, w):
                out[b, r0, c0] = torch.tensor(self.build(e, crop))
        return out + self.offset

    def random_tokens(self, n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
        r = torch.rand(3, 4, generator=g, dtype=torch.float64).tolist()
        objs = tuple((k % max(self.n_classes, 1), a * 0.5, b * 0.5, 0.1 + c * 0.4, 0.1 + d * 0.4)
                     for k, (a, b, c, d) in enumerate(r))
        return self.tokens([objs], h, w, None, 1, {}).expand(n, -1, -1, -1)

    def window(self, t: torch.Tensor, r0: int, c0: int, wh: int, ww: int) -> torch.Tensor:
        return t[:, r0, c0]

    def unflatten(self, flat: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return flat[:, None, None]

    def position_grid(self, t, h, w, none):
        raise VqtoolError("the local transformer takes no box layouts: train a layout model with the paper's GPT")

    # ---- training --------------------------------------------------------------------------------

    def stored(self, s: dict, flip: bool) -> list:
        """The objects of a shard sample (relative to its image; mirrored when ``flip``)."""
        a = np.asarray(s[self.field]).astype(np.int64)
        objs = [(int(r[0]) - 1, *(float(v) / STORED for v in r[1:])) for r in a if r[0] > 0]
        return [(o[0], 1 - o[1] - o[3], *o[2:]) if flip else o for o in objs]

    def from_sample(self, s: dict, flip: bool) -> torch.Tensor:
        return torch.tensor(self.build(self.stored(s, flip)))[None, None] + self.offset

    def train_window(self, s: dict, flip: bool, r0: int, c0: int, W: int, rng: random.Random, dropout: float,
                     center: bool) -> torch.Tensor:
        h, w = s["tokens.npy"].shape
        objs = self.stored(s, flip)
        rng.shuffle(objs)  # as the reference: the model learns the objects in any order
        return torch.tensor(self.build(objs, (c0 / w, r0 / h, min(W, w) / w, min(W, h) / h))) + self.offset

    # ---- the user's files --------------------------------------------------------------------------

    def read_objects(self, path: Path, strict: bool) -> tuple:
        """The objects of a layout file ([{"class", "box": [x, y, w, h]}, ...] relative to the image);
        ``strict`` (sampling): more than max_objects, an unknown class or a box outside is one message."""
        items, path = (path, "(given)") if isinstance(path, list) else (load_json_list(path), path)
        if strict and len(items) > self.max_objects:
            raise VqtoolError(f"box layout {path} has {len(items)} objects; this model takes at most {self.max_objects}")
        return tuple(self.parse_object(o, k, path) for k, o in enumerate(items))

    def parse_object(self, o, k: int, path) -> tuple:
        if not isinstance(o, dict) or "class" not in o or "box" not in o:
            raise VqtoolError(f'box layout {path}, object {k}: give {{"class": NAME or id, "box": [x, y, w, h]}}')
        names = self.classes or [str(i) for i in range(self.n_classes)]
        c = o["class"]
        cls = names.index(c) if c in names else int(c) if isinstance(c, int) and 0 <= c < len(names) else None
        if cls is None:
            shown = ", ".join(f"{i}={n}" for i, n in enumerate(names[:20])) + (", …" if len(names) > 20 else "")
            raise VqtoolError(f"box layout {path}, object {k}: unknown class {c!r}; classes: {shown}")
        box = o["box"]
        ok = isinstance(box, list) and len(box) == 4 and all(isinstance(v, (int, float)) for v in box)
        if not ok or box[2] <= 0 or box[3] <= 0 or min(box[:2]) < 0 or box[0] + box[2] > 1 + 1e-6 \
                or box[1] + box[3] > 1 + 1e-6:
            raise VqtoolError(f"box layout {path}, object {k}: box {box} is not inside the image; boxes are "
                              "[x, y, w, h] relative to the image (0..1), w and h > 0")
        used = {"group": self.group, "occluded": self.extra, "depiction": self.extra, "inside": self.extra}
        mod = sum(bit for name, bit in FLAGS.items() if used[name] and o.get(name))
        return (cls + self.n_classes * mod, *(float(v) for v in box))

    # ---- tokenize: a JSON beside each image, or COCO-style annotations ----------------------------

    @classmethod
    def for_job(cls, value, stage_ckpt: dict) -> BoxLayout:
        return layout_for_job(cls, Path(value))

    def find_input(self, folder, rel):
        return find_layout(self, Path(folder), Path(rel))

    def read_input(self, path, where: dict, channels: int) -> torch.Tensor:
        objs = prepared_objects(self, path, where)
        if len(objs) > self.max_objects:
            raise SkipInput(f"its box layout has {len(objs)} objects, more than {self.max_objects}")
        a = torch.zeros(self.max_objects, 5, dtype=torch.long)
        for k, (rep, *box) in enumerate(objs):
            a[k] = torch.tensor([rep + 1, *(round(v * STORED) for v in box)])
        return a

    def encode_inputs(self, stage, batch, flip: bool, images) -> dict:
        return {self.field: batch}  # stored as boxes; the mirror is made when training

    def job_keys(self, fingerprint: str, folder) -> dict:
        return {"layout_inputs": str(Path(folder).resolve())}

