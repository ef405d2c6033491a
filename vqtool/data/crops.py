"""Training crops of images or label maps, addressed by data position so that a resumed run sees
exactly the batches an uninterrupted one would."""

from __future__ import annotations

import random

import torch
from PIL import Image

from vqtool.core.errors import DataError
from vqtool.core.tokenizer.inputs import INPUTS
from vqtool.data.images import resize_short


class CropDataset(torch.utils.data.Dataset):
    """Training crops of images (or of what ``inp`` reads: label maps, depth maps): shorter side resized, random
    (or centre) crop of ``size``, random horizontal flip.

    Items are addressed by ``(index, aug_seed)`` so that augmentation is a pure function of the
    data position: a resumed run sees exactly the batches an uninterrupted one would.
    """

    def __init__(self, files, size: int, resize: int = 0, random_crop: bool = True,
                 flip: bool = True, inp=None, palette=None):
        self.files, self.size, self.resize = list(files), size, resize
        self.random_crop, self.flip, self.palette = random_crop, flip, palette
        self.inp = inp or INPUTS["image"]  # what the files are: images, label maps, one-channel maps

    def __len__(self):
        return len(self.files)

    def load(self, i: int, rng: random.Random | None = None):
        """Item i alone (no fallback to the next file): its tensor and whether it was upscaled; DataError
        when it cannot be read. ``rng`` draws the crop and flip (None: only with neither random)."""
        path = self.files[i]
        im, resample = self.inp.load(path, self.palette)
        upscaled = False
        short = self.resize or 0
        if min(im.size) < self.size:
            short, upscaled = max(short, self.size), True
        if short and short != min(im.size):
            im = resize_short(im, short, resample)
        w, h = im.size
        if self.random_crop:
            x0, y0 = rng.randint(0, w - self.size), rng.randint(0, h - self.size)
        else:
            x0, y0 = (w - self.size) // 2, (h - self.size) // 2
        im = im.crop((x0, y0, x0 + self.size, y0 + self.size))
        if self.flip and rng.random() < 0.5:
            im = im.transpose(Image.FLIP_LEFT_RIGHT)
        return self.inp.as_tensor(im), upscaled

    def __getitem__(self, key):
        i, seed = key
        failed = []
        for attempt in range(len(self.files)):
            j = (i + attempt) % len(self.files)
            try:
                x, up = self.load(j, random.Random(seed))
                return {"x": x, "upscaled": str(self.files[j]) if up else None, "failed": failed}
            except DataError as e:
                failed.append((str(self.files[j]), str(e).split(": ", 1)[-1]))
        raise DataError("no image in the dataset could be read")


def collate(items: list[dict]) -> dict:
    return {
        "x": torch.stack([it["x"] for it in items]),
        "upscaled": [it["upscaled"] for it in items if it["upscaled"]],  # paths: counted per image
        "failed": [f for it in items for f in it["failed"]],
    }


class StepBatches(torch.utils.data.Sampler):
    """Batches of ``(index, aug_seed)`` for steps ``start, start+1, ...``: each epoch is a seeded
    permutation and each rank takes its slice of the global batch."""

    def __init__(self, n: int, batch: int, seed: int, start_step: int, max_steps: int,
                 rank: int = 0, world: int = 1):
        self.n, self.batch, self.seed = n, batch, seed
        self.start, self.stop, self.rank, self.world = start_step, max_steps, rank, world
        self._perm_epoch, self._perm = -1, None

    def _perm_for(self, epoch: int) -> torch.Tensor:
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(self.seed * 100003 + epoch)
            self._perm, self._perm_epoch = torch.randperm(self.n, generator=g), epoch
        return self._perm

    def __len__(self):
        return max(self.stop - self.start, 0)

    def __iter__(self):
        gb = self.batch * self.world
        for step in range(self.start, self.stop):
            out = []
            for j in range(self.batch):
                pos = step * gb + self.rank * self.batch + j
                idx = int(self._perm_for(pos // self.n)[pos % self.n])
                out.append((idx, self.seed * 1000003 + pos))
            yield out
