import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from conftest import write_image
from tests_helpers import kill_at_first_checkpoint
from vqtool.cli import app

runner = CliRunner()


def _run(args):
    return runner.invoke(app, args, catch_exceptions=False)


def test_train_writes_resumable_checkpoint_and_metrics(tmp_path, scenes, tiny_recipe):
    out = tmp_path / "run"
    r = _run(["train-vqgan", str(scenes / "images"), "--recipe", str(tiny_recipe), "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert r.stdout.strip().endswith("last.pt")
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["format"] == "vqtool.vqgan/1" and ck["step"] == 4
    assert {"discriminator", "opt_ae", "opt_d", "rng"} <= set(ck["train_state"])
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [2, 4] and "usage" in lines[0] and "d_loss" in lines[1]
    assert (out / "samples" / "recon-000004.png").is_file() and (out / "config.toml").is_file()
    # a second run into the same folder is refused (nothing overwritten)
    r = runner.invoke(app, ["train-vqgan", str(scenes / "images"), "--recipe", str(tiny_recipe), "--out", str(out)])
    assert r.exit_code == 2 and "--resume" in r.output


def test_seg_training_and_reconstruct_cli(tmp_path, scenes):
    out = tmp_path / "seg"
    r = _run(["train-vqgan", str(scenes / "seg"), "--seg", "--recipe", "scenes-seg-vqgan-tiny",
              "--set", "data.size=32", "--set", "train.max_steps=2", "--set", "optim.batch_size=2",
              "--out", str(out)])
    assert r.exit_code == 0, r.output
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["format"] == "vqtool.vqgan/1" and ck["encodes"] == "seg" and ck["config"]["model"]["in_channels"] == 9


def test_reconstruct_writes_pairs(tmp_path, scenes, tiny_recipe):
    out = tmp_path / "run"
    _run(["train-vqgan", str(scenes / "images"), "--recipe", str(tiny_recipe), "--out", str(out),
          "--set", "train.max_steps=1"])
    img = next((scenes / "images").rglob("*.png"))
    r = _run(["reconstruct", str(img), "--vqgan", str(out / "last.pt"), "--out", str(tmp_path / "rec")])
    assert r.exit_code == 0, r.output
    from PIL import Image

    pair = Image.open(r.stdout.strip())
    assert pair.size == (128, 48)  # 64x48 original beside its reconstruction


def test_resume_after_sigkill_equals_uninterrupted(tmp_path, scenes, tiny_recipe):
    common = ["--recipe", str(tiny_recipe), "--set", "train.max_steps=30", "--set", "train.ckpt_every=3",
              "--set", "train.image_every=0", "--device", "cpu"]
    a = tmp_path / "a"
    assert _run(["train-vqgan", str(scenes / "images"), "--out", str(a), *common]).exit_code == 0
    b = tmp_path / "b"
    killed_at = kill_at_first_checkpoint(["train-vqgan", scenes / "images", "--out", b, *common], b)
    assert killed_at < 30
    r = _run(["train-vqgan", str(scenes / "images"), "--out", str(b), "--resume"])
    assert r.exit_code == 0, r.output
    ca, cb = (torch.load(d / "last.pt", weights_only=True) for d in (a, b))
    assert cb["step"] == 30
    for k in ca["model"]:
        assert torch.equal(ca["model"][k], cb["model"][k]), k
    for k in ca["train_state"]["discriminator"]:
        assert torch.equal(ca["train_state"]["discriminator"][k], cb["train_state"]["discriminator"][k])


def test_torchrun_two_processes_cpu(tmp_path, scenes, tiny_recipe):
    out = tmp_path / "ddp"
    env = {**os.environ, "VQTOOL_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           "-m", "vqtool", "train-vqgan", str(scenes / "images"), "--recipe", str(tiny_recipe),
           "--out", str(out), "--device", "cpu", "--set", "optim.batch_size=2"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert sorted(p.name for p in out.glob("*.pt")) == ["last.pt"]
    ck = torch.load(out / "last.pt", weights_only=True)
    assert ck["step"] == 4


@pytest.mark.parametrize("setup,needle", [
    (lambda d: d / "missing", "image folder not found"),
    (lambda d: (d / "empty").mkdir() or d / "empty", "no images in"),
])
def test_bad_folders(tmp_path, tiny_recipe, setup, needle):
    folder = setup(tmp_path)
    r = runner.invoke(app, ["train-vqgan", str(folder), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and needle in r.output
    assert "Traceback" not in r.output
    assert not (tmp_path / "o").exists()


def test_odd_files_are_converted_or_skipped_and_counted(tmp_path, tiny_recipe):
    d = tmp_path / "imgs"
    write_image(d / "gray.png", "L")
    write_image(d / "rgba.png", "RGBA")
    write_image(d / "pal.png", "P")
    write_image(d / "deep.png", "I;16")
    write_image(d / "small.png", "RGB", size=(20, 12))  # smaller than the 32px crop: upscaled
    (d / "notes.jpg").write_text("this is not a jpeg")
    good = write_image(d / "trunc.png", "RGB", size=(64, 64))
    good.write_bytes(good.read_bytes()[:200])  # header intact, data truncated
    r = runner.invoke(app, ["train-vqgan", str(d), "--recipe", str(tiny_recipe), "--out", str(tmp_path / "o"),
                            "--json"])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.stdout)
    assert summary["skipped"] == 2
    assert {Path(p).name for p in summary["skipped_files"]} == {"notes.jpg", "trunc.png"}
    assert summary["upscaled"] > 0


def test_images_modes_convert_to_rgb(tmp_path):
    from vqtool.data.images import load_rgb

    for mode in ("L", "RGBA", "P", "I;16", "RGB"):
        im = load_rgb(write_image(tmp_path / f"{mode.replace(';', '')}.png", mode))
        assert im.mode == "RGB" and im.size == (40, 36)


@pytest.mark.parametrize("args,needle", [
    (["--recipe", "nope"], "unknown recipe 'nope'"),
    (["--set", "optim.nope=1"], "unknown key 'optim.nope'"),
    (["--set", "optim.batch_size=big"], "'optim.batch_size' must be an integer"),
])
def test_bad_recipe_inputs(tmp_path, scenes, tiny_recipe, args, needle):
    base = ["train-vqgan", str(scenes / "images"), "--out", str(tmp_path / "o")]
    if "--recipe" not in args:
        base += ["--recipe", str(tiny_recipe)]
    r = runner.invoke(app, base + args)
    assert r.exit_code == 2 and needle in r.output and "Traceback" not in r.output


def test_paper_recipe_stops_when_lpips_weights_missing(tmp_path, scenes):
    r = runner.invoke(app, ["train-vqgan", str(scenes / "images"), "--recipe", "vqgan-f16-1024",
                            "--out", str(tmp_path / "o"), "--set", "data.size=32", "--set", "train.max_steps=1"])
    assert r.exit_code == 2
    assert "vgg16-397923af.pth" in r.output and "fetch-weights" in r.output


def test_lpips_loads_trunk_from_weights_file(tmp_path, monkeypatch):
    """The real lookup-and-load path, with a randomly initialised VGG16 trunk saved to a file."""
    import torchvision

    from vqtool.core.io import weights

    torch.manual_seed(0)
    sd = {f"features.{k}": v for k, v in torchvision.models.vgg16().features.state_dict().items()}
    wdir = tmp_path / "w"
    wdir.mkdir()
    torch.save(sd, wdir / "vgg16-397923af.pth")
    digest = weights.sha256_of(wdir / "vgg16-397923af.pth")
    # the registry's hash is the published one; point it at our random file for the test
    monkeypatch.setitem(weights.REGISTRY, "vgg16", weights.WeightFile(
        "vgg16", "vgg16-397923af.pth", "http://127.0.0.1:9/none", digest[:8], "test"))
    net = weights.build_lpips(wdir)
    assert torch.equal(net.net.slice1[0].weight, sd["features.0.weight"])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert net(x, x).abs().max() < 1e-6 and net(x, -x).mean() > 0
    # a corrupt file is refused with a clear message
    (wdir / "vgg16-397923af.pth").write_bytes(b"garbage")
    with pytest.raises(weights.WeightsNotFound, match="corrupt"):
        weights.build_lpips(wdir)


def test_make_scenes_is_deterministic_and_sized(tmp_path):
    for d in ("a", "b"):
        r = _run(["make-scenes", str(tmp_path / d), "--n", "4", "--size", "96x64", "--seed", "5"])
        assert r.exit_code == 0
    fa = sorted((tmp_path / "a").rglob("*.png"))
    assert len(fa) == 16  # images, label maps, depth maps, edge maps
    for f in fa:
        assert f.read_bytes() == (tmp_path / "b" / f.relative_to(tmp_path / "a")).read_bytes()
    from PIL import Image

    from vqtool.data.scenes import CLASSES

    seg = Image.open(next((tmp_path / "a" / "seg").rglob("*.png")))
    assert seg.mode == "P" and seg.size == (96, 64)
    assert max(seg.getdata()) < len(CLASSES) and len(CLASSES) >= 7
    biomes = {p.parent.name for p in (tmp_path / "a" / "images").rglob("*.png")}
    assert len(biomes) == 4
    r = runner.invoke(app, ["make-scenes", str(tmp_path / "c"), "--size", "0x5"])
    assert r.exit_code == 2


def test_info_and_recipes_cli(tmp_path, scenes, tiny_recipe):
    out = tmp_path / "run"
    _run(["train-vqgan", str(scenes / "images"), "--recipe", str(tiny_recipe), "--out", str(out),
          "--set", "train.max_steps=1"])
    r = _run(["info", str(out / "last.pt"), "--json"])
    d = json.loads(r.stdout)
    assert d["kind"] == "VQGAN" and d["factor"] == 4 and d["step"] == 1
    r = _run(["recipes", "list"])
    assert "scenes-vqgan-tiny" in r.stdout
    r = _run(["recipes", "show", "vqgan-f16-1024"])
    assert "rFID 7.94" in r.stdout
    r = runner.invoke(app, ["info", str(tmp_path)])
    assert r.exit_code == 2


def test_version_and_help():
    r = _run(["--version"])
    assert r.exit_code == 0 and r.stdout.startswith("vqtool ")
    r = _run(["--help"])
    assert "train-vqgan" in r.stdout and "make-scenes" in r.stdout


def test_joining_torchrun_leaves_the_group_at_exit(monkeypatch):
    """A gloo group left to process teardown could abort a rank after a finished run (seen once in CI:
    "terminate called without an active exception", torchrun reporting a failure)."""
    import atexit

    import torch.distributed as dist

    from vqtool.core import runtime

    hooks, calls = [], []
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setattr(dist, "is_initialized", lambda: bool(calls) and calls[-1] == "init")
    monkeypatch.setattr(dist, "init_process_group", lambda backend: calls.append("init"))
    monkeypatch.setattr(dist, "destroy_process_group", lambda: calls.append("destroy"))
    monkeypatch.setattr(atexit, "register", hooks.append)
    runtime.init_distributed(torch.device("cpu"))
    assert calls == ["init"] and len(hooks) == 1
    hooks[0]()
    assert calls == ["init", "destroy"]


def test_reconstruct_keeps_one_output_per_input(tmp_path, scenes, tiny_recipe):
    """x.webp, x.bmp and x.tiff were all written to x-recon.png, each over the last (a stranger's run);
    a bad file among the inputs stopped the command after the files before it were written."""
    from PIL import Image

    from tests_helpers import fail, ok

    out = tmp_path / "run"
    ok(["train-vqgan", scenes / "images", "--recipe", tiny_recipe, "--out", out, "--set", "train.max_steps=1"])
    src = [p for p in sorted((scenes / "images").rglob("*.png"))][:2]
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    inputs = []
    for ext in ("png", "bmp", "webp"):
        inputs.append(tmp_path / "a" / f"x.{ext}")
        Image.open(src[0]).convert("RGB").save(inputs[-1])
    for d in ("a", "b"):  # the same name in two folders
        inputs.append(tmp_path / d / "1.png")
        Image.open(src[1]).save(inputs[-1])
    r = ok(["reconstruct", *inputs, "--vqgan", out / "last.pt", "--out", tmp_path / "rec"])
    written = r.stdout.split()
    assert len(set(written)) == len(inputs) and sorted(p.name for p in (tmp_path / "rec").iterdir()) == sorted(
        ["x-png-recon.png", "x-bmp-recon.png", "x-webp-recon.png", "a-1-png-recon.png", "b-1-png-recon.png"])
    (tmp_path / "a" / "junk.png").write_text("not an image")
    fail(["reconstruct", inputs[0], tmp_path / "a" / "junk.png", "--vqgan", out / "last.pt", "--out", tmp_path / "r2"],
         "junk.png")
    assert not (tmp_path / "r2").exists()
