"""Value ranges of recipe keys, checked after parsing so that a bad value is one message naming its
dotted key, not a traceback from deep in training (optim.batch_size = 0 divided by zero)."""

from __future__ import annotations

from vqtool.core.errors import ConfigError

SEED_MIN, SEED_MAX = -(2**63), 2**64 - 1  # a sampling seed is any 64-bit integer, signed or not
MODES = ("exact", "fast")  # the sliding-window rules (core.sampling.sample_grid)

POSITIVE = (lambda v: v > 0, "> 0")
NON_NEGATIVE = (lambda v: v >= 0, ">= 0")
PROBABILITY = (lambda v: 0 <= v < 1, "in [0, 1)")

# dotted key -> (test, what it must be); keys a recipe kind does not have are skipped
BOUNDS = {
    "optim.lr": NON_NEGATIVE, "optim.weight_decay": NON_NEGATIVE, "optim.batch_size": POSITIVE,
    "optim.grad_accum": POSITIVE, "optim.warmup": NON_NEGATIVE, "optim.grad_clip": NON_NEGATIVE,
    "train.max_steps": POSITIVE, "train.log_every": POSITIVE, "train.ckpt_every": POSITIVE,
    "train.image_every": NON_NEGATIVE, "train.eval_every": NON_NEGATIVE, "train.eval_n": POSITIVE,
    "data.size": POSITIVE, "data.resize": NON_NEGATIVE, "data.workers": NON_NEGATIVE,
    "data.val_count": NON_NEGATIVE, "data.window": POSITIVE, "data.shuffle_buffer": POSITIVE,
    "model.ch": POSITIVE, "model.num_res_blocks": POSITIVE, "model.z_channels": POSITIVE,
    "model.norm_groups": POSITIVE, "model.dropout": PROBABILITY,
    "model.quantizer.n_embed": POSITIVE, "model.quantizer.embed_dim": POSITIVE,
    "model.quantizer.beta": NON_NEGATIVE, "model.quantizer.codebook_dim": NON_NEGATIVE,
    "model.quantizer.ema_decay": PROBABILITY, "model.quantizer.restart_every": POSITIVE,
    "model.quantizer.restart_threshold": NON_NEGATIVE,
    "loss.codebook_weight": NON_NEGATIVE, "loss.perceptual_weight": NON_NEGATIVE,
    "loss.disc_weight": NON_NEGATIVE, "loss.disc_factor": NON_NEGATIVE, "loss.disc_num_layers": POSITIVE,
    "loss.disc_ndf": POSITIVE, "loss.adaptive_eps": POSITIVE,
    "gpt.vocab_size": NON_NEGATIVE, "gpt.block_size": NON_NEGATIVE, "gpt.n_layer": POSITIVE,
    "gpt.n_head": POSITIVE, "gpt.n_embd": POSITIVE, "gpt.embd_pdrop": PROBABILITY,
    "gpt.resid_pdrop": PROBABILITY, "gpt.attn_pdrop": PROBABILITY, "gpt.radius": NON_NEGATIVE,
    "gpt.cond_layers": NON_NEGATIVE,
    "class_dropout": PROBABILITY, "map_dropout": PROBABILITY, "lowres_dropout": PROBABILITY,
    "overview": NON_NEGATIVE, "fid_every": NON_NEGATIVE, "fid_n": POSITIVE,
}


def _get(obj, dotted: str):
    for part in dotted.split("."):
        if not hasattr(obj, part):
            return None
        obj = getattr(obj, part)
    return obj


def check_bounds(recipe) -> None:
    """Raise ConfigError for the first key outside its range (and a head count that does not divide
    the width)."""
    for key, (ok, what) in BOUNDS.items():
        v = _get(recipe, key)
        if v is not None and not ok(v):
            what = ">= 1" if what == "> 0" and isinstance(v, int) else what  # an integer count
            raise ConfigError(f"'{key}' must be {what}, got {v!r}")
    for b in _get(recipe, "optim.betas") or []:
        if not 0 <= b < 1:
            raise ConfigError(f"'optim.betas' must be two values in [0, 1), got {recipe.optim.betas!r}")
    if _get(recipe, "model.ch_mult") is not None and (not recipe.model.ch_mult or min(recipe.model.ch_mult) < 1):
        raise ConfigError(f"'model.ch_mult' must be a non-empty list of integers >= 1, got {recipe.model.ch_mult!r}")
    gpt = _get(recipe, "gpt")
    if gpt is not None and gpt.n_embd % gpt.n_head:
        raise ConfigError(f"'gpt.n_embd' ({gpt.n_embd}) must be a multiple of 'gpt.n_head' ({gpt.n_head})")
    if gpt is not None and gpt.cond_layers and gpt.attention != "local":
        raise ConfigError("'gpt.cond_layers' is a local transformer's (gpt.attention = \"local\"); the paper's GPT "
                          "attends its conditioning tokens in its window already")
