"""The conditioning layout: where image codes and conditioning tokens sit in a transformer's
vocabulary and sequence. The one stored form (a checkpoint's ``layout``); the trainer, the taming
converter and the samplers all build and read it here.

A layout holds its conditions in a fixed order; their tokens are concatenated, in that order,
before the image tokens of every window. Token tensors travel as a list, one per condition (see
``base``). Checkpoints of the previous release stored a ``mode`` and ``seg_*``-style keys instead:
``from_dict`` migrates them on read.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vqtool.core.conditioning.base import Condition
from vqtool.core.conditioning.boxes import BoxLayout
from vqtool.core.conditioning.classes import ClassLabel
from vqtool.core.conditioning.coord import Coord
from vqtool.core.conditioning.lowres import LowRes
from vqtool.core.conditioning.maps import Depth, Edges
from vqtool.core.conditioning.overview import DepthOverview
from vqtool.core.conditioning.seg import Segmentation
from vqtool.core.conditioning.uncond import Uncond
from vqtool.core.errors import VqtoolError

# every kind, in the order their tokens are concatenated when a model has several
KINDS: dict[str, type[Condition]] = {c.kind: c for c in (Uncond, ClassLabel, Segmentation, Depth, DepthOverview,
                                                         Edges, LowRes, Coord, BoxLayout)}


def kind_of(name: str) -> type[Condition]:
    if name not in KINDS:
        raise VqtoolError(f"unknown conditioning kind {name!r}; known: {', '.join(KINDS)}")
    return KINDS[name]


@dataclass
class Layout:
    n_embed: int  # image codes are ids [0, n_embed)
    window: int  # training window, tokens per side
    conditions: list[Condition] = field(default_factory=list)
    # the order image tokens were fed in, when not raster (a taming permuter): sequence position k
    # holds the window's raster position order[k]; {"name": ..., "order": [...]}. Such a model
    # samples its window only: beyond it the reference defines no rule
    permuted: dict | None = None

    # ---- building ------------------------------------------------------------------------------

    @classmethod
    def for_codes(cls, n_embed: int, window: int, wanted: list[dict]) -> Layout:
        """vqtool's own layout: each condition's ids follow the image codes and the conditions
        before it. ``wanted``: records without ids, e.g. {"kind": "seg", "codebook_size": 16}."""
        conds, offset = [], n_embed
        for w in wanted:
            c = kind_of(w["kind"]).new(offset, {**w, "span": window})
            conds.append(c)
            offset += c.vocab
        return cls(n_embed, window, conds)

    @classmethod
    def for_shards(cls, manifest, window: int, class_dropout: float = 0.0, map_dropout: float = 0.0,
                   overview: int = 0, lowres_dropout: float = 0.0) -> Layout:
        """The shards' layout; a map's null is trained by map dropout, a class's by class dropout, a
        low-res image's by either map or low-res dropout; ``overview`` > 0: each map that has one is
        followed by its overview of that many cells a side."""
        drop = {True: map_dropout > 0, False: class_dropout > 0}
        wanted = []
        for c in manifest.transformer_conditions():
            kind = kind_of(c["kind"])
            wanted.append({**c, "null_trained": drop[kind.from_map] or (kind.from_coarse and lowres_dropout > 0)})
            if overview and kind.overview:
                wanted.append({**wanted[-1], "kind": kind.overview, "side": overview})
        return cls.for_codes(manifest.codebook_size, window, wanted)

    # ---- sizes ---------------------------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self.n_embed + sum(c.vocab for c in self.conditions)

    def cond_len(self, h: int | None = None, w: int | None = None) -> int:
        """Conditioning tokens before the image tokens of an h x w window (default: the training window)."""
        h, w = h or self.window, w or self.window
        return sum(c.length(h, w) for c in self.conditions)

    @property
    def block_size(self) -> int:
        """Positions a window needs: the conditioning, then window² - 1 image tokens as input."""
        return self.cond_len() + self.window ** 2 - 1

    @property
    def guidable(self) -> bool:
        return any(c.guidable for c in self.conditions)

    def guidance_problem(self) -> str:
        """Why --cfg cannot guide this model."""
        why = next((c.guidance_problem() for c in self.conditions if c.guidance_problem()), None)
        return why or ("--cfg (classifier-free guidance) needs a class model trained with class_dropout > 0 or a "
                       f"map-conditional local model trained with map_dropout > 0; this model is {self.adjective}")

    @property
    def adjective(self) -> str:
        names = [c.adjective for c in self.conditions if c.adjective]
        return (", ".join(names[:-1]) + " and " + names[-1]) if len(names) > 1 else (names or ["unconditional"])[0]

    @property
    def class_names(self) -> list | None:
        """The names of a class condition's classes, or None."""
        return next((c.classes for c in self.conditions if getattr(c, "classes", None)), None)

    @property
    def spatial(self) -> bool:
        return any(c.spatial for c in self.conditions)

    @property
    def from_coarse(self):
        """The condition whose input a coarse sample gives (a low-res image), or None."""
        return next((c for c in self.conditions if c.from_coarse), None)

    @property
    def projects(self) -> bool:
        """A decoded sample can be made to agree with an input (a low-res image: --back-project)."""
        return any(c.projects for c in self.conditions)

    def project(self, x: torch.Tensor, entry: dict, steps: int) -> torch.Tensor:
        """A decoded sample (1, 3, H, W) made to agree with the entry's inputs, ``steps`` times each."""
        for c in self.conditions:
            if c.projects and entry.get(c.kind) is not None:
                x = c.project(x, entry[c.kind], steps)
        return x

    # ---- tokens --------------------------------------------------------------------------------

    def entries(self, options: dict) -> dict:
        """One sample's conditioning from sample options ({"cond": [values of --cond], "class": name}):
        each condition reads its own option (a map kind: its ``--cond KIND=FILE``), or takes its default;
        an option no condition reads is refused."""
        taken = {c.option for c in self.conditions}
        mine = [c for c in self.conditions if not c.reads]  # an overview is made from its map's entry
        for opt, v in options.items():
            if v not in (None, [], {}) and opt not in taken:
                raise VqtoolError(f"--{opt} was given, but this model is {self.adjective} ({_NOT_TAKEN[opt]})")
        given = self.cond_values(options.get("cond"))
        out = {}
        for c in mine:
            v = given.get(c.kind) if c.option == "cond" else options.get(c.option)
            out[c.kind] = c.parse(v, self.adjective) if v is not None else c.default(self.adjective)
        return out

    def cond_values(self, values) -> dict:
        """--cond values ("KIND=FILE", or a bare FILE for a model with one map kind; a dict is taken
        as it is) by kind; a kind this model does not take, or one given twice, is refused."""
        if values is None or isinstance(values, dict):
            given = dict(values or {})
        else:
            given = {}
            mine = [c.kind for c in self.conditions if c.option == "cond"]
            for v in [values] if isinstance(values, (str, Path)) else values:
                kind, _, rest = str(v).partition("=")
                if rest and kind not in KINDS and "/" not in kind and not Path(str(v)).exists():
                    known = ", ".join(k for k, c in KINDS.items() if c.option == "cond")
                    raise VqtoolError(f"--cond {v}: unknown kind {kind!r}; known: {known} (or give a file)")
                if not rest or kind not in KINDS:  # a bare file (a path may hold '=' too)
                    if not mine:
                        raise VqtoolError(f"--cond was given, but this model is {self.adjective} ({_NOT_TAKEN['cond']})")
                    if len(mine) > 1:
                        raise VqtoolError(f"--cond {v}: this model is {self.adjective}; name each input's kind: "
                                          + " ".join(f"--cond {k}=FILE" for k in mine))
                    kind, rest = mine[0], str(v)
                if kind in given:
                    raise VqtoolError(f"--cond {kind}=... was given twice; give each kind once")
                given[kind] = rest
        mine = {c.kind for c in self.conditions if c.option == "cond"}
        for kind in given:
            if kind not in mine:
                takes = ", ".join(f"--cond {k}=FILE" for k in KINDS if k in mine) or "no --cond"
                raise VqtoolError(f"--cond {kind}=... was given, but this model is {self.adjective} (it takes {takes})")
        return given

    def size_of(self, entry: dict, size: tuple[int, int] | None) -> tuple[int, int] | None:
        """The output size (W, H): ``size`` (--size), else what the entry's maps imply; an input that
        fixes the size (a low-res image: factor x its own) refuses another."""
        for c in self.conditions:
            if c.fixed_size and entry.get(c.kind) is not None:
                need = c.size_of(entry[c.kind])
                if size is not None and tuple(size) != tuple(need):
                    raise VqtoolError(f"--size {size[0]}x{size[1]}: this model is {self.adjective} and the "
                                      f"{c.input_name} {entry[c.kind]} gives {need[0]}x{need[1]}; leave --size "
                                      f"out or give {need[0]}x{need[1]}")
                return need
        return tuple(size) if size is not None else next(
            (c.size_of(entry[c.kind]) for c in self.conditions
             if c.spatial and entry.get(c.kind) is not None and Path(entry[c.kind]).is_file()), None)

    def tokens(self, entries: list[dict], h: int, w: int, stages: dict, factor: int, cache: dict) -> list:
        """The token tensors (one per condition) of a batch of entries for an h x w grid."""
        return [c.tokens([e[c.reads or c.kind] for e in entries], h, w, stages.get(c.stage), factor, cache)
                for c in self.conditions]

    def crop(self, toks: list, r0: int, c0: int, wh: int, ww: int) -> torch.Tensor:
        """(B, L) conditioning of a window: every condition's tokens, in order."""
        return torch.cat([c.window(t, r0, c0, wh, ww) for c, t in zip(self.conditions, toks)], 1)

    def split(self, flat: torch.Tensor, h: int, w: int) -> list:
        """The token tensors of a flat (B, L) window conditioning (the inverse of ``crop``)."""
        out, i = [], 0
        for c in self.conditions:
            n = c.length(h, w)
            out.append(c.unflatten(flat[:, i:i + n], h, w))
            i += n
        return out

    def position_grids(self, toks: list, h: int, w: int, none: int) -> torch.Tensor:
        """(B, h, w+1, K) ids the local model adds at each position (one per condition, an overview's cells)."""
        return torch.cat([c.position_grid(t, h, w, none) for c, t in zip(self.conditions, toks)], -1)

    def unguided(self, toks: list) -> list:
        return [c.unguided(t, self.vocab_size) for c, t in zip(self.conditions, toks)]

    def random_tokens(self, n: int, h: int, w: int, g: torch.Generator) -> list:
        return [c.random_tokens(n, h, w, g) for c in self.conditions]

    def to(self, toks: list, device) -> list:
        return [t.to(device) for t in toks]

    def batch_of(self, toks: list) -> int:
        return toks[0].shape[0]

    def repeat(self, toks: list, n: int) -> list:
        return [t.expand(n, *t.shape[1:]) for t in toks]

    def train_tokens(self, s: dict, flip: bool, r0: int, c0: int, rng: random.Random, dropout: float,
                     center: bool, map_dropout: float = 0.0, lowres_dropout: float = 0.0) -> torch.Tensor:
        """(L,) conditioning of a training crop; ``map_dropout``: the chance its maps (a low-res image
        included) are all the null map; else ``lowres_dropout``: the chance its low-res image alone is."""
        toks = [c.train_window(s, flip, r0, c0, self.window, rng, dropout, center) for c in self.conditions]
        if map_dropout > 0 and not center and rng.random() < map_dropout:
            toks = [c.unguided(t, self.vocab_size) if c.from_map else t for c, t in zip(self.conditions, toks)]
        elif lowres_dropout > 0 and not center and rng.random() < lowres_dropout:
            toks = [c.unguided(t, self.vocab_size) if c.from_coarse else t for c, t in zip(self.conditions, toks)]
        return torch.cat(toks)

    def sample_tokens(self, samples: list[dict], h: int, w: int) -> list:
        """The token tensors of the top-left h x w window of decoded shard samples (previews)."""
        return [torch.cat([c.unflatten(c.window(c.from_sample(s, False)[None], 0, 0, h, w), h, w) for s in samples])
                for c in self.conditions]

    def memory_bytes(self, width: int, height: int, stages: dict, tile: int, factor: int) -> int:
        return sum(c.memory_bytes(width, height, getattr(stages.get(c.stage), "cfg", None), tile, factor)
                   for c in self.conditions if c.stage is None or stages.get(c.stage) is not None)

    # ---- the stored form -----------------------------------------------------------------------

    def to_dict(self) -> dict:
        d = {"n_embed": self.n_embed, "window": self.window, "conditions": [c.record() for c in self.conditions]}
        return d | ({"permuted": self.permuted} if self.permuted else {})

    @classmethod
    def from_dict(cls, d: dict, class_dropout: float = 0.0) -> Layout:
        """The stored layout; a previous release's (``mode`` and its keys) is migrated."""
        if "conditions" in d:
            return cls(d["n_embed"], d["window"], [kind_of(c["kind"]).from_record(c) for c in d["conditions"]],
                       d.get("permuted"))
        return cls(d["n_embed"], d["window"], [_migrate(d, class_dropout)])

    def check_grid(self, h: int, w: int) -> None:
        """Refuse a grid a permuted model, or one of a window-only condition, cannot sample (one message)."""
        W = self.window
        if (h, w) == (W, W):
            return
        if self.permuted:
            raise VqtoolError(f"this model feeds its tokens in taming's {self.permuted['name']} order, which is "
                              f"defined on its {W}x{W}-token window only (the reference has no rule beyond it): "
                              f"sample {W}x{W} tokens (--size of the window in pixels), not {w}x{h}")
        for c in self.conditions:
            if c.window_only:
                raise VqtoolError(f"this model takes its {c.input_name} in taming's layout, one grid per "
                                  f"{W}x{W}-token window (the reference has no rule beyond it): sample {W}x{W} "
                                  f"tokens, not {w}x{h}")

    def describe(self) -> dict:
        return {"conditioning": ", ".join(c.kind for c in self.conditions) or "none", "window": self.window}


def synthetic(kind: str, n_embed: int) -> dict:
    """A condition record of a kind for a benchmark on random tokens (no dataset behind it)."""
    return {"kind": kind_of(kind).kind, "codebook_size": n_embed, "classes": [str(i) for i in range(10)], "factor": 4}


_NOT_TAKEN = {"class": "it has no classes",
              "cond": "it takes no segmentation or other map, no low-resolution image and no box layout"}


def _migrate(d: dict, class_dropout: float) -> Condition:
    """The one condition of a previous release's layout record (mode uncond | class | seg)."""
    mode, offset, vocab = d["mode"], d.get("cond_offset", 0), d.get("cond_vocab", 1)
    if mode == "seg":
        return Segmentation(offset=offset, vocab=vocab, label_classes=d.get("label_classes"), palette=d.get("palette"))
    if mode == "class":
        return ClassLabel(offset=offset, vocab=vocab, classes=d.get("classes"), null=d.get("null_class"),
                          null_trained=class_dropout > 0)
    return Uncond(offset=offset, vocab=vocab, token=d.get("sos", 0))
