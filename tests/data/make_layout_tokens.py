"""Writes taming_layout_tokens.json: token sequences of taming's own box-layout builders
(taming/data/conditional_builder, not in the installed package) for a set of layouts, crops and
builder settings. Run with the reference source on the path, e.g. the fetched CompVis repository's
taming/data/{conditional_builder,helper_types.py} (image_transforms and more_itertools stubbed: only
plotting uses them):  PYTHONPATH=/tmp/tref python tests/data/make_layout_tokens.py
The builders shuffle the objects (random.shuffle); the shuffle is made the identity so the
sequences follow the objects' order, as vqtool's sampler keeps the user's order."""

import json
import random
import warnings
from pathlib import Path

from taming.data.conditional_builder.objects_bbox import ObjectsBoundingBoxConditionalBuilder
from taming.data.conditional_builder.objects_center_points import ObjectsCenterPointsConditionalBuilder
from taming.data.helper_types import Annotation

random.shuffle = lambda x: None  # the objects' order as given
warnings.simplefilter("ignore")
rng = random.Random(28)
cases = []
for k in range(24):
    points = k % 4 == 3
    cfg = {"no_object_classes": rng.choice([3, 17, 183]), "no_max_objects": 30 if k % 5 else 8,
           "no_tokens": 8192 if k % 2 == 0 else 1024, "encode_crop": k % 3 != 2,
           "use_group_parameter": k % 4 != 1, "use_additional_parameters": k % 6 == 0}
    objs = []
    for _ in range(rng.choice([0, 1, 3, 7, 12, 30, 33]) if k else 5):
        x, y = rng.random() * 0.9, rng.random() * 0.9
        w, h = rng.uniform(0.01, 1 - x), rng.uniform(0.01, 1 - y)
        objs.append({"class": rng.randrange(cfg["no_object_classes"]), "box": [x, y, w, h],
                     **{f: rng.random() < 0.3 for f in ("group", "occluded", "depiction", "inside")}})
    crop = [0.0, 0.0, 1.0, 1.0] if k % 2 else [rng.random() * 0.5, rng.random() * 0.5, 0.5, 0.5]
    cls = ObjectsCenterPointsConditionalBuilder if points else ObjectsBoundingBoxConditionalBuilder
    b = cls(**cfg)
    anns = [Annotation(area=o["box"][2] * o["box"][3], image_id="0", bbox=tuple(o["box"]), category_no=o["class"],
                       category_id=str(o["class"]), is_group_of=o["group"], is_occluded=o["occluded"],
                       is_depiction=o["depiction"], is_inside=o["inside"]) for o in objs]
    toks = b.build(anns, tuple(crop)).tolist()
    cases.append({"builder": "center_points" if points else "bbox", **cfg, "objects": objs, "crop": crop,
                  "tokens": toks})
Path(__file__).with_name("taming_layout_tokens.json").write_text("[\n" + ",\n".join(json.dumps(c) for c in cases) + "\n]\n")
print(len(cases), "cases")
