"""Shared option aliases, so every command's --device, --seed, --out, --set read the same."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from vqtool.core.config.bounds import SEED_MAX, SEED_MIN

DeviceOpt = Annotated[str, typer.Option("--device", help="auto, cpu or cuda.")]


def _seed(value: int) -> int:
    # checked here rather than with min/max, whose 20-digit range would widen every help table
    if not SEED_MIN <= value <= SEED_MAX:
        raise typer.BadParameter(f"{value} is not a 64-bit integer ({SEED_MIN} … {SEED_MAX})")
    return value


SeedOpt = Annotated[int, typer.Option("--seed", callback=_seed,
                                      help="Random seed, any 64-bit integer (same seed, same result).")]
BackProjectOpt = Annotated[int, typer.Option(
    "--back-project", min=0, help="Super-resolution (a model with --cond lowres): N steps of back-projection after "
    "decoding, so that the sample downscaled is the low-res input again, its detail kept; 0: off.")]
ModeOpt = Annotated[Literal["exact", "fast"], typer.Option(
    "--mode", help="exact: the paper's window rule; fast: reuse each window placement for half a window of tokens.")]
RecipeOpt = Annotated[Optional[str], typer.Option("--recipe", help="Shipped recipe name or path to a .toml file.")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="Override a recipe key, e.g. --set optim.lr=1e-4 (repeatable).")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its last.pt.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
WeightsDirOpt = Annotated[Optional[Path], typer.Option("--weights-dir", envvar="VQTOOL_WEIGHTS", help="Folder with pretrained weights (LPIPS VGG16, FID Inception).")]


def parse_size(text: str) -> tuple[int, int]:
    """'WIDTHxHEIGHT' in pixels -> (width, height); a bad value is a usage error (exit 2)."""
    try:
        w, h = (int(v) for v in text.lower().replace("×", "x").split("x"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not WIDTHxHEIGHT, e.g. 1280x832") from None
    if w <= 0 or h <= 0:
        raise typer.BadParameter(f"{text!r}: width and height must be positive")
    return w, h


def parse_memory(text: str | None) -> int | None:
    """--max-memory: '16GB', '512MiB', '0' (no limit) -> bytes; None: what is available now."""
    if text is None:
        return None
    from vqtool.core.memory import parse_bytes

    try:
        return parse_bytes(text)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from None


def set_max_pixels(text: str) -> None:
    """--max-pixels: the image pixel limit, for this process and the workers it starts (env)."""
    import os

    from vqtool.core.imagefile import parse_pixels

    try:
        os.environ["VQTOOL_MAX_PIXELS"] = str(parse_pixels(text))
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="'--max-pixels'") from None


MaxMemoryOpt = Annotated[Optional[str], typer.Option(
    "--max-memory", help="Refuse requests estimated to need more (e.g. 16GB, 512MiB; 0: no limit). "
                         "Default: the memory available now.")]
SizeOpt = Annotated[Optional[str], typer.Option("--size", help="WIDTHxHEIGHT in pixels, e.g. 1280x832.")]


def user_errors(fn):
    """Render VqtoolError as one message and exit code 2, and a full disk, a read-only folder or too
    many open files as one message and exit code 1 (tracebacks only with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from vqtool.commands import _ui
        from vqtool.core.errors import VqtoolError, environment_fault

        import warnings

        from vqtool.core.imagefile import MapNote, forget_said

        def show(message, category, *a, **k):  # what the core says once (an RGB map converted): one warning line
            if issubclass(category, MapNote):
                _ui.warn(str(message))
            else:
                shown(message, category, *a, **k)

        shown = warnings.showwarning
        forget_said()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", MapNote)
                warnings.showwarning = show
                return fn(*args, **kwargs)
        except (VqtoolError, OSError) as e:
            err = e if isinstance(e, VqtoolError) else environment_fault(e)
            if err is None or STATE["debug"]:
                raise
            _ui.error(str(err))
            raise typer.Exit(err.exit_code) from None

    return wrapper


STATE = {"debug": False}
