"""eval-fid with a stated protocol: one preparation for both sides, precomputed reference
statistics (--ref-stats) and writing them (--save-stats)."""

import json

import numpy as np
import pytest
from PIL import Image

from tests_helpers import fail, noise_folder, ok


def folder(path, shift=0):
    return noise_folder(path, shift=shift, size=(80, 64))


def test_saved_stats_round_trip(tmp_path, inception_weights):
    a, b = folder(tmp_path / "a"), folder(tmp_path / "b", shift=30)
    stats = tmp_path / "ref" / "a-stats.npz"
    w = ["--weights-dir", inception_weights, "--json"]
    direct = json.loads(ok(["eval-fid", b, a, "--save-stats", stats, *w]).stdout)
    z = np.load(stats)
    assert z["mu"].shape == (2048,) and z["sigma"].shape == (2048, 2048) and int(z["n"]) == 6
    self_fid = json.loads(ok(["eval-fid", a, "--ref-stats", stats, *w]).stdout)
    assert abs(self_fid["metrics"]["fid"]) < 1e-6 * max(direct["metrics"]["fid"], 1)  # a folder against its own stats
    via = json.loads(ok(["eval-fid", b, "--ref-stats", stats, *w]).stdout)
    assert via["metrics"]["fid"] == pytest.approx(direct["metrics"]["fid"], rel=1e-4)
    p = via["protocol"]
    assert "precomputed statistics" in p["preprocess_reference"] and "256x256" in p["preprocess_generated"]
    assert "256x256" in direct["protocol"]["preprocess_reference"]


def test_both_sides_share_one_preparation():
    from vqtool.eval.fid import prepare_fid

    rng = np.random.default_rng(0)
    big = Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8))
    small = big.crop((50, 0, 350, 300)).resize((256, 256), Image.BICUBIC)  # the model's resolution
    assert np.array_equal(prepare_fid(big).numpy(), prepare_fid(small).numpy())
    assert prepare_fid(big, 0).shape == (3, 299, 299)


def test_bad_reference_statistics(tmp_path, inception_weights):
    a = folder(tmp_path / "a")
    w = ["--weights-dir", inception_weights]
    np.savez(tmp_path / "nomu.npz", sigma=np.eye(2048))
    fail(["eval-fid", a, "--ref-stats", tmp_path / "nomu.npz", *w], "has no mu")
    np.savez(tmp_path / "small.npz", mu=np.zeros(64), sigma=np.eye(64))
    fail(["eval-fid", a, "--ref-stats", tmp_path / "small.npz", *w], "2048 dimensions")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    fail(["eval-fid", a, "--ref-stats", tmp_path / "junk.npz", *w], "is not an npz file")
    fail(["eval-fid", a, "--ref-stats", tmp_path / "missing.npz", *w], "reference statistics not found")
    np.savez(tmp_path / "ok.npz", mu=np.zeros(2048), sigma=np.eye(2048))
    fail(["eval-fid", a, "--ref-stats", tmp_path / "ok.npz", "--kid", *w], "FID only")
    fail(["eval-fid", a, "--ref-stats", tmp_path / "ok.npz", "--save-stats", tmp_path / "x.npz", *w], "with --ref-stats")
