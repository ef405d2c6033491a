"""Where images come from: a folder (class names from first-level sub-folders) or webdataset tar
shards (classes from .cls or the .json), behind one list of files that the loaders read."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vqtool.data.images import class_names, list_images


@dataclass
class Source:
    """The images of a folder or of tar shards: ``files`` are Paths or ``tars.TarMember``s;
    ``labels[i]`` is file i's class index into ``classes`` (None: no class)."""
    spec: str
    files: list
    root: Path | None  # the folder relative names start from (None for tar shards)
    classes: list[str] | None = None
    labels: list | None = None
    problems: list = field(default_factory=list)  # (shard, reason) of shards that broke off

    def rel(self, i: int) -> str:
        f = self.files[i]
        return str(f) if self.root is None else f.relative_to(self.root).as_posix()


def open_source(spec: Path | str) -> Source:
    """A folder (class names from first-level sub-folders), or webdataset tar shards: a folder of
    .tar files, one .tar, or a brace pattern (class ids from .cls, or cls/label/class in .json)."""
    from vqtool.data import tars

    if not tars.is_tar_source(spec):
        root = Path(spec)
        files = list_images(root)
        base = root if root.is_dir() else root.parent
        classes = class_names(files, base) if root.is_dir() else None
        labels = [classes.index(f.relative_to(base).parts[0]) for f in files] if classes else None
        return Source(str(spec), files, base, classes, labels)
    problems: list = []
    files, ids = tars.index_images(spec, problems)
    known = sorted({c for c in ids if c is not None})
    classes = [str(c) for c in known] if known else None
    where = {c: k for k, c in enumerate(known)}
    labels = [where.get(c) for c in ids] if classes else None
    return Source(str(spec), files, None, classes, labels, problems)
