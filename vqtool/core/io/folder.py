"""Checkpoints as folders: ``config.json`` (everything that is not a tensor) + ``model.safetensors``
(every tensor), the layout the Hugging Face Hub and its libraries use. Loading one runs no code
(JSON and safetensors hold data only); a folder whose tensors are not the ones its config lists
(name, shape, dtype) or whose safetensors file is not the one it was exported with is refused.

A payload's tensors sit anywhere in its nested dicts (the GPT's state dict, each VQGAN's); in the
config each is replaced by ``{"__tensor__": KEY, "shape": [...], "dtype": "float16"}`` and stored
under KEY, its path of dict keys joined by "/" (``first_stage/model/encoder.conv_in.weight``).
``hf://OWNER/NAME[@REVISION]`` is such a folder on the Hub, fetched into its cache by
``huggingface_hub`` (the optional extra ``vqtool[hub]``; ``HF_HUB_OFFLINE=1`` reads the cache only).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path

import torch

from vqtool.core.errors import CheckpointError

CONFIG, WEIGHTS, CARD = "config.json", "model.safetensors", "README.md"
HUB = re.compile(r"^hf:/{1,2}([\w.-]+/[\w.-]+)(?:@([\w./-]+))?$")  # a Path() turns hf:// into hf:/


def is_folder(path) -> bool:
    return Path(path).is_dir() and (Path(path) / CONFIG).is_file() and (Path(path) / WEIGHTS).is_file()


def split(payload: dict) -> tuple[dict, dict]:
    """(config, tensors) of a payload: each tensor replaced by its placeholder."""
    tensors = {}

    def walk(v, key):
        if isinstance(v, torch.Tensor):
            t = v.detach().cpu().contiguous()
            tensors[key] = t
            return {"__tensor__": key, "shape": list(t.shape), "dtype": str(t.dtype).removeprefix("torch.")}
        if isinstance(v, dict):
            bad = [k for k in v if not isinstance(k, str) or "/" in k]
            if bad:
                raise CheckpointError(f"cannot export {key or 'the checkpoint'}: key {bad[0]!r} is not a plain name")
            return {k: walk(x, f"{key}/{k}" if key else k) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [walk(x, f"{key}/{i}") for i, x in enumerate(v)]
        if v is None or isinstance(v, (str, bool, int, float)):
            return v
        raise CheckpointError(f"cannot export {key}: a {type(v).__name__} is neither a tensor nor plain data")

    return walk(payload, ""), tensors


def save_folder(payload: dict, out: Path, card: str) -> int:
    """Write the folder whole or not at all: into a temporary folder beside it, then renamed over it.
    Returns the number of tensor elements written."""
    from safetensors.torch import save_file

    config, tensors = split(payload)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        save_file(tensors, str(tmp / WEIGHTS))
        config["weights_sha256"] = hashlib.sha256((tmp / WEIGHTS).read_bytes()).hexdigest()
        (tmp / CONFIG).write_text(json.dumps(config, indent=1) + "\n")
        (tmp / CARD).write_text(card)
        if out.is_dir():  # an earlier export (the caller checked): replaced
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sum(t.numel() for t in tensors.values())


def load_folder(path: Path) -> dict:
    """The payload of an exported folder; any mismatch between config and tensors is one message."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        config = json.loads((path / CONFIG).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path / CONFIG} is not JSON ({e})") from None
    raw = (path / WEIGHTS).read_bytes()  # read once: hashed, then parsed
    digest = hashlib.sha256(raw).hexdigest()
    if config.pop("weights_sha256", None) != digest:
        raise CheckpointError(f"{path / WEIGHTS} is not the file this folder was exported with (its sha256 "
                              "differs from config.json's weights_sha256): refusing a changed folder")
    try:
        tensors = load(raw)
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{path / WEIGHTS} cannot be read as safetensors ({e})") from None
    used = set()

    def walk(v):
        if isinstance(v, dict) and "__tensor__" in v:
            key = v["__tensor__"]
            t = tensors.get(key)
            if t is None:
                raise CheckpointError(f"{path}: tensor {key!r} of config.json is not in model.safetensors")
            if list(t.shape) != v.get("shape") or str(t.dtype).removeprefix("torch.") != v.get("dtype"):
                raise CheckpointError(f"{path}: tensor {key!r} is {list(t.shape)} {t.dtype} in model.safetensors, "
                                      f"config.json says {v.get('shape')} {v.get('dtype')}")
            used.add(key)
            return t
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v

    payload = walk(config)
    extra = sorted(set(tensors) - used)
    if extra:
        raise CheckpointError(f"{path}: model.safetensors holds tensors config.json does not list: {extra[:3]}")
    return payload


def hub_folder(spec: str) -> Path:
    """The local folder of ``hf://OWNER/NAME[@REVISION]``, downloaded into the Hub cache when needed."""
    m = HUB.match(spec)
    if not m:
        raise CheckpointError(f"{spec}: give a Hub model as hf://OWNER/NAME or hf://OWNER/NAME@REVISION")
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise CheckpointError(f"{spec}: loading from the Hugging Face Hub needs huggingface_hub: "
                              "pip install 'vqtool[hub]'") from None
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")  # read now, not at import
    spec = f"hf://{m.group(1)}" + (f"@{m.group(2)}" if m.group(2) else "")
    try:
        return Path(snapshot_download(m.group(1), revision=m.group(2), allow_patterns=[CONFIG, WEIGHTS, CARD],
                                      cache_dir=os.environ.get("HF_HUB_CACHE"), local_files_only=offline))
    except Exception as e:  # offline, no such repo, no network: huggingface_hub raises many kinds
        raise CheckpointError(f"{spec}: cannot get it from the Hugging Face Hub ({type(e).__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else ''}); with HF_HUB_OFFLINE=1 only the "
                              "local cache is read") from None
