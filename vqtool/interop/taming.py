"""Open taming-transformers checkpoints (Lightning .ckpt pickles) and convert them.

Lightning files are pickles, so they are opened with a restricted unpickler: tensors, storages,
plain containers and numpy scalars are admitted; Lightning and OmegaConf bookkeeping classes
become inert placeholders (never imported, never run); any other class is refused.
Model sizes are read from the state dict; what it does not hold (the number of attention heads,
the conditioning type) comes from the run's project.yaml.
"""

from __future__ import annotations

import pickle
import re
import zipfile
from dataclasses import replace
from pathlib import Path

import torch

from vqtool.core.io import checkpoint as ck
from vqtool.core.config import GPTConfig, QuantizerConfig, VQGANModelConfig, to_dict
from vqtool.core.errors import CheckpointError, check_writable
from vqtool.core.conditioning.boxes import BoxLayout
from vqtool.core.conditioning.coord import Coord
from vqtool.core.conditioning.layout import Layout
from vqtool.core.conditioning.lowres import LowRes
from vqtool.core.formats import Stage, TransformerCheckpoint
from vqtool.core.transformer import build_gpt
from vqtool.core.tokenizer.inputs import BY_RECIPE
from vqtool.interop.taming_cond import cond_stage, first_stage_cond, permuted, window_from_block

_ALLOWED = {
    ("collections", "OrderedDict"), ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"),
    ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch", "Size"), ("torch", "device"), ("torch", "float32"), ("builtins", "set"), ("builtins", "frozenset"),
    ("builtins", "slice"), ("copyreg", "_reconstructor"), ("builtins", "object"), ("builtins", "dict"),
    ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"), ("numpy", "ndarray"),
}
_INERT_MODULES = ("pytorch_lightning.", "lightning.", "lightning_fabric.", "omegaconf.")
_inert_cache: dict[tuple[str, str], type] = {}


class Inert:
    """Stands in for a Lightning/OmegaConf bookkeeping object: holds its state, runs nothing."""

    def __init__(self, *args, **kwargs):
        self._args = args

    def __setstate__(self, state):
        self._state = state


def _inert(mod: str, name: str) -> type:
    key = (mod, name)
    if key not in _inert_cache:
        _inert_cache[key] = type(name, (Inert,), {"__module__": "vqtool.inert." + mod})
    return _inert_cache[key]


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module.startswith(_INERT_MODULES) or (module, name) == ("typing", "Any"):
            return _inert(module, name)
        raise CheckpointError(f"refusing to load: the pickle asks for {module}.{name}, which is not a tensor, "
                              "container or known Lightning bookkeeping (loading it could run code)")


class _RestrictedPickle:
    """A pickle_module for torch.load that only unpickles what RestrictedUnpickler admits."""

    Unpickler = RestrictedUnpickler
    __name__ = "vqtool_restricted_pickle"

    @staticmethod
    def load(f, **kw):
        return RestrictedUnpickler(f, **kw).load()


def load_lightning(path: Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False, pickle_module=_RestrictedPickle)
    except CheckpointError:
        raise
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, AttributeError,
            ImportError, IndexError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path} is not a checkpoint that can be read ({type(e).__name__}: {e})") from None
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        return obj
    if isinstance(obj, dict) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return {"state_dict": obj}
    raise CheckpointError(f"{path} holds no state_dict: not a taming-transformers checkpoint")


def read_config(path: Path | None) -> dict | None:
    if path is None:
        return None
    import yaml

    if not Path(path).is_file():
        raise CheckpointError(f"config not found: {path}")
    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as e:
        raise CheckpointError(f"{path} is not valid YAML: {e}") from None


def _count(sd: dict, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in sd if (m := rx.match(k))})


def vqgan_config(sd: dict, dd: dict | None = None) -> VQGANModelConfig:
    """Architecture of a taming VQModel / GumbelVQ / VQSegmentationModel from its state dict."""
    ch = sd["encoder.conv_in.weight"].shape[0]
    levels = _count(sd, r"encoder\.down\.(\d+)\.")
    mult = [sd[f"encoder.down.{i}.block.0.conv1.weight"].shape[0] // ch for i in range(levels)]
    nrb = _count(sd, r"encoder\.down\.0\.block\.(\d+)\.")
    res = (dd or {}).get("resolution", 256)
    attn = [res // 2**i for i in range(levels) if f"encoder.down.{i}.attn.0.q.weight" in sd]
    gumbel = "quantize.embed.weight" in sd
    emb = sd["quantize.embed.weight" if gumbel else "quantize.embedding.weight"]
    q = QuantizerConfig(kind="gumbel" if gumbel else "vq", n_embed=emb.shape[0], embed_dim=sd["quant_conv.weight"].shape[0],
                        beta=0.25, legacy=True)
    return VQGANModelConfig(in_channels=sd["encoder.conv_in.weight"].shape[1],
                            out_channels=sd["decoder.conv_out.weight"].shape[0], ch=ch, ch_mult=mult,
                            num_res_blocks=nrb, attn_resolutions=attn, resolution=res,
                            z_channels=sd["encoder.conv_out.weight"].shape[0], dropout=0.0, norm_groups=32,
                            quantizer=q)


def _vqgan_state(sd: dict) -> dict:
    if any(k.startswith("quantize.used") for k in sd):
        raise CheckpointError("this VQGAN uses a codebook remap (quantize.used), which vqtool does not support")
    return {k: v for k, v in sd.items() if not k.startswith("loss.") and k != "colorize"}


def _check_load(cfg: VQGANModelConfig, state: dict, what: str) -> dict:
    from vqtool.core.tokenizer.vqgan import VQGAN

    m = VQGAN(cfg)
    missing, unexpected = m.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{what}: the state dict does not match the reference architecture "
                              f"(missing {missing[:4]}, unexpected {unexpected[:4]})")
    return m.state_dict()


def _prefixed(sd: dict, prefix: str) -> dict:
    return {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}


def model_kind(sd: dict) -> str:
    if "transformer.tok_emb.weight" in sd:
        return "transformer"
    if "encoder.conv_in.weight" in sd and ("quantize.embedding.weight" in sd or "quantize.embed.weight" in sd):
        ch = sd["encoder.conv_in.weight"].shape[1]
        if "colorize" in sd or ch not in (1, 3):
            return "seg-vqgan"
        return "depth-vqgan" if ch == 1 else "vqgan"  # a one-channel VQModel: taming's imagenetdepth_vqgan
    sample = ", ".join(sorted(sd)[:5])
    raise CheckpointError(f"unknown model type: the state dict is neither a VQModel, GumbelVQ, VQSegmentationModel "
                          f"nor a Net2NetTransformer (first keys: {sample})")


def _vqgan_payload(sd: dict, dd: dict | None, what: str) -> tuple[VQGANModelConfig, dict]:
    cfg = vqgan_config(sd, dd)
    return cfg, _check_load(cfg, _vqgan_state(sd), what)


def convert(ckpt_path: Path, out: Path, config_path: Path | None = None, classes: list | None = None) -> dict:
    """Convert a taming checkpoint (``classes``: a box-layout model's class names)."""
    check_writable(out, "--out", folder=False)
    raw = load_lightning(ckpt_path)
    sd = raw["state_dict"]
    cfg = read_config(config_path)
    params = ((cfg or {}).get("model") or {}).get("params") or {}
    kind = model_kind(sd)
    prov = {**ck.provenance(), "converted_from": str(Path(ckpt_path).resolve()),
            "taming_global_step": raw.get("global_step"), "lightning": raw.get("pytorch-lightning_version")}
    if kind in ("vqgan", "seg-vqgan", "depth-vqgan"):
        mcfg, state = _vqgan_payload(sd, params.get("ddconfig"), "VQGAN")
        recipe = {"kind": kind, "model": to_dict(mcfg), "data": {"size": mcfg.resolution, "resize": 0}}
        ck.save_checkpoint(out, {"format": ck.VQGAN, "encodes": BY_RECIPE[kind].name, "config": recipe, "model": state, "step": raw.get("global_step", 0),
                                 "data": None, "provenance": prov})
        return {"kind": kind, "out": str(out), "params_m": sum(v.numel() for v in state.values()) / 1e6}
    return _convert_transformer(sd, params, cfg, out, prov, raw, classes)


def _convert_transformer(sd, params, cfg, out, prov, raw, classes) -> dict:
    if cfg is None:
        raise CheckpointError("a Net2NetTransformer checkpoint does not store the number of attention heads or its "
                              "conditioning type: pass the run's configs/*-project.yaml with --config")
    tp = (params.get("transformer_config") or {}).get("params") or {}
    if "n_head" not in tp:
        raise CheckpointError("the config has no model.params.transformer_config.params.n_head")
    tsd = {k: v for k, v in _prefixed(sd, "transformer.").items() if not k.endswith("attn.mask")}
    vocab, n_embd = tsd["tok_emb.weight"].shape
    gcfg = GPTConfig(vocab_size=vocab, block_size=tsd["pos_emb"].shape[1], n_layer=_count(tsd, r"blocks\.(\d+)\."),
                     n_head=int(tp["n_head"]), n_embd=n_embd)
    fcfg, fstate = _vqgan_payload(_prefixed(sd, "first_stage_model."),
                                  (((params.get("first_stage_config") or {}).get("params") or {}).get("ddconfig")),
                                  "first stage")
    cond, stages = cond_stage(params, _prefixed(sd, "cond_stage_model."), _vqgan_payload, cfg, classes)
    f = 2 ** (len(fcfg.ch_mult) - 1)
    if isinstance(cond, Coord) and cond.factor != f:
        raise CheckpointError(f"the CoordStage's down_factor {cond.factor} is not the first stage's factor {f}: its "
                              "coordinate tokens would not line up with the image codes")
    if isinstance(cond, LowRes):
        window, cond = first_stage_cond(cond, gcfg.block_size, f)
    else:
        window, _ = window_from_block(gcfg.block_size, cond)
    cond = replace(cond, span=window) if isinstance(cond, BoxLayout) else cond
    lay = Layout(fcfg.quantizer.n_embed, window, [cond], permuted(sd, params, window))
    g = build_gpt(gcfg, lay)
    missing, unexpected = g.load_state_dict(tsd, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"transformer weights do not match minGPT (missing {missing[:4]}, unexpected {unexpected[:4]})")
    recipe = {"kind": "transformer", "gpt": to_dict(gcfg), "data": {"window": lay.window}}
    TransformerCheckpoint(recipe, g.state_dict(), lay, Stage(to_dict(fcfg), fstate), stages,
                          raw.get("global_step", 0), provenance=prov).save(out)
    return {"kind": "transformer", "conditioning": lay.adjective, "out": str(out),
            "params_m": sum(p.numel() for p in g.parameters()) / 1e6}
