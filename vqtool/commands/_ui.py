"""Rendering for the CLI: one stderr console for humans, stdout for results."""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table

console = Console(stderr=True)


def is_main_rank() -> bool:
    return os.environ.get("RANK", "0") == "0"


def error(msg: str) -> None:
    console.print(f"[bold red]error:[/] {escape(msg)}")


def warn(msg: str) -> None:
    if is_main_rank():
        console.print(f"[bold yellow]warning:[/] {escape(msg)}")


def info(msg: str) -> None:
    if is_main_rank():
        console.print(f"[dim]{escape(msg)}[/]")


def stdout_is_terminal() -> bool:
    return sys.stdout.isatty()


def result(text: str) -> None:
    """A result line on stdout (paths, numbers): what scripts read."""
    if is_main_rank():
        print(text, flush=True)


def figures(row: dict) -> None:
    """Computed figures as one ``key=value`` line on stdout (tables go to stderr, for people)."""
    result(" ".join(f"{k}={_plain(v)}" for k, v in row.items() if not isinstance(v, (dict, list))))


def emit_json(obj) -> None:
    if is_main_rank():
        print(json.dumps(obj, indent=1, default=str), flush=True)


def table(title: str, rows: dict | list[dict]) -> None:
    """A table on stderr; off a terminal (a log file, a pipe) plain tab-separated lines, so no
    column is cut to the width rich guesses."""
    if not is_main_rank():
        return
    if not console.is_terminal:
        lines = [title]
        if isinstance(rows, dict):
            lines += [f"{k}\t{_plain(v)}" for k, v in rows.items()]
        elif rows:
            cols = list(rows[0])
            lines += ["\t".join(map(str, cols))] + ["\t".join(_plain(r.get(c)) for c in cols) for r in rows]
        print("\n".join(lines), file=sys.stderr, flush=True)
        return
    t = Table(title=title, title_justify="left")
    if isinstance(rows, dict):
        t.add_column("")
        t.add_column("")
        for k, v in rows.items():
            t.add_row(str(k), _fmt(v))
    else:
        cols = list(rows[0]) if rows else []
        for c in cols:
            t.add_column(str(c))
        for r in rows:
            t.add_row(*[_fmt(r.get(c)) for c in cols])
    console.print(t)


def written(title: str, r: dict, as_json: bool) -> None:
    """A command's record of what it wrote: JSON (--json), or a table and its ``out`` path as the result."""
    if as_json:
        emit_json(r)
    else:
        table(title, r)
        result(r["out"])


def _plain(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return escape(str(v))


def _fmt_logs(logs: dict) -> str:
    keys = ["loss", "rec_loss", "bce", "d_loss", "val_bpt", "usage", "tok_s"]
    return " ".join(f"{k} {logs[k]:.3g}" for k in keys if isinstance(logs.get(k), (int, float)))


@contextmanager
def progress(description: str, total: int | None = None):
    """A rich progress bar on stderr; yields ``advance(n=1, **fields)``."""
    bar = Progress(SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
                   MofNCompleteColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn(),
                   TimeRemainingColumn(), console=console, refresh_per_second=4,
                   disable=not is_main_rank())
    with bar:
        task = bar.add_task(description, total=total, status="")

        def advance(n: int = 1, status: str | None = None, total: int | None = None, completed=None):
            kw = {"status": status} if status is not None else {}
            if total is not None:
                kw["total"] = total
            if completed is not None:
                bar.update(task, completed=completed, **kw)
            else:
                bar.update(task, advance=n, **kw)

        try:
            yield advance
        except Exception:
            # the work failed (a bad value found on the way, a refusal): its error is the one message,
            # so the bar goes instead of staying behind as a stale "0/N" line
            bar.live.transient = True
            bar.live.stop()
            bar.disable = True  # Progress.stop would still print a newline on a non-terminal
            raise


@contextmanager
def training_callbacks(description: str):
    """Callbacks for a core training loop, drawn as a progress bar with the latest losses.
    When stderr is no terminal, a plain line every 10% keeps logs readable."""
    from vqtool.core.callbacks import Callbacks

    plain = not console.is_terminal
    with progress(description) as advance:
        state = {"total": 1}

        def on_start(start, total):
            state["total"] = total
            advance(0, total=total, completed=start)

        def on_step(step, logs):
            advance(1, status=_fmt_logs(logs))
            every = max(state["total"] // 10, 1)
            if plain and (step % every == 0 or step == state["total"]):
                info(f"{description} step {step}/{state['total']} {_fmt_logs(logs)}")

        yield Callbacks(on_start=on_start, on_step=on_step, info=info, warn=warn)


def print_version_line() -> None:
    import torch

    from vqtool import __version__

    cuda = "cuda available" if torch.cuda.is_available() else "no cuda"
    print(f"vqtool {__version__} (torch {torch.__version__}, {cuda}, python {sys.version.split()[0]})")
