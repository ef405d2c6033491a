"""The pixel classifier behind bench quality's per-class IoU: IoU arithmetic, training learns the
scenes, the checkpoint describes itself, and bench quality reports IoU beside label agreement."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from tests_helpers import fail, ok, tiny_transformer

from vqtool.eval.classifier import FORMAT, PixelClassifier, iou


def test_iou_pools_pixels_over_samples_and_counts_only_the_maps_classes():
    lab = np.array([[0, 0, 1, 1], [0, 0, 1, 1]])
    a = np.array([[0, 0, 0, 1], [0, 0, 1, 1]])  # class 0: 4/5, class 1: 3/4
    b = lab.copy()  # perfect
    r = iou([a], lab, 4)
    assert r["per_class_iou"] == pytest.approx({0: 4 / 5, 1: 3 / 4}) and r["miou"] == pytest.approx((0.8 + 0.75) / 2)
    assert r["pixel_accuracy"] == pytest.approx(7 / 8)
    pooled = iou([a, b], lab, 4)  # class 0: (4 + 4) / (5 + 4)
    assert pooled["per_class_iou"][0] == pytest.approx(8 / 9) and set(pooled["per_class_iou"]) == {0, 1}
    wrong = iou([np.full_like(lab, 3)], lab, 4)  # a class the map does not hold: every present class 0
    assert wrong["miou"] == 0 and set(wrong["per_class_iou"]) == {0, 1}


def test_the_classifier_keeps_the_image_size():
    net = PixelClassifier(5)
    assert net(torch.zeros(2, 3, 37, 53)).shape == (2, 5, 37, 53)


def test_the_classifier_tells_a_mirrored_sky_from_the_water_by_its_height(tmp_path):
    """A classifier that saw only colour and texture gave the real lake scene's sky an IoU of 0.06:
    a calm lake mirrors it. Here the two are the same flat colour; only the height tells them apart."""
    from PIL import Image

    from vqtool.data.images import load_rgb
    from vqtool.eval.classifier import load_classifier, predict, train_classifier

    for sub in ("images/lake", "seg/lake"):
        (tmp_path / "s" / sub).mkdir(parents=True)
    lab = np.zeros((160, 48), np.uint8)
    lab[80:] = 1  # sky above, water below, both (90, 120, 200)
    for i in range(2):
        Image.new("RGB", (48, 160), (90, 120, 200)).save(tmp_path / "s" / "images" / "lake" / f"{i}.png")
        Image.fromarray(lab).save(tmp_path / "s" / "seg" / "lake" / f"{i}.png")
    torch.save(train_classifier(tmp_path / "s", steps=150, crop=24, batch=8), tmp_path / "c.pt")
    net, cfg = load_classifier(tmp_path / "c.pt")
    assert cfg["position"] and net.position
    pred = predict(net, load_rgb(tmp_path / "s" / "images" / "lake" / "0.png"))
    assert (pred == lab).mean() > 0.9
    # a classifier saved before the height channel loads and predicts as it did (3 input channels)
    old = PixelClassifier(2)
    torch.save({"format": FORMAT, "config": {"n_classes": 2}, "model": old.state_dict()}, tmp_path / "old.pt")
    net, _ = load_classifier(tmp_path / "old.pt")
    assert not net.position and predict(net, Image.new("RGB", (20, 12))).shape == (12, 20)


def test_bench_classifier_learns_the_scenes_and_bench_quality_reports_iou(scenes, tmp_path):
    out = tmp_path / "clf.pt"
    r = ok(["bench", "classifier", scenes, "--out", out, "--steps", "120"])
    assert r.stdout.strip() == str(out)
    c = torch.load(out, weights_only=True)
    assert c["format"] == FORMAT and c["config"]["classes"][0] == "sky" and c["config"]["steps"] == 120
    from vqtool.core.imagefile import load_labels
    from vqtool.data.images import load_rgb
    from vqtool.eval.classifier import load_classifier, predict

    net, _ = load_classifier(out)
    ims = sorted((scenes / "images").rglob("*.png"))[:4]
    labs = [load_labels(scenes / "seg" / p.relative_to(scenes / "images")) for p in ims]
    acc = np.mean([(predict(net, load_rgb(p)) == lab).mean() for p, lab in zip(ims, labs)])
    majority = np.mean([(lab == np.bincount(lab.ravel()).argmax()).mean() for lab in labs])
    assert acc > majority + 0.05, (acc, majority)  # it learns more than the most common class
    model = tiny_transformer(tmp_path / "seg.pt", mode="seg")
    lab = sorted((scenes / "seg").rglob("*.png"))[0]
    rows = json.loads(ok(["bench", "quality", "--model", model, "--cond", lab, "--size", "64x48", "--n", "2",
                          "--classifier", out, "--json", "--save", tmp_path / "seen"]).stdout)
    saved = sorted(p.name for p in (tmp_path / "seen").iterdir())
    assert saved == ["exact-00.png", "exact-01.png", "fast-00.png", "fast-01.png"]  # a paper GPT: both modes
    assert Image.open(tmp_path / "seen" / "exact-01.png").size == (64, 48)
    for row in rows:
        assert 0 <= row["miou"] <= 1 and 0 <= row["label_agreement"] <= 1 and 0 <= row["classifier_agreement"] <= 1
        assert set(row["class_iou"]) <= set(c["config"]["classes"]) and row["class_iou"]
    real = scenes / "images" / lab.relative_to(scenes / "seg")  # scored as a given sample: its figure by hand
    row = json.loads(ok(["bench", "quality", "--model", model, "--cond", lab, "--sample", real, "--classifier", out,
                         "--json"]).stdout)[1]
    assert row["classifier_agreement"] == pytest.approx((predict(net, load_rgb(real)) == load_labels(lab)).mean())
    # a size off the token grid is sampled on the grid and scored, like `sample`'s output, at the size asked
    odd = json.loads(ok(["bench", "quality", "--model", model, "--cond", lab, "--size", "61x45", "--n", "1",
                         "--json", "--save", tmp_path / "odd"]).stdout)
    assert [r["size"] for r in odd] == ["61x45"] * 3 and 0 <= odd[1]["label_agreement"] <= 1
    assert {Image.open(p).size for p in (tmp_path / "odd").iterdir()} == {(61, 45)}
    # sampling options as sample's: the scored images are the PNGs sample writes with the same options
    opts = ["--top-k", "5", "--top-p", "0.9", "--temperature", "0.7", "--seed", "0"]
    row = json.loads(ok(["bench", "quality", "--model", model, "--cond", lab, "--size", "61x45", "--n", "1", "--json",
                         "--save", tmp_path / "greedy", *opts]).stdout)[1]
    assert row["mode"] == "exact, top-k 5, top-p 0.9, temperature 0.7"
    ok(["sample", "--model", model, "--cond", lab, "--size", "61x45", "--out", tmp_path / "s", *opts])
    (png,) = (tmp_path / "s").glob("*.png")
    assert Image.open(png).tobytes() == Image.open(tmp_path / "greedy" / "exact-00.png").tobytes()
    for bad, says in ((("--top-k", "0"), "--top-k must be >= 1"), (("--temperature", "0"), "--temperature must be > 0"),
                      (("--top-p", "1.5"), "--top-p must be in (0, 1]")):
        fail(["bench", "quality", "--model", model, "--cond", lab, "--size", "64x48", *bad, "--save", tmp_path / "no"],
             says)
    assert not (tmp_path / "no").exists()
    fail(["bench", "quality", "--model", model, "--cond", lab, "--size", "64x48", "--save", out], "is a file")
    fail(["bench", "quality", "--model", model, "--cond", lab, "--size", "64x48", "--classifier", model],
         "is not a vqtool pixel classifier")
    fail(["bench", "classifier", tmp_path / "nowhere", "--out", tmp_path / "x.pt"], "image folder not found")
    assert not (tmp_path / "x.pt").exists()
