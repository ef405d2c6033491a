"""Box layouts (issue 28): taming's scene-model builder token for token, converted scene models
sampled as the reference inside and beyond their window, the refusals, and layouts for own models."""

import json
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings, strategies as st

from test_taming_peer import LAYOUT_CLASSES, LAYOUT_LEN, N_EMBED, _net2net, _slides_as_the_reference, \
    taming_sample_greedy
from tests_helpers import fail, ok, tiny_transformer

from vqtool.core.conditioning.boxes import BoxLayout

REFERENCE = Path(__file__).parent / "data" / "taming_layout_tokens.json"  # made by data/make_layout_tokens.py
OBJECTS = [{"class": "tree", "box": [0.0, 0.5, 1.0, 0.5]}, {"class": 2, "box": [0, 0, 1, 0.5], "group": True},
           {"class": "dog", "box": [0.6, 0.6, 0.2, 0.3]}]


def test_the_builder_gives_taming_token_sequences():
    """24 layouts (0-33 objects, flags, crops, both builders, 1024 and 8192 tokens, with and without
    encode_crop) through taming's own conditional_builder: the same tokens."""
    cases = json.loads(REFERENCE.read_text())
    assert len(cases) == 24 and {c["builder"] for c in cases} == {"bbox", "center_points"}
    for c in cases:
        b = BoxLayout(n_classes=c["no_object_classes"], max_objects=c["no_max_objects"], grid_tokens=c["no_tokens"],
                      points=c["builder"] == "center_points", group=c["use_group_parameter"],
                      extra=c["use_additional_parameters"], crop=c["encode_crop"])
        objs = tuple(b.parse_object(o, k, "case") for k, o in enumerate(c["objects"]))
        assert b.build(objs, tuple(c["crop"])) == c["tokens"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    d = tmp_path_factory.mktemp("scene")
    (d / "boxes.json").write_text(json.dumps(OBJECTS))
    return d, *_net2net(d, "layout", 8)


@pytest.mark.parametrize("mode", ["layout", "points"])
def test_a_scene_model_converts_and_samples_as_the_reference(tmp_path, scene, mode):
    """A scene-model-shaped checkpoint (DummyCondStage, the builder's settings in the data config):
    its tokens for a layout, its logits and greedy samples inside the window are the reference's;
    beyond it every window keeps the objects that touch it and names its crop, as training crops did."""
    d, b, _, _, gpt = scene if mode == "layout" else (tmp_path, *_net2net(tmp_path, mode, 8))
    c = b.layout.conditions[0]
    assert c.kind == "layout" and c.classes == LAYOUT_CLASSES and c.n_classes == 5 and c.points == (mode == "points")
    entry = b.layout.entries({"cond": {"layout": scene[0] / "boxes.json"}})
    toks = b.layout.tokens([entry], 8, 8, b.stages, b.factor, {})
    # by hand on the 5 x 5 point grid: a point is round(4 y) * 5 + round(4 x); sky's group flag adds 5
    want = [1, 10, 24, 7, 0, 14, 3, 12, 23, 31, 31, 31] if mode == "layout" else [1, 17, 7, 7, 3, 18, 31, 31]
    assert toks[0][0, 0, 0].tolist() == want + [0, 24] and b.layout.cond_len() == len(want) + 2
    x = torch.randint(0, N_EMBED, (2, b.layout.cond_len() + 63))
    torch.testing.assert_close(b.gpt(x), gpt(x)[0], atol=1e-5, rtol=1e-5)
    from vqtool.core.sampling import Rule
    from vqtool.core.sampling.window import sample_grid

    ref = taming_sample_greedy(gpt, toks[0][:, 0, 0], 64).view(1, 8, 8)
    assert torch.equal(sample_grid(b.gpt, b.layout, 8, 8, toks, Rule(top_k=1)), ref)
    h, w = 11, 13
    toks = b.layout.tokens([entry], h, w, b.stages, b.factor, {})
    crop = lambda i0, j0: torch.tensor([c.build(entry["layout"], (j0 / w, i0 / h, 8 / w, 8 / h))])  # noqa: E731
    _slides_as_the_reference(b, gpt, toks, crop, h, w, seed=5)


def test_sampling_a_scene_model_from_the_command_line(scene):
    d, b, *_ = scene
    m = d / "t.pt"
    runs = [ok(["sample", "--model", m, "--layout", d / "boxes.json", "--size", "52x44", "--n", "3", "--batch-size",
                bs, "--seed", 9007199254740993, "--out", d / f"s{bs}"]).stdout.split() for bs in (1, 3)]
    from PIL import Image

    assert [Image.open(p).size for p in runs[0]] == [(52, 44)] * 3
    assert [Path(p).read_bytes() for p in runs[0]] == [Path(p).read_bytes() for p in runs[1]]
    import vqtool

    api = vqtool.sample(vqtool.load(m), n=1, size=(52, 44), layout=OBJECTS, seed=9007199254740993)
    assert api[0].tobytes() == Image.open(runs[0][0]).tobytes()  # a list of objects is a layout file's content
    assert "layout" in ok(["info", m]).output


@settings(max_examples=12)
@given(objs=st.lists(st.tuples(st.sampled_from(LAYOUT_CLASSES), st.floats(0, 0.9), st.floats(0, 0.9),
                               st.floats(0.01, 1), st.floats(0.01, 1)), max_size=4),
       h=st.integers(1, 20), w=st.integers(1, 20))
def test_every_window_names_its_crop_and_keeps_the_objects_touching_it(scene, objs, h, w):
    b = scene[1]
    c = b.layout.conditions[0]
    items = [{"class": k, "box": [x, y, min(bw, 1 - x), min(bh, 1 - y)]} for k, x, y, bw, bh in objs]
    entry = b.layout.entries({"cond": {"layout": items}})
    t = b.layout.tokens([entry], h, w, b.stages, b.factor, {})[0]
    assert t.shape == (1, max(h - 8, 0) + 1, max(w - 8, 0) + 1, LAYOUT_LEN)
    for r0, c0, (x0, y0, cw, ch) in c.crops(h, w):
        seq = t[0, r0, c0].tolist()
        assert seq[-2:] == [c.point(x0, y0), c.point(x0 + cw, y0 + ch)]
        touching = [o for o in entry["layout"] if o[1] < x0 + cw and x0 < o[1] + o[3] and o[2] < y0 + ch
                    and y0 < o[2] + o[4]]
        assert seq[0:3 * len(touching):3] == [o[0] for o in touching]
        assert set(seq[3 * len(touching):-2]) <= {c.none}


@pytest.mark.parametrize("content, message", [
    (json.dumps(OBJECTS * 2), "has 6 objects; this model takes at most 4"),
    (json.dumps([{"class": "zebra", "box": [0, 0, 1, 1]}]), "object 0: unknown class 'zebra'; classes: 0=person"),
    (json.dumps([{"class": "dog", "box": [0.8, 0, 0.5, 0.5]}]), "box [0.8, 0, 0.5, 0.5] is not inside the image"),
    (json.dumps([{"class": "dog", "box": [0.1, 0.1, 0, 0.5]}]), "is not inside the image"),
    (json.dumps([{"class": "dog"}]), 'object 0: give {"class": NAME or id, "box": [x, y, w, h]}'),
    (json.dumps({"boxes": 3}), "is not a list of"),
    ("{not json", "is not JSON"),
])
def test_bad_layouts_are_one_message_each(scene, tmp_path, content, message):
    d = scene[0]
    (tmp_path / "bad.json").write_text(content)
    fail(["sample", "--model", d / "t.pt", "--layout", tmp_path / "bad.json", "--out", tmp_path / "o"], message)
    assert not (tmp_path / "o").exists()


def test_what_a_scene_model_refuses(scene, tmp_path, inception_weights):
    d = scene[0]
    m = d / "t.pt"
    fail(["sample", "--model", m, "--out", tmp_path / "o"], "give a box layout with --layout boxes.json")
    fail(["sample", "--model", m, "--layout", tmp_path / "none.json", "--out", tmp_path / "o"], "box layout not found")
    seg = tiny_transformer(tmp_path / "seg.pt")
    fail(["sample", "--model", seg, "--layout", d / "boxes.json", "--out", tmp_path / "o"],
         "--cond layout=... was given, but this model is segmentation-conditional")
    fail(["eval-fid", tmp_path / "g", d, "--model", m, "--n", "2", "--weights-dir", inception_weights],
         "eval-fid does not sample layout-conditional models yet")
    ck = next(d.glob("layout*.ckpt"))
    fail(["convert-taming", ck, "--config", d / "project.yaml", "--out", tmp_path / "x.pt"], "pass --classes FILE")
    assert not (tmp_path / "o").exists() and not (tmp_path / "x.pt").exists()


def _layouts_of(scenes: Path, out: Path) -> dict:
    """Each image's label map as a box layout: one box per class present (its extent),
    written as out/<biome>/NNNNN.json; and the same as one COCO-style annotations file."""
    import numpy as np
    from PIL import Image

    names = json.loads((scenes / "classes.json").read_text())["classes"]
    coco = {"categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)], "images": [], "annotations": []}
    for k, p in enumerate(sorted((scenes / "seg").rglob("*.png"))):
        lab = np.asarray(Image.open(p))
        h, w = lab.shape
        objs = []
        for c in np.unique(lab):
            ys, xs = np.nonzero(lab == c)
            objs.append({"class": names[c], "box": [xs.min() / w, ys.min() / h, (xs.max() + 1 - xs.min()) / w,
                                                   (ys.max() + 1 - ys.min()) / h]})
            coco["annotations"].append({"image_id": k, "category_id": int(c) + 1, "iscrowd": 0,
                                        "bbox": [int(xs.min()), int(ys.min()), int(xs.max() + 1 - xs.min()),
                                                 int(ys.max() + 1 - ys.min())]})
        rel = p.relative_to(scenes / "seg")
        coco["images"].append({"id": k, "file_name": rel.as_posix(), "width": w, "height": h})
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).with_suffix(".json").write_text(json.dumps(objs))
    (out.parent / "coco.json").write_text(json.dumps(coco))
    return names


def test_own_layout_models_tokenize_train_and_sample(scenes, tmp_path):
    """tokenize --cond layout=DIR (a JSON per image) or =annotations.json (COCO) store the same boxes;
    the paper's GPT trains on them (each crop with its own objects and crop tokens) and samples any size
    from --layout; the local transformer is refused by name."""
    import numpy as np
    from PIL import Image

    from conftest import TINY_VQGAN
    from tests_helpers import TINY_GPT_WINDOW4
    from vqtool.data.shards import read_shard

    names = _layouts_of(scenes, tmp_path / "layout")
    (tmp_path / "vq.toml").write_text(TINY_VQGAN)
    ok(["train-vqgan", scenes / "images", "--recipe", tmp_path / "vq.toml", "--out", tmp_path / "vq", "--device", "cpu"])
    common = ["--vqgan", tmp_path / "vq/last.pt", "--no-auto-cond", "--val", "2", "--device", "cpu"]
    for name, src in (("sh", tmp_path / "layout"), ("coco", tmp_path / "coco.json")):
        ok(["tokenize", scenes / "images", "--out", tmp_path / name, "--cond", f"layout={src}", *common])
    man = json.loads((tmp_path / "sh/manifest.json").read_text())
    rec = next(c for c in man["conditions"] if c["kind"] == "layout")
    assert rec["classes"] == sorted(rec["classes"]) and set(rec["classes"]) <= set(names) and rec["grid_tokens"] == 1024
    shards = [read_shard(sorted((tmp_path / n).glob("train-*.tar"))[0]) for n in ("sh", "coco")]
    rows, coco_rows = ([np.asarray(s["layout.npy"]).astype(int) for s in sh] for sh in shards)
    assert all(r.shape == (30, 5) for r in rows) and max((r[:, 0] > 0).sum() for r in rows) >= 3
    coco_names = json.loads((tmp_path / "coco/manifest.json").read_text())["conditions"][0]["classes"]
    assert coco_names == names
    for r, q in zip(rows, coco_rows):  # the same boxes, the same classes by name
        assert np.array_equal(r[:, 1:], q[:, 1:])
        assert [rec["classes"][k - 1] for k in r[:, 0] if k] == [names[k - 1] for k in q[:, 0] if k]
    (tmp_path / "g.toml").write_text(TINY_GPT_WINDOW4)
    ok(["train-transformer", tmp_path / "sh", "--recipe", tmp_path / "g.toml", "--out", tmp_path / "t",
        "--set", "train.image_every=0", "--device", "cpu"])
    m = tmp_path / "t/last.pt"
    lay = next((tmp_path / "layout").rglob("*.json"))
    r = ok(["sample", "--model", m, "--layout", lay, "--size", "333x197", "--out", tmp_path / "s", "--device", "cpu"])
    assert Image.open(r.stdout.split()[0]).size == (333, 197)
    fail(["train-transformer", tmp_path / "sh", "--recipe", tmp_path / "g.toml", "--out", tmp_path / "loc",
          "--set", "gpt.attention=local", "--device", "cpu"], "train this layout-conditional model with gpt.attention")
    assert not (tmp_path / "loc/last.pt").exists()
