"""Box layouts from the user's files for tokenize: a JSON beside each image (the same relative path
with .json, in the image folder or a folder of its own), or one COCO-style annotations file
(``categories``, ``images``, ``annotations`` with pixel ``bbox`` and ``iscrowd`` as the group flag).
Boxes are brought to the image as tokenize prepares it (resized, centre-cropped)."""

from __future__ import annotations

import json
from pathlib import Path

from vqtool.core.errors import VqtoolError


def layout_for_job(cls, value: Path):
    """The layout condition of a tokenize job: its classes from every layout file (names sorted;
    COCO: the categories in id order), the point grid large enough for them and their group flag."""
    if value.is_file():
        coco = _coco_index(value)
        names = coco.pop(None)
    elif value.is_dir():
        coco, names = None, set()
        for p in sorted(value.rglob("*.json")):
            for o in load_json_list(p):
                if isinstance(o, dict) and "class" in o:
                    names.add(str(o["class"]))
        names = sorted(names)
    else:
        raise VqtoolError(f"box layouts not found: {value} (give a folder of JSON files or a COCO annotations file)")
    if not names:
        raise VqtoolError(f"no objects in the box layouts of {value}")
    grid = 1024  # a 32 x 32 point grid, grown until the classes and their group flag fit below "none"
    while 2 * len(names) >= grid - 1:
        grid *= 4
    c = cls(classes=names, n_classes=len(names), grid_tokens=grid)
    c.coco = coco
    return c


def find_layout(c, folder: Path, rel: Path):
    """The layout of the image at ``rel``: its key in the annotations file, or its JSON file; None."""
    coco = getattr(c, "coco", None)
    if coco is not None:
        return next((k for k in (rel.as_posix(), rel.name) if k in coco), None)
    p = folder / rel.with_suffix(".json")
    return p if p.is_file() else None


def prepared_objects(c, path, where: dict) -> list:
    """The objects of one image (relative to the original image), relative to the prepared image;
    an object cut away by the crop is dropped."""
    coco = getattr(c, "coco", None)
    items = coco[path] if coco is not None else load_json_list(path)
    (x0, y0, Wt, Ht), (W, H) = where["box"], where["resized"]
    out = []
    for k, o in enumerate(items):
        rep, x, y, w, h = c.parse_object({**o, "class": str(o.get("class"))} if isinstance(o, dict) else o, k, path)
        a0, b0 = max(x * W - x0, 0) / Wt, max(y * H - y0, 0) / Ht
        a1, b1 = min((x + w) * W - x0, Wt) / Wt, min((y + h) * H - y0, Ht) / Ht
        if a1 > a0 and b1 > b0:
            out.append((rep, a0, b0, a1 - a0, b1 - b0))
    return out


def _coco_index(path: Path) -> dict:
    """file name -> objects (relative boxes), and None -> the class names, of a COCO annotations file."""
    try:
        d = json.loads(path.read_text())
        cats = sorted(d["categories"], key=lambda c: c["id"])
        images = {im["id"]: im for im in d["images"]}
        names = [str(c["name"]) for c in cats]
        by_id = {c["id"]: str(c["name"]) for c in cats}
        out = {im["file_name"]: [] for im in images.values()}
        for a in d["annotations"]:
            im = images[a["image_id"]]
            x, y, w, h = a["bbox"]
            W, H = im["width"], im["height"]
            out[im["file_name"]].append({"class": by_id[a["category_id"]], "group": bool(a.get("iscrowd")),
                                         "box": [x / W, y / H, min(w / W, 1 - x / W), min(h / H, 1 - y / H)]})
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as e:
        raise VqtoolError(f"{path} is not a COCO annotations file (categories, images, annotations): "
                          f"{type(e).__name__} {e}") from None
    return {**out, None: names}


def load_json_list(path: Path) -> list:
    if not Path(path).is_file():
        raise VqtoolError(f"box layout not found: {path}")
    try:
        items = json.loads(Path(path).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise VqtoolError(f"box layout {path} is not JSON ({e})") from None
    items = items.get("objects") if isinstance(items, dict) else items
    if not isinstance(items, list):
        raise VqtoolError(f'box layout {path} is not a list of {{"class": ..., "box": [x, y, w, h]}}')
    return items
