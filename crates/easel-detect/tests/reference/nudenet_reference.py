"""nudenet's own detector (onnxruntime, its own preprocessing) on IMAGE; prints its
detections as JSON with boxes as [x1, y1, x2, y2] in source pixels.

Usage: nudenet_reference.py IMAGE
"""

import json
import sys

from nudenet import NudeDetector

found = NudeDetector().detect(sys.argv[1])
print(json.dumps([
    {"label": d["class"], "score": d["score"],
     "bbox": [d["box"][0], d["box"][1], d["box"][0] + d["box"][2], d["box"][1] + d["box"][3]]}
    for d in found
]))
