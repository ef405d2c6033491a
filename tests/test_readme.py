"""The README's commands: the test command is what CI runs; the others are exercised here or in
test_pipeline / test_convert / test_eval with tiny settings."""

import re
from pathlib import Path

from typer.testing import CliRunner

from vqtool.cli import app

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
    from tests_helpers import TINY_GPT_WINDOW4, TINY_SEG

    from vqtool.demo import run_demo

    (tmp_path / "s.toml").write_text(TINY_SEG)
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    recipes = {"vqgan": (str(tiny_recipe), []), "seg-vqgan": (str(tmp_path / "s.toml"), []),
               "transformer": (str(tmp_path / "g.toml"), [])}
    seen = []
    fig = run_demo(tmp_path / "demo", from_scratch=True, n_scenes=6, recipes=recipes, train_size=(48, 40),
                   big_size=(72, 40), val_size=32, vq_scenes=(6, 40), stage_cb=lambda n, d: seen.append((n, d)),
                   device="cpu")
    html = Path(fig["report"]).read_text()
    assert html.count("data:image/png;base64,") >= 6  # label map, sample, reconstructions, 3 curves
    for word in ("label map", "PSNR", "pixel accuracy", "bits/token", "vqtool tokenize", "rFID"):
        assert word in html, word
    from PIL import Image

    assert Image.open(fig["sample"]).size == (72, 40)
    assert all(d == "running" for _, d in seen)
    seen.clear()
    run_demo(tmp_path / "demo", from_scratch=True, n_scenes=6, recipes=recipes, train_size=(48, 40),
             big_size=(72, 40), val_size=32, vq_scenes=(6, 40), stage_cb=lambda n, d: seen.append((n, d)),
             device="cpu")
    assert all(d == "reused" for _, d in seen)


def test_default_demo_from_shipped_checkpoint(tmp_path):
    r = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--fast", "--n-scenes", "4"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert r.stdout.strip().endswith("report.html")
