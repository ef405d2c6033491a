"""The main job on the embedded dataset: scenes -> VQGANs -> tokenize -> transformers -> a
1280x832 landscape from an unseen label map, another from an unseen depth map, 4x super-resolution
of unseen scenes and a class grid -> metrics -> report.html.

Ten CPU minutes cannot train models good enough to show the method, so by default the demo
starts from checkpoints shipped in the wheel (made by ``vqtool demo --from-scratch``, the command
in the README); every other stage runs for real. Finished stages are reused on rerun.
"""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from vqtool.core.io import checkpoint as ck
from vqtool.core.errors import VqtoolError
from vqtool.core.formats import TransformerCheckpoint
from vqtool.app.demo_conditions import (coarse_landscape, depth_landscape, landscape_quality, superres,
                                        train_coarse_to_fine)
from vqtool.app.demo_folder import command, open_demo_folder
from vqtool.app.demo_models import export_all, history_of, unpack
from vqtool.core.callbacks import Callbacks
from vqtool.train.common import unfinished

# the landscape's transformer is the local one (issue 16; README "Beyond the paper"); the class grid's fits
# one window and keeps the paper's GPT. The image VQGAN is two runs: the whole model (vqgan-base), then its
# decoder alone with a stronger adversarial term (vqgan, --init-from the base; the codes stay the base's).
# The depth, super-resolution and fine (coarse to fine, issue 27) models are local ones with condition
# blocks (issue 19); the coarse model samples one small picture of the scene with the paper's GPT
RECIPES = {"vqgan-base": ("scenes-vqgan-demo", []), "vqgan": ("scenes-vqgan-decoder-demo", []),
           "seg-vqgan": ("scenes-seg-vqgan-demo", []), "depth-vqgan": ("scenes-depth-vqgan-demo", []),
           "transformer": ("scenes-transformer-local-demo", []),
           "depth-transformer": ("scenes-depth-transformer-demo", []),
           "sr-transformer": ("scenes-sr-transformer-demo", []),
           "coarse-transformer": ("scenes-coarse-transformer-demo", []),
           "fine-transformer": ("scenes-fine-transformer-demo", []),
           "class-transformer": ("scenes-class-transformer-demo", [])}


@dataclass
class DemoOptions:
    """What the demo builds. The defaults are the demo's; tests shrink the recipes and sizes."""
    from_scratch: bool = False
    fresh: bool = False
    n_scenes: int | None = None  # transformer training scenes (default 400 from scratch, 48 otherwise)
    exact: bool = True  # sample the landscape in exact mode (else fast)
    device: str = "auto"
    recipes: dict = field(default_factory=dict)  # overrides of RECIPES, name -> (recipe, [--set ...])
    train_size: tuple[int, int] = (640, 576)  # transformer data: 16x16-token windows are crops of these
    big_size: tuple[int, int] = (1280, 832)
    val_size: int = 256
    vq_scenes: tuple[int, int] = (1000, 256)  # VQGAN training scenes: count, side
    class_scenes: tuple[int, int] = (2000, 128)  # class-transformer scenes: count, side (one window)
    per_class: int = 6  # samples per class in the class grid
    sr_images: int = 8  # held-out val scenes upscaled 4x (biome after biome)
    sr_factor: int = 4
    coarse_scenes: tuple[int, int, int] = (400, 1280, 1024)  # coarse-model scenes: count, W, H (made K times smaller)
    coarse_factor: int = 8  # K: the coarse model's thumbnail is 1/K of the fine model's image
    cfg: float = 2.0
    depth_cfg: float = 4.0  # guidance towards the depth map (its model is trained with map dropout)


class DemoInterrupted(Exception):
    """A training stage was stopped (Ctrl-C, SIGTERM) after its checkpoint; rerunning continues it."""


@dataclass
class DemoHooks:
    """How the demo reports: ``stage(name, detail)``; ``training(name)`` a context manager giving
    training Callbacks; ``progress(name, total)`` one giving ``advance(n, ...)``."""
    stage: Callable = lambda name, detail: None
    training: Callable = lambda name: nullcontext(Callbacks())
    progress: Callable = lambda name, total=None: nullcontext(lambda *a, **k: None)


# --------------------------------------------------------------------------- the run


class _Demo:
    def __init__(self, out: Path, opts: DemoOptions, hooks: DemoHooks):
        self.out, self.o, self.h = Path(out), opts, hooks
        self.recipes = {**RECIPES, **opts.recipes}
        self.data, self.runs = self.out / "data", self.out / "runs"
        self.commands, self.timings, self.figures = [], {}, {}

    def stage(self, name: str, done: Path | bool, fn, cmd: str) -> None:
        """Run ``fn`` unless ``done`` (a path that exists, or True); record the command that does the
        same by hand."""
        self.commands.append(cmd)
        t = time.time()
        if done is True or (isinstance(done, Path) and done.exists()):
            self.h.stage(name, "reused")
        else:
            self.h.stage(name, "running")
            fn()
        self.timings[name] = round(time.time() - t, 1)

    def scenes(self, name: str, count: int, w: int, h: int, seed: int, depth: bool = False) -> Path:
        """Scenes with label maps (and depth maps); a folder made before without the depth maps asked
        for now is made again (the same seed gives the same scenes)."""
        from vqtool.data.scenes import make_scenes

        folder = self.data / name

        def make():
            with self.h.progress(f"scenes {name}", count) as advance:
                make_scenes(folder, count, w, h, seed=seed, progress=advance, depth=depth)
        done = (folder / "classes.json").exists() and (not depth or (folder / "depth").is_dir())
        self.stage(f"{name} scenes", done, make,
                   command("make-scenes", folder, n=count, size=f"{w}x{h}", seed=seed, no_depth=not depth,
                           no_edges=True))
        return folder

    def train(self, name: str, data: Path, init_from: Path | None = None) -> None:
        """A training stage; a run stopped short of its max_steps (Ctrl-C, a killed job) is resumed.
        What it trains (a transformer, a VQGAN of images or label maps) is its recipe's kind."""
        from vqtool.core.config import load_recipe
        from vqtool.core.tokenizer.inputs import BY_RECIPE
        from vqtool.train.transformer import train_transformer
        from vqtool.train.vqgan import train_vqgan

        recipe, sets = self.recipes[name]
        run, resume = self.runs / name, unfinished(self.runs / name / "last.pt")
        kind = load_recipe(recipe, sets).kind
        encodes = BY_RECIPE[kind].name if kind in BY_RECIPE else None  # a VQGAN's input, or a transformer

        def fit():
            r, dev = None if resume else load_recipe(recipe, sets), self.o.device
            with self.h.training(name) as cb:
                s = (train_vqgan(data, run, r, resume=resume, device=dev, callbacks=cb,
                                 init_from=None if resume else init_from) if encodes else
                     train_transformer(data, run, r, resume=resume, device=dev, callbacks=cb))
            if s["interrupted"]:
                raise DemoInterrupted(f"{name} stopped at step {s['step']} ({run / 'last.pt'}); "
                                      "run the same command again to continue it")
        self.stage(name, (run / "last.pt").exists() and not resume, fit,
                   command("train-vqgan" if encodes else "train-transformer", data,
                           kind=encodes if encodes != "image" else None, recipe=recipe, set_=sets,
                           init_from=init_from, out=run))

    def tokenize(self, name: str, folder: str, scenes: Path, size: int, conds: dict) -> Path:
        """``scenes``' images with ``conds`` beside them (kind -> a map folder with its runs/KIND-vqgan, or
        a value: ``{"lowres": 4}``), as `vqtool tokenize --cond KIND=...`."""
        from vqtool.data.encode import tokenize_dataset

        shards, vq = self.out / folder, self.runs / "vqgan" / "last.pt"
        vqgans = {k: self.runs / f"{k}-vqgan" / "last.pt" for k, v in conds.items() if isinstance(v, Path)}

        def run():
            with self.h.progress(name) as advance:
                tokenize_dataset(scenes / "images", shards, vq, size=size, device=self.o.device, progress=advance,
                                 conds=conds, cond_vqgans=vqgans)
        self.stage(name, shards / "manifest.json", run,
                   command("tokenize", scenes / "images", out=shards, vqgan=vq, cond=[f"{k}={v}" for k, v in conds.items()],
                           cond_vqgan=[f"{k}={v}" for k, v in vqgans.items()], no_auto_cond=True, size=size))
        return shards

    def landscape(self, big: Path) -> Path:
        """A 1280x832 landscape from an unseen label map: the lake, the biome with the most classes."""
        from vqtool.pipeline.bundle import load_transformer
        from vqtool.pipeline.generate import generate, padded

        maps = sorted((big / "seg").rglob("*.png"))
        label = next((p for p in maps if p.parent.name == "lake"), maps[0])
        model, size = self.runs / "transformer" / "last.pt", self.o.big_size
        # a local model samples exactly in either mode (its fast mode is its exact one)
        local = ck.load_checkpoint(model)["config"]["gpt"].get("attention") == "local"
        mode = "exact" if self.o.exact or local else "fast"
        target = self.out / "samples" / f"landscape-{mode}.png"

        def sample():
            b = load_transformer(model, torch.device("cpu"))
            t = time.time()
            Wf, Hf = padded(size, b.factor)
            with self.h.progress("sample", Wf * Hf // b.factor ** 2) as advance:
                im = generate(b, 1, size, label, top_k=100, seed=0, mode=mode, progress=advance)[0]
            target.parent.mkdir(parents=True, exist_ok=True)
            im.save(target)
            target.with_suffix(".json").write_text(json.dumps({"sample_seconds": round(time.time() - t, 1)}))
        self.stage("sample", target.with_suffix(".json"), sample, command("sample", model=model, cond=label, size=f"{size[0]}x{size[1]}",
                                                     mode=mode, top_k=100, seed=0, out=target.parent))
        self.figures |= {"label_map": str(label), "sample": str(target), "truth": str(label).replace("/seg/", "/images/"),
                         **json.loads(target.with_suffix(".json").read_text())}  # the time it took, reused or not
        return target

    def class_grid(self) -> Path:
        from vqtool.app.report import labelled_grid
        from vqtool.pipeline.bundle import load_transformer
        from vqtool.pipeline.generate import generate

        model, side = self.runs / "class-transformer" / "last.pt", self.o.class_scenes[1]
        target = self.out / "samples" / "classes.png"

        def sample():
            b = load_transformer(model, torch.device("cpu"))
            rows = []
            with self.h.progress("class grid", len(b.layout.class_names) * self.o.per_class) as advance:
                for c in b.layout.class_names:
                    rows.append((c, generate(b, self.o.per_class, (side, side), class_=c, cfg=self.o.cfg, seed=0,
                                             top_k=100, batch_size=self.o.per_class)))
                    advance(self.o.per_class)
            target.parent.mkdir(parents=True, exist_ok=True)
            labelled_grid(rows).save(target)
        self.stage("class grid", target, sample,
                   f"for c in {' '.join(self._classes(model))}; do "
                   + command("sample", model=model, class_="$c", cfg=self.o.cfg, n=self.o.per_class,
                             size=f"{side}x{side}", top_k=100, seed=0, out=f"{target.parent}/$c").replace("'", '"')
                   + "; done")
        self.figures |= {"class_grid": str(target), "cfg": self.o.cfg}
        return target

    def _classes(self, model: Path) -> list[str]:
        try:
            return TransformerCheckpoint.load(model).layout.class_names or ["CLASS"]
        except (OSError, VqtoolError):
            return ["CLASS"]

    def evaluate(self, val: Path) -> None:
        from vqtool.eval.metrics import eval_recon
        from vqtool.eval.recon import reconstruct

        vq, size = self.runs / "vqgan" / "last.pt", self.o.val_size
        seg_vq, depth_vq = self.runs / "seg-vqgan" / "last.pt", self.runs / "depth-vqgan" / "last.pt"
        path = self.out / "metrics.json"

        def run():
            notes = self.figures.setdefault("notes", [])
            r = eval_recon(val / "images", vq, size=size, device=self.o.device, rfid=True, warn=notes.append)
            s = eval_recon(val / "seg", seg_vq, size=size, device=self.o.device)
            dp = eval_recon(val / "depth", depth_vq, size=size, device=self.o.device)
            reconstruct(sorted((val / "images").rglob("*.png"))[:4], vq, self.out / "recon", device=self.o.device)
            landscape = landscape_quality(self.runs / "transformer" / "last.pt", self.figures)
            path.write_text(json.dumps({"recon": r, "seg_recon": s, "depth_recon": dp, "landscape": landscape}, indent=1))
        self.stage("evaluate", path, run,
                   command("eval-recon", val / "images", vqgan=vq, size=size) + " && "
                   + command("eval-recon", val / "seg", vqgan=seg_vq, size=size) + " && "
                   + command("eval-recon", val / "depth", vqgan=depth_vq, size=size) + " && "
                   + command("bench", "quality", model=self.runs / "transformer" / "last.pt",
                             cond=self.figures["label_map"], sample=self.figures["sample"]))
        self.figures |= json.loads(path.read_text())


def run_demo(out: Path, opts: DemoOptions | None = None, hooks: DemoHooks | None = None) -> dict:
    """Run (or reuse) every stage; returns the figures (written into report.html)."""
    o, d = opts or DemoOptions(), _Demo(out, opts or DemoOptions(), hooks or DemoHooks())
    open_demo_folder(d.out, o.fresh)
    n = o.n_scenes or (400 if o.from_scratch else 48)
    # depth maps where a model learns from them (from scratch) or is given one (the held-out big scenes)
    scenes = d.scenes("scenes", n, *o.train_size, 0, depth=o.from_scratch)
    val = d.scenes("val", 40, o.val_size, o.val_size, 7, depth=True)
    big = d.scenes("big", 4, *o.big_size, 2026, depth=True)
    if o.from_scratch:
        history = _train_all(d, o, scenes)
        (d.out / "history.json").write_text(json.dumps(history))
    else:
        def shipped():
            (d.out / "history.json").write_text(json.dumps(unpack(d.runs)))
        d.stage("models", d.out / "history.json", shipped,
                "(shipped: vqtool/_demo/*.pt, made by `vqtool demo --from-scratch`)")
        d.tokenize("tokenize", "shards", scenes, min(o.train_size), {"seg": scenes / "seg"})
        history = json.loads((d.out / "history.json").read_text())
    d.landscape(big)
    coarse_landscape(d)
    depth_landscape(d, big)
    superres(d, val)
    d.class_grid()
    d.evaluate(val)
    seg_model = ck.load_checkpoint(d.runs / "transformer" / "last.pt")
    d.figures["transformer"], gpt = seg_model.get("metrics", {}), seg_model["config"].get("gpt", {})
    d.figures["attention"] = {"kind": gpt.get("attention", "global"), "radius": gpt.get("radius"),
                              "window": seg_model["config"].get("data", {}).get("window"),
                              **({"cond_layers": gpt["cond_layers"]} if gpt.get("cond_layers") else {})}
    d.figures["class_transformer"] = ck.load_checkpoint(d.runs / "class-transformer" / "last.pt").get("metrics", {})
    d.figures["timings"], d.figures["commands"] = d.timings, d.commands
    if o.from_scratch:
        d.figures["exported"] = export_all(d.runs, d.out / "export", history, d.commands)
    from vqtool.app.report import write_report

    d.figures["report"] = str(write_report(d.out, d.figures, history))
    return d.figures


def _train_all(d: _Demo, o: DemoOptions, scenes: Path) -> dict:
    """Every model from scratch; their training histories. The VQGANs learn from many small scenes
    (content-rich crops); the landscape, depth and super-resolution transformers from window crops
    of larger scenes (windows at every offset from the horizon); the class transformer from whole
    small scenes, one window each."""
    vq = d.scenes("scenes-vq", o.vq_scenes[0], o.vq_scenes[1], o.vq_scenes[1], 0, depth=True)
    d.train("vqgan-base", vq / "images")
    d.train("vqgan", vq / "images", init_from=d.runs / "vqgan-base" / "last.pt")
    d.train("seg-vqgan", vq / "seg")
    d.train("depth-vqgan", vq / "depth")
    size = min(o.train_size)
    d.train("transformer", d.tokenize("tokenize", "shards", scenes, size, {"seg": scenes / "seg"}))
    d.train("depth-transformer", d.tokenize("tokenize depth", "shards-depth", scenes, size, {"depth": scenes / "depth"}))
    d.train("sr-transformer", d.tokenize("tokenize low-res", "shards-sr", scenes, size, {"lowres": o.sr_factor}))
    train_coarse_to_fine(d, scenes)
    cls = d.scenes("scenes-class", o.class_scenes[0], o.class_scenes[1], o.class_scenes[1], 1)
    d.train("class-transformer", d.tokenize("tokenize classes", "shards-class", cls, o.class_scenes[1], {}))
    return {k: history_of(d.runs / k) for k in RECIPES}

