"""LlamaGen's VQ tokenizers (``vq_ds16_c2i.pt``, ``vq_ds8_c2i.pt``: ``{"model": state_dict}``) as vqtool
VQGANs, so vqtool transformers can train on the best open VQGAN-style tokenizer.

LlamaGen's ``tokenizer/tokenizer_image/vq_model.py`` is taming's VQGAN with other names and fixed
choices: levels are ``conv_blocks.{i}.res`` (the decoder's in the order it runs them, lowest resolution
first), the middle is a list (resnet, attention, resnet), attention sits at the lowest resolution only,
GroupNorm has 32 groups, and the codebook is l2-normalised (cosine nearest neighbour, 8-d codes), which
vqtool's quantizer has as ``l2_norm``. The file is read with ``weights_only=True`` (no code runs)."""

from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import torch

from vqtool.core.config import QuantizerConfig, VQGANModelConfig, to_dict
from vqtool.core.errors import CheckpointError, check_writable
from vqtool.core.io import checkpoint as ck

_MARK = "encoder.conv_blocks.0.res.0.conv1.weight"


def _state(path: Path) -> dict | None:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, OSError):
        return None
    sd = obj.get("model") if isinstance(obj, dict) else None
    return sd if isinstance(sd, dict) and _MARK in sd else None


def is_llamagen(path: Path) -> bool:
    return Path(path).is_file() and Path(path).suffix != ".ckpt" and _state(Path(path)) is not None


def _levels(sd: dict, part: str) -> int:
    return len({m.group(1) for k in sd if (m := re.match(rf"{part}\.conv_blocks\.(\d+)\.", k))})


def config_of(sd: dict) -> VQGANModelConfig:
    """The VQGAN a LlamaGen state dict is (its widths, levels, blocks and codebook read from the shapes)."""
    ch, L = sd["encoder.conv_in.weight"].shape[0], _levels(sd, "encoder")
    mult = [sd[f"encoder.conv_blocks.{i}.res.0.conv2.weight"].shape[0] // ch for i in range(L)]
    nrb = len({m.group(1) for k in sd if (m := re.match(r"encoder\.conv_blocks\.0\.res\.(\d+)\.", k))})
    emb = sd["quantize.embedding.weight"]
    res = 256  # nominal: attention at the lowest resolution, whatever the input size
    return VQGANModelConfig(in_channels=sd["encoder.conv_in.weight"].shape[1],
                            out_channels=sd["decoder.conv_out.weight"].shape[0], ch=ch, ch_mult=mult,
                            num_res_blocks=nrb, attn_resolutions=[res // 2 ** (L - 1)], resolution=res,
                            z_channels=sd["encoder.conv_out.weight"].shape[0], dropout=0.0, norm_groups=32,
                            quantizer=QuantizerConfig(n_embed=emb.shape[0], embed_dim=emb.shape[1], l2_norm=True))


def _key(k: str, L: int) -> str | None:
    """A LlamaGen key as vqtool names it (None: LlamaGen's usage buffer, not part of the model)."""
    if k == "quantize.codebook_used":
        return None
    k = re.sub(r"^encoder\.conv_blocks\.(\d+)\.res\.", r"encoder.down.\1.block.", k)
    k = re.sub(r"^encoder\.conv_blocks\.(\d+)\.", r"encoder.down.\1.", k)
    k = re.sub(r"^decoder\.conv_blocks\.(\d+)\.", lambda m: f"decoder.up.{L - 1 - int(m.group(1))}.", k)
    k = re.sub(r"^decoder\.up\.(\d+)\.res\.", r"decoder.up.\1.block.", k)
    return re.sub(r"^(encoder|decoder)\.mid\.(\d)\.", lambda m: f"{m.group(1)}.mid." +
                  ("block_1", "attn_1", "block_2")[int(m.group(2))] + ".", k)


def from_llamagen(path: Path, out: Path) -> dict:
    from vqtool.core.tokenizer.vqgan import VQGAN

    check_writable(out, "--out", folder=False)
    sd = _state(Path(path))
    cfg = config_of(sd)
    m = VQGAN(cfg)
    mine = m.state_dict()
    state = {k2: v for k, v in sd.items() if (k2 := _key(k, len(cfg.ch_mult))) is not None}
    missing = [k for k in mine if k not in state and not k.startswith("quantize.")]
    unexpected = [k for k in state if k not in mine]
    if missing or unexpected:
        raise CheckpointError(f"{path} is not a LlamaGen VQ model vqtool can read (missing {missing[:3]}, "
                              f"unexpected {unexpected[:3]})")
    for k in mine:
        state.setdefault(k, mine[k])  # the quantizer's training bookkeeping: fresh
    m.load_state_dict(state)
    recipe = {"kind": "vqgan", "model": to_dict(cfg), "data": {"size": cfg.resolution, "resize": 0}}
    ck.save_checkpoint(out, {"format": ck.VQGAN, "encodes": "image", "config": recipe, "model": m.state_dict(),
                             "step": 0, "data": None,
                             "provenance": {**ck.provenance(), "converted_from": str(Path(path).resolve())}})
    return {"kind": "vqgan", "from": "LlamaGen", "out": str(out), "codebook": f"{cfg.quantizer.n_embed} x "
            f"{cfg.quantizer.embed_dim} (l2)", "factor": cfg.factor,
            "params_m": sum(v.numel() for v in state.values()) / 1e6}
