"""Token shards: webdataset tar files of code grids plus a manifest.json.

Per sample ``<key>.tokens.npy`` (2-D uint16 grid; uint32 for codebooks above 65,536), optional ``.tokens_flip.npy``, ``.cond.npy``
(segmentation tokens on the same grid), ``.cond_flip.npy``, ``.cls`` and ``.json`` (provenance).
A shard is written under a temporary name and renamed when complete; its sidecar
``<shard>.json`` (count, skipped files) is written last, so a shard with a sidecar is whole.
"""

from __future__ import annotations

import dataclasses
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vqtool.core.io.checkpoint import atomic_write
from vqtool.core.errors import DataError

FORMAT = "vqtool.tokens/1"
MANIFEST = "manifest.json"


def code_dtype(codebook_size: int) -> type:
    """The smallest unsigned type that holds every id of a codebook."""
    if codebook_size <= 2**16:
        return np.uint16
    if codebook_size <= 2**32:
        return np.uint32
    raise DataError(f"a codebook of {codebook_size} codes does not fit 32-bit token ids")


def entropy_bits(counts) -> float:
    """Entropy in bits of a code histogram: what a model that ignores context would score."""
    p = np.asarray(counts, np.float64)
    p = p[p > 0] / max(p.sum(), 1)
    return float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: never -0.0


def codes_collapsed(manifest: Manifest) -> str | None:
    """Why a shard folder's codes look like a collapsed VQGAN's, or None: the training floors
    (core.quantize.collapsed) applied to the dataset's code histogram. Its perplexity is 2^entropy;
    its usage is counted against the codes its tokens could have used, min(codebook, tokens), so a
    small dataset on a large codebook is not called collapsed for having few tokens."""
    from vqtool.core.tokenizer.quantize import collapsed

    n = manifest.codebook_size
    tokens = sum(int(np.prod(g)) * c for g, c in manifest.grid_counts)
    if not tokens:
        return None
    usage = 100.0 * manifest.codes_used / min(n, tokens)
    return collapsed({"usage": usage, "perplexity": 2.0 ** manifest.code_entropy_bits}, n)


def shard_name(split: str, k: int) -> str:
    return f"{split}-{k:06d}.tar"


def write_shard(path: Path, samples: list[dict], extra: dict) -> None:
    """Write samples (dicts with __key__ and encoded fields) atomically, then the sidecar."""
    import webdataset as wds

    def write(f):
        with wds.TarWriter(f) as w:
            for s in samples:
                w.write(s)

    atomic_write(path, write)
    side = {"count": len(samples), **extra}
    atomic_write(path.with_suffix(".json"), lambda f: f.write(json.dumps(side).encode()))


def shard_done(path: Path) -> dict | None:
    side = path.with_suffix(".json")
    if path.is_file() and side.is_file():
        return json.loads(side.read_text())
    return None


JOB = "job.json"
# what a tokenize job is made of, and how a user names each part
JOB_KEYS = {"files": "the image files", "vqgan_fingerprint": "the image VQGAN (--vqgan)",
            "size": "--size", "max_side": "--max-side", "flip": "--flip", "shard_size": "--shard-size",
            "val_count": "--val"}  # and what each condition's job_keys add (its VQGAN, its input folder)


def check_job(folder: Path, job: dict, overwrite: bool, names: dict | None = None) -> list[Path]:
    """Whether ``folder`` may take shards of ``job``: a new folder, or one this same job began
    (resume), gives []. Another job's folder is refused with the differences named (``names``: how
    the user names each key beyond JOB_KEYS), or with ``overwrite`` gives the files of that job, for
    the caller to delete before it starts over."""
    keys = {**JOB_KEYS, **(names or {})}
    folder = Path(folder)
    ours = [*folder.glob("train-*.tar"), *folder.glob("val-*.tar"), *folder.glob("train-*.json"),
            *folder.glob("val-*.json"), folder / MANIFEST, folder / JOB]
    present = [p for p in ours if p.is_file()]
    if not present:
        return []
    old = json.loads((folder / JOB).read_text()) if (folder / JOB).is_file() else None
    if old is not None:
        diff = [k for k in keys if old.get(k) != job.get(k)]
        if not diff:
            return []
        what = "; ".join(f"{keys[k]}: {_show(old.get(k))} there, {_show(job.get(k))} now" for k in diff)
        reason = f"{folder} holds shards of another tokenize job ({what})"
    else:
        reason = f"{folder} holds shards or a manifest that no tokenize job record ({JOB}) vouches for"
    if not overwrite:
        raise DataError(f"{reason}. Choose another --out, or pass --overwrite to delete them and tokenize anew")
    return present


def _show(v) -> str:
    return f"{v[:12]}…" if isinstance(v, str) and len(v) > 16 else repr(v)


def write_job(folder: Path, job: dict) -> None:
    atomic_write(Path(folder) / JOB, lambda f: f.write(json.dumps(job, indent=1).encode()))


def write_manifest(folder: Path, manifest: Manifest) -> None:
    atomic_write(Path(folder) / MANIFEST, lambda f: f.write(json.dumps(manifest.to_dict(), indent=1).encode()))


def read_manifest(folder: Path | str) -> Manifest:
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"shard folder not found: {folder}")
    if not (folder / MANIFEST).is_file():
        raise DataError(f"{folder} has no {MANIFEST}: is it a folder written by `vqtool tokenize`? "
                        "(an interrupted tokenize writes it when it completes; rerun it to resume)")
    try:
        m = json.loads((folder / MANIFEST).read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"{folder / MANIFEST} is not valid JSON: {e}") from None
    if m.get("format") != FORMAT:
        raise DataError(f"{folder / MANIFEST} has format {m.get('format')!r}; expected {FORMAT!r}")
    return Manifest.from_dict(m)


def decode_field(field: str, data: bytes):
    """One member's bytes as the value its field holds (arrays, class id, provenance)."""
    if field.endswith("npy"):
        return np.load(io.BytesIO(data), allow_pickle=False)
    if field == "cls":
        return int(data.decode())
    if field == "json":
        return json.loads(data.decode())
    return data


def grid_stats(samples: list[dict]) -> dict:
    """Grid sizes, code counts and up to three example paths per grid size (for the sidecar)."""
    grids, examples, counts = {}, {}, np.zeros(1, np.int64)
    for s in samples:
        g = "x".join(str(int(v)) for v in s["tokens.npy"].shape)
        grids[g] = grids.get(g, 0) + 1
        if len(examples.setdefault(g, [])) < 3:
            examples[g].append((s.get("json") or {}).get("path", s["__key__"]))
        c = np.bincount(s["tokens.npy"].ravel().astype(np.int64))
        counts = np.pad(counts, (0, max(len(c) - len(counts), 0)))
        counts[:len(c)] += c
    return {"grids": grids, "grid_examples": examples,
            "code_counts": {str(i): int(c) for i, c in enumerate(counts) if c}}


def read_shard(path: Path) -> list[dict]:
    """All samples of one shard; a truncated or corrupt tar is a DataError naming the file."""
    samples: dict[str, dict] = {}
    try:
        with tarfile.open(path, "r") as tf:
            for member in tf:
                if not member.isfile():
                    continue
                key, field = member.name.split(".", 1)
                samples.setdefault(key, {"__key__": key})[field] = decode_field(field, tf.extractfile(member).read())
    except (tarfile.TarError, OSError, ValueError, EOFError) as e:
        raise DataError(f"shard {path} is truncated or corrupt ({e}); rerun `vqtool tokenize` to rewrite it") from None
    broken = [k for k, v in samples.items() if "tokens.npy" not in v]
    if broken:
        raise DataError(f"shard {path} is truncated or corrupt (sample {broken[0]} has no tokens.npy); "
                        "rerun `vqtool tokenize` to rewrite it")
    return list(samples.values())


def load_split(folder: Path | str, manifest: Manifest, split: str = "train") -> list[dict]:
    """Read every sample of a split into memory (token grids are small: 512 B for 16x16)."""
    folder = Path(folder)
    entries = manifest.shards if split == "train" else manifest.val_shards
    out = []
    for e in entries:
        path = folder / e["name"]
        if not path.is_file():
            raise DataError(f"shard {path} listed in the manifest is missing")
        got = read_shard(path)
        if len(got) != e["count"]:
            raise DataError(f"shard {path} holds {len(got)} samples; the manifest says {e['count']} "
                            "(truncated or replaced?)")
        out.extend(got)
    if split == "train" and not out:
        raise DataError(f"{folder} holds no training samples (empty shards)")
    return out


@dataclass
class Manifest:
    """A shard folder's manifest.json: written in one place (``write_manifest``) and read in one
    (``read_manifest``). ``conditions``: the conditions tokenized beside the images, one record each
    (kind, the VQGAN that encoded it and its fingerprint, codebook size, the input folder, and what
    the kind keeps: label names, palette). A previous release's manifest (``mode``, ``seg_*``) is
    migrated on read."""

    source: str
    vqgan: str
    vqgan_fingerprint: str | None
    codebook_size: int
    factor: int
    size: int = 0
    max_side: int = 0
    flip: bool = False
    classes: list | None = None
    conditions: list[dict] = field(default_factory=list)
    grid_counts: list = field(default_factory=list)
    shards: list = field(default_factory=list)
    val_shards: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)
    upscaled: int = 0
    code_entropy_bits: float = 0.0
    codes_used: int = 0
    format: str = FORMAT

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Manifest:
        from vqtool.core.conditioning.records import legacy_manifest_conditions

        names = {f.name for f in dataclasses.fields(cls)}
        kept = {k: v for k, v in d.items() if k in names}
        if "conditions" not in d:
            kept["conditions"] = legacy_manifest_conditions(d)
        return cls(**kept)

    def record(self) -> dict:
        """What a transformer checkpoint keeps of it (everything but the skipped files)."""
        return {k: v for k, v in self.to_dict().items() if k != "skipped"}

    def transformer_conditions(self) -> list[dict]:
        """The conditions of a transformer trained on these shards (core.conditioning.for_dataset)."""
        from vqtool.core.conditioning.records import for_dataset

        return for_dataset(self.conditions, self.classes)

    def condition(self, kind: str) -> dict | None:
        """The tokenized condition record of a kind (its VQGAN, its input folder), or None."""
        return next((c for c in self.conditions if c["kind"] == kind), None)

    @property
    def samples(self) -> int:
        return sum(s["count"] for s in self.shards)
