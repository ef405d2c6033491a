"""Self-describing checkpoints: one .pt file, a format tag, the config as plain data.

Everything in a checkpoint is loadable with ``torch.load(weights_only=True)``: tensors, state
dicts, and plain Python containers. Writes are atomic (temp file in the same folder, fsync,
rename), so a killed process never leaves a half-written ``last.pt``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import pickle
import time
import zipfile
from pathlib import Path

import torch

from vqtool.core.errors import CheckpointError
from vqtool.core.io import folder

VQGAN = "vqtool.vqgan/1"  # any VQGAN; its "encodes" says what (images, label maps, ...)
TRANSFORMER = "vqtool.transformer/1"
FORMATS = {VQGAN: "VQGAN", TRANSFORMER: "transformer"}
# the previous release's tag of segmentation VQGANs: read as a VQGAN that encodes "seg"
_SEG_VQGAN_1 = "vqtool.seg-vqgan/1"


def atomic_write(path: Path, write) -> None:
    """Call ``write(fileobj)`` on a temp file beside ``path``, fsync, then rename over it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:  # name the file the user asked for, not the temp file
        raise OSError(e.errno, e.strerror, str(path)) from None
    except RuntimeError as e:  # torch's zip writer reports a failed write as "[enforce fail at ...]"
        if shutil.disk_usage(path.parent).free < 2**20:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from None
        raise OSError(errno.EIO, f"writing failed ({e})", str(path)) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    try:  # make the rename itself durable
        fd = os.open(path.parent, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    except OSError:
        pass


def provenance() -> dict:
    from vqtool.core.version import __version__

    return {"vqtool": __version__, "torch": str(torch.__version__), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}


def save_checkpoint(path: Path, payload: dict) -> None:
    assert payload.get("format") in FORMATS, payload.get("format")
    payload = {**payload, "provenance": payload.get("provenance") or provenance()}
    atomic_write(Path(path), lambda f: torch.save(payload, f))


def load_checkpoint(path: Path | str, expect: str | tuple[str, ...] | None = None) -> dict:
    """Load a vqtool checkpoint safely: a .pt file, a run folder (its last.pt), an exported folder
    (config.json + model.safetensors) or hf://OWNER/NAME[@REVISION]; ``expect`` names the format
    tag(s) the caller needs."""
    path = folder.hub_folder(str(path)) if str(path).startswith("hf:") else Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint not found: {path}")
    if path.is_dir() and not folder.is_folder(path):
        if not (path / "last.pt").is_file():
            other = (path / "config.json").is_file() and not (path / folder.WEIGHTS).is_file()
            raise CheckpointError(f"{path} is a folder with no last.pt (a run) nor config.json and "
                                  "model.safetensors (an exported model) in it"
                                  + ("; another project's model folder (diffusers) converts with `vqtool convert "
                                     f"{path} --out M.pt`" if other else ""))
        path = path / "last.pt"
    ckpt = folder.load_folder(path) if path.is_dir() else _load_pt(path)
    if isinstance(ckpt, dict) and ckpt.get("format") == _SEG_VQGAN_1:
        ckpt = {**ckpt, "format": VQGAN, "encodes": "seg"}
    if not isinstance(ckpt, dict) or ckpt.get("format") not in FORMATS:
        raise CheckpointError(f"{path} is not a vqtool checkpoint (no known format tag)")
    if ckpt["format"] == VQGAN:
        ckpt.setdefault("encodes", "image")
    if expect is not None:
        wanted = (expect,) if isinstance(expect, str) else expect
        if ckpt["format"] not in wanted:
            raise CheckpointError(
                f"{path} is a {FORMATS[ckpt['format']]} checkpoint; this needs a "
                f"{' or '.join(FORMATS[w] for w in wanted)} checkpoint"
            )
    ckpt["_path"] = str(path)
    return ckpt


def _load_pt(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError, IndexError,
            TypeError, AttributeError, UnicodeDecodeError) as e:
        hint = ""
        if path.suffix == ".ckpt" or "Unsupported global" in str(e):
            hint = " If it is a taming-transformers checkpoint, convert it: vqtool convert-taming."
        raise CheckpointError(f"{path} is not a vqtool checkpoint (cannot be loaded safely).{hint}") from None


def state_fingerprint(state_dict: dict[str, torch.Tensor]) -> str:
    """sha256 over the names and bytes of a state dict: identifies a trained model."""
    h = hashlib.sha256()
    for k in sorted(state_dict):
        t = state_dict[k].detach().cpu().contiguous()
        h.update(k.encode())
        h.update(str(t.dtype).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


