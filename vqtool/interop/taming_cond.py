"""The conditioning of a taming Net2NetTransformer, read from its config and state dict: which
vqtool condition its cond stage is, the sampling window its block size implies, the order a
permuter fed its tokens in. taming shares ids between image codes and conditioning (offset 0,
no extra vocabulary)."""

from __future__ import annotations

import math
from dataclasses import replace

from vqtool.core.config import to_dict
from vqtool.core.errors import CheckpointError
from vqtool.core.conditioning.base import Condition
from vqtool.core.conditioning.boxes import BoxLayout
from vqtool.core.conditioning.classes import ClassLabel
from vqtool.core.conditioning.coord import Coord
from vqtool.core.conditioning.lowres import LowRes
from vqtool.core.conditioning.maps import Depth
from vqtool.core.conditioning.seg import Segmentation
from vqtool.core.conditioning.uncond import Uncond
from vqtool.core.formats import Stage


def window_from_block(block_size: int, cond: Condition) -> tuple[int, int]:
    """(window W, conditioning length) of a Net2NetTransformer, from its block size.

    taming feeds cond + W*W tokens minus the last one, and configs set block_size to that input
    length or to the whole sequence: a spatial condition is a W*W grid of its own (2W² - 1 or 2W²),
    a class or a start token one token (W² or W² + 1)."""
    for W in range(math.isqrt(block_size) + 1, 0, -1):
        lc = cond.length(W, W)
        if block_size in (lc + W * W - 1, lc + W * W):
            return W, lc
    need = "2·W² (or 2·W² - 1)" if cond.spatial else "W² + 1 (or W²)"
    raise CheckpointError(f"cannot derive the sampling window from block_size {block_size}: a {cond.adjective} "
                          f"transformer needs block_size = {need} for a W×W window")


def first_stage_cond(cond, block_size: int, f: int):
    """(window, condition) of a super-resolution model: (d/f)² low-res codes, W from the block size, factor W f / d."""
    d = cond.whole_px
    if d % f:
        raise CheckpointError(f"downsample_cond_size {d} is not a multiple of the first stage's factor {f}")
    lc = (d // f) ** 2
    for W in range(math.isqrt(block_size) + 1, 0, -1):
        if block_size in (lc + W * W - 1, lc + W * W) and (W * f) % d == 0 and W * f > d:
            return W, replace(cond, factor=W * f // d, whole=d // f)
    raise CheckpointError(f"cannot derive the sampling window from block_size {block_size} with {lc} low-res codes")


def permuted(sd: dict, params: dict, window: int) -> dict | None:
    """The order a permuted transformer feeds its window in, from its permuter's own index buffer (position k
    holds raster position idx[k]): every taming permuter read exactly as it was trained."""
    name = ((params.get("permuter_config") or {}).get("target") or "Identity").rsplit(".", 1)[-1]
    idx = sd.get("permuter.forward_shuffle_idx")
    if idx is None:
        if name != "Identity":
            raise CheckpointError(f"the config names the permuter {name}, but the checkpoint holds no "
                                  "permuter.forward_shuffle_idx to read its order from")
        return None
    order = [int(i) for i in idx.reshape(-1)]
    if sorted(order) != list(range(window * window)):
        raise CheckpointError(f"the permuter's order has {len(order)} entries, not a permutation of the {window}x{window} "
                              "window's positions")
    return None if order == list(range(window * window)) else {"name": name, "order": order}


def cond_stage(params: dict, csd: dict, payload, cfg: dict, classes: list | None) -> tuple[Condition, dict]:
    """The condition of a Net2NetTransformer and its cond-stage VQGANs (``payload`` converts one), from
    its config's cond_stage_config (a box layout's settings: from the data config)."""
    cstage = (params.get("cond_stage_config") or "")
    target = cstage if isinstance(cstage, str) else cstage.get("target", "")
    cparams = {} if isinstance(cstage, str) else (cstage.get("params") or {})
    if params.get("unconditional") or target in ("__is_unconditional__", "taming.modules.util.SOSProvider"):
        return Uncond(vocab=0, token=int(cparams.get("sos_token", params.get("sos_token", 0)))), {}
    if target == "__is_first_stage__":  # super-resolution: the image VQGAN encodes the downscaled image
        d = int(params.get("downsample_cond_size", -1))
        if d <= 0:
            raise CheckpointError("a cond stage of __is_first_stage__ without downsample_cond_size (image to image "
                                  "at the same size) is not converted: vqtool's low-res condition needs a smaller input")
        return LowRes(vocab=0, factor=0, whole=0, whole_px=d), {}  # sizes set once the first stage is known
    if target.endswith("CoordStage"):  # FacesHQ: where the crop sits, no weights
        return Coord(vocab=0, levels=int(cparams.get("n_embed", 1024)), factor=int(cparams.get("down_factor", 16))), {}
    if target.endswith("DummyCondStage"):  # the scene models: box layouts, tokens made by the data pipeline
        return box_layout(cparams.get("conditional_key") or params.get("cond_stage_key"), cfg, classes), {}
    if target.endswith("Labelator"):
        return ClassLabel(vocab=0, classes=[str(i) for i in range(int(cparams.get("n_classes", 1000)))]), {}
    if csd and "encoder.conv_in.weight" in csd:
        ccfg, cstate = payload(csd, cparams.get("ddconfig"), "cond stage")
        key = params.get("cond_stage_key", Depth.taming_key)  # Net2NetTransformer's default
        if target.endswith("VQSegmentationModel") or "colorize" in csd or key == Segmentation.taming_key:
            cond = Segmentation(vocab=0)
        elif ccfg.in_channels == 1 and key == Depth.taming_key:  # D-RIN: a one-channel VQModel on MiDaS depth
            cond = Depth(vocab=0)
        else:
            raise CheckpointError(f"a {ccfg.in_channels}-channel {target.rsplit('.', 1)[-1] or 'VQModel'} cond stage "
                                  f"with cond_stage_key {key!r}: vqtool converts segmentation (VQSegmentationModel) "
                                  "and depth (a one-channel VQModel, cond_stage_key depth: D-RIN) cond stages")
        return cond, {cond.stage: Stage(to_dict(ccfg), cstate)}
    raise CheckpointError(f"unsupported cond stage {target!r}: vqtool converts unconditional (SOSProvider), "
                          "class (Labelator), segmentation (VQSegmentationModel), depth (D-RIN), coordinate (CoordStage: "
                          "FacesHQ) and box-layout (DummyCondStage: the scene models) transformers")


def box_layout(key: str | None, cfg: dict, classes: list | None) -> BoxLayout:
    """A scene model's layout condition: the builder's settings from the data config's train (or
    validation) params, the class names from ``classes`` (the checkpoint does not hold them)."""
    if key not in ("objects_bbox", "objects_center_points"):
        raise CheckpointError(f"a DummyCondStage with conditional_key {key!r}: vqtool converts box layouts "
                              "(objects_bbox, objects_center_points)")
    data = ((cfg.get("data") or {}).get("params") or {})
    dp = ((data.get("train") or data.get("validation") or {}).get("params") or {})
    if "no_tokens" not in dp:
        raise CheckpointError("a box-layout model's token grid and object count are in its data config "
                              "(data.params.train.params: no_tokens, max_objects_per_image, encode_crop, ...): "
                              "pass the config that holds them")
    if not classes:
        raise CheckpointError("a box-layout model's classes are its dataset's and not in the checkpoint: pass "
                              "--classes FILE, one class name per line in the dataset's category order "
                              "(COCO: the instances and stuff categories without 'other', by id sorted as text: "
                              "'1', '10', '100', ..., as taming's AnnotatedObjectsCoco numbers them)")
    n = int(dp.get("no_object_classes") or len(classes))  # taming's count: its config's, else its categories'
    if len(classes) > n:
        raise CheckpointError(f"--classes names {len(classes)} classes; the model's data config has "
                              f"no_object_classes {n}")
    return BoxLayout(vocab=0, classes=list(classes), n_classes=n, grid_tokens=int(dp["no_tokens"]),
                     max_objects=int(dp.get("max_objects_per_image", 30)), points=key == "objects_center_points",
                     group=bool(dp.get("use_group_parameter")), extra=bool(dp.get("use_additional_parameters")),
                     crop=bool(dp.get("encode_crop")))


def read_classes(path) -> list[str]:
    """Class names, one per line (blank lines skipped)."""
    from pathlib import Path

    if not Path(path).is_file():
        raise CheckpointError(f"--classes {path}: file not found")
    names = [ln.strip() for ln in Path(path).read_text().splitlines() if ln.strip()]
    if not names:
        raise CheckpointError(f"--classes {path}: no class names in it (one per line)")
    return names
