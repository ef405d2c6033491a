"""Export a checkpoint as a folder people can share: config.json + model.safetensors + a model card
(core.io.folder), and push it to the Hugging Face Hub. The training state (optimiser, RNG) stays
behind: an exported model is for sampling and fine-tuning from, not for --resume."""

from __future__ import annotations

import json
from pathlib import Path

from vqtool.core.errors import VqtoolError, check_writable
from vqtool.core.io import checkpoint as ck
from vqtool.core.io import folder


def export(model: Path, out: Path, push: str | None = None, fmt: str = "vqtool") -> dict:
    """Write ``out`` (refused if it holds anything but an earlier export); ``push``: also upload it;
    ``fmt`` "diffusers": a VQGAN as a diffusers VQModel folder."""
    if fmt not in ("vqtool", "diffusers"):
        raise VqtoolError(f"--format {fmt!r}: give vqtool or diffusers")
    check_writable(out, "--out")
    if fmt == "diffusers":
        from vqtool.interop.diffusers import to_diffusers

        if out.is_dir() and any(out.iterdir()):
            raise VqtoolError(f"--out {out} is not empty; give a new or empty folder")
        r = to_diffusers(model, out)
        return r | ({"pushed": _push(out, push)} if push else {})
    if out.is_dir() and any(out.iterdir()) and not folder.is_folder(out):
        raise VqtoolError(f"--out {out} holds files that are not an exported model; give a new or empty folder")
    c = ck.load_checkpoint(model)
    payload = {k: v for k, v in c.items() if k not in ("train_state", "_path")}
    n = folder.save_folder(payload, out, model_card(payload, out))
    r = {"out": str(out), "format": ck.FORMATS[payload["format"]], "parameters": n,
         "bytes": (out / folder.WEIGHTS).stat().st_size}
    if push:
        r["pushed"] = _push(out, push)
    return r


def _push(out: Path, repo: str) -> str:
    try:
        from huggingface_hub import HfApi, get_token
    except ImportError:
        raise VqtoolError("--push needs huggingface_hub: pip install 'vqtool[hub]'") from None
    if not get_token():
        raise VqtoolError("--push: no Hugging Face token (run `hf auth login` or set HF_TOKEN); the folder is "
                          f"written to {out}")
    try:
        api = HfApi()
        api.create_repo(repo, exist_ok=True)
        api.upload_folder(folder_path=str(out), repo_id=repo)
    except Exception as e:  # network, permissions: huggingface_hub raises many kinds
        raise VqtoolError(f"--push {repo}: the upload failed ({type(e).__name__}: {e}); the folder is in {out}") from None
    return f"hf://{repo}"


def model_card(p: dict, out: Path) -> str:
    """A README.md for the folder: what the model is, what made it, its figures, how to sample it."""
    cfg, prov = p.get("config") or {}, p.get("provenance") or {}
    if p["format"] == ck.TRANSFORMER:
        from vqtool.core.conditioning.layout import Layout

        lay = Layout.from_dict(p["layout"], cfg.get("class_dropout", 0.0))
        gpt = cfg.get("gpt") or {}
        what = (f"a {lay.adjective} transformer ({gpt.get('attention', 'global')} attention, {gpt.get('n_layer')} "
                f"layers, width {gpt.get('n_embd')}, window {lay.window}x{lay.window} tokens) with its VQGANs")
        use = f"vqtool sample --model {out.name} " + " ".join(c.usage for c in lay.conditions)
    else:
        m = cfg.get("model") or {}
        what = (f"a VQGAN encoding {p.get('encodes', 'image')} ({m.get('quantizer', {}).get('n_embed')} codes, "
                f"factor {2 ** (len(m.get('ch_mult') or [1]) - 1)})")
        use = f"vqtool reconstruct IMAGE.png --vqgan {out.name}"
    man = p.get("manifest") or {}
    n = sum(e.get("count", 0) for e in man.get("shards") or []) + sum(e.get("count", 0) for e in man.get("val_shards") or [])
    data = f"{n} images of {man.get('source')} (token grids, {man.get('codebook_size')} codes)" if man else "not recorded"
    figures = json.dumps(p.get("metrics") or (p.get("demo") or {}).get("history") or {}, indent=1)[:3000]
    return "\n".join([
        "---", "library_name: vqtool", "tags: [vqgan, taming-transformers, image-generation]", "---", "",
        f"# {out.name}", "", f"This is {what}, exported by vqtool {prov.get('vqtool', '?')} from a checkpoint made "
        f"{prov.get('time', '')}{' (converted from taming-transformers)' if prov.get('converted_from') else ''}.", "",
        "## Made from", "", f"- recipe: `{json.dumps({k: v for k, v in cfg.items() if k != 'model'})[:1500]}`",
        f"- data: {data}", f"- training step: {p.get('step', 0)}", "", "## Figures", "", "```json", figures, "```", "",
        "## Use", "", "```bash", "pip install vqtool", use.strip(), "```", "",
        "`config.json` holds the configuration and records, `model.safetensors` every tensor; loading runs no "
        "code, and vqtool refuses a folder whose tensors differ from what config.json lists.", ""])

