"""Image webdatasets as input: train-vqgan, tokenize (resume, torchrun) and eval-recon read tar
shards and brace patterns like folders, with the same skip-and-report rules."""

import io
import json
import os
import subprocess
import sys
import tarfile

import pytest
import torch
from conftest import TINY_VQGAN
from tests_helpers import fail, ok


def _add(tf, name, data: bytes):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


@pytest.fixture(scope="module")
def tars(scenes, tmp_path_factory):
    """The 12 scenes in 3 shards of 4, classes in .cls (and one in .json); shard 1 also holds a
    corrupt .jpg and an image without a class."""
    d = tmp_path_factory.mktemp("tars")
    files = sorted((scenes / "images").rglob("*.png"))
    names = sorted({f.parent.name for f in files})
    for k in range(3):
        with tarfile.open(d / f"scenes-{k:06d}.tar", "w") as tf:
            for f in files[4 * k: 4 * k + 4]:
                key = f"{f.parent.name}_{f.stem}"
                _add(tf, f"{key}.png", f.read_bytes())
                cls = names.index(f.parent.name)
                if key.endswith("1") and k == 2:
                    _add(tf, f"{key}.json", json.dumps({"label": cls, "caption": "a scene"}).encode())
                else:
                    _add(tf, f"{key}.cls", str(cls).encode())
            if k == 1:
                _add(tf, "broken.jpg", b"\xff\xd8 this is not a jpeg")
                _add(tf, "broken.cls", b"0")
                _add(tf, "nocls.png", files[0].read_bytes())
    return d


@pytest.fixture(scope="module")
def vq(tars, tmp_path_factory):
    d = tmp_path_factory.mktemp("vq")
    (d / "v.toml").write_text(TINY_VQGAN)
    r = ok(["train-vqgan", str(tars / "scenes-{000000..000002}.tar"), "--recipe", d / "v.toml", "--out", d / "run",
            "--set", "data.val_count=2", "--set", "train.eval_every=4"])
    assert "broken.jpg" in r.output  # the corrupt member is reported when it is met (or held out)
    return d / "run" / "last.pt"


def test_train_vqgan_from_a_brace_pattern(vq):
    ck = torch.load(vq, weights_only=True)
    assert ck["step"] == 4 and ck["data"]["n_images"] == 14 - 2  # 12 scenes + 2 extra members, 2 held out
    assert ck["data"]["classes"] == ["0", "1", "2", "3"]


def test_tokenize_tars_equals_tokenizing_the_folder(tars, vq, scenes, tmp_path):
    r = ok(["tokenize", tars, "--out", tmp_path / "t", "--vqgan", vq, "--size", "48", "--val", "2", "--json"])
    s = json.loads(r.stdout)
    skipped = s["skipped_files"]
    assert s["samples"] == 12 and set(skipped) == {"scenes-000001.tar/broken.jpg", "scenes-000001.tar/nocls.png"}
    assert "no class" in skipped["scenes-000001.tar/nocls.png"]
    m = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert m["conditions"] == [] and m["classes"] == ["0", "1", "2", "3"]  # class-conditional: from the classes
    ok(["tokenize", scenes / "images", "--out", tmp_path / "f", "--vqgan", vq, "--size", "48", "--no-seg",
        "--val", "0"])
    from vqtool.data.shards import load_split, read_manifest

    def grids(folder, splits):
        mm = read_manifest(folder)
        return sorted((x["tokens.npy"].tobytes(), mm.classes[x["cls"]] if "cls" in x else None)
                      for split in splits for x in load_split(folder, mm, split))

    a, b = grids(tmp_path / "t", ["train", "val"]), grids(tmp_path / "f", ["train"])
    assert [t for t, _ in a] == [t for t, _ in b]  # the same codes for the same images
    names = ["alpine", "desert", "forest", "lake"]
    assert sorted(names[int(c)] for _, c in a) == sorted(c for _, c in b)  # and the same classes


def test_tokenize_tars_resumes(tars, vq, tmp_path):
    out = tmp_path / "t"
    args = ["tokenize", tars, "--out", out, "--vqgan", vq, "--size", "48", "--val", "2", "--shard-size", "5"]
    ok(args)
    before = _contents(out)
    victim = sorted(out.glob("train-*.tar"))[1]
    victim.unlink()
    victim.with_suffix(".json").unlink()
    r = ok(args)
    assert "resuming" in r.output
    assert _contents(out) == before


def _contents(folder):
    """Each shard's samples: keys, tokens and classes (tar headers carry write times)."""
    from vqtool.data.shards import read_shard

    return {p.name: [(x["__key__"], x["tokens.npy"].tobytes(), x.get("cls")) for x in read_shard(p)]
            for p in sorted(folder.glob("*.tar"))}


def test_torchrun_tokenize_tars(tars, vq, tmp_path):
    env = {**os.environ, "VQTOOL_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    common = ["--vqgan", str(vq), "--size", "48", "--val", "2", "--shard-size", "3", "--device", "cpu"]
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                        "-m", "vqtool", "tokenize", str(tars / "scenes-{000000..000002}.tar"), "--out",
                        str(tmp_path / "ddp"), *common], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    ok(["tokenize", tars / "scenes-{000000..000002}.tar", "--out", tmp_path / "one", *common])
    assert _contents(tmp_path / "ddp") == _contents(tmp_path / "one")


def test_pipe_shards_are_fetched_once_into_the_cache(tars, vq, tmp_path, monkeypatch):
    monkeypatch.setenv("VQTOOL_SHARD_CACHE", str(tmp_path / "cache"))
    common = ["--vqgan", vq, "--size", "48", "--val", "2"]
    ok(["tokenize", f"pipe:cat {tars}/scenes-{{000000..000002}}.tar", "--out", tmp_path / "p", *common])
    ok(["tokenize", tars, "--out", tmp_path / "l", *common])
    assert _contents(tmp_path / "p") == _contents(tmp_path / "l")
    cached = sorted((tmp_path / "cache").iterdir())
    assert len(cached) == 3 and all(p.name.endswith(".tar") for p in cached)
    r = json.loads(ok(["eval-recon", f"pipe:cat {tars}/scenes-000002.tar", "--vqgan", vq, "--size", "32",
                       "--no-rfid", "--json"]).stdout)
    assert r["images"] == 4 and len(list((tmp_path / "cache").iterdir())) == 3  # fetched before: reused


def test_eval_recon_reads_tars_like_the_folder(tars, vq, tmp_path):
    a = json.loads(ok(["eval-recon", tars, "--vqgan", vq, "--size", "32", "--no-rfid", "--json"]).stdout)
    assert a["images"] == 13  # 12 scenes + nocls.png (a class is not needed here); broken.jpg left out
    b = json.loads(ok(["eval-recon", tars / "scenes-000000.tar", "--vqgan", vq, "--size", "32", "--no-rfid",
                       "--json"]).stdout)
    assert b["images"] == 4 and b["psnr"] > 0


def test_truncated_shard_is_reported_and_its_first_samples_kept(tars, vq, tmp_path):
    d = tmp_path / "cut"
    d.mkdir()
    data = (tars / "scenes-000000.tar").read_bytes()
    (d / "a.tar").write_bytes(data[: len(data) * 2 // 3])
    (d / "b.tar").write_bytes((tars / "scenes-000002.tar").read_bytes())
    r = ok(["tokenize", d, "--out", tmp_path / "t", "--vqgan", vq, "--size", "48", "--val", "0", "--json"])
    s = json.loads(r.stdout)
    assert 4 < s["samples"] < 8 and any("truncated" in why for why in s["skipped_files"].values())


def test_bad_tar_inputs(tars, vq, tmp_path):
    fail(["tokenize", tars / "nothing-{000000..000009}.tar", "--out", tmp_path / "o", "--vqgan", vq],
         "matches no file")
    fail(["train-vqgan", tars / "scenes-{000000..000005}.tar", "--out", tmp_path / "o"], "3 of the 6 shards")
    empty = tmp_path / "e"
    empty.mkdir()
    with tarfile.open(empty / "x.tar", "w") as tf:
        _add(tf, "a.txt", b"hello")
        _add(tf, "a.cls", b"1")
    fail(["tokenize", empty, "--out", tmp_path / "o", "--vqgan", vq], "no images in")
    fail(["eval-recon", empty / "x.tar", "--vqgan", vq], "no images in")
    fail(["tokenize", "pipe:exit 3", "--out", tmp_path / "o", "--vqgan", vq], "cannot fetch shard pipe:exit 3")
    fail(["tokenize", tars, "--out", tmp_path / "o", "--vqgan", vq, "--seg", tars], "label maps (--cond seg=DIR) come with image folders")
    assert not (tmp_path / "o").exists()
