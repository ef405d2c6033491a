"""User-facing errors. The CLI renders any VqtoolError as one message and exit code 2 (an
EnvironmentFault: exit code 1)."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


class VqtoolError(Exception):
    """A problem with the user's input (path, value, file); never a bug in vqtool."""

    exit_code = 2


class ConfigError(VqtoolError):
    """A recipe or --set override names an unknown key or has a wrong type."""


class CheckpointError(VqtoolError):
    """A file is not a checkpoint, or not of the kind a command needs."""


class DataError(VqtoolError):
    """A dataset folder, image, label map or shard folder is unusable."""


class WeightsNotFound(VqtoolError):
    """Pretrained weights (LPIPS VGG16, FID Inception) could not be found or downloaded."""


def require_multiple(option: str, size: int, factor: int) -> None:
    """A crop side the VQGAN maps to whole codes, or one message naming the nearest that are."""
    if size % factor:
        lo = size - size % factor
        near = f"{lo} or {lo + factor}" if lo else str(factor)
        raise VqtoolError(f"{option} {size} is not a multiple of the VQGAN's factor {factor}: try {near}")


class EnvironmentFault(VqtoolError):
    """The machine, not the input: a full disk, a read-only folder, too many open files (exit 1)."""

    exit_code = 1


# errno -> what it means for the user, and what to do
_FAULTS = {
    errno.ENOSPC: ("no space left on the device", "free some space or write elsewhere, then run the same command "
                                                  "again (finished work is kept; training continues with --resume)"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space or write elsewhere, then run the same command again"),
    errno.EROFS: ("the file system is read-only", "write elsewhere"),
    errno.EACCES: ("permission denied", "write elsewhere or fix the folder's permissions"),
    errno.EPERM: ("operation not permitted", "write elsewhere or fix the folder's permissions"),
    errno.EMFILE: ("too many open files", "raise the limit (ulimit -n 4096) or lower --workers"),
    errno.ENFILE: ("too many open files on the system", "close other programs or lower --workers"),
    errno.EIO: ("an input/output error", "check the disk (dmesg) and run the same command again"),
}


def environment_fault(e: OSError) -> EnvironmentFault | None:
    """One message naming the path and what to do, for an OSError the environment caused; None for others."""
    if e.errno not in _FAULTS:
        return None
    what, todo = _FAULTS[e.errno]
    where = e.filename or ""
    return EnvironmentFault(f"{where + ': ' if where else ''}{what}; {todo}")


def check_writable(path, option: str, folder: bool = True) -> None:
    """Refuse (exit 2) an output path that cannot be written, before any work: a folder (or the file's
    folder) where a file cannot be created, because of permissions or a read-only file system."""
    p = Path(path).absolute()
    d = p if folder else p.parent
    while not d.exists() and d != d.parent:
        d = d.parent
    if not d.is_dir():
        raise VqtoolError(f"{option} {path}: {d} is a file, not a folder")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".vqtool-write-test-", dir=d)
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        what = _FAULTS.get(e.errno, (e.strerror or str(e), ""))[0]
        raise VqtoolError(f"{option} {path} cannot be written ({d}: {what}); choose another {option}") from None
