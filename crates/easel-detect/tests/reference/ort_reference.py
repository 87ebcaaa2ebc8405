"""onnxruntime's side of easel-detect's parity tests: runs MODEL on the (1, 3, H, W)
float32 little-endian input in INPUT_F32, writes the raw output to OUTPUT_F32, and prints
JSON: the output shape and the detections after a per-class NMS written here
independently of Easel (class = best score, kept when >= MIN_CONF, greedy IoU > IOU
suppression within a class, highest score first), boxes as [x1, y1, x2, y2] in input
pixels.

Usage: ort_reference.py MODEL INPUT_F32 H W OUTPUT_F32 MIN_CONF IOU
"""

import json
import sys

import numpy as np
import onnxruntime as ort


def iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def main():
    model, input_path, h, w, output_path, min_conf, iou_limit = sys.argv[1:]
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    x = np.fromfile(input_path, dtype="<f4").reshape(1, 3, int(h), int(w))
    name = session.get_inputs()[0].name
    out = session.run(None, {name: x})[0]
    out.astype("<f4").tofile(output_path)
    head = out[0]
    scores = head[4:]
    best = scores.argmax(axis=0)
    conf = scores.max(axis=0)
    keep = np.nonzero(conf >= float(min_conf))[0]
    order = keep[np.argsort(-conf[keep], kind="stable")]
    kept = []
    for a in order:
        cx, cy, bw, bh = (float(v) for v in head[:4, a])
        box = [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]
        if any(k["class"] == int(best[a]) and iou(k["bbox"], box) > float(iou_limit) for k in kept):
            continue
        kept.append({"class": int(best[a]), "confidence": float(conf[a]), "bbox": box})
        if len(kept) >= 300:
            break
    print(json.dumps({"shape": list(out.shape), "detections": kept}))


main()
