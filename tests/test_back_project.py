"""Back-projection of a super-resolution sample onto its low-res input (`sample --back-project N`,
issue 27): the sample downscaled becomes the input again while its own detail stays; any seed and
batch size give the same images; a model without a low-res input, or a bad count, is one message."""

import json

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from test_cond_kinds import _small
from tests_helpers import fail, label_map, ok, tiny_transformer

from vqtool.core.conditioning.lowres import back_project, downscale
from vqtool.data import images as imgs


def _tensor(png):
    """(1, 3, H, W) in [-1, 1]."""
    return imgs.to_tensor(Image.open(png).convert("RGB"))[None]


def _down(png, k=2):
    return downscale(_tensor(png), k)


def test_back_projection_takes_the_inputs_low_frequencies_and_keeps_the_detail():
    g = torch.Generator().manual_seed(0)
    real = torch.rand(1, 3, 64, 96, generator=g) * 1.6 - 0.8
    small = downscale(real, 4)  # (1, 3, 16, 24)
    x = (torch.rand(1, 3, 64, 96, generator=g) * 1.6 - 0.8)  # a sample unrelated to the input
    assert torch.equal(back_project(x, small, 0), x)
    y = back_project(x, small, 5)
    before, after = (downscale(x, 4) - small).abs().mean(), (downscale(y, 4) - small).abs().mean()
    assert after < 0.05 * before  # downscaled, it is the input again
    up = lambda t: torch.nn.functional.interpolate(downscale(t, 4), size=t.shape[-2:], mode="bicubic",
                                                   align_corners=False)
    detail_x, detail_y = x - up(x), y - up(y)
    assert torch.corrcoef(torch.stack([detail_x.flatten(), detail_y.flatten()]))[0, 1] > 0.9  # its own detail


def test_sample_back_project_moves_the_sample_onto_its_input(tmp_path):
    m = tiny_transformer(tmp_path / "sr.pt", "lowres")
    small = _small(tmp_path / "small.png", (37, 23))
    base = ["sample", "--model", m, "--cond", f"lowres={small}", "--seed", "9007199254740993", "--device", "cpu"]
    (raw,) = ok([*base, "--out", tmp_path / "raw"]).stdout.split()
    (bp,) = ok([*base, "--back-project", "3", "--out", tmp_path / "bp"]).stdout.split()
    assert Image.open(bp).size == Image.open(raw).size == (74, 46)
    target = _tensor(small)
    assert (_down(bp) - target).abs().mean() < 0.5 * (_down(raw) - target).abs().mean()
    import vqtool  # the API takes the same option

    (im,) = vqtool.sample(vqtool.load(m, "cpu"), cond={"lowres": small}, seed=9007199254740993, back_project=3)
    assert np.array_equal(np.asarray(im), np.asarray(Image.open(bp)))


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(-2**63, 2**63 - 1), n=st.integers(1, 4), batch=st.integers(1, 4), steps=st.integers(1, 6))
def test_back_projected_samples_do_not_depend_on_the_batch(tmp_path_factory, seed, n, batch, steps):
    tmp = tmp_path_factory.mktemp("bp")
    m = tiny_transformer(tmp / "m.pt", "seg+lowres", attention="local")
    small, lab = _small(tmp / "s.png", (21, 13)), label_map(tmp / "lab.png", size=(42, 26))
    base = ["sample", "--model", m, "--cond", f"seg={lab}", "--cond", f"lowres={small}", "--seed", str(seed),
            "--n", str(n), "--back-project", str(steps), "--device", "cpu"]
    a = ok([*base, "--batch-size", str(batch), "--out", tmp / "a"]).stdout.split()
    b = ok([*base, "--batch-size", "1", "--out", tmp / "b"]).stdout.split()
    assert len(a) == n and all(Image.open(p).size == (42, 26) for p in a)
    assert [Image.open(p).tobytes() for p in a] == [Image.open(p).tobytes() for p in b]


def test_back_project_is_refused_where_it_cannot_apply(tmp_path):
    depth = tiny_transformer(tmp_path / "d.pt", "depth")
    sr = tiny_transformer(tmp_path / "sr.pt", "lowres")
    lab, small = label_map(tmp_path / "lab.png", size=(24, 16)), _small(tmp_path / "s.png", (12, 8))
    fail(["sample", "--model", depth, "--cond", f"depth={lab}", "--back-project", "2", "--out", tmp_path / "o"],
         "--back-project makes a sample agree with its low-resolution input; this model is")
    for bad in ("-1", "two"):
        fail(["sample", "--model", sr, "--cond", f"lowres={small}", "--back-project", bad, "--out", tmp_path / "o"],
             "--back-project")
    assert not (tmp_path / "o").exists()


def test_coarse_to_fine_back_projects_the_fine_stage_onto_its_thumbnail(tmp_path):
    fine = tiny_transformer(tmp_path / "fine.pt", mode="seg+lowres", attention="local", seed=1)
    coarse = tiny_transformer(tmp_path / "coarse.pt", mode="seg", seed=2)
    seg = label_map(tmp_path / "seg.png", size=(48, 32))
    base = ["sample", "--model", fine, "--coarse", coarse, "--cond", seg, "--seed", "5", "--device", "cpu"]
    (raw,) = ok([*base, "--out", tmp_path / "raw"]).stdout.split()
    (bp,) = ok([*base, "--back-project", "4", "--out", tmp_path / "bp"]).stdout.split()
    (thumb,) = sorted((tmp_path / "bp" / "coarse").glob("*.png"))
    (thumb_raw,) = sorted((tmp_path / "raw" / "coarse").glob("*.png"))
    assert Image.open(thumb).tobytes() == Image.open(thumb_raw).tobytes()  # the coarse stage is untouched
    target = _tensor(thumb)
    assert (_down(bp) - target).abs().mean() < 0.5 * (_down(raw) - target).abs().mean()


def test_bench_superres_scores_the_back_projected_samples_too(tmp_path):
    from vqtool.data.scenes import make_scenes

    make_scenes(tmp_path / "s", 2, 64, 48, seed=1)
    m = tiny_transformer(tmp_path / "sr.pt", "lowres")
    rows = json.loads(ok(["bench", "superres", "--model", m, "--images", tmp_path / "s" / "images", "--n", "2",
                          "--back-project", "5", "--json", "--device", "cpu"]).stdout)
    modes = [r["mode"] for r in rows]
    assert modes == ["bicubic upscaling", "reconstruction of the real image", "sampled (exact)",
                     "sampled (exact), back-projected (5 steps)"]
    assert rows[3]["psnr"] > rows[2]["psnr"] + 1  # a random model's sample, moved onto the input
    rows = json.loads(ok(["bench", "superres", "--model", m, "--images", tmp_path / "s" / "images", "--n", "1",
                          "--back-project", "0", "--json", "--device", "cpu"]).stdout)
    assert len(rows) == 3
