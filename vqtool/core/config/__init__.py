"""Typed configuration: dataclasses are the schema, TOML recipes only set existing fields.

A recipe is a TOML file whose top-level ``kind`` picks the dataclass (``vqgan``, ``seg-vqgan``,
``transformer``). ``--set a.b=value`` overrides are parsed as TOML values (falling back to a
plain string) and applied before validation, so every error names the dotted key.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from vqtool.core.errors import ConfigError


# --------------------------------------------------------------------------- VQGAN


@dataclass
class QuantizerConfig:
    kind: Literal["vq", "gumbel"] = "vq"
    n_embed: int = 1024  # codebook size
    embed_dim: int = 256  # channels of the quantized latent
    beta: float = 0.25  # commitment weight (see legacy)
    legacy: bool = False  # taming's placement: beta on the codebook term, 1 on commitment
    l2_norm: bool = False  # cosine nearest neighbour on unit-norm codes
    codebook_dim: int = 0  # >0: look up codes in this low dimension (projection in and out)
    ema: bool = False  # codebook updated by exponential moving averages instead of gradients
    ema_decay: float = 0.99
    restart_dead: bool = False  # replace codes unused for a while by recent encoder outputs
    restart_every: int = 50  # steps between restart checks
    restart_threshold: float = 0.01  # dead below this EMA share of a uniform assignment (1 = average use)


@dataclass
class VQGANModelConfig:
    in_channels: int = 3  # 0 for seg-vqgan: the number of label classes
    out_channels: int = 3
    ch: int = 128
    ch_mult: list[int] = field(default_factory=lambda: [1, 1, 2, 2, 4])
    num_res_blocks: int = 2
    attn_resolutions: list[int] = field(default_factory=lambda: [16])
    resolution: int = 256  # nominal input size; attention levels are found from it (as taming)
    z_channels: int = 256
    dropout: float = 0.0
    norm_groups: int = 32  # GroupNorm groups; taming uses 32 everywhere
    # "group": taming's GroupNorm (image-wide statistics); "channel": per-position norm over channels,
    # so codes depend on local content only (tiny recipes: trained on crops, used on whole scenes)
    norm: Literal["group", "channel"] = "group"
    mid_attn: bool = True
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)

    @property
    def factor(self) -> int:
        """Pixels per code along a side: one halving per level after the first."""
        return 2 ** (len(self.ch_mult) - 1)


@dataclass
class LossConfig:
    codebook_weight: float = 1.0
    # "lpips": VGG16 LPIPS (the paper); "disc-features": L1 between the discriminator's features of
    # x and x̂, each layer scaled by the real features' size (no downloaded weights; see README)
    perceptual: Literal["lpips", "disc-features", "none"] = "lpips"
    perceptual_weight: float = 1.0
    # what to do when the LPIPS VGG16 trunk cannot be had: "error" (paper recipes) or
    # "skip" (tiny CPU recipes: train without the perceptual term after a loud warning)
    on_missing_weights: Literal["error", "skip"] = "error"
    disc_start: int = 10000
    disc_weight: float = 0.8
    disc_factor: float = 1.0
    disc_num_layers: int = 3
    disc_ndf: int = 64
    disc_loss: Literal["hinge", "vanilla"] = "hinge"
    adaptive_eps: float = 1e-4  # taming's value; the paper writes 1e-6


@dataclass
class ImageDataConfig:
    size: int = 256  # training crop side in pixels
    resize: int = 0  # shorter side is resized to this before cropping (0: keep, upscale if small)
    random_crop: bool = True
    flip: bool = True
    workers: int = 0
    val_count: int = 0  # images held out for eval-recon during training


@dataclass
class OptimConfig:
    lr: float = 4.5e-6
    betas: list[float] = field(default_factory=lambda: [0.5, 0.9])
    weight_decay: float = 0.0
    batch_size: int = 12
    grad_accum: int = 1
    warmup: int = 0
    schedule: Literal["constant", "cosine"] = "constant"
    grad_clip: float = 0.0


@dataclass
class TrainConfig:
    max_steps: int = 100000
    seed: int = 0
    log_every: int = 50
    ckpt_every: int = 1000
    image_every: int = 1000  # reconstruction / sample grids written to the run folder
    eval_every: int = 0  # 0: off
    eval_n: int = 64
    amp: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 autocast on CUDA, fp32 on CPU
    compile: bool = False
    channels_last: bool = False
    # VQGAN only. "decoder": the encoder and the codebook are frozen and only the decoder (with
    # post_quant_conv) trains, so every image keeps its codes: tokenized shards and transformers
    # trained on them stay valid (decoder fine-tuning, e.g. a stronger adversarial term after the fact)
    trainable: Literal["all", "decoder"] = "all"
    logger: Literal["jsonl", "tensorboard", "wandb"] = "jsonl"  # metrics.jsonl always; also TensorBoard or W&B


@dataclass
class VQGANRecipe:
    kind: Literal["vqgan", "seg-vqgan", "depth-vqgan", "edges-vqgan"] = "vqgan"
    model: VQGANModelConfig = field(default_factory=VQGANModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# --------------------------------------------------------------------------- transformer


@dataclass
class GPTConfig:
    vocab_size: int = 0  # 0: codebook size + conditioning vocabulary, from the shards
    block_size: int = 0  # 0: conditioning length + window² - 1, from the shards
    n_layer: int = 12
    n_head: int = 8
    n_embd: int = 256
    embd_pdrop: float = 0.0
    resid_pdrop: float = 0.0
    attn_pdrop: float = 0.0
    # "global": the paper's GPT (learned absolute positions, sampled with a sliding window);
    # "local": each token attends to its causal 2-D neighbourhood, relative positions, one rolling cache
    attention: Literal["global", "local"] = "global"
    radius: int = 0  # local: neighbourhood radius R in tokens (0: data.window // 2, the paper's context)
    # local: blocks that read the conditions alone before the causal ones, each condition token seeing the
    # others within R rows above and below (they are known before sampling); 0: each position adds its own
    cond_layers: int = 0


@dataclass
class TokenDataConfig:
    window: int = 16  # training crop of the code grid, in tokens per side
    use_flip: bool = True  # also train on the mirrored images' tokens when the shards hold them
    workers: int = 0  # DataLoader workers; the batches are the same for any number
    shuffle_buffer: int = 2000  # samples held (raw) for shuffling the stream; memory is this, not the dataset


@dataclass
class TransformerRecipe:
    kind: Literal["transformer"] = "transformer"
    gpt: GPTConfig = field(default_factory=GPTConfig)
    data: TokenDataConfig = field(default_factory=TokenDataConfig)
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(lr=4.5e-6, betas=[0.9, 0.95], weight_decay=0.01)
    )
    train: TrainConfig = field(default_factory=TrainConfig)
    class_dropout: float = 0.0  # >0 trains a null class for classifier-free guidance
    map_dropout: float = 0.0  # >0 trains a null map (label, depth, edge map, low-res image) for guidance; local
    lowres_dropout: float = 0.0  # >0 trains a null low-res image alone (maps kept): --cfg towards the thumbnail
    overview: int = 0  # >0: every window also sees its depth map's overview, this many cells a side
    fid_every: int = 0  # sample and score a small FID every N steps (0: off)
    fid_n: int = 64


RECIPE_KINDS: dict[str, type] = {
    "vqgan": VQGANRecipe,
    "seg-vqgan": VQGANRecipe,
    "depth-vqgan": VQGANRecipe,
    "edges-vqgan": VQGANRecipe,
    "transformer": TransformerRecipe,
}
Recipe = VQGANRecipe | TransformerRecipe


# --------------------------------------------------------------------------- strict parsing


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if dataclasses.is_dataclass(tp):
        return "a table"
    return getattr(tp, "__name__", str(tp))


def _coerce(tp: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"'{key}' must be a table (section), got {value!r}")
        return from_dict(tp, value, prefix=key + ".")
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(
                f"'{key}' must be one of {', '.join(map(repr, choices))}; got {value!r}"
            )
        return value
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(args[0], value, key)
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{key}' must be a list of {_type_name(item)}, got {value!r}")
        return [_coerce(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"'{key}' must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"'{key}' must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"'{key}' must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"'{key}' must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config type {tp!r} for {key}")  # a bug, not user input


def from_dict(cls: type, data: dict, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from plain data; unknown keys and wrong types are ConfigErrors."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    for k in data:
        if k not in names:
            raise ConfigError(
                f"unknown key '{prefix}{k}'; valid keys here: {', '.join(prefix + n for n in names)}"
            )
    return cls(**{k: _coerce(hints[k], v, prefix + k) for k, v in data.items()})


def to_dict(obj: Any) -> dict:
    return dataclasses.asdict(obj)


def parse_value(text: str) -> Any:
    """A --set value: a TOML value (1, 2.5, true, [1, 2], "s") or else the bare string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def apply_overrides(data: dict, overrides: list[str] | None) -> dict:
    """Apply ``a.b=value`` strings to nested plain data (validated later by from_dict)."""
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, text = item.split("=", 1)
        key = key.strip()
        parts = key.split(".")
        node = data
        for i, p in enumerate(parts[:-1]):
            sub = node.setdefault(p, {})
            if not isinstance(sub, dict):
                raise ConfigError(f"'{'.'.join(parts[: i + 1])}' is a value, not a section")
            node = sub
        node[parts[-1]] = parse_value(text.strip())
    return data


# --------------------------------------------------------------------------- recipes


def build_recipe(data: dict, overrides: list[str] | None = None, kinds: tuple = ()) -> Recipe:
    data = apply_overrides(data, overrides)
    kind = data.get("kind")
    if kind not in RECIPE_KINDS:
        raise ConfigError(f"'kind' must be one of {', '.join(map(repr, RECIPE_KINDS))}; got {kind!r}")
    if kinds and kind not in kinds:
        raise ConfigError(f"this command needs a recipe of kind {' or '.join(kinds)}, not {kind!r}")
    recipe = from_dict(RECIPE_KINDS[kind], data)
    if kind == "transformer" and recipe.train.trainable != "all":
        raise ConfigError("'train.trainable' is a VQGAN key (decoder fine-tuning); a transformer recipe must leave it 'all'")
    from vqtool.core.config.bounds import check_bounds

    check_bounds(recipe)
    return recipe


def load_recipe(name_or_path: str, overrides: list[str] | None = None, kinds: tuple = ()) -> Recipe:
    from vqtool.core.config.recipes import read_recipe_data

    data, _ = read_recipe_data(name_or_path)
    return build_recipe(data, overrides, kinds)
