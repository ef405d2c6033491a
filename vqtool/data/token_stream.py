"""The order in which one rank reads the training samples of token shards, streamed.

Epoch e visits the shards in a seeded permutation; each rank takes every world-th shard of it
(or, with fewer non-empty shards than ranks, every world-th sample), and the samples pass
through a seeded shuffle buffer that empties at the end of the epoch. Memory is the buffer
(raw bytes), whatever the dataset's size.

The stream is a pure function of (seed, rank, world, buffer) and the shard list, and endless.
Position p (samples read by this rank so far) maps to (epoch, offset) from the per-shard
counts alone, so a resumed run jumps to its epoch and replays at most one epoch's reads,
without decoding, to rebuild the buffer: exact resume with nothing stored but the step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from vqtool.core.errors import DataError
from vqtool.data import shards as sh
from vqtool.data import tars


def grid_size(name: str) -> tuple[int, int]:
    h, w = name.split("x")
    return int(h), int(w)


def shard_stats(folder: Path, entries: list[dict]) -> list[dict]:
    """Per shard: sample count, grid sizes, code counts and example paths per grid size, from
    the sidecars (shards written before sidecars held them are read once)."""
    out = []
    for e in entries:
        path = Path(folder) / e["name"]
        if not path.is_file():
            raise DataError(f"shard {path} listed in the manifest is missing")
        side = sh.shard_done(path) or {}
        if "grids" not in side:
            got = sh.read_shard(path)
            side = {**side, **sh.grid_stats(got), "count": len(got)}
        if side.get("count", e["count"]) != e["count"]:
            raise DataError(f"shard {path} holds {side['count']} samples; the manifest says {e['count']} "
                            "(truncated or replaced?)")
        out.append({"path": str(path), "count": e["count"], "grids": side["grids"],
                    "code_counts": side["code_counts"], "examples": side.get("grid_examples", {})})
    return out


@dataclass
class Position:
    epoch: int
    offset: int  # samples of that epoch already read by this rank


class RankStream:
    """The endless, seeded sample order of one rank over shards with ``counts`` usable samples each."""

    def __init__(self, paths: list[str], counts: list[int], seed: int, rank: int = 0, world: int = 1,
                 buffer: int = 2000, keep: Callable[[dict], bool] = lambda s: True):
        if sum(counts) == 0:
            raise DataError("the shards hold no usable training sample")
        self.paths, self.counts, self.seed = paths, counts, seed
        self.rank, self.world, self.buffer, self.keep = rank, world, max(buffer, 1), keep
        # shard-level split needs a non-empty shard for every rank; otherwise split samples
        self.by_shard = world == 1 or sum(c > 0 for c in counts) >= world

    def _rng(self, *parts: int) -> random.Random:
        # a string seed: the same stream in every process (hash() of a tuple would not be)
        return random.Random(f"{self.seed}:{':'.join(map(str, parts))}")

    def shards_of(self, epoch: int) -> list[int]:
        order = list(range(len(self.paths)))
        self._rng(0, epoch).shuffle(order)  # the same on every rank
        return order[self.rank::self.world] if self.by_shard else order

    def epoch_size(self, epoch: int) -> int:
        if self.by_shard:
            return sum(self.counts[i] for i in self.shards_of(epoch))
        total = sum(self.counts)
        return len(range(self.rank, total, self.world))

    def locate(self, pos: int) -> Position:
        epoch = 0
        while pos >= (n := self.epoch_size(epoch)):
            if n == 0 and self.by_shard and epoch > 10_000 + len(self.paths):
                raise DataError("this rank's shards hold no usable sample")
            pos -= n
            epoch += 1
        return Position(epoch, pos)

    def _reads(self, epoch: int) -> Iterator[dict]:
        """This rank's usable samples of one epoch in shard order, raw."""
        k = 0
        for i in self.shards_of(epoch):
            n = 0
            for s in tars.samples(self.paths[i]):
                if not self.keep(s):
                    continue
                n += 1
                if self.by_shard or k % self.world == self.rank:
                    yield s
                k += 1
            if n != self.counts[i]:
                raise DataError(f"shard {self.paths[i]} gave {n} usable samples; its sidecar says "
                                f"{self.counts[i]} (replaced or truncated?): rerun `vqtool tokenize`")

    def _epoch(self, epoch: int) -> Iterator[dict]:
        """One epoch through the shuffle buffer."""
        rng, buf = self._rng(1, self.rank, epoch), []
        for s in self._reads(epoch):
            if len(buf) < self.buffer:
                buf.append(s)
                continue
            j = rng.randrange(self.buffer)
            yield buf[j]
            buf[j] = s
        rng.shuffle(buf)
        yield from buf

    def __call__(self, start: int = 0) -> Iterator[tuple[int, dict]]:
        """(position, raw sample) from position ``start`` on, forever."""
        at = self.locate(start)
        pos, epoch = start - at.offset, at.epoch
        while True:
            for s in self._epoch(epoch):
                if pos >= start:
                    yield pos, s
                pos += 1
            epoch += 1


def decode(raw: dict) -> dict:
    """A raw token sample's fields as arrays / ints / dicts (see ``shards``)."""
    out = {"__key__": raw["__key__"]}
    for field, data in raw.items():
        if field != "__key__":
            out[field] = sh.decode_field(field, data)
    return out


def grid_of(raw: dict) -> tuple[int, int]:
    """The token grid's shape from the .npy header, without reading the array."""
    import io

    from numpy.lib import format as npf

    f = io.BytesIO(raw["tokens.npy"])
    major, _ = npf.read_magic(f)
    read = npf.read_array_header_1_0 if major == 1 else npf.read_array_header_2_0
    shape = read(f)[0]
    return int(shape[0]), int(shape[1])
