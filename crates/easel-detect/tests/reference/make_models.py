"""Writes the ONNX models easel-detect's tests need beside the real nudenet detector:

- yolo-coco-tiny.onnx: a small YOLOv8/YOLO11-shaped detector with the 80-class COCO head
  (C2f blocks, SPPF, a YOLO11-style attention block and depthwise convolutions, nearest
  upsampling, the DFL box decoding and the anchor/stride arithmetic of an Ultralytics
  export), random weights, fixed 1x3x256x256 input, `names` metadata as Ultralytics
  writes it;
- not-a-detector.onnx: a valid model whose output is (1, N);
- unsupported-op.onnx: a valid model using an operator the engine does not run (Einsum).

Usage: make_models.py OUT_DIR
"""

import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

COCO = ["person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
        "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
        "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
        "umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
        "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
        "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
        "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
        "couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
        "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
        "refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
        "toothbrush"]


class Graph:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, prefix):
        self.count += 1
        return f"{prefix}{self.count}"

    def const(self, array, dtype=np.float32):
        n = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(array, dtype=dtype), n))
        return n

    def op(self, kind, inputs, outputs=1, **attrs):
        names = [self.name(kind.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(kind, inputs, names, name=self.name("/" + kind), **attrs))
        return names if outputs > 1 else names[0]

    def conv(self, x, cin, cout, k=3, s=1, act=True, group=1, bias_mean=0.0):
        w = self.rng.normal(0, (2.0 / (cin // group * k * k)) ** 0.5, (cout, cin // group, k, k))
        b = self.rng.normal(bias_mean, 0.1, cout)
        y = self.op("Conv", [x, self.const(w), self.const(b)], kernel_shape=[k, k],
                    strides=[s, s], pads=[k // 2] * 4, group=group, dilations=[1, 1])
        if not act:
            return y
        return self.op("Mul", [y, self.op("Sigmoid", [y])])

    def c2f(self, x, c):
        a = self.conv(x, c, c, 1)
        half = c // 2
        s1, s2 = self.op("Split", [a, self.const([half, half], np.int64)], outputs=2, axis=1)
        b = self.conv(self.conv(s2, half, half), half, half)
        r = self.op("Add", [s2, b])
        return self.conv(self.op("Concat", [s1, s2, r], axis=1), 3 * half, c, 1)

    def sppf(self, x, c):
        a = self.conv(x, c, c // 2, 1)
        p1 = self.op("MaxPool", [a], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2])
        p2 = self.op("MaxPool", [p1], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2])
        p3 = self.op("MaxPool", [p2], kernel_shape=[5, 5], strides=[1, 1], pads=[2, 2, 2, 2])
        return self.conv(self.op("Concat", [a, p1, p2, p3], axis=1), 2 * c, c, 1)

    def attention(self, x, c, hw, heads=2):
        """YOLO11's PSA attention: qkv by 1x1 convolution, softmax(q^T k) v, residual."""
        d = c // heads
        qkv = self.conv(x, c, 3 * c, 1, act=False)
        qkv = self.op("Reshape", [qkv, self.const([1, heads, 3 * d, hw], np.int64)])
        q, k, v = self.op("Split", [qkv, self.const([d, d, d], np.int64)], outputs=3, axis=2)
        scores = self.op("MatMul", [self.op("Transpose", [q], perm=[0, 1, 3, 2]), k])
        scores = self.op("Mul", [scores, self.const(np.float32(d ** -0.5))])
        attn = self.op("Softmax", [scores], axis=-1)
        out = self.op("MatMul", [v, self.op("Transpose", [attn], perm=[0, 1, 3, 2])])
        side = int(hw ** 0.5)
        out = self.op("Reshape", [out, self.const([1, c, side, side], np.int64)])
        pe = self.conv(self.op("Reshape", [v, self.const([1, c, side, side], np.int64)]),
                       c, c, 3, act=False, group=c)
        return self.op("Add", [x, self.conv(self.op("Add", [out, pe]), c, c, 1, act=False)])

    def upsample(self, x):
        return self.op("Resize", [x, "", self.const([1, 1, 2, 2])], mode="nearest",
                       coordinate_transformation_mode="asymmetric", nearest_mode="floor")


def yolo(out_dir):
    g = Graph(0)
    size, nc, reg = 256, len(COCO), 16
    x = "images"
    x = g.conv(x, 3, 8, 3, 2)            # 128
    x = g.conv(x, 8, 16, 3, 2)           # 64
    x = g.c2f(x, 16)
    p3 = g.c2f(g.conv(x, 16, 32, 3, 2), 32)      # 32 (stride 8)
    p4 = g.c2f(g.conv(p3, 32, 48, 3, 2), 48)     # 16 (stride 16)
    p5 = g.sppf(g.conv(p4, 48, 64, 3, 2), 64)    # 8 (stride 32)
    p5 = g.attention(p5, 64, 64)
    n4 = g.c2f(g.conv(g.op("Concat", [g.upsample(p5), p4], axis=1), 112, 48, 1), 48)
    n3 = g.c2f(g.conv(g.op("Concat", [g.upsample(n4), p3], axis=1), 80, 32, 1), 32)
    levels = [(n3, 32, 8), (n4, 48, 16), (p5, 64, 32)]
    flat, anchors, strides = [], [], []
    for feat, c, stride in levels:
        box = g.conv(g.conv(g.conv(feat, c, 32), 32, 32), 32, 4 * reg, 1, act=False)
        cls = g.conv(g.conv(feat, c, c, 3, group=c), c, 32, 1)
        cls = g.conv(cls, 32, nc, 1, act=False, bias_mean=-1.5)
        both = g.op("Concat", [box, cls], axis=1)
        flat.append(g.op("Reshape", [both, g.const([1, 4 * reg + nc, -1], np.int64)]))
        side = size // stride
        ys, xs = np.meshgrid(np.arange(side) + 0.5, np.arange(side) + 0.5, indexing="ij")
        anchors.append(np.stack([xs.ravel(), ys.ravel()]))
        strides.append(np.full(side * side, stride))
    cat = g.op("Concat", flat, axis=2)
    box, cls = g.op("Split", [cat, g.const([4 * reg, nc], np.int64)], outputs=2, axis=1)
    total = sum(a.shape[1] for a in anchors)
    # DFL: a softmax over 16 bins per side, then their expectation by a 1x1 convolution.
    dist = g.op("Reshape", [box, g.const([1, 4, reg, total], np.int64)])
    dist = g.op("Softmax", [g.op("Transpose", [dist], perm=[0, 2, 1, 3])], axis=1)
    dist = g.op("Conv", [dist, g.const(np.arange(reg, dtype=np.float32).reshape(1, reg, 1, 1))])
    dist = g.op("Reshape", [dist, g.const([1, 4, total], np.int64)])
    start, mid, end, axis = (g.const([v], np.int64) for v in (0, 2, 4, 1))
    lt = g.op("Slice", [dist, start, mid, axis])
    rb = g.op("Slice", [dist, mid, end, axis])
    anchor = g.const(np.concatenate(anchors, axis=1)[None])
    x1y1 = g.op("Sub", [anchor, lt])
    x2y2 = g.op("Add", [anchor, rb])
    centre = g.op("Div", [g.op("Add", [x1y1, x2y2]), g.const(np.float32(2.0))])
    wh = g.op("Sub", [x2y2, x1y1])
    xywh = g.op("Mul", [g.op("Concat", [centre, wh], axis=1), g.const(np.concatenate(strides)[None, None])])
    out = g.op("Concat", [xywh, g.op("Sigmoid", [cls])], axis=1)
    g.nodes.append(helper.make_node("Identity", [out], ["output0"], name="/output"))
    graph = helper.make_graph(
        g.nodes, "yolo-coco-tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 4 + nc, total])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    names = "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(COCO)) + "}"
    for key, value in [("task", "detect"), ("stride", "32"), ("imgsz", f"[{size}, {size}]"),
                       ("names", names)]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, f"{out_dir}/yolo-coco-tiny.onnx")
    # The same network as an export that does not name its classes (some hub copies
    # are stripped of metadata): `easel models pull` supplies the COCO names for it.
    del model.metadata_props[:]
    onnx.save(model, f"{out_dir}/yolo-coco-tiny-unnamed.onnx")


def small(out_dir, name, tail):
    g = Graph(1)
    y = g.conv("images", 3, 8, 3, 2)
    out = tail(g, y)
    g.nodes.append(helper.make_node("Identity", [out], ["output0"], name="/output"))
    graph = helper.make_graph(
        g.nodes, name,
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, None)], g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, f"{out_dir}/{name}.onnx")


if __name__ == "__main__":
    out_dir = sys.argv[1]
    yolo(out_dir)
    small(out_dir, "not-a-detector",
          lambda g, y: g.op("Reshape", [y, g.const([1, -1], np.int64)]))
    small(out_dir, "unsupported-op",
          lambda g, y: g.op("Einsum", [y], equation="nchw->nhwc"))
