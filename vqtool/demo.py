"""The main job on the embedded dataset: scenes -> VQGANs -> tokenize -> transformer -> a
1280x832 landscape from an unseen label map -> metrics -> report.html.

Ten CPU minutes cannot train models good enough to show the method, so by default the demo
starts from small checkpoints shipped in the wheel (made by ``vqtool demo --from-scratch``, the
command in the README); every other stage runs for real. Finished stages are reused on rerun.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import torch

from vqtool.core import checkpoint as ck
from vqtool.core.errors import VqtoolError
from vqtool.core.weights import sha256_of
from vqtool.train.common import Callbacks

SHIPPED = Path(__file__).parent / "_demo" / "scenes-demo.pt"
BIG = (1280, 832)
TRAIN_SIZE = (640, 576)  # transformer data: 16x16-token windows of these are crops of a larger view


def shipped_checkpoint() -> Path:
    want = (SHIPPED.parent / "SHA256").read_text().split()[0] if (SHIPPED.parent / "SHA256").is_file() else None
    if not SHIPPED.is_file() or want is None:
        raise VqtoolError("the demo checkpoint is not installed; run `vqtool demo --from-scratch`")
    if sha256_of(SHIPPED) != want:
        raise VqtoolError(f"{SHIPPED} does not match its sha256; reinstall vqtool or use --from-scratch")
    return SHIPPED


def export_demo_checkpoint(transformer: Path, out: Path, history: dict, commands: list[str]) -> str:
    """Shrink a trained demo transformer (with its VQGANs) to fp16 weights and record its story."""
    c = ck.load_checkpoint(transformer, ck.TRANSFORMER)

    def half(sd):
        return {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}

    slim = {k: c[k] for k in ("format", "config", "step", "cond", "manifest", "metrics", "provenance")}
    slim["model"] = half(c["model"])
    slim["first_stage"] = {**c["first_stage"], "model": half(c["first_stage"]["model"])}
    slim["cond_stage"] = {**c["cond_stage"], "model": half(c["cond_stage"]["model"])}
    slim["demo"] = {"history": history, "commands": commands, "made_by": "vqtool demo --from-scratch"}
    ck.save_checkpoint(out, slim)
    digest = sha256_of(out)
    (out.parent / "SHA256").write_text(f"{digest}  {out.name}\n")
    return digest


def _unpack(shipped: Path, runs: Path) -> dict:
    """Write the shipped models as ordinary vqtool checkpoints (fp32) under runs/."""
    c = ck.load_checkpoint(shipped, ck.TRANSFORMER)

    def full(sd):
        return {k: (v.float() if v.is_floating_point() else v) for k, v in sd.items()}

    for name, stage, fmt, kind in (("vqgan", "first_stage", ck.VQGAN, "vqgan"),
                                   ("seg-vqgan", "cond_stage", ck.SEG_VQGAN, "seg-vqgan")):
        s = c[stage]
        ck.save_checkpoint(runs / name / "last.pt", {
            "format": fmt, "config": {"kind": kind, "model": s["config"], "data": {"size": 128, "resize": 0}},
            "model": full(s["model"]), "step": 0, "data": s.get("data")})
    t = {k: v for k, v in c.items() if k not in ("demo", "_path")}
    t["model"] = full(c["model"])
    t["first_stage"] = {**c["first_stage"], "model": full(c["first_stage"]["model"])}
    t["cond_stage"] = {**c["cond_stage"], "model": full(c["cond_stage"]["model"])}
    ck.save_checkpoint(runs / "transformer" / "last.pt", t)
    return c.get("demo", {})


def _history(run: Path) -> list[dict]:
    p = run / "metrics.jsonl"
    return [json.loads(line) for line in p.read_text().splitlines()] if p.is_file() else []


RECIPES = {"vqgan": ("scenes-vqgan-tiny", []), "seg-vqgan": ("scenes-seg-vqgan-tiny", []),
           "transformer": ("scenes-transformer-tiny", ["train.max_steps=3000"])}


def run_demo(out: Path, fresh: bool = False, from_scratch: bool = False, n_scenes: int | None = None,
             exact: bool = True, device: str = "auto", stage_cb=None, callbacks_for=None, progress_for=None,
             recipes: dict | None = None, train_size=TRAIN_SIZE, big_size=BIG, val_size: int = 256,
             vq_scenes: tuple[int, int] = (1000, 256)) -> dict:
    """Run (or reuse) every stage; returns the figures. ``stage_cb(name, detail)`` reports progress;
    ``callbacks_for(name)`` gives a context manager yielding training Callbacks, ``progress_for(name,
    total)`` one yielding ``advance(n, status=..., total=...)`` for the other long stages (scenes,
    tokenize, sample). ``recipes`` and the sizes exist for tests (tiny models); the defaults are the demo's."""
    recipes = {**RECIPES, **(recipes or {})}
    from contextlib import nullcontext

    from vqtool.core.config import load_recipe
    from vqtool.data.encode import tokenize_dataset
    from vqtool.data.scenes import make_scenes
    from vqtool.eval.metrics import eval_recon
    from vqtool.generate import generate, load_transformer, padded
    from vqtool.train.transformer import train_transformer
    from vqtool.train.vqgan import train_vqgan

    out = Path(out)
    if fresh and out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    say = stage_cb or (lambda *a: None)
    cbs = callbacks_for or (lambda name: nullcontext(Callbacks()))
    bar = progress_for or (lambda name, total=None: nullcontext(lambda *a, **k: None))

    def scenes_in(folder, count, w, h, seed):
        with bar(f"scenes {folder.name}", count) as advance:
            make_scenes(folder, count, w, h, seed=seed, progress=advance)
    data, runs = out / "data", out / "runs"
    n = n_scenes or (400 if from_scratch else 48)
    cmds, timings, figures = [], {}, {}

    def stage(name, done: bool, fn, cmd: str):
        cmds.append(cmd)
        t = time.time()
        if done:
            say(name, "reused")
        else:
            say(name, "running")
            fn()
        timings[name] = round(time.time() - t, 1)

    scenes = data / "scenes"
    stage("scenes", (scenes / "classes.json").is_file(),
          lambda: scenes_in(scenes, n, *train_size, 0),
          f"vqtool make-scenes {scenes} --n {n} --size {train_size[0]}x{train_size[1]} --seed 0")
    val = data / "val"
    stage("held-out scenes", (val / "classes.json").is_file(), lambda: scenes_in(val, 40, val_size, val_size, 7),
          f"vqtool make-scenes {val} --n 40 --size {val_size}x{val_size} --seed 7")
    big = data / "big"
    stage("label map", (big / "classes.json").is_file(), lambda: scenes_in(big, 4, *big_size, 2026),
          f"vqtool make-scenes {big} --n 4 --size {big_size[0]}x{big_size[1]} --seed 2026")
    history = {}
    if from_scratch:
        # the VQGANs learn from many small scenes (128px crops of 256px views: content-rich); the
        # transformer from window crops of larger scenes (windows at every offset from the horizon)
        vq = data / "scenes-vq"
        nv, sv = vq_scenes
        stage("vqgan scenes", (vq / "classes.json").is_file(), lambda: scenes_in(vq, nv, sv, sv, 0),
              f"vqtool make-scenes {vq} --n {nv} --size {sv}x{sv} --seed 0")
        for name, folder in (("vqgan", vq / "images"), ("seg-vqgan", vq / "seg")):
            recipe, sets = recipes[name]

            def train(name=name, folder=folder, recipe=recipe, sets=sets):
                with cbs(name) as cb:
                    # native pixel scale (resize 0): the scenes' scale is fixed by design
                    train_vqgan(folder, runs / name, load_recipe(recipe, sets), device=device, callbacks=cb)
            stage(name, (runs / name / "last.pt").is_file(), train,
                  f"vqtool train-vqgan {folder}{' --seg' if name == 'seg-vqgan' else ''} --recipe {recipe} "
                  + "".join(f"--set {x} " for x in sets) + f"--out {runs / name}")
            history[name] = _history(runs / name)
    else:
        stage("models", (runs / "transformer" / "last.pt").is_file(),
              lambda: history.update(_unpack(shipped_checkpoint(), runs).get("history", {})),
              "(shipped: vqtool/_demo/scenes-demo.pt, made by `vqtool demo --from-scratch`)")
    shards = out / "shards"
    def tokenize():
        with bar("tokenize") as advance:
            tokenize_dataset(scenes / "images", shards, runs / "vqgan" / "last.pt", scenes / "seg",
                             runs / "seg-vqgan" / "last.pt", size=min(train_size), device=device, progress=advance)
    stage("tokenize", (shards / "manifest.json").is_file(), tokenize,
          f"vqtool tokenize {scenes / 'images'} --out {shards} --vqgan {runs / 'vqgan/last.pt'} "
          f"--seg-vqgan {runs / 'seg-vqgan/last.pt'} --size {min(train_size)}")
    if from_scratch:
        recipe, sets = recipes["transformer"]

        def train_t():
            with cbs("transformer") as cb:
                train_transformer(shards, runs / "transformer", load_recipe(recipe, sets), device=device, callbacks=cb)
        stage("transformer", (runs / "transformer" / "last.pt").is_file(), train_t,
              f"vqtool train-transformer {shards} --recipe {recipe} " + "".join(f"--set {x} " for x in sets)
              + f"--out {runs / 'transformer'}")
        history["transformer"] = _history(runs / "transformer")
    if not history:
        history = (ck.load_checkpoint(runs / "transformer" / "last.pt").get("demo") or {}).get("history", {}) \
            or {k: _history(runs / k) for k in ("vqgan", "seg-vqgan", "transformer")}
    (out / "history.json").write_text(json.dumps(history))
    history = json.loads((out / "history.json").read_text())

    # sample a 1280x832 landscape from a label map that no model has seen: the lake scene, the
    # biome with the most classes (sky, cloud, snow, mountain, tree, water, sand, grass)
    maps = sorted((big / "seg").rglob("*.png"))
    label = next((p for p in maps if p.parent.name == "lake"), maps[0])
    samples = out / "samples"
    mode = "exact" if exact else "fast"
    target = samples / f"landscape-{mode}.png"

    def sample():
        b = load_transformer(runs / "transformer" / "last.pt", torch.device("cpu"))
        t = time.time()
        Wf, Hf = padded(big_size, b.factor)
        with bar("sample", Wf * Hf // b.factor ** 2) as advance:
            im = generate(b, 1, big_size, label, top_k=100, seed=0, mode=mode, progress=advance)[0]
        figures["sample_seconds"] = round(time.time() - t, 1)
        samples.mkdir(parents=True, exist_ok=True)
        im.save(target)
    stage("sample", target.is_file(), sample,
          f"vqtool sample --model {runs / 'transformer/last.pt'} --cond {label} --size {big_size[0]}x{big_size[1]} --mode {mode} "
          f"--out {samples}")
    figures["label_map"], figures["sample"] = str(label), str(target)
    figures["truth"] = str(label).replace("/seg/", "/images/")

    def evaluate():
        r = eval_recon(val / "images", runs / "vqgan" / "last.pt", size=val_size, device=device, rfid=True,
                       warn=lambda m: figures.setdefault("notes", []).append(m))
        s = eval_recon(val / "seg", runs / "seg-vqgan" / "last.pt", size=val_size, device=device)
        from vqtool.eval.recon import reconstruct

        reconstruct(sorted((val / "images").rglob("*.png"))[:4], runs / "vqgan" / "last.pt", out / "recon", device=device)
        (out / "metrics.json").write_text(json.dumps({"recon": r, "seg_recon": s}, indent=1))
    stage("evaluate", (out / "metrics.json").is_file(), evaluate,
          f"vqtool eval-recon {val / 'images'} --vqgan {runs / 'vqgan/last.pt'} --size {val_size} && "
          f"vqtool eval-recon {val / 'seg'} --vqgan {runs / 'seg-vqgan/last.pt'} --size {val_size}")
    figures |= json.loads((out / "metrics.json").read_text())
    t = ck.load_checkpoint(runs / "transformer" / "last.pt")
    figures["transformer"] = t.get("metrics", {})
    figures["timings"], figures["commands"] = timings, cmds
    from vqtool.report import write_report

    figures["report"] = str(write_report(out, figures, history))
    return figures
