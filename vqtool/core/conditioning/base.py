"""The interface every conditioning kind implements. A condition is whatever becomes tokens placed
before the image tokens; the rest of vqtool asks the object, never its name.

Token tensors: a *spatial* condition (one token per grid position, cropped with the image) holds
(B, h, w) ids; any other holds (B, 1). Ids include the condition's ``offset`` in the vocabulary.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, fields
from typing import ClassVar

import numpy as np
import torch

from vqtool.core.errors import VqtoolError


@dataclass
class Condition:
    """One conditioning kind, with its stored record as fields. Subclasses register by ``kind``."""

    kind: ClassVar[str] = ""
    adjective: ClassVar[str] = ""  # "segmentation-conditional": how messages name a model of this kind
    option: ClassVar[str | None] = None  # the sample option that gives it: "cond", "class", or none
    spatial: ClassVar[bool] = False  # one token per position (else one per sample)
    stage: ClassVar[str | None] = None  # what its cond-stage VQGAN encodes, when it has one
    field: ClassVar[str | None] = None  # its member in a shard sample ("cond.npy", "cls")
    input_name: ClassVar[str] = ""  # what its inputs are called in messages ("label map")
    job_names: ClassVar[dict] = {}  # its keys in a tokenize job record (job.json) -> how the user names them
    scene_folder: ClassVar[str | None] = None  # where make-scenes writes its inputs, beside images/ (seg, depth)
    fixed_size: ClassVar[bool] = False  # its input fixes the output size (a low-res image), not just suggests it
    from_coarse: ClassVar[bool] = False  # its input is the output itself made small: a coarse sample can give it
    projects: ClassVar[bool] = False  # a decoded sample can be made to agree with its input (``project``)
    taming_key: ClassVar[str | None] = None  # taming's cond_stage_key for a VQGAN cond stage of this kind
    usage: ClassVar[str] = ""  # how `vqtool sample` gives it ("--cond seg=labels.png"); "" when nothing is given
    local_ok: ClassVar[bool] = True  # the local transformer can take it (one token per position)
    from_map: ClassVar[bool] = False  # its tokens come from a map: map dropout replaces them with the null map
    overview: ClassVar[str | None] = None  # the kind of its overview (a recipe's ``overview`` adds it), if any
    reads: ClassVar[str | None] = None  # the kind whose entry (input) it is made from, when not its own (an overview)

    offset: int = 0  # its first id in the transformer's vocabulary
    vocab: int = 0  # the ids it adds after the image codes (0: taming's shared ids)

    # ---- the stored form -----------------------------------------------------------------------------

    def record(self) -> dict:
        return {"kind": self.kind, **asdict(self)}

    @classmethod
    def from_record(cls, d: dict) -> Condition:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def describe(self) -> dict:
        """What `vqtool info` prints of it."""
        return {"kind": self.kind}

    # ---- sizes -------------------------------------------------------------------------------------

    @property
    def window_only(self) -> bool:
        """It is defined on the training window only (a converted taming layout): no sampling beyond it."""
        return False

    def length(self, h: int, w: int) -> int:
        """Its tokens in an h x w window."""
        return h * w if self.spatial else 1

    @property
    def guidable(self) -> bool:
        """Classifier-free guidance applies (a trained null token exists)."""
        return False

    def guidance_problem(self) -> str | None:
        """Why guidance would apply to this kind but cannot for this model, or None."""
        return None

    @classmethod
    def new(cls, offset: int, wanted: dict) -> Condition:
        """The condition of a new model (vqtool's own layout), its ids from ``offset`` on."""
        raise NotImplementedError

    def set_entries(self, n: int, inputs: list | None) -> list:
        """Entries of an n-sample set for FID (``inputs``: the files of a spatial condition)."""
        raise NotImplementedError

    # ---- sampling inputs ---------------------------------------------------------------------------

    def parse(self, value, model: str):
        """A sample option's value (a path, a class name) as this condition's entry; ``model``
        names the model in messages."""
        raise VqtoolError(f"this model is {model} and takes no --{self.option or 'cond'}")

    def default(self, model: str):
        """The entry when no option gives one (a start token, a null class), or a message."""
        raise VqtoolError(f"this model is {model}: give --{self.option}")

    def tokens(self, entries: list, h: int, w: int, stage, factor: int, cache: dict) -> torch.Tensor:
        """Token ids of a batch of entries for an h x w grid (spatial: (B, h, w), else (B, 1))."""
        raise NotImplementedError

    def random_tokens(self, n: int, h: int, w: int, g: torch.Generator) -> torch.Tensor:
        """Tokens of n samples of one random conditioning (benchmarks)."""
        return self.tokens([self.default("")] * n, h, w, None, 1, {})

    def size_of(self, entry) -> tuple[int, int] | None:
        """The output size (W, H) an entry implies (a map's own size), or None."""
        return None

    def read(self, path, size: tuple[int, int], channels: int) -> torch.Tensor:
        """A spatial condition's input file as an (H, W) map at ``size`` (W, H)."""
        raise NotImplementedError

    def project(self, x: torch.Tensor, entry, steps: int) -> torch.Tensor:
        """A decoded sample (1, 3, H, W) in [-1, 1] made to agree with this entry (``projects``)."""
        return x

    def memory_bytes(self, width: int, height: int, stage_cfg, tile: int, factor: int) -> int:
        """What turning one entry into tokens for a width x height image takes (the label map)."""
        return 0

    # ---- windows -----------------------------------------------------------------------------------

    def window(self, t: torch.Tensor, r0: int, c0: int, wh: int, ww: int) -> torch.Tensor:
        """(B, L) tokens of the window (r0, c0, wh, ww): a spatial condition is cut with the image."""
        if self.spatial:
            return t[:, r0:r0 + wh, c0:c0 + ww].reshape(t.shape[0], -1)
        return t

    def unflatten(self, flat: torch.Tensor, h: int, w: int) -> torch.Tensor:
        """The inverse of ``window`` for a whole h x w window."""
        return flat.reshape(flat.shape[0], h, w) if self.spatial else flat

    def position_grid(self, t: torch.Tensor, h: int, w: int, none: int) -> torch.Tensor:
        """(B, h, w+1, k) ids the local model adds at each position (k = 1 but for an overview): a spatial
        condition its own token (``none`` in the extra last column), another its token everywhere."""
        B = t.shape[0]
        if self.spatial:
            return torch.cat([t.long(), torch.full((B, h, 1), none, dtype=torch.long, device=t.device)], 2)[..., None]
        return t.long().view(B, 1, 1, -1).expand(B, h, w + 1, t.shape[1])

    def unguided(self, t: torch.Tensor, none: int) -> torch.Tensor:
        """The twin for classifier-free guidance (a class: the null class; a map trained with map
        dropout: ``none``, the local model's id of no token, everywhere; others: unchanged)."""
        return t

    # ---- training ----------------------------------------------------------------------------------

    def from_sample(self, s: dict, flip: bool) -> torch.Tensor:
        """Its tokens of a decoded shard sample (spatial: (h, w), else (1,))."""
        raise NotImplementedError

    def train_window(self, s: dict, flip: bool, r0: int, c0: int, W: int, rng: random.Random, dropout: float,
                     center: bool) -> torch.Tensor:
        """(L,) tokens of a training crop; ``rng`` draws what the kind itself randomises."""
        return self.window(self.from_sample(s, flip)[None], r0, c0, W, W)[0]

    # ---- tokenize: a condition tokenized beside the images (a spatial kind with a cond stage) ------

    @classmethod
    def for_job(cls, value, stage_ckpt: dict) -> Condition:
        """The condition of a tokenize job from what ``--cond KIND=VALUE`` gives (a folder of inputs, a
        low-res factor) and its VQGAN's checkpoint."""
        raise NotImplementedError

    def find_input(self, folder, rel):
        """The input file of the image at relative path ``rel``, or None."""
        raise NotImplementedError

    def read_input(self, path, where: dict, channels: int) -> torch.Tensor | None:
        """An image's input brought to the image's preparation ``where`` (data.images.fit); SkipInput
        skips the image, a VqtoolError stops the job."""
        raise NotImplementedError

    def encode_inputs(self, stage, batch: torch.Tensor | None, flip: bool, images: torch.Tensor) -> dict:
        """Shard fields (its ``field`` and the mirrored one) of a batch of prepared inputs (None for a
        kind made from the images themselves) beside the batch's prepared ``images`` (B, 3, H, W)."""
        raise NotImplementedError

    def job_keys(self, fingerprint: str, folder) -> dict:
        """Its part of a tokenize job record (job.json), keyed as ``job_names``."""
        raise NotImplementedError


class SkipInput(Exception):
    """An image whose condition input is unusable (missing, of another size): skipped and reported."""


def as_ids(a: np.ndarray, offset: int) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a).astype(np.int64)) + offset
