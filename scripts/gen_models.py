#!/usr/bin/env python3
"""Generate the ONNX test models Kiln's model-level tests use.

Only onnx.helper and numpy: no framework, nothing downloaded. Every model is deterministic
(a fixed seed per model), float32, and initialised with realistic scales (He init for convs
followed by ReLU-like activations, 1/sqrt(fan_in) for transformer projections, BatchNorm
statistics near the identity) so activations neither explode nor vanish and a relative-error
comparison against onnxruntime is meaningful.

The graphs are written the way exporters write them: dynamic dims as dim_param, head reshapes
built from Shape/Gather/Unsqueeze/Concat, small constants as Constant nodes in the transformer
models, LayerNorm/HardSwish/Split/Unsqueeze/ReduceMean spelled in whatever form the requested
opset allows (so old-opset variants exercise the importer's rewrite paths while computing the
same function with the same weights).

    python3 scripts/gen_models.py --out DIR [--only NAME[,NAME...]] [--opset N] [--list]

Model names: tiny_cnn, resnet_like, mobilenet_like, efficientnet_like, vit_like, bert_like,
gpt2_like, unet_like, lstm_like, plus old-opset variants NAME_opNN (see VARIANTS). --opset
overrides the opset of the base (non-variant) models.
"""
import argparse
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DEFAULT_OPSET = 17
# IR version 8 is the oldest that carries opset 17; keeping it low keeps the files readable by
# older protobuf schemas (Debian's libonnx-dev) and every onnxruntime in use.
IR_VERSION = 8
MIN_OPSET = 11


class GraphBuilder:
    """Accumulates nodes/initializers; op helpers pick the spelling valid at `opset`.

    Weight draws never depend on the opset, so NAME and NAME_opNN get identical weights and
    must compute identical outputs.
    """

    def __init__(self, name, opset, seed):
        if opset < MIN_OPSET:
            raise ValueError(f"opset {opset} < {MIN_OPSET} is not supported by this generator")
        self.name = name
        self.opset = opset
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.initializers = []
        self.inputs = []
        self.outputs = []
        self._counts = {}

    # --- plumbing ---------------------------------------------------------------------------
    def uniq(self, prefix):
        n = self._counts.get(prefix, 0)
        self._counts[prefix] = n + 1
        return f"{prefix}_{n}"

    def input(self, name, elem_type, shape):
        self.inputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def output(self, value, name, elem_type, shape):
        # Rename through Identity so graph outputs have stable, readable names.
        self.node("Identity", [value], outputs=[name])
        self.outputs.append(helper.make_tensor_value_info(name, elem_type, shape))
        return name

    def init(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def const(self, array, dtype=np.int64):
        """A Constant node, the way exporters emit small shape/index constants."""
        out = self.uniq("const")
        tensor = numpy_helper.from_array(np.asarray(array, dtype=dtype), out + "_value")
        self.nodes.append(helper.make_node("Constant", [], [out], name=out, value=tensor))
        return out

    def node(self, op, inputs, n_out=1, outputs=None, **attrs):
        name = self.uniq(op.lower())
        if outputs is None:
            outputs = [f"{name}_out{i}" if n_out > 1 else f"{name}_out" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    # --- weights ----------------------------------------------------------------------------
    def normal(self, shape, std):
        return (self.rng.standard_normal(shape) * std).astype(np.float32)

    def uniform(self, shape, lo, hi):
        return self.rng.uniform(lo, hi, shape).astype(np.float32)

    # --- opset-aware spellings ----------------------------------------------------------------
    def unsqueeze(self, x, axes):
        if self.opset >= 13:
            return self.node("Unsqueeze", [x, self.const(axes)])
        return self.node("Unsqueeze", [x], axes=list(axes))

    def split(self, x, sizes, axis):
        if self.opset >= 13:
            return self.node("Split", [x, self.const(sizes)], n_out=len(sizes), axis=axis)
        return self.node("Split", [x], n_out=len(sizes), axis=axis, split=list(sizes))

    def reduce_mean(self, x, axes, keepdims=1):
        if self.opset >= 18:
            return self.node("ReduceMean", [x, self.const(axes)], keepdims=keepdims)
        return self.node("ReduceMean", [x], axes=list(axes), keepdims=keepdims)

    def softmax(self, x, axis=-1):
        # Before opset 13 Softmax flattens to 2-D at `axis`; on the last axis that is the same
        # function, which is the only axis these models use.
        if self.opset < 13 and axis != -1:
            raise ValueError("pre-13 Softmax only used on the last axis")
        return self.node("Softmax", [x], axis=axis)

    def hardswish(self, x):
        if self.opset >= 14:
            return self.node("HardSwish", [x])
        # HardSwish(x) = x * HardSigmoid(x; alpha=1/6, beta=1/2), as exporters decompose it.
        return self.node("Mul", [x, self.node("HardSigmoid", [x], alpha=1.0 / 6, beta=0.5)])

    def scalar_f(self, value):
        return self.const(np.array(value, dtype=np.float32), dtype=np.float32)

    # --- layers -------------------------------------------------------------------------------
    def conv(self, x, prefix, cin, cout, k, stride=1, group=1, bias=False, pad=None, gain=2.0,
             bias_mean=0.0):
        """He-initialised Conv: std = sqrt(gain / fan_in), fan_in = cin/group*k*k.

        gain = 1 / E[a^2] of the activation feeding the conv keeps the output variance near the
        input's: 2 after ReLU (He), ~2.8 after SiLU, ~3.0 after HardSwish, 1 after BN alone.
        """
        fan_in = cin // group * k * k
        w = self.init(f"{prefix}.weight",
                      self.normal((cout, cin // group, k, k), math.sqrt(gain / fan_in)))
        ins = [x, w]
        if bias:
            ins.append(self.init(f"{prefix}.bias", self.normal((cout,), 0.05) + bias_mean))
        p = k // 2 if pad is None else pad
        return self.node("Conv", ins, kernel_shape=[k, k], strides=[stride, stride],
                         pads=[p, p, p, p], group=group, dilations=[1, 1])

    def conv_transpose(self, x, prefix, cin, cout, k, stride, gain=2.0):
        """ConvTranspose with bias, W stored [cin, cout, k, k] (ONNX's layout, group 1).

        With k a multiple of stride every output pixel sums cin * (k / stride)^2 products, so
        that is the fan-in of the He-style std.
        """
        fan_in = cin * (k // stride) ** 2
        w = self.init(f"{prefix}.weight",
                      self.normal((cin, cout, k, k), math.sqrt(gain / fan_in)))
        b = self.init(f"{prefix}.bias", self.normal((cout,), 0.05))
        return self.node("ConvTranspose", [x, w, b], kernel_shape=[k, k], strides=[stride, stride],
                         pads=[0, 0, 0, 0], group=1, dilations=[1, 1])

    def resize_scales(self, x, scales, mode, ctm):
        """Resize by constant scales; roi is absent from opset 13 on, an empty constant before
        (where the input is required), as torch.onnx exports F.interpolate(scale_factor=...)."""
        roi = "" if self.opset >= 13 else self.const(np.zeros(0, np.float32), np.float32)
        attrs = {"mode": mode, "coordinate_transformation_mode": ctm}
        if mode == "nearest":
            attrs["nearest_mode"] = "floor"
        return self.node("Resize", [x, roi, self.const(scales, np.float32)], **attrs)

    def bn(self, x, prefix, c):
        # Inference-form BN near the identity: y = gamma*(x-mean)/sqrt(var+eps)+beta.
        g = self.init(f"{prefix}.weight", self.uniform((c,), 0.8, 1.2))
        b = self.init(f"{prefix}.bias", self.normal((c,), 0.05))
        m = self.init(f"{prefix}.running_mean", self.normal((c,), 0.05))
        v = self.init(f"{prefix}.running_var", self.uniform((c,), 0.6, 1.4))
        return self.node("BatchNormalization", [x, g, b, m, v], epsilon=1e-5)

    def relu(self, x):
        return self.node("Relu", [x])

    def relu6(self, x):
        # Clip(0, 6) with min/max as inputs (opset >= 11), as PyTorch exports ReLU6.
        return self.node("Clip", [x, self.scalar_f(0.0), self.scalar_f(6.0)])

    def silu(self, x):
        return self.node("Mul", [x, self.node("Sigmoid", [x])])

    def gelu_erf(self, x):
        # GELU(x) = 0.5 * x * (1 + erf(x / sqrt(2)))
        t = self.node("Div", [x, self.scalar_f(math.sqrt(2.0))])
        t = self.node("Add", [self.node("Erf", [t]), self.scalar_f(1.0)])
        return self.node("Mul", [self.node("Mul", [x, t]), self.scalar_f(0.5)])

    def gelu_tanh(self, x):
        # GELU_tanh(x) = 0.5 * x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 * x^3)))
        cube = self.node("Pow", [x, self.scalar_f(3.0)])
        inner = self.node("Add", [x, self.node("Mul", [cube, self.scalar_f(0.044715)])])
        inner = self.node("Mul", [inner, self.scalar_f(math.sqrt(2.0 / math.pi))])
        t = self.node("Add", [self.node("Tanh", [inner]), self.scalar_f(1.0)])
        return self.node("Mul", [self.node("Mul", [x, self.scalar_f(0.5)]), t])

    def layer_norm(self, x, prefix, dim, eps=1e-5):
        g = self.init(f"{prefix}.weight", self.uniform((dim,), 0.8, 1.2))
        b = self.init(f"{prefix}.bias", self.normal((dim,), 0.05))
        if self.opset >= 17:
            return self.node("LayerNormalization", [x, g, b], axis=-1, epsilon=eps)
        # Pre-17 exporters spell it out: (x - mean) / sqrt(mean((x-mean)^2) + eps) * g + b.
        mean = self.reduce_mean(x, [-1])
        d = self.node("Sub", [x, mean])
        var = self.reduce_mean(self.node("Pow", [d, self.scalar_f(2.0)]), [-1])
        std = self.node("Sqrt", [self.node("Add", [var, self.scalar_f(eps)])])
        y = self.node("Div", [d, std])
        return self.node("Add", [self.node("Mul", [y, g]), b])

    def linear(self, x, prefix, din, dout, std=None):
        """MatMul + Add with W stored [din, dout] (what exporters emit for nn.Linear on 3-D)."""
        std = 1.0 / math.sqrt(din) if std is None else std
        w = self.init(f"{prefix}.weight", self.normal((din, dout), std))
        b = self.init(f"{prefix}.bias", self.normal((dout,), 0.02))
        return self.node("Add", [self.node("MatMul", [x, w]), b])

    def gemm(self, x, prefix, din, dout, std=None):
        """Gemm with transB=1 and W stored [dout, din] (nn.Linear on 2-D)."""
        std = 1.0 / math.sqrt(din) if std is None else std
        w = self.init(f"{prefix}.weight", self.normal((dout, din), std))
        b = self.init(f"{prefix}.bias", self.normal((dout,), 0.02))
        return self.node("Gemm", [x, w, b], alpha=1.0, beta=1.0, transB=1)

    def dim(self, x, index):
        """A 1-element int64 tensor holding x.shape[index] (Shape -> Gather -> Unsqueeze)."""
        s = self.node("Gather", [self.node("Shape", [x]), self.const(index)], axis=0)
        return self.unsqueeze(s, [0])

    def build(self, doc):
        graph = helper.make_graph(self.nodes, self.name, self.inputs, self.outputs,
                                  initializer=self.initializers)
        model = helper.make_model(graph, producer_name="kiln-gen_models", producer_version="1",
                                  opset_imports=[helper.make_opsetid("", self.opset)],
                                  doc_string=doc)
        model.ir_version = IR_VERSION
        return model


# --- CNNs -----------------------------------------------------------------------------------

def tiny_cnn(opset):
    g = GraphBuilder("tiny_cnn", opset, seed=1001)
    x = g.input("input", TensorProto.FLOAT, ["batch", 3, 32, 32])
    h = g.relu(g.bn(g.conv(x, "conv1", 3, 16, 3), "bn1", 16))
    h = g.node("MaxPool", [h], kernel_shape=[2, 2], strides=[2, 2])       # 16x16x16
    r = g.relu(g.bn(g.conv(h, "res.conv1", 16, 16, 3), "res.bn1", 16))
    r = g.bn(g.conv(r, "res.conv2", 16, 16, 3, gain=1.0), "res.bn2", 16)
    h = g.relu(g.node("Add", [h, r]))
    h = g.node("Flatten", [g.node("GlobalAveragePool", [h])], axis=1)
    logits = g.gemm(h, "fc", 16, 10, std=0.5)
    g.output(logits, "logits", TensorProto.FLOAT, ["batch", 10])
    g.output(g.softmax(logits, axis=-1 if opset < 13 else 1), "probs", TensorProto.FLOAT,
             ["batch", 10])
    return g.build("Conv-BN-Relu, MaxPool, one residual block, GAP, Flatten, Gemm, Softmax.")


def _basic_block(g, x, prefix, cin, cout, stride):
    h = g.relu(g.bn(g.conv(x, f"{prefix}.conv1", cin, cout, 3, stride), f"{prefix}.bn1", cout))
    h = g.bn(g.conv(h, f"{prefix}.conv2", cout, cout, 3, gain=1.0), f"{prefix}.bn2", cout)
    if stride != 1 or cin != cout:
        # 1x1 projection shortcut with stride, as in ResNet's downsampling blocks.
        x = g.bn(g.conv(x, f"{prefix}.down", cin, cout, 1, stride, pad=0, gain=1.0),
                 f"{prefix}.down_bn", cout)
    return g.relu(g.node("Add", [h, x]))


def resnet_like(opset):
    g = GraphBuilder("resnet_like", opset, seed=1002)
    x = g.input("input", TensorProto.FLOAT, ["batch", 3, 64, 64])
    h = g.relu(g.bn(g.conv(x, "stem.conv", 3, 32, 3, 2), "stem.bn", 32))        # 32x32x32
    widths = [32, 64, 128, 256]
    cin = 32
    for i, w in enumerate(widths):
        h = _basic_block(g, h, f"layer{i + 1}", cin, w, 1 if i == 0 else 2)
        cin = w
    h = g.node("Flatten", [g.node("GlobalAveragePool", [h])], axis=1)
    g.output(g.gemm(h, "fc", 256, 10), "logits", TensorProto.FLOAT, ["batch", 10])
    return g.build("ResNet-style: 4 stages of basic blocks, stride-2 1x1 projection shortcuts.")


def _squeeze_excite(g, x, prefix, c, cr, act, gate):
    s = g.node("GlobalAveragePool", [x])
    s = act(g.conv(s, f"{prefix}.fc1", c, cr, 1, pad=0, bias=True, gain=4.0))
    # Gate bias +1.5 opens the gate to ~0.8 (trained SE blocks mostly pass their input), so
    # stacked SE blocks do not shrink the activations geometrically.
    s = gate(g.conv(s, f"{prefix}.fc2", cr, c, 1, pad=0, bias=True, gain=2.0, bias_mean=1.5))
    return g.node("Mul", [x, s])


def mobilenet_like(opset):
    g = GraphBuilder("mobilenet_like", opset, seed=1003)
    x = g.input("input", TensorProto.FLOAT, ["batch", 3, 64, 64])
    h = g.hardswish(g.bn(g.conv(x, "stem.conv", 3, 16, 3, 2), "stem.bn", 16))   # 16x32x32
    hsig = lambda t: g.node("HardSigmoid", [t], alpha=1.0 / 6, beta=0.5)  # noqa: E731
    # (expand, out, kernel, stride, se, activation)
    cfg = [(32, 16, 3, 1, False, "relu6"),
           (64, 24, 3, 2, False, "relu6"),
           (72, 24, 3, 1, True, "hswish"),
           (96, 40, 5, 2, True, "hswish"),
           (120, 40, 5, 1, True, "hswish")]
    cin, in_gain = 16, 3.0
    for i, (e, cout, k, s, se, act_name) in enumerate(cfg):
        p = f"block{i}"
        act = g.relu6 if act_name == "relu6" else g.hardswish
        act_gain = 2.0 if act_name == "relu6" else 3.0
        t = act(g.bn(g.conv(h, f"{p}.expand", cin, e, 1, pad=0, gain=in_gain),
                     f"{p}.expand_bn", e))
        t = act(g.bn(g.conv(t, f"{p}.dw", e, e, k, s, group=e, gain=act_gain), f"{p}.dw_bn", e))
        if se:
            t = _squeeze_excite(g, t, f"{p}.se", e, max(8, e // 4), g.relu, hsig)
        # The SE gate (~0.8) scales the second moment by ~0.64.
        t = g.bn(g.conv(t, f"{p}.project", e, cout, 1, pad=0,
                        gain=act_gain / (0.64 if se else 1.0)), f"{p}.project_bn", cout)
        h = g.node("Add", [h, t]) if s == 1 and cin == cout else t
        cin = cout
        in_gain = 1.0
    h = g.hardswish(g.bn(g.conv(h, "head.conv", cin, 128, 1, pad=0, gain=1.0), "head.bn", 128))
    h = g.node("GlobalAveragePool", [h])
    # Reshape with a 0 (copy batch) and -1 (infer), the way torch.flatten often exports.
    h = g.node("Reshape", [h, g.init("head.flat_shape", np.array([0, -1], dtype=np.int64))])
    h = g.hardswish(g.gemm(h, "head.fc1", 128, 64, std=math.sqrt(3.0 / 128)))
    g.output(g.gemm(h, "head.fc2", 64, 10), "logits", TensorProto.FLOAT, ["batch", 10])
    return g.build("MobileNetV3-style: depthwise separable convs, ReLU6 as Clip, HardSwish, SE.")


def efficientnet_like(opset):
    g = GraphBuilder("efficientnet_like", opset, seed=1004)
    x = g.input("input", TensorProto.FLOAT, ["batch", 3, 64, 64])
    h = g.silu(g.bn(g.conv(x, "stem.conv", 3, 24, 3, 2), "stem.bn", 24))       # 24x32x32
    # (expand ratio, out, kernel, stride)
    cfg = [(1, 16, 3, 1), (4, 24, 3, 2), (4, 24, 3, 1), (4, 40, 5, 2), (4, 40, 5, 1)]
    cin = 24
    for i, (ratio, cout, k, s) in enumerate(cfg):
        p = f"mbconv{i}"
        e = cin * ratio
        t = h
        if ratio != 1:
            t = g.silu(g.bn(g.conv(t, f"{p}.expand", cin, e, 1, pad=0, gain=1.0),
                            f"{p}.expand_bn", e))
        # dw input is SiLU output (the stem's for mbconv0, the expand's otherwise): gain 2.8.
        t = g.silu(g.bn(g.conv(t, f"{p}.dw", e, e, k, s, group=e, gain=2.8), f"{p}.dw_bn", e))
        sig = lambda u: g.node("Sigmoid", [u])  # noqa: E731
        t = _squeeze_excite(g, t, f"{p}.se", e, max(4, cin // 4), g.silu, sig)
        t = g.bn(g.conv(t, f"{p}.project", e, cout, 1, pad=0, gain=2.0),
                 f"{p}.project_bn", cout)
        h = g.node("Add", [h, t]) if s == 1 and cin == cout else t
        cin = cout
    h = g.silu(g.bn(g.conv(h, "head.conv", cin, 160, 1, pad=0, gain=1.0), "head.bn", 160))
    h = g.node("Flatten", [g.node("GlobalAveragePool", [h])], axis=1)
    logits = g.gemm(h, "classifier", 160, 10, std=math.sqrt(2.8 / 160))
    g.output(logits, "logits", TensorProto.FLOAT, ["batch", 10])
    return g.build("EfficientNet-style MBConv: SiLU as x*Sigmoid(x), depthwise, SE, Add skip.")


# --- segmentation ----------------------------------------------------------------------------

UNET_CLASSES = 5


def _conv_bn_relu(g, x, prefix, cin, cout, gain=2.0):
    return g.relu(g.bn(g.conv(x, f"{prefix}.conv", cin, cout, 3, gain=gain), f"{prefix}.bn",
                       cout))


def unet_like(opset):
    g = GraphBuilder("unet_like", opset, seed=1008)
    k = UNET_CLASSES
    x = g.input("input", TensorProto.FLOAT, ["batch", 3, "height", "width"])
    # Encoder level 1 at full resolution: Conv-BN-Relu, then Conv with bias + Relu.
    e1 = _conv_bn_relu(g, x, "enc1.0", 3, 8, gain=1.0)
    e1 = g.relu(g.conv(e1, "enc1.1", 8, 8, 3, bias=True))                      # 8 x H x W
    # Level 2 at H/2 after a MaxPool.
    e2 = g.node("MaxPool", [e1], kernel_shape=[2, 2], strides=[2, 2])
    e2 = _conv_bn_relu(g, e2, "enc2.0", 8, 16)                                   # 16 x H/2
    # Bottleneck at H/4 after a strided conv.
    b = g.relu(g.bn(g.conv(e2, "down2.conv", 16, 32, 3, stride=2), "down2.bn", 32))
    b = _conv_bn_relu(g, b, "bottleneck", 32, 32)                                # 32 x H/4
    # Decoder level 2: ConvTranspose k2 s2 back to H/2, skip Concat with e2.
    d2 = g.relu(g.conv_transpose(b, "up2", 32, 16, 2, 2))                        # 16 x H/2
    d2 = g.node("Concat", [d2, e2], axis=1)                                      # 32 x H/2
    d2 = _conv_bn_relu(g, d2, "dec2", 32, 16)
    # Decoder level 1: bilinear Resize x2 (pytorch_half_pixel, as torch exports
    # F.interpolate(scale_factor=2, mode="bilinear")), skip Concat with e1.
    d1 = g.resize_scales(d2, [1.0, 1.0, 2.0, 2.0], "linear", "pytorch_half_pixel")
    d1 = g.node("Concat", [d1, e1], axis=1)                                      # 24 x H x W
    d1 = _conv_bn_relu(g, d1, "dec1", 24, 8)
    logits = g.conv(d1, "head", 8, k, 1, pad=0, bias=True, gain=1.0)
    g.output(logits, "logits", TensorProto.FLOAT, ["batch", k, "height", "width"])
    return g.build("U-Net-style segmentation: 2 encoder levels (MaxPool, stride-2 conv), "
                   "bottleneck, ConvTranspose and bilinear Resize upsampling, Concat skips, "
                   "1x1 conv head; dynamic batch, height and width (multiples of 4).")


# --- transformers ----------------------------------------------------------------------------

def _split_heads(g, x, heads, head_dim, perm):
    """[b, s, heads*head_dim] -> Transpose(perm) of [b, s, heads, head_dim].

    The target shape is computed from Shape(x) like torch.onnx does, so batch and sequence
    stay dynamic.
    """
    shape = g.node("Concat", [g.dim(x, 0), g.dim(x, 1), g.const([heads]), g.const([head_dim])],
                   axis=0)
    return g.node("Transpose", [g.node("Reshape", [x, shape])], perm=perm)


def _merge_heads(g, x, like, hidden):
    """[b, heads, s, head_dim] -> [b, s, hidden], the shape taken from `like` ([b, s, *])."""
    t = g.node("Transpose", [x], perm=[0, 2, 1, 3])
    shape = g.node("Concat", [g.dim(like, 0), g.dim(like, 1), g.const([hidden])], axis=0)
    return g.node("Reshape", [t, shape])


def _attention(g, x, prefix, hidden, heads, mask_add=None, causal=None, fused_qkv=False):
    """Multi-head self-attention: softmax(Q K^T / sqrt(d) + mask) V, then an output projection.

    mask_add: additive mask broadcastable to [b, heads, s, s].
    causal: (bool mask [1,1,max,max], fill) applied with Slice + Where.
    """
    d = hidden // heads
    if fused_qkv:
        qkv = g.linear(x, f"{prefix}.c_attn", hidden, 3 * hidden)
        q, k, v = g.split(qkv, [hidden, hidden, hidden], axis=2)
    else:
        q = g.linear(x, f"{prefix}.query", hidden, hidden)
        k = g.linear(x, f"{prefix}.key", hidden, hidden)
        v = g.linear(x, f"{prefix}.value", hidden, hidden)
    q = _split_heads(g, q, heads, d, [0, 2, 1, 3])     # [b, h, s, d]
    kt = _split_heads(g, k, heads, d, [0, 2, 3, 1])    # [b, h, d, s]
    v = _split_heads(g, v, heads, d, [0, 2, 1, 3])     # [b, h, s, d]
    scores = g.node("Div", [g.node("MatMul", [q, kt]), g.scalar_f(math.sqrt(d))])
    if mask_add is not None:
        scores = g.node("Add", [scores, mask_add])
    if causal is not None:
        mask, fill = causal
        scores = g.node("Where", [mask, scores, fill])
    probs = g.softmax(scores, axis=-1)
    ctx = _merge_heads(g, g.node("MatMul", [probs, v]), x, hidden)
    name = "c_proj" if fused_qkv else "output"
    return g.linear(ctx, f"{prefix}.{name}", hidden, hidden)


def vit_like(opset):
    g = GraphBuilder("vit_like", opset, seed=1005)
    img, patch, dim, heads, mlp, n_layers = 32, 8, 64, 4, 128, 2
    n_tok = (img // patch) ** 2 + 1
    x = g.input("input", TensorProto.FLOAT, ["batch", 3, img, img])
    h = g.conv(x, "patch_embed", 3, dim, patch, patch, pad=0, bias=True, gain=1.0)  # [b,64,4,4]
    h = g.node("Reshape", [h, g.init("tokens_shape", np.array([0, dim, -1], dtype=np.int64))])
    h = g.node("Transpose", [h], perm=[0, 2, 1])                                  # [b,16,64]
    # Class token expanded to [b, 1, dim] with the batch taken from the input's shape.
    cls = g.init("cls_token", g.normal((1, 1, dim), 0.5))
    cls_shape = g.node("Concat", [g.dim(x, 0), g.init("cls_tail", np.array([1, dim], np.int64))],
                       axis=0)
    h = g.node("Concat", [g.node("Expand", [cls, cls_shape]), h], axis=1)         # [b,17,64]
    h = g.node("Add", [h, g.init("pos_embed", g.normal((1, n_tok, dim), 0.5))])
    for i in range(n_layers):
        p = f"blocks.{i}"
        a = _attention(g, g.layer_norm(h, f"{p}.norm1", dim), f"{p}.attn", dim, heads)
        h = g.node("Add", [h, a])
        m = g.linear(g.layer_norm(h, f"{p}.norm2", dim), f"{p}.mlp.fc1", dim, mlp)
        m = g.linear(g.gelu_erf(m), f"{p}.mlp.fc2", mlp, dim)
        h = g.node("Add", [h, m])
    h = g.layer_norm(h, "norm", dim)
    # Scalar index drops the token axis: [b, 17, 64] -> [b, 64].
    cls_out = g.node("Gather", [h, g.init("cls_index", np.array(0, dtype=np.int64))], axis=1)
    g.output(g.gemm(cls_out, "head", dim, 10), "logits", TensorProto.FLOAT, ["batch", 10])
    return g.build("ViT-style: patch-embed conv, class token, pos embed, 2 pre-LN encoder "
                   "blocks with erf-GELU MLP, class-token head.")


BERT_VOCAB, BERT_MAX_POS = 100, 32


def bert_like(opset):
    g = GraphBuilder("bert_like", opset, seed=1006)
    hidden, heads, inter, n_layers = 64, 4, 128, 2
    ids = g.input("input_ids", TensorProto.INT64, ["batch", "seq"])
    mask = g.input("attention_mask", TensorProto.INT64, ["batch", "seq"])
    types = g.input("token_type_ids", TensorProto.INT64, ["batch", "seq"])
    word = g.init("embeddings.word_embeddings.weight", g.normal((BERT_VOCAB, hidden), 0.5))
    pos = g.init("embeddings.position_embeddings.weight", g.normal((BERT_MAX_POS, hidden), 0.5))
    tte = g.init("embeddings.token_type_embeddings.weight", g.normal((2, hidden), 0.5))
    # position_ids = arange(seq)[None, :] with seq read from input_ids' shape.
    seq = g.node("Gather", [g.node("Shape", [ids]), g.const(1)], axis=0)
    pos_ids = g.unsqueeze(g.node("Range", [g.const(0), seq, g.const(1)]), [0])
    e = g.node("Add", [g.node("Gather", [word, ids], axis=0),
                       g.node("Gather", [tte, types], axis=0)])
    e = g.node("Add", [e, g.node("Gather", [pos, pos_ids], axis=0)])
    h = g.layer_norm(e, "embeddings.LayerNorm", hidden, eps=1e-12)
    # Extended mask: (1 - mask[:, None, None, :]) * -10000, added to the attention scores.
    m = g.unsqueeze(g.node("Cast", [mask], to=TensorProto.FLOAT), [1, 2])
    mask_add = g.node("Mul", [g.node("Sub", [g.scalar_f(1.0), m]), g.scalar_f(-10000.0)])
    for i in range(n_layers):
        p = f"encoder.layer.{i}"
        a = _attention(g, h, f"{p}.attention.self", hidden, heads, mask_add=mask_add)
        h = g.layer_norm(g.node("Add", [a, h]), f"{p}.attention.LayerNorm", hidden, eps=1e-12)
        f = g.gelu_erf(g.linear(h, f"{p}.intermediate.dense", hidden, inter))
        f = g.linear(f, f"{p}.output.dense", inter, hidden)
        h = g.layer_norm(g.node("Add", [f, h]), f"{p}.output.LayerNorm", hidden, eps=1e-12)
    g.output(h, "last_hidden_state", TensorProto.FLOAT, ["batch", "seq", hidden])
    first = g.node("Gather", [h, g.const(0)], axis=1)                              # [b, hidden]
    pooled = g.node("Tanh", [g.gemm(first, "pooler.dense", hidden, hidden)])
    g.output(pooled, "pooler_output", TensorProto.FLOAT, ["batch", hidden])
    return g.build("BERT-style post-LN encoder: word+position(Range)+type embeddings, additive "
                   "attention mask, Shape-derived head reshapes, erf-GELU, tanh pooler.")


GPT2_VOCAB, GPT2_CTX = 100, 32


def gpt2_like(opset):
    g = GraphBuilder("gpt2_like", opset, seed=1007)
    hidden, heads, n_layers = 64, 4, 2
    ids = g.input("input_ids", TensorProto.INT64, ["batch", "seq"])
    wte = g.init("wte.weight", g.normal((GPT2_VOCAB, hidden), 0.1))
    wpe = g.init("wpe.weight", g.normal((GPT2_CTX, hidden), 0.1))
    seq = g.node("Gather", [g.node("Shape", [ids]), g.const(1)], axis=0)
    pos_ids = g.unsqueeze(g.node("Range", [g.const(0), seq, g.const(1)]), [0])
    h = g.node("Add", [g.node("Gather", [wte, ids], axis=0),
                       g.node("Gather", [wpe, pos_ids], axis=0)])
    # Causal mask: a constant lower-triangular bool [1,1,ctx,ctx] sliced to [1,1,seq,seq]
    # (GPT-2's registered `bias` buffer); masked scores become float32's lowest value.
    tril = np.tril(np.ones((GPT2_CTX, GPT2_CTX), dtype=bool))[None, None]
    seq1 = g.unsqueeze(seq, [0])
    mask = g.node("Slice", [g.init("causal_bias", tril), g.const([0, 0]),
                            g.node("Concat", [seq1, seq1], axis=0), g.const([2, 3])])
    fill = g.scalar_f(np.finfo(np.float32).min)
    for i in range(n_layers):
        p = f"h.{i}"
        a = _attention(g, g.layer_norm(h, f"{p}.ln_1", hidden), f"{p}.attn", hidden, heads,
                       causal=(mask, fill), fused_qkv=True)
        h = g.node("Add", [h, a])
        m = g.linear(g.layer_norm(h, f"{p}.ln_2", hidden), f"{p}.mlp.c_fc", hidden, 4 * hidden)
        m = g.linear(g.gelu_tanh(m), f"{p}.mlp.c_proj", 4 * hidden, hidden)
        h = g.node("Add", [h, m])
    h = g.layer_norm(h, "ln_f", hidden)
    logits = g.node("MatMul", [h, g.node("Transpose", [wte], perm=[1, 0])])
    g.output(logits, "logits", TensorProto.FLOAT, ["batch", "seq", GPT2_VOCAB])
    return g.build("GPT-2-style pre-LN decoder: causal mask by Slice+Where, fused QKV Split, "
                   "tanh-GELU via Pow/Tanh, tied output embedding (MatMul with Transpose(wte)).")


# --- recurrent -------------------------------------------------------------------------------

LSTM_VOCAB = 100


def lstm_like(opset):
    g = GraphBuilder("lstm_like", opset, seed=1009)
    emb, hidden, classes = 32, 24, 7
    ids = g.input("input_ids", TensorProto.INT64, ["batch", "seq"])
    table = g.init("embedding.weight", g.normal((LSTM_VOCAB, emb), 1.0))
    e = g.node("Gather", [table, ids], axis=0)                                   # [b, s, emb]
    x = g.node("Transpose", [e], perm=[1, 0, 2])                                 # [s, b, emb]
    # Bidirectional LSTM, gates iofc, torch's U(-1/sqrt(hidden), 1/sqrt(hidden)) init.
    r = 1.0 / math.sqrt(hidden)
    w = g.init("lstm.weight_ih", g.uniform((2, 4 * hidden, emb), -r, r))
    rw = g.init("lstm.weight_hh", g.uniform((2, 4 * hidden, hidden), -r, r))
    bias = g.init("lstm.bias", g.uniform((2, 8 * hidden), -r, r))
    # A learned initial_h [2, 1, hidden] expanded to the Shape-derived batch; initial_c absent
    # (zeros), sequence_lens absent (every sequence full length).
    h0_shape = g.node("Concat", [g.const([2]), g.dim(ids, 0), g.const([hidden])], axis=0)
    h0 = g.node("Expand", [g.init("lstm.h0", g.normal((2, 1, hidden), 0.5)), h0_shape])
    y, _, _ = g.node("LSTM", [x, w, rw, bias, "", h0], n_out=3, hidden_size=hidden,
                     direction="bidirectional")                                  # [s, 2, b, h]
    # [s, 2, b, h] -> [s, b, 2, h] -> [s, b, 2h], the way torch.onnx exports nn.LSTM's output.
    y = g.node("Transpose", [y], perm=[0, 2, 1, 3])
    y = g.node("Reshape", [y, g.const([0, 0, -1])])
    logits = g.linear(y, "head", 2 * hidden, classes, std=1.0)                  # [s, b, cls]
    logits = g.node("Transpose", [logits], perm=[1, 0, 2])
    g.output(logits, "logits", TensorProto.FLOAT, ["batch", "seq", classes])
    return g.build("Embedding (Gather), bidirectional LSTM (learned initial_h Expanded to the "
                   "batch, no initial_c), Transpose/Reshape of Y, MatMul+Add head -> logits "
                   "[batch, seq, classes].")


BASE_MODELS = {
    "tiny_cnn": tiny_cnn,
    "resnet_like": resnet_like,
    "mobilenet_like": mobilenet_like,
    "efficientnet_like": efficientnet_like,
    "vit_like": vit_like,
    "bert_like": bert_like,
    "gpt2_like": gpt2_like,
    "unet_like": unet_like,
    "lstm_like": lstm_like,
}

# Old-opset variants: same weights, same function, older spellings (Unsqueeze/Split attributes,
# decomposed LayerNorm and HardSwish, pre-13 Softmax, Resize-11 with its required roi input,
# LSTM-7).
VARIANTS = {
    "tiny_cnn_op11": ("tiny_cnn", 11),
    "tiny_cnn_op13": ("tiny_cnn", 13),
    "mobilenet_like_op13": ("mobilenet_like", 13),
    "bert_like_op11": ("bert_like", 11),
    "gpt2_like_op13": ("gpt2_like", 13),
    "unet_like_op11": ("unet_like", 11),
    "lstm_like_op11": ("lstm_like", 11),
}

# Models committed under models/ (small; the rest are generated at test time).
SHIPPED = ["tiny_cnn", "tiny_cnn_op11", "tiny_cnn_op13"]

ALL_MODELS = list(BASE_MODELS) + list(VARIANTS)


def make_model(name, opset=DEFAULT_OPSET):
    """Returns the ModelProto for `name` (a base model at `opset`, or a fixed-opset variant)."""
    if name in VARIANTS:
        base, opset = VARIANTS[name]
        model = BASE_MODELS[base](opset)
        model.graph.name = name
        return model
    if name not in BASE_MODELS:
        raise KeyError(f"unknown model '{name}'; known: {', '.join(ALL_MODELS)}")
    return BASE_MODELS[name](opset)


def generate(out_dir, names=None, opset=DEFAULT_OPSET, check=True):
    """Writes DIR/NAME.onnx for each name; returns {name: path}."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for name in names or ALL_MODELS:
        model = make_model(name, opset)
        if check:
            onnx.checker.check_model(model, full_check=True)
        path = os.path.join(out_dir, f"{name}.onnx")
        # Write via a temporary file so concurrent readers never see a half-written model.
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "wb") as f:
            f.write(model.SerializeToString())
        os.replace(tmp, path)
        paths[name] = path
    return paths


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="output folder")
    ap.add_argument("--only", help="comma-separated model names (default: all)")
    ap.add_argument("--opset", type=int, default=DEFAULT_OPSET,
                    help=f"opset of the base models (default {DEFAULT_OPSET}; variants keep "
                         "their own)")
    ap.add_argument("--shipped", action="store_true",
                    help="only the models committed under models/")
    ap.add_argument("--list", action="store_true", help="print model names and exit")
    args = ap.parse_args(argv)
    if args.list:
        print("\n".join(ALL_MODELS))
        return 0
    if not args.out:
        ap.error("--out is required")
    names = SHIPPED if args.shipped else ALL_MODELS
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in ALL_MODELS]
        if unknown:
            ap.error(f"unknown model(s): {', '.join(unknown)}; known: {', '.join(ALL_MODELS)}")
    for name, path in generate(args.out, names, args.opset).items():
        n_params = sum(int(np.prod(t.dims)) for t in onnx.load(path).graph.initializer)
        print(f"{name:22s} {os.path.getsize(path) / 1024:9.1f} KiB  {n_params:9d} params  "
              f"{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
