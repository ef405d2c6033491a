"""The README's pictures from a `vqtool demo` folder: label map | landscape | real scene (half size,
8 px apart) and the class grid. Usage: python pictures.py DEMO_FOLDER DOCS_FOLDER"""
import json
import sys
from pathlib import Path

from PIL import Image

from vqtool.app.report import _label_rgb

demo, docs = Path(sys.argv[1]), Path(sys.argv[2])
fig = json.loads((demo / "metrics.json").read_text()) | {}
label = next(p for p in sorted((demo / "data" / "big" / "seg").rglob("*.png")) if p.parent.name == "lake")
panels = [_label_rgb(str(label)), Image.open(demo / "samples" / "landscape-exact.png").convert("RGB"),
          Image.open(str(label).replace("/seg/", "/images/")).convert("RGB")]
w, h = panels[0].width // 2, panels[0].height // 2
out = Image.new("RGB", (3 * w + 16, h), "white")
for i, p in enumerate(panels):
    out.paste(p.resize((w, h), Image.LANCZOS), (i * (w + 8), 0))
out.save(docs / "demo-landscape.png")
Image.open(demo / "samples" / "classes.png").save(docs / "demo-classes.png")
print(docs / "demo-landscape.png", docs / "demo-classes.png")
