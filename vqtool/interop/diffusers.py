"""VQGANs to and from diffusers' ``VQModel`` folders (config.json + diffusion_pytorch_model.safetensors).

The two are one architecture under other names: taming's levels are diffusers' down/up blocks
(an ``Attn...Block2D`` where taming has attention), ``nin_shortcut`` is ``conv_shortcut``, the
attention's 1x1 convolutions are linear layers, and the decoder's levels are stored in the other
order (diffusers' ``up_blocks.0`` is taming's ``up.{L-1}``, the lowest resolution). What diffusers
cannot hold is refused with the reason: a Gumbel quantizer, l2-normalised or low-dimensional
(factorised) codebooks, the per-position channel norm of the small recipes, and a first level wider
than ``ch`` (diffusers' first block has ``conv_in``'s width). Reading a diffusers folder runs no code:
its config is JSON and its weights safetensors (a pickled ``.bin`` is refused)."""

from __future__ import annotations

import json
import re
from pathlib import Path


from vqtool.core.config import QuantizerConfig, VQGANModelConfig, from_dict, to_dict
from vqtool.core.errors import CheckpointError, check_writable
from vqtool.core.io import checkpoint as ck

WEIGHTS = "diffusion_pytorch_model.safetensors"
DOWN, ATTN_DOWN, UP, ATTN_UP = "DownEncoderBlock2D", "AttnDownEncoderBlock2D", "UpDecoderBlock2D", "AttnUpDecoderBlock2D"
_PART = {"nin_shortcut": "conv_shortcut", "norm": "group_norm", "q": "to_q", "k": "to_k", "v": "to_v",
         "proj_out": "to_out.0"}


def _attn_levels(cfg: VQGANModelConfig) -> list[bool]:
    """Which levels (0 = full resolution) have attention, as taming decides it from the resolution."""
    return [cfg.resolution // 2 ** i in cfg.attn_resolutions for i in range(len(cfg.ch_mult))]


def _key(k: str, levels: int) -> str:
    """A vqtool (taming) VQGAN state-dict key as diffusers names it."""
    k = re.sub(r"^encoder\.down\.(\d+)\.block\.", r"encoder.down_blocks.\1.resnets.", k)
    k = re.sub(r"^encoder\.down\.(\d+)\.attn\.", r"encoder.down_blocks.\1.attentions.", k)
    k = re.sub(r"^encoder\.down\.(\d+)\.downsample\.", r"encoder.down_blocks.\1.downsamplers.0.", k)
    k = re.sub(r"^decoder\.up\.(\d+)\.", lambda m: f"decoder.up.{levels - 1 - int(m.group(1))}.", k)
    k = re.sub(r"^decoder\.up\.(\d+)\.block\.", r"decoder.up_blocks.\1.resnets.", k)
    k = re.sub(r"^decoder\.up\.(\d+)\.attn\.", r"decoder.up_blocks.\1.attentions.", k)
    k = re.sub(r"^decoder\.up\.(\d+)\.upsample\.", r"decoder.up_blocks.\1.upsamplers.0.", k)
    k = re.sub(r"^(encoder|decoder)\.mid\.block_(\d)\.", lambda m: f"{m.group(1)}.mid_block.resnets.{int(m.group(2)) - 1}.", k)
    k = re.sub(r"^(encoder|decoder)\.mid\.attn_1\.", r"\1.mid_block.attentions.0.", k)
    k = re.sub(r"^(encoder|decoder)\.norm_out\.", r"\1.conv_norm_out.", k)
    parts = k.split(".")
    return ".".join(_PART.get(p, p) if i == len(parts) - 2 else p for i, p in enumerate(parts))


def _why_not(cfg: VQGANModelConfig) -> str | None:
    q = cfg.quantizer
    if q.kind == "gumbel":
        return "its quantizer is Gumbel (taming's GumbelVQ); diffusers' VQModel has nearest-neighbour VQ only"
    if q.l2_norm:
        return "its codebook is l2-normalised (cosine lookup); diffusers' VectorQuantizer looks up raw distances"
    if q.codebook_dim:
        return f"its codes are looked up in {q.codebook_dim} dimensions (projected in and out); diffusers has no projection"
    if cfg.norm != "group":
        return "it uses the per-position channel norm (model.norm = \"channel\"); diffusers' blocks use GroupNorm"
    if cfg.ch_mult[0] != 1:
        return f"its first level is {cfg.ch_mult[0]}x wider than conv_in (ch_mult[0] = {cfg.ch_mult[0]}); diffusers' is not"
    return None


def to_diffusers(vqgan: Path, out: Path) -> dict:
    """Write a diffusers ``VQModel`` folder of a vqtool VQGAN checkpoint."""
    from safetensors.torch import save_file

    c = ck.load_checkpoint(vqgan, ck.VQGAN)
    cfg = from_dict(VQGANModelConfig, c["config"]["model"], prefix="model.")
    why = _why_not(cfg)
    if why:
        raise CheckpointError(f"{vqgan} cannot be written as a diffusers VQModel: {why}")
    check_writable(out, "--out")
    attn, L = _attn_levels(cfg), len(cfg.ch_mult)
    config = {"_class_name": "VQModel", "_diffusers_version": "0.42.1", "in_channels": cfg.in_channels,
              "out_channels": cfg.out_channels, "down_block_types": [ATTN_DOWN if a else DOWN for a in attn],
              "up_block_types": [ATTN_UP if a else UP for a in reversed(attn)],
              "block_out_channels": [cfg.ch * m for m in cfg.ch_mult], "layers_per_block": cfg.num_res_blocks,
              "act_fn": "silu", "latent_channels": cfg.z_channels, "sample_size": cfg.resolution,
              "num_vq_embeddings": cfg.quantizer.n_embed, "norm_num_groups": cfg.norm_groups,
              "vq_embed_dim": cfg.quantizer.embed_dim, "scaling_factor": 1.0, "norm_type": "group",
              "mid_block_add_attention": cfg.mid_attn, "lookup_from_codebook": False, "force_upcast": False}
    sd = {}
    for k, v in c["model"].items():
        if k.startswith("quantize.") and k != "quantize.embedding.weight":
            continue  # training bookkeeping (EMA sums, usage): not part of the model
        if re.search(r"\.attn(_1|\.\d+)\.(q|k|v|proj_out)\.weight$", k):
            v = v[:, :, 0, 0]  # a 1x1 convolution is a linear layer
        sd[_key(k, L)] = v.detach().float().contiguous()
    out.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(out / WEIGHTS))
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return {"out": str(out), "format": "diffusers VQModel", "tensors": len(sd)}


def is_diffusers_folder(path: Path) -> bool:
    p = Path(path) / "config.json"
    if not p.is_file():
        return False
    try:
        return json.loads(p.read_text()).get("_class_name") == "VQModel"
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        return False


def from_diffusers(folder: Path, out: Path) -> dict:
    """A vqtool VQGAN checkpoint of a diffusers ``VQModel`` folder (exactly its weights)."""
    from safetensors.torch import load_file

    from vqtool.core.tokenizer.vqgan import VQGAN

    check_writable(out, "--out", folder=False)
    d = json.loads((folder / "config.json").read_text())
    cfg = _config_of(d, folder)
    if not (folder / WEIGHTS).is_file():
        raise CheckpointError(f"{folder} has no {WEIGHTS} (a pickled .bin is not read: it could run code)")
    theirs = load_file(str(folder / WEIGHTS))
    m = VQGAN(cfg)
    ours, L = m.state_dict(), len(cfg.ch_mult)
    state = {}
    for k, v in ours.items():
        if k.startswith("quantize.") and k != "quantize.embedding.weight":
            state[k] = v  # training bookkeeping: fresh
            continue
        t = theirs.pop(_key(k, L), None)
        if t is None:
            raise CheckpointError(f"{folder}: {WEIGHTS} has no {_key(k, L)} (vqtool's {k})")
        state[k] = t.reshape(v.shape).to(v.dtype)
    if theirs:
        raise CheckpointError(f"{folder}: {WEIGHTS} holds weights this architecture does not have: {sorted(theirs)[:3]}")
    m.load_state_dict(state)
    recipe = {"kind": "vqgan", "model": to_dict(cfg), "data": {"size": cfg.resolution, "resize": 0}}
    ck.save_checkpoint(out, {"format": ck.VQGAN, "encodes": "image", "config": recipe, "model": m.state_dict(),
                             "step": 0, "data": None,
                             "provenance": {**ck.provenance(), "converted_from": str(Path(folder).resolve())}})
    return {"kind": "vqgan", "out": str(out), "params_m": sum(v.numel() for v in state.values()) / 1e6}


def _config_of(d: dict, folder: Path) -> VQGANModelConfig:
    """vqtool's config of a diffusers VQModel config; what vqtool's VQGAN cannot be is one message."""
    down, up = list(d.get("down_block_types") or []), list(d.get("up_block_types") or [])
    chans = list(d.get("block_out_channels") or [])
    attn = [t == ATTN_DOWN for t in down]
    bad = ([t for t in down if t not in (DOWN, ATTN_DOWN)] + [t for t in up if t not in (UP, ATTN_UP)]
           + [f"act_fn {d.get('act_fn')}" for _ in [0] if d.get("act_fn", "silu") != "silu"]
           + [f"norm_type {d.get('norm_type')}" for _ in [0] if d.get("norm_type", "group") != "group"])
    if bad or len(chans) != len(down) or [t == ATTN_UP for t in reversed(up)] != attn:
        raise CheckpointError(f"{folder}: a VQModel vqtool cannot hold ({', '.join(bad) or 'its up blocks are not its down blocks mirrored'})")
    ch = chans[0]
    if any(c % ch for c in chans):
        raise CheckpointError(f"{folder}: block_out_channels {chans} are not multiples of the first")
    res = int(d.get("sample_size", 256))
    return VQGANModelConfig(
        in_channels=int(d.get("in_channels", 3)), out_channels=int(d.get("out_channels", 3)), ch=ch,
        ch_mult=[c // ch for c in chans], num_res_blocks=int(d.get("layers_per_block", 1)),
        attn_resolutions=[res // 2 ** i for i, a in enumerate(attn) if a], resolution=res,
        z_channels=int(d.get("latent_channels", 3)), dropout=0.0, norm_groups=int(d.get("norm_num_groups", 32)),
        mid_attn=bool(d.get("mid_block_add_attention", True)),
        quantizer=QuantizerConfig(n_embed=int(d.get("num_vq_embeddings", 256)),
                                  embed_dim=int(d.get("vq_embed_dim") or d.get("latent_channels", 3)), legacy=True))
