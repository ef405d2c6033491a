"""FID through torch-fidelity's real InceptionV3 path, offline, with randomly initialised weights."""

import json

import pytest
import torch
from typer.testing import CliRunner

from tests_helpers import fail, noise_folder
from vqtool.cli import app

runner = CliRunner()


folder = noise_folder


@pytest.fixture
def weights(inception_weights):
    return inception_weights


def fid(gen, ref, weights, *extra):
    r = runner.invoke(app, ["eval-fid", str(gen), str(ref), "--weights-dir", str(weights), "--json", *extra])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_fid_self_is_zero_and_grows_with_shift(tmp_path, weights):
    a = folder(tmp_path / "a")
    near = folder(tmp_path / "near", shift=15)
    far = folder(tmp_path / "far", shift=55)
    same = fid(a, a, weights)
    f1, f2 = fid(near, a, weights)["metrics"]["fid"], fid(far, a, weights)["metrics"]["fid"]
    assert 0 < f1 < f2
    assert abs(same["metrics"]["fid"]) < 1e-6 * f2, (same, f1, f2)  # ~0 against itself
    p = json.loads((near / "fid.json").read_text())["protocol"]  # written beside the number
    assert p["n_generated"] == 6 and p["weights_sha256"] and "bicubic" in p["preprocess"]
    assert p["torch_fidelity"] and any("50k" in n for n in p["notes"])


def test_kid_subset_adjusted_and_other_metrics(tmp_path, weights):
    a, b = folder(tmp_path / "a"), folder(tmp_path / "b", shift=20)
    r = fid(b, a, weights, "--kid", "--prc")
    assert "kid" in r["metrics"] and "precision" in r["metrics"]
    assert any("KID subset size lowered from 1000 to 6" in n for n in r["protocol"]["notes"])


def test_reference_cache_used_then_invalidated(tmp_path, weights):
    from vqtool.eval.fid import FolderImages

    a, b = folder(tmp_path / "a"), folder(tmp_path / "b", shift=20)
    FolderImages.reads = 0
    first = fid(b, a, weights)["metrics"]["fid"]
    r1 = FolderImages.reads  # both folders (plus torch-fidelity's probe of each input's first item)
    assert r1 >= 12
    second = fid(b, a, weights)["metrics"]["fid"]
    assert FolderImages.reads - r1 <= r1 - 6 and second == pytest.approx(first)  # 6 reference images not re-read
    r2 = FolderImages.reads
    folder(a, n=6, seed=9)  # the reference folder changes
    third = fid(b, a, weights)["metrics"]["fid"]
    assert FolderImages.reads - r2 == r1 and third != pytest.approx(first)


def test_fid_bad_inputs(tmp_path, weights):
    a = folder(tmp_path / "a")
    (tmp_path / "empty").mkdir()
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.png").write_text("not an image")
    for args, needle in [
        ([str(tmp_path / "empty"), str(a), "--weights-dir", str(weights)], "holds no images"),
        ([str(junk), str(a), "--weights-dir", str(weights)], "no readable images"),
        ([str(a), str(a), "--weights-dir", str(tmp_path / "nowhere")], "weights-inception-2015-12-05-6726825d.pth"),
    ]:
        r = runner.invoke(app, ["eval-fid", *args])
        assert r.exit_code == 2 and needle in " ".join(r.output.split()), r.output


def test_fid_missing_weights_names_file_and_fix(tmp_path):
    a = folder(tmp_path / "a")
    r = runner.invoke(app, ["eval-fid", str(a), str(a), "--weights-dir", str(tmp_path / "w")])
    flat = " ".join(r.output.split())
    assert r.exit_code == 2 and "6726825d" in flat and "fetch-weights" in flat


def test_model_without_manifest_and_no_reference(tmp_path, scenes, tiny_recipe):
    runner.invoke(app, ["train-vqgan", str(scenes / "images"), "--recipe", str(tiny_recipe), "--out",
                        str(tmp_path / "v"), "--set", "train.max_steps=1"])
    a = folder(tmp_path / "a")
    r = runner.invoke(app, ["eval-fid", str(a), "--model", str(tmp_path / "v" / "last.pt")])
    assert r.exit_code == 2 and "no token manifest" in " ".join(r.output.split())
    r = runner.invoke(app, ["eval-fid", str(a), "--model", str(tmp_path / "missing.pt")])
    assert r.exit_code == 2 and "no REFERENCE given" in " ".join(r.output.split())


def test_psnr_ssim_hand_values():
    from vqtool.eval.metrics import psnr, ssim

    a = torch.full((1, 3, 16, 16), 0.5)
    b = torch.full((1, 3, 16, 16), 0.6)
    assert psnr(a, b).item() == pytest.approx(20.0, abs=1e-4)  # mse 0.01
    c1 = 0.01**2
    want = (2 * 0.5 * 0.6 + c1) / (0.25 + 0.36 + c1)  # constant images: only the luminance term
    assert ssim(a.double(), b.double()).item() == pytest.approx(want, rel=1e-6)
    x = torch.rand(2, 3, 20, 20, dtype=torch.float64)
    assert torch.allclose(ssim(x, x), torch.ones(2, dtype=torch.float64))
    noisy = (x + 0.2 * torch.randn_like(x)).clamp(0, 1)
    assert ssim(x, noisy).max() < 0.9


def test_eval_recon_with_random_lpips_and_inception(tmp_path, scenes, tiny_recipe, weights, monkeypatch):
    import torchvision

    from vqtool.core.io import weights as w

    sd = {f"features.{k}": v for k, v in torchvision.models.vgg16().features.state_dict().items()}
    torch.save(sd, weights / "vgg16-397923af.pth")
    monkeypatch.setitem(w.REGISTRY, "vgg16", w.WeightFile(
        "vgg16", "vgg16-397923af.pth", "http://127.0.0.1:9/none", w.sha256_of(weights / "vgg16-397923af.pth")[:8], "t"))
    runner.invoke(app, ["train-vqgan", str(scenes / "images"), "--recipe", str(tiny_recipe), "--out",
                        str(tmp_path / "v"), "--set", "train.max_steps=2"])
    r = runner.invoke(app, ["eval-recon", str(scenes / "images"), "--vqgan", str(tmp_path / "v" / "last.pt"),
                            "--weights-dir", str(weights), "--json", "--size", "32"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["images"] == 12 and 0 < d["usage"] <= 100 and d["psnr"] > 0 and 0 < d["ssim"] <= 1
    assert d["lpips"] is not None and d["rfid"] is not None


def test_eval_recon_size_not_a_multiple_of_the_factor(tmp_path, scenes, tiny_recipe):
    """--size 100 with an f8 VQGAN crashed with a tensor-size traceback (found by a stranger's run)."""
    runner.invoke(app, ["train-vqgan", str(scenes / "images"), "--recipe", str(tiny_recipe), "--out",
                        str(tmp_path / "v"), "--set", "train.max_steps=1"])
    v = tmp_path / "v" / "last.pt"  # f4 (ch_mult [1, 2, 2])
    fail(["eval-recon", scenes / "images", "--vqgan", v, "--size", "34", "--no-rfid"],
         "--size 34 is not a multiple of the VQGAN's factor 4: try 32 or 36")
    r = runner.invoke(app, ["eval-recon", str(scenes / "images"), "--vqgan", str(v), "--size", "36", "--no-rfid",
                            "--json", "--n", "2"])
    assert r.exit_code == 0 and json.loads(r.stdout)["size"] == 36, r.output
    # bench vqgan's --size: the same rule (scenes-vqgan-tiny is f16)
    fail(["bench", "vqgan", "--steps", "1", "--batch-size", "1", "--size", "33"],
         "--size 33 is not a multiple of the VQGAN's factor 16: try 32 or 48")
    fail(["bench", "vqgan", "--steps", "1", "--batch-size", "1", "--size", "8"], "factor 16: try 16")


def test_named_inception_file_with_another_hash_is_used_and_marked(tmp_path, weights):
    """--inception-weights FILE whose sha256 is not the published one: used as asked (it was refused),
    one warning, and fid.json says the score is not comparable; found files stay strictly checked."""
    a, b = folder(tmp_path / "a"), folder(tmp_path / "b", shift=20)
    sd = torch.load(weights / "weights-inception-2015-12-05-6726825d.pth", weights_only=True)
    k = next(iter(sd))
    sd[k] = sd[k] * 1.01  # another network of the same architecture: another hash
    other = tmp_path / "my-inception.pth"
    torch.save(sd, other)
    r = runner.invoke(app, ["eval-fid", str(b), str(a), "--inception-weights", str(other), "--json"])
    assert r.exit_code == 0, r.output
    flat = " ".join(r.stderr.split())
    assert flat.count("not comparable with published FIDs") == 1, r.stderr  # warned once
    p = json.loads((b / "fid.json").read_text())["protocol"]
    assert p["weights"] == str(other) and p["weights_published"] is False
    assert any("not comparable with published FIDs" in n for n in p["notes"])
    assert json.loads(r.stdout)["metrics"]["fid"] > 0
    assert fid(b, a, weights)["protocol"]["weights_published"] is True  # the registry's file
    (weights / "weights-inception-2015-12-05-6726825d.pth").rename(tmp_path / "kept.pth")
    try:  # a file found in the weights folder is still held to the published hash
        torch.save(sd, weights / "weights-inception-2015-12-05-6726825d.pth")
        fail(["eval-fid", b, a, "--weights-dir", weights], "corrupt")
    finally:
        (tmp_path / "kept.pth").replace(weights / "weights-inception-2015-12-05-6726825d.pth")
