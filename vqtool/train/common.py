"""What both trainers share: run folders, signals, schedules, metrics, the non-finite guard."""

from __future__ import annotations

import json
import math
import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

from vqtool.core import runtime
from vqtool.core.io.checkpoint import atomic_write
from vqtool.core.config import OptimConfig, to_dict
from vqtool.core.errors import VqtoolError, check_writable
from vqtool.core.config.recipes import to_toml


@dataclass
class StopFlag:
    """Set by SIGINT/SIGTERM; the loop checks it, writes a checkpoint and returns."""

    requested: str | None = None
    _old: dict = field(default_factory=dict)

    def install(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second signal: stop now
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def checkpoint(self, step: int, every: int, last: bool, save, warn) -> bool:
        """Save on schedule, at the end, or when a signal came; True when the loop must stop."""
        if step % every == 0 or last or self.requested:
            save(step)
        if self.requested:
            warn(f"{self.requested}: checkpoint written at step {step}; continue with --resume")
        return bool(self.requested)

    def restore(self) -> None:
        for sig, h in self._old.items():
            signal.signal(sig, h)


def unfinished(last: Path) -> bool:
    """A run whose checkpoint stopped short of its recipe's max_steps (to be resumed, not reused)."""
    if not last.is_file():
        return False
    from vqtool.core.io.checkpoint import load_checkpoint

    c = load_checkpoint(last)
    goal = c["config"].get("train", {}).get("max_steps")  # none in the shipped models' unpacked stages
    return goal is not None and c.get("step", 0) < goal


def prepare_run_dir(out: Path, resume: bool) -> Path | None:
    """The checkpoint to resume from, or None for a fresh run; refuses to overwrite a run."""
    out = Path(out)
    last = out / "last.pt"
    if resume:
        if not last.is_file():
            raise VqtoolError(f"--resume: there is no {last} to resume from")
        check_writable(out, "--out")
        return last
    if last.exists():
        raise VqtoolError(
            f"{out} already holds a run ({last}); pass --resume to continue it or choose another --out"
        )
    check_writable(out, "--out")
    return None


def check_resume_goal(step: int, max_steps: int, out: Path) -> None:
    """--resume of a run already at or past ``train.max_steps``: one message, not a '150/100' bar."""
    if step >= max_steps:
        raise VqtoolError(f"{out} is already at step {step}, and train.max_steps is {max_steps}: nothing to train. "
                          f"To continue it, give a larger value: --resume --set train.max_steps={step * 2}")


def write_config(out: Path, recipe) -> None:
    """Rank 0 creates the run folder and writes the resolved recipe beside the checkpoints."""
    if runtime.is_main():
        atomic_write(out / "config.toml", lambda f: f.write(to_toml(to_dict(recipe)).encode()))


def lr_at(step: int, cfg: OptimConfig, max_steps: int) -> float:
    """Linear warm-up, then constant or cosine decay to 10% of the peak."""
    if cfg.warmup and step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.schedule == "cosine":
        t = (step - cfg.warmup) / max(1, max_steps - cfg.warmup)
        return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))
    return cfg.lr


class MetricsLog:
    """Append-only metrics.jsonl on rank 0. A run that starts (or resumes) at ``start_step`` first
    drops the lines of later steps, left by an attempt that stopped before its next checkpoint (a
    full disk, a kill), so the file reads as one uninterrupted run. ``logger`` (train.logger) also
    sends the scalars and preview images to TensorBoard or W&B (train.loggers)."""

    def __init__(self, run_dir: Path, start_step: int = 0, logger: str = "jsonl", config: dict | None = None):
        from vqtool.train.loggers import open_sink

        self.path = Path(run_dir) / "metrics.jsonl"
        self.sink = open_sink(logger, Path(run_dir), config) if runtime.is_main() else None
        if runtime.is_main() and self.path.is_file():
            lines = self.path.read_text().splitlines(keepends=True)
            keep = [ln for ln in lines if _step_of(ln) <= start_step]
            if len(keep) != len(lines):
                atomic_write(self.path, lambda f: f.write("".join(keep).encode()))

    def write(self, record: dict) -> None:
        if runtime.is_main():
            with open(self.path, "ab") as f:
                size = f.tell()
                try:
                    f.write((json.dumps(record) + "\n").encode())
                    f.flush()
                except OSError:  # a full disk: no half line stays behind to break the file
                    f.truncate(size)
                    raise
        if self.sink is not None:
            from vqtool.train.loggers import scalars

            self.sink.scalars(int(record.get("step", 0)), scalars(record))

    def image(self, tag: str, path: Path, step: int) -> None:
        if self.sink is not None and Path(path).is_file():
            self.sink.image(tag, Path(path), step)

    def close(self) -> None:
        if self.sink is not None:
            self.sink.close()
            self.sink = None


def _step_of(line: str) -> float:
    try:
        return json.loads(line).get("step", 0)
    except (ValueError, AttributeError):
        return math.inf  # a half-written line: dropped


class NonFiniteGuard:
    """NaN/inf guard for one loss (the generator and the discriminator each have their own).

    Under DDP the decision is all-reduced: if any rank's loss is not finite, every rank skips the
    backward pass, so no rank waits forever in an all-reduce the others never join. 20 skipped
    steps in a row stop the run with a message."""

    def __init__(self, name: str = "loss", limit: int = 20):
        self.name, self.limit = name, limit
        self.run = self.total = 0

    def ok(self, loss: torch.Tensor, warn) -> bool:
        bad = (~torch.isfinite(loss.detach())).float().reshape(1)
        runtime.all_reduce_(bad)  # > 0 when any rank saw a non-finite loss
        if bad.item() == 0:
            self.run = 0
            return True
        self.run += 1
        self.total += 1
        if torch.isfinite(loss):
            warn(f"non-finite {self.name} on another rank; step skipped on every rank")
        else:
            warn(f"non-finite {self.name} ({loss.item()}); step skipped")
        if self.run >= self.limit:
            raise VqtoolError(f"{self.limit} non-finite {self.name} values in a row: lower optim.lr or "
                              "resume from an earlier checkpoint")
        return False
