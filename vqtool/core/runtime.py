"""Device, precision, seeding and torchrun/DDP helpers."""

from __future__ import annotations

import atexit
import contextlib
import os
import random
import resource
import sys

import torch
import torch.distributed as dist

from vqtool.core.errors import VqtoolError


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise VqtoolError("--device cuda was asked for but no CUDA device is available")
    if name not in ("cpu", "cuda"):
        raise VqtoolError(f"--device must be auto, cpu or cuda; got {name!r}")
    return torch.device(name)


def autocast(device: torch.device, amp: str = "auto"):
    """bf16 autocast on CUDA (amp auto or bf16); a no-op context on the CPU or with fp32."""
    if device.type == "cuda" and amp in ("auto", "bf16"):
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def seed_all(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# --------------------------------------------------------------------------- distributed


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


def init_distributed(device: torch.device) -> torch.device:
    """Join the torchrun process group when WORLD_SIZE>1; returns this rank's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or is_distributed():
        return device
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend=backend)
    # leave the group before the interpreter exits: a gloo group torn down by process exit can abort a
    # rank ("terminate called without an active exception") after a finished run, and torchrun reports a failure
    atexit.register(leave_distributed)
    if device.type == "cuda":
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return device


def leave_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_(t: torch.Tensor) -> torch.Tensor:
    """Sum a tensor over ranks in place (no-op when not distributed)."""
    if is_distributed():
        dist.all_reduce(t)
    return t


def broadcast_(t: torch.Tensor, src: int = 0) -> torch.Tensor:
    if is_distributed():
        dist.broadcast(t, src)
    return t


def barrier() -> None:
    if is_distributed():
        dist.barrier()


# --------------------------------------------------------------------------- memory


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA allocation, or the process's peak resident set size on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 2**20
