"""Real photographs through the README's "your own images" workflow: every PNG/JPG that ships inside
scikit-image (installed without its dependencies by the README's test install: only its files are
read), the set the README's section "What the small recipe gives on real photos" names.

``test_readme_photo_figures`` runs that section's commands, read from the README itself, and checks
its figures within its stated tolerance (about 10 minutes on 2 CPU cores: it runs when
VQTOOL_README_PHOTOS=1). The default suite runs a shortened copy on the same photos that must not
collapse."""

import importlib.util
import json
import os
import re
import shlex
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests_helpers import TINY_GPT_WINDOW4, ok

ROOT = Path(__file__).resolve().parents[1]


def _photo_dir() -> Path:
    spec = importlib.util.find_spec("skimage")  # locates the package without importing it
    assert spec is not None, "scikit-image is part of the README's test install (its sample photos)"
    return Path(spec.submodule_search_locations[0]) / "data"


def _photo_files() -> list[Path]:
    """What the README's `cp .../data/*.{png,jpg}` copies."""
    return sorted(p for p in _photo_dir().iterdir() if p.suffix in (".png", ".jpg"))


def _readme_section() -> tuple[list[str], dict, dict]:
    """The README's photo commands, its figures and their tolerances (from the comment under them)."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- photos:.*?-->\n```bash\n(.*?)```\n<!-- figures: (.*?) \(tolerance: (.*?)\) -->", text, re.S)
    assert block, "README: the photo section's commands and figures comment"
    commands = block.group(1).strip().splitlines()
    figures = {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+)", block.group(2))}
    tol = {}
    for names, amount in re.findall(r"([\w ]+?) -([\d.]+ ?(?:%|dB))", block.group(3)):
        for name in re.findall(r"\w+", names.replace(" and ", " ")):
            tol[name] = amount
    assert set(tol) == set(figures), (tol, figures)
    return commands, figures, tol


def test_readme_section_is_what_this_file_runs():
    commands, figures, tol = _readme_section()
    assert commands[0].startswith("mkdir -p photos/images && cp ") and commands[0].endswith("/data/*.{png,jpg} photos/images/")
    assert commands[1:] == ["vqtool train-vqgan photos/images --recipe scenes-vqgan-tiny",
                            "vqtool eval-recon photos/images --vqgan runs/vqgan/last.pt --size 256"]
    assert set(figures) == {"usage", "perplexity", "psnr", "ssim"}
    assert len(_photo_files()) == 26  # the README says 26 (scikit-image 0.26.0)
    readme = (ROOT / "README.md").read_text()
    assert f"the {len(_photo_files())} PNG/JPG files of `skimage/data`" in " ".join(readme.split())


@pytest.mark.skipif(os.environ.get("VQTOOL_README_PHOTOS") != "1", reason="about 10 minutes: VQTOOL_README_PHOTOS=1")
def test_readme_photo_figures(tmp_path, monkeypatch):
    commands, figures, tol = _readme_section()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photos" / "images").mkdir(parents=True)
    for p in _photo_files():  # the first command, without a shell
        shutil.copy(p, tmp_path / "photos" / "images" / p.name)
    ok(shlex.split(commands[1])[1:])
    ev = json.loads(ok([*shlex.split(commands[2])[1:], "--json"]).stdout)
    assert ev["images"] == 26 and ev["skipped"] == 0, ev
    for k, want in figures.items():
        t = tol[k]
        floor = want - float(t[:-2]) if t.endswith("dB") else want * (1 - float(t.rstrip("%")) / 100)
        assert ev[k] >= floor, (k, ev[k], want, t)


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("photos") / "images"
    out.mkdir()
    files = _photo_files()
    for p in files:
        im = Image.open(p).convert("RGB")
        s = 96 / min(im.size)
        im.resize((max(round(im.size[0] * s), 96), max(round(im.size[1] * s), 96)), Image.BICUBIC).save(out / f"{p.stem}.png")
    return out


def test_small_recipe_on_real_photos_does_not_collapse(photos, tmp_path):
    """The shortened copy: the same photos at 96 px, 300 steps on 64 px crops."""
    run = tmp_path / "v"
    r = ok(["train-vqgan", photos, "--recipe", "scenes-vqgan-tiny", "--out", run, "--json",
            "--set", "train.max_steps=300", "--set", "data.size=64", "--set", "model.resolution=64",
            "--set", "train.image_every=0", "--set", "train.log_every=25"])
    assert json.loads(r.stdout)["collapsed"] is False, r.output
    r = ok(["eval-recon", photos, "--vqgan", run / "last.pt", "--size", "96", "--no-rfid", "--json"])
    ev = json.loads(r.stdout)
    assert ev["usage"] >= 25 and ev["perplexity"] >= 16, ev  # collapsed: 0.4% and 1.0
    # the collapsed model (one colour for every photo) scored 13.1 dB. PSNR is a weak test of
    # structure here (each photo's own mean colour scores about 16 at 96 px): the reconstructions
    # below must not be flat
    # (300 steps land at 14.2 to 15 dB depending on the CPU's float kernels: 14.22 on an AVX512 Xeon)
    assert ev["psnr"] >= 13.8, ev
    rec = tmp_path / "rec"
    ok(["reconstruct", *(photos / f"{n}.png" for n in ("astronaut", "camera", "coffee")), "--vqgan", run / "last.pt",
        "--out", rec])  # photos with large shapes (fine textures such as brick.png come back nearly flat)
    for p in rec.glob("*.png"):
        a = np.asarray(Image.open(p).convert("L"), dtype=np.float64)
        half = a[:, a.shape[1] // 2:]  # original | reconstruction
        assert half.std() > 10, p  # not one flat colour

    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    ok(["tokenize", photos, "--out", tmp_path / "sh", "--vqgan", run / "last.pt", "--size", "96", "--val", "2"])
    ok(["train-transformer", tmp_path / "sh", "--recipe", tmp_path / "g.toml", "--out", tmp_path / "g",
        "--set", "train.max_steps=20", "--set", "train.image_every=0"])
    r = ok(["sample", "--model", tmp_path / "g/last.pt", "--n", 2, "--size", "96x96", "--out", tmp_path / "s"])
    for p in r.stdout.split():
        assert np.asarray(Image.open(p).convert("L"), dtype=np.float64).std() > 5, p  # not flat
