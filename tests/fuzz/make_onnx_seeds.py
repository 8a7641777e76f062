#!/usr/bin/env python3
"""Tiny ONNX models for the onnx_fuzz seed corpus (scripts/fuzz.sh).

Each model has a handful of nodes and static shapes of a few elements, so that a mutated model
is small (fast to parse) and, when it still parses, small enough for onnx_fuzz.cpp to build and
run. Together they touch most op families of src/ir/ops.def, several opsets, initializers of
every storage form (raw_data and typed fields), dim_param inputs and Constant nodes.

    python3 tests/fuzz/make_onnx_seeds.py OUT_DIR
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
I64 = TensorProto.INT64


def vi(name, elem, shape):
    """A value info; shape None leaves the output's shape to Kiln's inference (rank unknown)."""
    if shape is None:
        t = onnx.TypeProto()
        t.tensor_type.elem_type = elem
        return helper.make_value_info(name, t)
    return helper.make_tensor_value_info(name, elem, shape)


def model(name, nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, name, inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], producer_name="kiln-fuzz")
    m.ir_version = 8
    return m


def w(name, shape, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return numpy_helper.from_array(rng.uniform(-1, 1, shape).astype(dtype), name)


def i64(name, values):
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def unary(op, **attrs):
    return model(op.lower(), [helper.make_node(op, ["x"], ["y"], **attrs)],
                 [vi("x", F, [2, 3])], [vi("y", F, None)])


def binary(op):
    return model(op.lower(), [helper.make_node(op, ["a", "b"], ["y"])],
                 [vi("a", F, [2, 3]), vi("b", F, [3])], [vi("y", F, None)])


def seeds():
    out = {}
    for op in ["Relu", "Sigmoid", "Tanh", "Exp", "Abs", "Neg", "Sqrt", "Erf", "Softplus"]:
        out["unary_" + op.lower()] = unary(op)
    out["leaky_relu"] = unary("LeakyRelu", alpha=0.2)
    out["softmax"] = unary("Softmax", axis=1)
    out["softmax_op11"] = model("sm11", [helper.make_node("Softmax", ["x"], ["y"], axis=1)],
                                [vi("x", F, [2, 3, 2])], [vi("y", F, None)], opset=11)
    for op in ["Add", "Mul", "Sub", "Div", "Max", "Pow"]:
        out["binary_" + op.lower()] = binary(op)
    out["matmul"] = model("mm", [helper.make_node("MatMul", ["x", "w"], ["y"])],
                          [vi("x", F, [2, 4])], [vi("y", F, [2, 3])], [w("w", [4, 3])])
    out["gemm"] = model("gemm", [helper.make_node("Gemm", ["x", "w", "b"], ["y"], transB=1, alpha=0.5)],
                        [vi("x", F, [2, 4])], [vi("y", F, [2, 3])], [w("w", [3, 4]), w("b", [3], 1)])
    out["conv"] = model("conv", [helper.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1],
                                                  strides=[1, 1], group=1)],
                        [vi("x", F, [1, 2, 4, 4])], [vi("y", F, None)], [w("w", [3, 2, 3, 3]), w("b", [3], 2)])
    out["conv_relu_pool"] = model("crp", [
        helper.make_node("Conv", ["x", "w"], ["c"], kernel_shape=[2, 2]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["y"], kernel_shape=[2, 2], strides=[1, 1])],
        [vi("x", F, [1, 1, 5, 5])], [vi("y", F, None)], [w("w", [2, 1, 2, 2])])
    out["avgpool"] = model("ap", [helper.make_node("AveragePool", ["x"], ["y"], kernel_shape=[2, 2],
                                                   pads=[0, 0, 1, 1], count_include_pad=0)],
                           [vi("x", F, [1, 1, 3, 3])], [vi("y", F, None)])
    out["global_pool"] = model("gp", [helper.make_node("GlobalAveragePool", ["x"], ["y"])],
                               [vi("x", F, [1, 2, 3, 3])], [vi("y", F, None)])
    out["batchnorm"] = model("bn", [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"])],
                             [vi("x", F, [1, 2, 2, 2])], [vi("y", F, None)],
                             [w("s", [2]), w("b", [2], 1), w("m", [2], 2),
                              numpy_helper.from_array(np.array([0.5, 1.5], np.float32), "v")])
    out["layernorm"] = model("ln", [helper.make_node("LayerNormalization", ["x", "s", "b"], ["y"], axis=-1)],
                             [vi("x", F, [2, 4])], [vi("y", F, None)], [w("s", [4]), w("b", [4], 1)])
    out["reshape_transpose"] = model("rt", [
        helper.make_node("Reshape", ["x", "shape"], ["r"]),
        helper.make_node("Transpose", ["r"], ["y"], perm=[1, 0])],
        [vi("x", F, [2, 3])], [vi("y", F, None)], [i64("shape", [3, 2])])
    out["concat_split"] = model("cs", [
        helper.make_node("Concat", ["a", "b"], ["c"], axis=1),
        helper.make_node("Split", ["c", "sizes"], ["y", "z"], axis=1)],
        [vi("a", F, [2, 2]), vi("b", F, [2, 3])], [vi("y", F, None), vi("z", F, None)], [i64("sizes", [1, 4])])
    out["slice"] = model("slice", [helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])],
                         [vi("x", F, [4, 5])], [vi("y", F, None)],
                         [i64("st", [1, 0]), i64("en", [4, 5]), i64("ax", [0, 1]), i64("sp", [2, 2])])
    out["gather"] = model("gather", [helper.make_node("Gather", ["x", "idx"], ["y"], axis=1)],
                          [vi("x", F, [2, 4])], [vi("y", F, None)], [i64("idx", [3, 0, 1])])
    out["reduce"] = model("reduce", [helper.make_node("ReduceMean", ["x"], ["y"], axes=[1], keepdims=0)],
                          [vi("x", F, [2, 3, 2])], [vi("y", F, None)], opset=13)
    out["reduce_sum18"] = model("rs", [helper.make_node("ReduceSum", ["x", "ax"], ["y"], keepdims=1)],
                                [vi("x", F, [2, 3])], [vi("y", F, None)], [i64("ax", [1])], opset=18)
    out["argmax"] = model("am", [helper.make_node("ArgMax", ["x"], ["y"], axis=1)],
                          [vi("x", F, [2, 3])], [vi("y", I64, None)])
    out["topk"] = model("topk", [helper.make_node("TopK", ["x", "k"], ["v", "i"], axis=1)],
                        [vi("x", F, [2, 5])], [vi("v", F, None), vi("i", I64, None)], [i64("k", [2])])
    out["cast_where"] = model("cw", [
        helper.make_node("Greater", ["x", "z"], ["c"]),
        helper.make_node("Where", ["c", "x", "z"], ["y"]),
        helper.make_node("Cast", ["y"], ["t"], to=TensorProto.INT32)],
        [vi("x", F, [2, 3])], [vi("t", TensorProto.INT32, None)],
        [numpy_helper.from_array(np.zeros([1], np.float32), "z")])
    out["pad"] = model("pad", [helper.make_node("Pad", ["x", "pads"], ["y"], mode="reflect")],
                       [vi("x", F, [1, 3, 3])], [vi("y", F, None)], [i64("pads", [0, 1, 1, 0, 1, 1])])
    out["resize"] = model("resize", [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="linear")],
                          [vi("x", F, [1, 1, 2, 2])], [vi("y", F, None)],
                          [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")])
    out["shape_chain"] = model("sc", [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("ConstantOfShape", ["s"], ["c"],
                         value=numpy_helper.from_array(np.array([1.5], np.float32))),
        helper.make_node("Add", ["x", "c"], ["y"])],
        [vi("x", F, [2, 3])], [vi("y", F, None)])
    out["expand_unsqueeze"] = model("eu", [
        helper.make_node("Unsqueeze", ["x", "ax"], ["u"]),
        helper.make_node("Expand", ["u", "shape"], ["e"]),
        helper.make_node("Flatten", ["e"], ["y"], axis=1)],
        [vi("x", F, [3])], [vi("y", F, None)], [i64("ax", [0]), i64("shape", [2, 3])])
    out["constant_node"] = model("cn", [
        helper.make_node("Constant", [], ["k"], value=numpy_helper.from_array(np.array([2.0, 3.0], np.float32))),
        helper.make_node("Mul", ["x", "k"], ["y"])], [vi("x", F, [3, 2])], [vi("y", F, None)])
    out["einsum"] = model("es", [helper.make_node("Einsum", ["a", "b"], ["y"], equation="ij,jk->ik")],
                          [vi("a", F, [2, 3]), vi("b", F, [3, 2])], [vi("y", F, None)], opset=12)
    out["dynamic_batch"] = model("dyn", [helper.make_node("Relu", ["x"], ["y"])],
                                 [vi("x", F, ["batch", 3])], [vi("y", F, ["batch", 3])])
    out["clip_op9"] = model("clip9", [helper.make_node("Clip", ["x"], ["y"], min=-0.5, max=0.5)],
                            [vi("x", F, [2, 2])], [vi("y", F, None)], opset=9)
    # Typed-field initializers (not raw_data) and an int64 input.
    typed = helper.make_tensor("w", F, [2], [0.5, -2.0])
    out["typed_init"] = model("ti", [helper.make_node("Add", ["x", "w"], ["y"])],
                              [vi("x", F, [2])], [vi("y", F, None)], [typed])
    out["int_gather"] = model("ig", [helper.make_node("Gather", ["t", "i"], ["y"], axis=0)],
                              [vi("i", I64, [2])], [vi("y", F, None)], [w("t", [4, 2])])
    return out


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    n = 0
    for name, m in seeds().items():
        # The checker insists on output shapes, which these leave to inference on purpose.
        onnx.checker.check_model(m) if all(
            o.type.tensor_type.HasField("shape") for o in m.graph.output) else None
        onnx.save(m, os.path.join(out_dir, name + ".onnx"))
        n += 1
    print(f"{n} ONNX seeds written to {out_dir}")


if __name__ == "__main__":
    main()
