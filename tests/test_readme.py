"""The README's commands: the test command is what CI runs; the others are exercised here or in
test_pipeline / test_convert / test_eval with tiny settings."""

import os
import re
import shlex
import signal
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from vqtool.cli import app
from vqtool.core.callbacks import Callbacks

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text().splitlines()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    test_cmd = ci[-1].strip()
    assert "pytest" in test_cmd
    assert test_cmd in readme[2]  # the README's second command (line 3, inside the code fence)
    assert "vqtool demo" in readme[1]


def test_every_command_in_the_table_exists():
    text = (ROOT / "README.md").read_text()
    names = set(re.findall(r"^\| `vqtool ([a-z-]+)", text, re.M))
    r = runner.invoke(app, ["--help"])
    for n in names:
        assert n in r.stdout, n


def test_demo_end_to_end_with_tiny_models(tmp_path, tiny_recipe):
    """`vqtool demo --from-scratch` with tiny recipes and sizes: every stage, the report, and reuse."""
    from tests_helpers import tiny_demo_options

    from vqtool.app.demo import DemoHooks, DemoInterrupted, run_demo

    # Ctrl-C during the base VQGAN's step 2: its checkpoint is written, the demo stops there...
    def interrupting(name):
        stop = (lambda step, logs: os.kill(os.getpid(), signal.SIGINT) if step == 2 else None)
        return nullcontext(Callbacks(on_step=stop) if name == "vqgan-base" else Callbacks())
    with pytest.raises(DemoInterrupted, match="vqgan-base stopped at step 2"):
        run_demo(tmp_path / "demo", tiny_demo_options(tmp_path, tiny_recipe), DemoHooks(training=interrupting))
    runs = tmp_path / "demo" / "runs"
    assert torch.load(runs / "vqgan-base" / "last.pt", weights_only=True)["step"] == 2
    assert not (runs / "vqgan").exists()
    # ...and the same command continues it (it was reused as if finished before)
    seen = []
    hooks = DemoHooks(stage=lambda n, d: seen.append((n, d)))
    fig = run_demo(tmp_path / "demo", tiny_demo_options(tmp_path, tiny_recipe), hooks)
    assert torch.load(runs / "vqgan-base" / "last.pt", weights_only=True)["step"] == 4
    html = Path(fig["report"]).read_text()
    # map, sample, real scene, c2f's 4, depth map, depth sample, its scene, SR grid, class grid, recons, 9 curves
    assert html.count("data:image/png;base64,") >= 22
    for word in ("label map", "PSNR", "pixel accuracy", "bits/token", "vqtool tokenize", "rFID", "sharpness",
                 "real scene", "class-conditional"):
        assert word in html, word
    from PIL import Image

    assert Image.open(fig["sample"]).size == (72, 40)
    assert fig["attention"] == {"kind": "local", "radius": 2, "window": 4}
    assert "causal neighbourhood (the 2 rows above" in html
    grid = Image.open(fig["class_grid"])
    assert grid.height == 4 * 16  # one row per biome
    # the scenes made before the interruption are reused; the base VQGAN and everything after it run
    names = [n for n, _ in seen]
    assert all(d == ("reused" if names.index(n) < names.index("vqgan-base") else "running") for n, d in seen), seen
    assert {Path(p).name for p in fig["exported"]} == {"scenes-demo.pt", "scenes-depth-demo.pt", "scenes-sr-demo.pt",
                                                       "scenes-coarse-demo.pt", "scenes-fine-demo.pt", "scenes-class-demo.pt"}
    # coarse to fine: map | thumbnail (1/K of the grid) | sample | real, scored as the recorded bench quality
    c2f = fig["coarse"]
    assert Image.open(c2f["sample"]).size == (72, 40) and Image.open(c2f["thumbnail"]).size == (36, 20)
    assert [r["mode"] for r in c2f["quality"]] == ["reconstruction of the real scene", "given sample"]
    assert any("sample --model" in c and "--coarse" in c for c in fig["commands"])
    assert any("--cond lowres=2:blocks" in c and "--cond seg=" in c for c in fig["commands"])
    # the fine model reads the thumbnail as the shipped one does, its own codes at the K x K they cover (a fine model
    # given the upscaled thumbnail's codes copies it and drops the map's clouds and shore: README, "Coarse to fine")
    from vqtool.app.demo_models import shipped_checkpoint
    from vqtool.core.formats import TransformerCheckpoint

    def lowres(path):
        return next(c for c in TransformerCheckpoint.load(path).layout.conditions if c.kind == "lowres").upscaled
    assert lowres(runs / "fine-transformer" / "last.pt") is lowres(shipped_checkpoint("fine-transformer")) is False
    assert "<h2>Coarse to fine</h2>" in html and "coarse stage, 36x20" in html
    # its recorded command writes the same image
    words = shlex.split(next(c for c in fig["commands"] if "sample --model" in c and "--coarse" in c).split(" && ")[0])
    words[words.index("--out") + 1] = str(tmp_path / "replay")
    assert runner.invoke(app, words[1:]).exit_code == 0
    (png,) = (tmp_path / "replay").glob("*.png")
    assert Image.open(png).tobytes() == Image.open(c2f["sample"]).tobytes()
    # every condition beside its input and the real scene: depth map | sample | real; low-res | bicubic | vqtool | real
    assert Image.open(fig["depth"]["sample"]).size == (72, 40) and "/seg/" not in fig["depth"]["depth_map"]
    assert [r["mode"] for r in fig["depth"]["quality"]] == ["reconstruction of the real scene", "given sample"]
    sr = fig["superres"]
    assert Image.open(sr["grid"]).size == (4 * 32, 2 * 32)
    assert [Path(f).parent.name for f in sr["images"]] == ["alpine", "desert"]  # biome after biome
    assert [r["mode"] for r in sr["rows"]] == ["bicubic upscaling", "reconstruction of the real image", "sampled (exact)",
                                               "sampled (exact), back-projected (5 steps)"]
    for word in ("Depth &rarr; landscape", "depth map (input", "4x super-resolution", "bicubic upscaling",
                 "depth VQGAN PSNR"):
        assert word in html, word
    assert any("--cond lowres=4 --no-auto-cond" in c for c in fig["commands"])
    assert any("bench superres" in c for c in fig["commands"])
    # the shipped first stage is the decoder fine-tune of the base run: the base's codes, another decoder
    base = torch.load(runs / "vqgan-base" / "last.pt", weights_only=True)["model"]
    first = torch.load(fig["exported"][0], weights_only=True)["first_stage"]["model"]
    assert all(torch.equal(base[k].half(), first[k]) for k in base if k.startswith(("encoder.", "quantize.")))
    assert not torch.equal(base["decoder.conv_out.weight"].half(), first["decoder.conv_out.weight"])
    assert any("--init-from" in c for c in fig["commands"])
    seen.clear()
    # --fast changes nothing for a local model (its fast mode is its exact one): the landscape is reused
    again = run_demo(tmp_path / "demo", tiny_demo_options(tmp_path, tiny_recipe, exact=False), hooks)
    assert all(d == "reused" for _, d in seen), seen
    # a reused sample keeps the time it took (the report said "reused s")
    assert again["sample_seconds"] == fig["sample_seconds"] and isinstance(again["sample_seconds"], float)
    assert f"{again['sample_seconds']} s" in Path(again["report"]).read_text()


def test_default_demo_from_shipped_checkpoint(tmp_path):
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--fast", "--n-scenes", "4"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip().endswith("report.html")
    # every shipped model shows its condition: the label map, the depth map, the low-res scenes, the classes
    html = Path(r.stdout.strip().splitlines()[-1]).read_text()
    for word in ("label map (input)", "Coarse to fine", "depth map (input", "4x super-resolution", "Class-conditional samples",
                 "vqtool, back-projected"):
        assert word in html, word


def test_report_names_the_sampling_rule_of_the_landscape_model():
    from vqtool.app.report import _how_sampled

    assert "the paper's rule" in _how_sampled({"attention": {"kind": "global", "radius": 0, "window": 16}})
    assert "the paper's rule" in _how_sampled({})  # reports of runs before the local model
    assert "one rolling cache" in _how_sampled({"attention": {"kind": "local", "radius": 8, "window": 16}})


def test_interrupted_demo_exits_130_with_how_to_continue(tmp_path, monkeypatch):
    import vqtool.app.demo as demo_app

    def stopped(*a, **k):
        raise demo_app.DemoInterrupted("vqgan-base stopped at step 7 (x/last.pt); run the same command again to continue it")
    monkeypatch.setattr(demo_app, "run_demo", stopped)
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--from-scratch"])
    assert r.exit_code == 130 and "run the same command again" in r.output and "Traceback" not in r.output


def test_a_training_stage_is_finished_when_its_checkpoint_reached_max_steps(tmp_path):
    from vqtool.train.common import unfinished as _unfinished
    from vqtool.core.io import checkpoint as ck

    def write(step, config):
        ck.save_checkpoint(tmp_path / "last.pt", {"format": ck.VQGAN, "config": config, "model": {}, "step": step})
        return _unfinished(tmp_path / "last.pt")
    assert write(2, {"train": {"max_steps": 4}}) and not write(4, {"train": {"max_steps": 4}})
    assert not write(0, {"kind": "vqgan", "model": {}})  # a shipped model unpacked by `vqtool demo`
    assert not _unfinished(tmp_path / "missing.pt")


def test_demo_out_that_is_not_a_demo_folder_is_left_alone(tmp_path):
    """`vqtool demo --out mine --fresh` deleted a folder of the user's own files; --out naming a file
    was a FileExistsError traceback (a stranger's runs)."""
    from tests_helpers import fail
    from vqtool.app.demo_folder import MARKER, open_demo_folder

    f = tmp_path / "afile"
    f.write_text("x")
    fail(["demo", "--out", f], "is a file")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "important.txt").write_text("keep")
    for extra in ([], ["--fresh"]):
        fail(["demo", "--out", mine, *extra], "is not a demo folder")
        assert [p.name for p in mine.iterdir()] == ["important.txt"] and f.read_text() == "x"
    # a demo folder (its marker, or the first stage's output from before the marker) starts over with --fresh
    demo = open_demo_folder(tmp_path / "demo", fresh=False)
    (demo / "runs").mkdir()
    assert (demo / MARKER).is_file() and open_demo_folder(demo, fresh=True) == demo
    assert [p.name for p in demo.iterdir()] == [MARKER]
    old = tmp_path / "old"
    (old / "data" / "scenes").mkdir(parents=True)
    (old / "data" / "scenes" / "classes.json").write_text("{}")
    assert [p.name for p in open_demo_folder(old, fresh=True).iterdir()] == [MARKER]
