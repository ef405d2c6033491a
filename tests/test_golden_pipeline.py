"""Pinned outputs of every path from a checkpoint to an image (issue 14's refactor must not move
them): `vqtool sample` (seg, exact and fast, prefix), the Python API (class + CFG), eval-fid's
batched generation (unconditional) and the transformer's training previews. The goldens were
written by this file (REGENERATE=1) before the generation pipeline was rewritten.

Each output is stored as its pixels' sha256 and, to tell a rounding flip from a real change,
its mean pixel value."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests_helpers import label_map, ok, tiny_transformer

GOLDEN = Path(__file__).parent / "golden" / "pipeline.json"


def _digest(im: Image.Image) -> dict:
    a = np.asarray(im.convert("RGB"))
    return {"size": list(im.size), "sha256": hashlib.sha256(a.tobytes()).hexdigest(), "mean": round(float(a.mean()), 3)}


def _outputs(tmp_path: Path) -> dict:
    import vqtool

    seg = tiny_transformer(tmp_path / "seg.pt", mode="seg", seed=1)
    cls = tiny_transformer(tmp_path / "cls.pt", mode="class", class_dropout=0.1, seed=2)
    unc = tiny_transformer(tmp_path / "unc.pt", mode="uncond", seed=3)
    lab = label_map(tmp_path / "lab.png", size=(44, 28), seed=4)
    out = {}
    for mode in ("exact", "fast"):
        d = tmp_path / f"s-{mode}"
        ok(["sample", "--model", seg, "--cond", lab, "--size", "44x28", "--mode", mode, "--seed", "42",
            "--n", "3", "--batch-size", "2", "--out", d])
        out[f"cli-seg-{mode}"] = [_digest(Image.open(p)) for p in sorted(d.glob("*.png"))]
    prefix = tmp_path / "prefix.png"
    Image.open(sorted((tmp_path / "s-exact").glob("*.png"))[0]).save(prefix)
    d = tmp_path / "s-prefix"
    ok(["sample", "--model", seg, "--cond", lab, "--prefix", prefix, "--size", "44x28", "--seed", "7",
        "--out", d])
    out["cli-seg-prefix"] = [_digest(Image.open(p)) for p in sorted(d.glob("*.png"))]
    b = vqtool.load(cls, device="cpu")
    ims = vqtool.sample(b, n=2, size=(24, 20), class_="lake", cfg=2.0, seed=9007199254740993, top_p=0.9)
    out["api-class-cfg"] = [_digest(im) for im in ims]
    d = tmp_path / "fid"
    ok(["sample", "--model", unc, "--n", "3", "--batch-size", "2", "--size", "20x16", "--seed", "5", "--out", d])
    out["cli-uncond"] = [_digest(Image.open(p)) for p in sorted(d.glob("*.png"))]
    from vqtool.eval.generate_set import generate_set

    d = tmp_path / "gen"
    generate_set(unc, d, 3, seed=5, device="cpu", batch_size=2)
    out["eval-fid-generate"] = [_digest(Image.open(p)) for p in sorted(d.rglob("*.png"))]
    out["preview"] = _preview(tmp_path, cls)
    return out


def _preview(tmp_path: Path, model: Path) -> list:
    from vqtool.core.config import GPTConfig, from_dict
    from vqtool.core.formats import TransformerCheckpoint
    from vqtool.core.transformer import build_gpt
    from vqtool.pipeline.previews import training_samples

    c = TransformerCheckpoint.load(model)
    gpt = build_gpt(from_dict(GPTConfig, c.config["gpt"]), c.layout)
    gpt.load_state_dict(c.model)
    path = tmp_path / "preview.png"
    training_samples(gpt, c.layout, c.first_stage, [{"cls": 1}, {"cls": 3}], path, n=2, seed=3)
    return [_digest(Image.open(path))]


def test_generation_paths_give_the_pinned_images(tmp_path):
    got = _outputs(tmp_path)
    if os.environ.get("REGENERATE"):
        GOLDEN.write_text(json.dumps(got, indent=1))
        pytest.skip("goldens written")
    want = json.loads(GOLDEN.read_text())
    assert set(got) == set(want)
    for k in want:
        assert [g["size"] for g in got[k]] == [w["size"] for w in want[k]], k
        assert [g["mean"] for g in got[k]] == pytest.approx([w["mean"] for w in want[k]], abs=0.05), k
        assert [g["sha256"] for g in got[k]] == [w["sha256"] for w in want[k]], k
