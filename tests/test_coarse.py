"""Coarse to fine (`sample --coarse`): a coarse model samples the scene small, the fine model samples
the full size from it as its low-res input. What the pair makes is exactly the two stages run by hand;
any seed, size and batch size; bad pairs are one message."""

from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from tests_helpers import fail, label_map, ok, tiny_transformer


def _pair(tmp, attention="local"):
    fine = tiny_transformer(tmp / "fine.pt", mode="seg+lowres", attention=attention, seed=1)  # lowres factor 2
    coarse = tiny_transformer(tmp / "coarse.pt", mode="seg", seed=2)
    return fine, coarse


def _bytes(paths):
    return [Image.open(p).tobytes() for p in paths]


def test_coarse_to_fine_is_the_two_stages_by_hand(tmp_path):
    from vqtool.pipeline.coarse import COARSE_SEED

    fine, coarse = _pair(tmp_path)
    seg = label_map(tmp_path / "seg.png", size=(93, 61))
    r = ok(["sample", "--model", fine, "--coarse", coarse, "--cond", seg, "--size", "93x61", "--n", "2",
            "--seed", "7", "--out", tmp_path / "o"])
    ims = r.stdout.split()
    assert len(ims) == 2 and all(Image.open(p).size == (93, 61) for p in ims)
    thumbs = sorted((tmp_path / "o" / "coarse").glob("*.png"))
    assert [Image.open(p).size for p in thumbs] == [(48, 32)] * 2  # 1/2 of the 96x64 grid (f4)
    # by hand: the coarse model at 48x32 with the stage's seed, then the fine model from each thumbnail
    c = ok(["sample", "--model", coarse, "--cond", seg, "--size", "48x32", "--n", "2",
            "--seed", str(7 ^ COARSE_SEED), "--out", tmp_path / "c"]).stdout.split()
    assert _bytes(c) == _bytes(thumbs)
    for i, t in enumerate(c):  # sample i of the pair is sample i of the seed, from thumbnail i
        by_hand = ok(["sample", "--model", fine, "--cond", f"seg={seg}", "--cond", f"lowres={t}", "--seed", "7",
                      "--n", "2", "--out", tmp_path / f"f{i}"]).stdout.split()[i]
        assert Image.open(by_hand).size == (96, 64)
        assert Image.open(by_hand).crop((0, 0, 93, 61)).tobytes() == Image.open(ims[i]).tobytes()


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(-2**63, 2**64 - 1), n=st.integers(1, 4), batch=st.integers(1, 4),
       w=st.integers(9, 70), h=st.integers(9, 50), attention=st.sampled_from(["global", "local"]))
def test_any_seed_size_and_batch_gives_the_same_images(tmp_path_factory, seed, n, batch, w, h, attention):
    tmp = tmp_path_factory.mktemp("c2f")
    fine, coarse = _pair(tmp, attention)
    seg = label_map(tmp / "seg.png", size=(w, h))
    base = ["sample", "--model", fine, "--coarse", coarse, "--cond", seg, "--seed", str(seed), "--n", str(n)]
    a = ok([*base, "--batch-size", str(batch), "--out", tmp / "a"]).stdout.split()
    b = ok([*base, "--batch-size", "1", "--out", tmp / "b"]).stdout.split()
    assert len(a) == n and all(Image.open(p).size == (w, h) for p in a)  # the map's size when --size is left out
    assert _bytes(a) == _bytes(b)


def test_the_python_api_takes_a_coarse_model(tmp_path):
    import vqtool

    fine, coarse = _pair(tmp_path)
    seg = label_map(tmp_path / "seg.png", size=(40, 28))
    ims = vqtool.sample(vqtool.load(fine), n=2, cond=seg, coarse=vqtool.load(coarse), seed=3, batch_size=1)
    cli = ok(["sample", "--model", fine, "--coarse", coarse, "--cond", seg, "--n", "2", "--seed", "3",
              "--out", tmp_path / "o"]).stdout.split()
    assert [im.tobytes() for im in ims] == _bytes(cli)


def test_pairs_that_do_not_fit_are_refused(tmp_path):
    fine, coarse = _pair(tmp_path)
    seg = label_map(tmp_path / "seg.png", size=(40, 28))
    cls = tiny_transformer(tmp_path / "cls.pt", mode="class")
    out = tmp_path / "o"
    fail(["sample", "--model", coarse, "--coarse", coarse, "--cond", seg, "--out", out],
         "coarse to fine needs one also conditioned on a low-resolution image")
    fail(["sample", "--model", fine, "--coarse", fine, "--cond", seg, "--out", out],
         "it must sample from the maps alone")
    fail(["sample", "--model", fine, "--coarse", cls, "--cond", seg, "--out", out],
         "the fine model's other conditions are seg, the coarse model's class")
    fail(["sample", "--model", fine, "--coarse", coarse, "--cond", "dpeth=" + str(seg), "--out", out],
         "unknown kind 'dpeth'")
    fail(["sample", "--model", fine, "--coarse", coarse, "--cond", seg, "--out", out, "--size", "0x5"], "width and height must be positive")
    assert not out.exists()  # nothing written
