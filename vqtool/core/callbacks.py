"""How library code reports to whoever runs it (the CLI renders these with rich)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


def _noop(*a, **k):
    return None


@dataclass
class Callbacks:
    """How the core reports to whoever runs it (the CLI renders these with rich)."""

    on_start: Callable[[int, int], None] = _noop  # (start_step, max_steps)
    on_step: Callable[[int, dict], None] = _noop  # (step, logs) every step
    info: Callable[[str], None] = _noop
    warn: Callable[[str], None] = _noop
