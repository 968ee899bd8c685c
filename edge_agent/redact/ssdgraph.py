"""The text graph OpenCV needs to run a TensorFlow Object Detection API SSD graph.

``cv2.dnn`` cannot run the frozen graph's own pre- and post-processing (TensorArray loops, the anchor generator,
batched NMS). Given a text graph that describes only the network and replaces those parts with its own layers
(``PriorBox`` anchors and ``DetectionOutput`` decoding with NMS), it takes the weights from the frozen graph by
node name. The method is the one of OpenCV's ``samples/dnn/tf_text_graph_ssd.py`` (Apache-2.0, Copyright (C) 2018
Intel Corporation), written again here for the one graph this project runs: SSDLite-MobileNetV2 with a
convolutional box predictor, which needs no batch-norm fusion and no resize rewrite. It needs neither TensorFlow
nor protobuf: ``cv2.dnn.writeTextGraph`` dumps the frozen graph as text (weights left out), and this module edits
that text. The graph is pinned by its SHA-256 before it gets here, so its text is trusted to have the layout
``writeTextGraph`` writes.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import cv2

from edge_agent.errors import RedactError

INPUT = "image_tensor"
# The model was trained on 300x300 inputs. The network is convolutional: what it learnt about a person of a given
# size in pixels holds at any input size, so the anchors keep their training size in pixels (scaling them with the
# input instead made every box 20 % smaller than the person at 320x240, measured on PETS09).
TRAINING_SIZE = 300.0
OUTPUT = "detection_out"
# Ops that make up the network; everything else (and all constants, which come from the .pb) is dropped.
_KEEP_OPS = frozenset(
    {"Placeholder", "Conv2D", "BiasAdd", "Add", "AddV2", "Relu6", "FusedBatchNorm", "FusedBatchNormV3",
     "DepthwiseConv2dNative", "Mul", "Sub", "ConcatV2", "MaxPool", "AvgPool", "Pad"}
)  # fmt: skip
_DROP_PREFIXES = ("MultipleGridAnchorGenerator/", "Concatenate/", "Postprocessor/", "Preprocessor/map")
_NORMALISE = "Preprocessor/mul"  # x * 2/255 - 1 begins here; it read the resized batch, now the input itself


@dataclass(frozen=True, slots=True)
class SsdConfig:
    """The anchor generator, box coder and NMS of the trained model (read from the frozen graph's constants)."""

    layers: int = 6
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333)
    classes: int = 1  # without the background
    variance: tuple[float, float, float, float] = (0.1, 0.1, 0.2, 0.2)  # 1 / the box coder's scales 10, 10, 5, 5
    nms_threshold: float = 0.6
    top_k: int = 100

    def anchors(self, layer: int) -> tuple[list[float], list[float]]:
        """Anchor widths and heights of a layer, in input pixels."""
        if layer == 0:  # the lowest layer has three small anchors
            shapes = [(0.1, 1.0), (self.min_scale, 2.0), (self.min_scale, 0.5)]
        else:
            step = (self.max_scale - self.min_scale) / (self.layers - 1)
            scale = self.min_scale + step * layer
            following = 1.0 if layer == self.layers - 1 else scale + step
            shapes = [(scale, ar) for ar in self.aspect_ratios] + [(math.sqrt(scale * following), 1.0)]
        widths = [s * math.sqrt(ar) * TRAINING_SIZE for s, ar in shapes]
        heights = [s / math.sqrt(ar) * TRAINING_SIZE for s, ar in shapes]
        return widths, heights


@dataclass(frozen=True, slots=True)
class _Node:
    name: str
    op: str
    inputs: tuple[str, ...]
    attrs: tuple[str, ...]  # the node's ``attr { ... }`` blocks, as text


def dump(frozen: bytes) -> str:
    """The frozen graph as text, without weights. ``writeTextGraph`` works on files: both live in a private
    temporary folder, removed at once, and the graph written there is the one the caller has checked."""
    with tempfile.TemporaryDirectory(prefix="edge-agent-ssd-") as folder:
        model, out = Path(folder) / "graph.pb", Path(folder) / "graph.pbtxt"
        try:
            model.write_bytes(frozen)
            cv2.dnn.writeTextGraph(str(model), str(out))
            return out.read_text(encoding="utf-8")
        except (cv2.error, OSError, UnicodeDecodeError) as exc:
            raise RedactError("person model: cannot read it as a TensorFlow graph") from exc


def _quoted(line: str) -> str:
    return line.split(":", 1)[1].strip().strip('"')


def parse(text: str) -> list[_Node]:
    """Nodes of a text graph as ``writeTextGraph`` writes it: ``node {`` at column 0, fields indented by 2."""
    nodes: list[_Node] = []
    name = op = ""
    inputs: list[str] = []
    attrs: list[str] = []
    attr: list[str] | None = None
    for line in text.splitlines():
        if attr is not None:
            attr.append(line)
            if line == "  }":
                attrs.append("\n".join(attr))
                attr = None
        elif line == "node {":
            name, op, inputs, attrs = "", "", [], []
        elif line == "}":
            nodes.append(_Node(name, op, tuple(inputs), tuple(attrs)))
        elif line.startswith("  name:"):
            name = _quoted(line)
        elif line.startswith("  op:"):
            op = _quoted(line)
        elif line.startswith("  input:"):
            inputs.append(_quoted(line))
        elif line == "  attr {":
            attr = [line]
    if not nodes or attr is not None:
        raise RedactError("person model: its text graph is not in the expected layout")
    return nodes


def _network(nodes: list[_Node]) -> list[_Node]:
    """The network alone: Identity nodes bypassed, constants and pre-/post-processing dropped, the
    normalisation wired to the input."""
    identity = {n.name: n.inputs[0] for n in nodes if n.op == "Identity" and n.inputs}

    def source(name: str) -> str:
        seen = 0
        while name in identity and seen < len(identity):
            name, seen = identity[name], seen + 1
        return name

    kept = [n for n in nodes if n.op in _KEEP_OPS and not n.name.startswith(_DROP_PREFIXES)]
    names = {n.name for n in kept}
    constants = {n.name for n in nodes if n.op == "Const"}
    out = []
    for node in kept:
        # Inputs that are constants stay (OpenCV reads them from the .pb); those to dropped ops go.
        inputs = tuple(i for i in map(source, node.inputs) if i in names or i in constants)
        if node.name == _NORMALISE:
            inputs = (INPUT, *inputs)
        out.append(replace(node, inputs=inputs))
    return out


def _attr(key: str, value: str) -> str:
    return f'  attr {{\n    key: "{key}"\n    value {{\n      {value}\n    }}\n  }}'


def _tensor(values: list[float] | list[int]) -> str:
    if all(isinstance(v, int) for v in values):
        kind, field = "DT_INT32", "int_val"
    else:
        kind, field = "DT_FLOAT", "float_val"
    body = " ".join(f"{field}: {v!r}" for v in values)
    return f"tensor {{ dtype: {kind} tensor_shape {{ dim {{ size: {len(values)} }} }} {body} }}"


def _const(name: str, values: list[int]) -> _Node:
    return _Node(name, "Const", (), (_attr("value", _tensor(values)),))


def _head(config: SsdConfig) -> list[_Node]:
    """Flattened predictions of every layer, their anchors, and one DetectionOutput over them."""
    axis = "concat/axis_flatten"
    nodes = [_const(axis, [-1])]
    for label in ("ClassPredictor", "BoxEncodingPredictor"):
        parts = [f"BoxPredictor_{i}/{label}/BiasAdd" for i in range(config.layers)]
        nodes += [_Node(f"{p}/Flatten", "Flatten", (p,), ()) for p in parts]
        nodes.append(_Node(f"{label}/concat", "ConcatV2", (*(f"{p}/Flatten" for p in parts), axis), ()))
    for i in range(config.layers):
        widths, heights = config.anchors(i)
        attrs = (
            _attr("clip", "b: false"),
            _attr("flip", "b: false"),
            _attr("height", _tensor(heights)),
            _attr("variance", _tensor(list(config.variance))),
            _attr("width", _tensor(widths)),
        )
        nodes.append(
            _Node(f"PriorBox_{i}", "PriorBox", (f"BoxPredictor_{i}/BoxEncodingPredictor/BiasAdd", INPUT), attrs)
        )
    nodes.append(_Node("PriorBox/concat", "ConcatV2", (*(f"PriorBox_{i}" for i in range(config.layers)), axis), ()))
    # Each anchor's class logits pass a sigmoid (the model's score converter), then are flattened again.
    nodes.append(_const("ClassPredictor/concat3d/shape", [0, -1, config.classes + 1]))
    nodes.append(
        _Node("ClassPredictor/concat3d", "Reshape", ("ClassPredictor/concat", "ClassPredictor/concat3d/shape"), ())
    )
    nodes.append(_Node("ClassPredictor/sigmoid", "Sigmoid", ("ClassPredictor/concat3d",), ()))
    nodes.append(_Node("ClassPredictor/sigmoid/Flatten", "Flatten", ("ClassPredictor/sigmoid",), ()))
    detection = (
        _attr("background_label_id", "i: 0"),
        _attr("code_type", 's: "CENTER_SIZE"'),
        _attr("confidence_threshold", "f: 0.01"),
        _attr("keep_top_k", f"i: {config.top_k}"),
        _attr("nms_threshold", f"f: {config.nms_threshold}"),
        _attr("num_classes", f"i: {config.classes + 1}"),
        _attr("share_location", "b: true"),
        _attr("top_k", f"i: {config.top_k}"),
    )
    inputs = ("BoxEncodingPredictor/concat", "ClassPredictor/sigmoid/Flatten", "PriorBox/concat")
    nodes.append(_Node(OUTPUT, "DetectionOutput", inputs, detection))
    return nodes


def _transposed(node: _Node, layers: int) -> _Node:
    # TensorFlow's box encodings are (y, x, h, w); this tells OpenCV's DetectionOutput so.
    if any(node.name == f"BoxPredictor_{i}/BoxEncodingPredictor/Conv2D" for i in range(layers)):
        return replace(node, attrs=(*node.attrs, _attr("loc_pred_transposed", "b: true")))
    return node


def _reachable(nodes: list[_Node]) -> list[_Node]:
    """Only what the detection output depends on, in the original order (which OpenCV sorts itself)."""
    by_name = {n.name: n for n in nodes}
    needed, todo = set(), [OUTPUT]
    while todo:
        name = todo.pop()
        if name in needed or name not in by_name:
            continue
        needed.add(name)
        todo.extend(by_name[name].inputs)
    return [n for n in nodes if n.name in needed]


def render(nodes: list[_Node]) -> str:
    lines = []
    for node in nodes:
        lines += ["node {", f'  name: "{node.name}"', f'  op: "{node.op}"']
        lines += [f'  input: "{i}"' for i in node.inputs]
        lines += [*node.attrs, "}"]
    return "\n".join(lines) + "\n"


def text_graph(frozen_text: str, config: SsdConfig | None = None) -> str:
    """The text graph for OpenCV, made from the frozen graph's text (:func:`dump`)."""
    config = config or SsdConfig()
    nodes = [_transposed(n, config.layers) for n in _network(parse(frozen_text))]
    if not any(n.name == _NORMALISE for n in nodes) or not any(n.op == "Placeholder" for n in nodes):
        raise RedactError("person model: not the SSDLite graph this detector expects")
    return render(_reachable(nodes + _head(config)))
