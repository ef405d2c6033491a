"""The demo's --out folder: created with a marker, reused, or with --fresh started over, and never
one holding somebody's own files (`vqtool demo --out ~ --fresh` must not empty a home folder); and
the command lines the demo records for its stages."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from vqtool.core.errors import VqtoolError, check_writable

MARKER = ".vqtool-demo"
# what marks a folder as the demo's: its marker, or the first stage's output (demos before the marker)
SIGNS = (MARKER, "data/scenes/classes.json")


def open_demo_folder(out: Path, fresh: bool) -> Path:
    """``out`` ready for the demo: new, empty, or a demo folder (emptied first with ``fresh``)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise VqtoolError(f"--out {out} is a file; the demo needs a folder")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if entries and not any((out / s).exists() for s in SIGNS):
        shown = ", ".join(entries[:5]) + (", …" if len(entries) > 5 else "")
        raise VqtoolError(f"--out {out} is not a demo folder (it holds {shown}); the demo writes only into a new, "
                          "empty or earlier demo folder: give another --out")
    check_writable(out, "--out")
    if fresh and entries:
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("written by `vqtool demo`; `vqtool demo --fresh` may delete this folder\n")
    return out


def command(name: str, *args, **options) -> str:
    """The vqtool command line of a stage, from the values the stage runs with."""
    words = ["vqtool", name, *map(str, args)]
    for k, v in options.items():
        flag = "--" + k.rstrip("_").replace("_", "-")
        if v is True:
            words.append(flag)
        elif isinstance(v, list):
            for x in v:
                words += [flag, str(x)]
        elif v not in (None, False):
            words += [flag, str(v)]
    return " ".join(shlex.quote(w) for w in words)
