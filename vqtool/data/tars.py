"""Reading webdataset tar shards: a folder of ``.tar`` files, a brace pattern
(``data/train-{000000..000146}.tar``), a ``pipe:`` command or a URL.

A sample is the members that share a key (``0001.jpg`` + ``0001.cls`` -> ``{"__key__": "0001",
"jpg": b"...", "cls": b"..."}``), as webdataset groups them; bytes stay undecoded here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator, NamedTuple

from vqtool.core.errors import DataError

REMOTE = ("pipe:", "http://", "https://", "s3://", "gs://")


def is_remote(url: str) -> bool:
    return str(url).startswith(REMOTE)


def is_tar_source(spec: Path | str) -> bool:
    """A tar file, a brace pattern, a pipe:/URL, or a folder that holds .tar shards and no images."""
    s = str(spec)
    if is_remote(s) or "{" in s or s.endswith(".tar"):
        return True
    p = Path(s)
    return p.is_dir() and any(p.glob("*.tar")) and not any(
        f.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp", ".bmp") for f in p.rglob("*") if f.is_file())


def expand(spec: Path | str) -> list[str]:
    """The shard URLs of a source, in order; local shards must exist."""
    import braceexpand

    s = str(spec)
    if not is_remote(s) and Path(s).is_dir():
        found = sorted(str(p) for p in Path(s).glob("*.tar"))
        if not found:
            raise DataError(f"{s} holds no .tar shards")
        return found
    urls = list(braceexpand.braceexpand(s))
    if is_remote(s):
        return urls
    missing = [u for u in urls if not Path(u).is_file()]
    if len(missing) == len(urls):
        what = "the brace pattern" if len(urls) > 1 or "{" in s else "the tar file"
        raise DataError(f"{what} {s} matches no file (first expected: {urls[0]})")
    if missing:
        raise DataError(f"{len(missing)} of the {len(urls)} shards of {s} are missing (first: {missing[0]})")
    return urls


def shard_name(url: str) -> str:
    """A short name for messages and sample provenance: the file name of the shard."""
    return str(url).rstrip("/").split("/")[-1].split(" ")[-1]


def samples(url: str, problems: list | None = None) -> Iterator[dict]:
    """The samples of one shard in file order. A tar that cannot be read, or breaks off, ends
    the shard: the reason goes to ``problems`` (a list) when given, else raises DataError."""
    import tarfile

    import webdataset as wds
    from webdataset.tariterators import group_by_keys, tar_file_iterator

    def members(stream):
        for m in tar_file_iterator(stream):
            yield {**m, "__url__": url}

    try:
        stream = wds.gopen(url, "rb")
    except Exception as e:  # noqa: BLE001 - gopen raises whatever its scheme raises
        _problem(problems, f"cannot open shard {url}: {e}")
        return
    try:
        for s in group_by_keys(members(stream)):
            s.pop("__url__", None)
            yield s
    except (tarfile.TarError, OSError, EOFError, ValueError) as e:
        _problem(problems, f"shard {url} is truncated or corrupt ({e})")
    finally:
        stream.close()


def _problem(problems: list | None, message: str) -> None:
    if problems is None:
        raise DataError(message)
    problems.append(message)


IMAGE_FIELDS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "gif")
CLASS_KEYS = ("cls", "label", "class")  # where a sample's .json may hold its class id


class TarMember(NamedTuple):
    """One image inside a local tar shard, addressed by its byte range: random access for
    shuffled, resumable training. ``str()`` is ``shard.tar/key.jpg``, for messages and keys."""
    url: str  # the local file read (a cached copy for pipe:/URL shards)
    name: str
    offset: int
    size: int
    shard: str  # the shard's name as the user's source names it


    def read(self) -> bytes:
        with open(self.url, "rb") as f:
            if self.offset + self.size > os.fstat(f.fileno()).st_size:  # the shard changed since it was indexed
                raise OSError(f"{self} claims {self.size:,} bytes past the end of {self.url}")
            f.seek(self.offset)
            return f.read(self.size)

    def __str__(self) -> str:
        return f"{self.shard}/{self.name}"


def _class_of(fields: dict, read) -> int | None:
    """A sample's class id from its .cls member, else from a class field of its .json."""
    import json

    if "cls" in fields:
        try:
            return int(read(fields["cls"]).decode().strip())
        except ValueError:
            return None
    if "json" in fields:
        try:
            meta = json.loads(read(fields["json"]).decode())
        except ValueError:
            return None
        for k in CLASS_KEYS:
            if isinstance(meta, dict) and isinstance(meta.get(k), int):
                return meta[k]
    return None


def _check_end(url: str, members: dict, problems: list, broken: str | None = None) -> None:
    """A shard must hold every member it declares whole, and the end-of-archive blocks after the
    last: tarfile stops quietly at a cut, and a header may claim more bytes than the file has (1 TiB
    in a shard of 50 KB). Members whose data runs past the file's end are dropped, whatever tarfile
    said, and the cut is a problem (``broken``: the error tarfile stopped with)."""
    size = Path(url).stat().st_size
    end = max((m.offset_data + -(-m.size // 512) * 512 for f in members.values() for m in f.values()), default=0)
    whole = {k: f for k, f in members.items() if all(m.offset_data + m.size <= size for m in f.values())}
    claims = [m for k in set(members) - set(whole) for m in members[k].values() if m.offset_data + m.size > size]
    said = f"; a member claims {claims[0].size:,} bytes" if claims else ""
    if broken is not None:
        problems.append((url, f"the shard is truncated or corrupt after {len(whole)} whole samples ({broken}{said})"))
    elif size < end + 1024:
        problems.append((url, f"the shard is truncated (cut at byte {size}; {len(whole)} whole samples kept{said})"))
    for k in set(members) - set(whole):
        del members[k]


def cache_dir() -> Path:
    """Where shards from pipe: commands and URLs are kept: env VQTOOL_SHARD_CACHE, else
    ~/.cache/vqtool/shards."""
    import os

    return Path(os.environ.get("VQTOOL_SHARD_CACHE") or Path.home() / ".cache" / "vqtool" / "shards")


def cached(url: str) -> str:
    """A local copy of a pipe:/URL shard, fetched once (written under a temporary name, renamed
    when whole, so an interrupted fetch is fetched again) and reused by every later run."""
    import hashlib
    import shutil

    import webdataset as wds

    local = cache_dir() / f"{hashlib.sha1(url.encode()).hexdigest()[:16]}-{shard_name(url)}"
    if local.is_file():
        return str(local)
    local.parent.mkdir(parents=True, exist_ok=True)
    tmp = local.with_name(f".{local.name}.part")
    try:
        stream = wds.gopen(url, "rb")
        with open(tmp, "wb") as f:
            shutil.copyfileobj(stream, f, 1 << 20)
        stream.close()  # a pipe: command's exit status is checked here
    except Exception as e:  # noqa: BLE001 - gopen and the command raise what their scheme raises
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot fetch shard {url}: {e}") from None
    tmp.replace(local)
    return str(local)


def index_images(spec: Path | str, problems: list) -> tuple[list[TarMember], list[int | None]]:
    """Every image member of the source's shards (a header scan: no image is read) and its class
    id (None where the sample has none); pipe:/URL shards are first copied to the local cache
    (``cached``). A shard that breaks off keeps the members before the break; (shard, reason)
    goes to ``problems``."""
    import tarfile

    given = expand(spec)
    urls = [cached(u) if is_remote(u) else u for u in given]  # random access needs a local file
    refs, classes = [], []
    for url, name in zip(urls, map(shard_name, given)):
        members: dict[str, dict] = {}
        try:
            with tarfile.open(url, "r:") as tf:
                for m in tf:
                    head, _, base = m.name.rpartition("/")
                    key, dot, ext = base.partition(".")
                    if m.isfile() and dot:
                        members.setdefault(f"{head}/{key}" if head else key, {})[ext.lower()] = m
        except (tarfile.TarError, OSError, EOFError) as e:
            _check_end(url, members, problems, str(e))
        else:
            _check_end(url, members, problems)
        with open(url, "rb") as f:
            def read(m, f=f):
                f.seek(m.offset_data)
                return f.read(m.size)

            for key, fields in members.items():
                img = next((fields[e] for e in IMAGE_FIELDS if e in fields), None)
                if img is None:
                    continue
                ext = next(e for e in IMAGE_FIELDS if e in fields)
                refs.append(TarMember(url, f"{key}.{ext}", img.offset_data, img.size, name))
                classes.append(_class_of(fields, read))
    if not refs:
        raise DataError(f"no images in {spec} (looked for .{', .'.join(IMAGE_FIELDS)} members in {len(urls)} "
                        "tar shard(s))")
    return refs, classes

