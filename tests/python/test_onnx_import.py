"""ONNX importer rewrites, checked numerically: old-opset forms run through `kiln run --onnx`
and are compared with onnxruntime running the same file.

Each case is a one- or few-node model built with onnx.helper at an old opset whose IR form the
parser rewrites (Softmax coerce-to-2D, Upsample/Resize-10 -> Resize, attributes that became
inputs, GroupNormalization-18's per-group scale, BatchNormalization/Dropout extra outputs).
Reference: onnxruntime CPU with graph optimizations off (kiln_testutil.ort_reference); bound:
kiln_testutil.assert_close (relative 1e-5 of the output's scale; integer outputs exact).
"""
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import kiln_testutil as ku

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, opset, inits=(), ir=None):
    graph = helper.make_graph(nodes, "t", inputs, outputs, initializer=list(inits))
    if ir is None:
        ir = 7 if opset <= 12 else (8 if opset <= 18 else 10)
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=ir)
    return m


def _vi(name, shape, t=F):
    return helper.make_tensor_value_info(name, t, shape)


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def case_softmax_op11():
    n = helper.make_node("Softmax", ["x"], ["y"], axis=1)
    return _model([n], [_vi("x", ["n", 3, 4])], [_vi("y", None)], 11), {"x": (2, 3, 4)}


def case_logsoftmax_op9_axis0():
    n = helper.make_node("LogSoftmax", ["x"], ["y"], axis=0)
    return _model([n], [_vi("x", [2, 3, 2])], [_vi("y", None)], 9), {"x": (2, 3, 2)}


def case_upsample_op9_nearest():
    n = helper.make_node("Upsample", ["x", "s"], ["y"], mode="nearest")
    s = _init("s", np.array([1, 1, 2, 3], np.float32))
    return _model([n], [_vi("x", [1, 2, 3, 4])], [_vi("y", None)], 9, [s]), {"x": (1, 2, 3, 4)}


def case_upsample_op9_linear():
    n = helper.make_node("Upsample", ["x", "s"], ["y"], mode="linear")
    s = _init("s", np.array([1, 1, 2, 2], np.float32))
    return _model([n], [_vi("x", [1, 1, 3, 4])], [_vi("y", None)], 9, [s]), {"x": (1, 1, 3, 4)}


def case_resize_op10_nearest():
    n = helper.make_node("Resize", ["x", "s"], ["y"], mode="nearest")
    s = _init("s", np.array([1, 1, 2, 2], np.float32))
    return _model([n], [_vi("x", [1, 2, 3, 3])], [_vi("y", None)], 10, [s]), {"x": (1, 2, 3, 3)}


def case_clip_pad_op9():
    nodes = [helper.make_node("Clip", ["x"], ["c"], min=-0.3, max=0.4),
             helper.make_node("Pad", ["c"], ["p"], pads=[0, 1, 2, 0, 2, 1], value=1.5),
             helper.make_node("Pad", ["p"], ["y"], pads=[0, 1, 1, 0, 1, 1], mode="reflect")]
    return _model(nodes, [_vi("x", [2, 3, 4])], [_vi("y", None)], 9), {"x": (2, 3, 4)}


def case_split_squeeze_op11():
    nodes = [helper.make_node("Split", ["x"], ["a", "b"], axis=2, split=[1, 3]),
             helper.make_node("Squeeze", ["a"], ["sa"], axes=[2]),
             helper.make_node("Unsqueeze", ["sa"], ["ua"], axes=[0]),
             helper.make_node("ReduceSum", ["b"], ["rb"], axes=[2], keepdims=1),
             helper.make_node("ReduceMean", ["x"], ["m"], axes=[0, 2], keepdims=0)]
    outs = [_vi("ua", None), _vi("rb", None), _vi("m", None)]
    return _model(nodes, [_vi("x", [2, 3, 4])], outs, 11), {"x": (2, 3, 4)}


def case_slice_topk_op9():
    nodes = [helper.make_node("Slice", ["x"], ["s"], starts=[1, 0], ends=[100, -1], axes=[0, 1]),
             helper.make_node("TopK", ["s"], ["v", "i"], axis=1, k=2)]
    outs = [_vi("v", None), _vi("i", None, TensorProto.INT64)]
    return _model(nodes, [_vi("x", [3, 6])], outs, 9), {"x": (3, 6)}


def case_groupnorm_op18():
    rng = np.random.default_rng(3)
    n = helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=2,
                         epsilon=1e-5)
    inits = [_init("s", rng.uniform(0.5, 1.5, 2).astype(np.float32)),
             _init("b", rng.uniform(-1, 1, 2).astype(np.float32))]
    return (_model([n], [_vi("x", [2, 4, 5])], [_vi("y", None)], 18, inits),
            {"x": (2, 4, 5)})


def case_batchnorm_dropout_op12():
    rng = np.random.default_rng(4)
    inits = [_init(k, rng.uniform(0.5, 1.5, 3).astype(np.float32)) for k in ("sc", "bi", "me", "va")]
    inits.append(_init("ratio", np.array(0.3, np.float32)))
    nodes = [helper.make_node("BatchNormalization", ["x", "sc", "bi", "me", "va"], ["bn"]),
             helper.make_node("Dropout", ["bn", "ratio"], ["y", "mask"])]
    return (_model(nodes, [_vi("x", ["n", 3, 4])], [_vi("y", None)], 12, inits),
            {"x": (2, 3, 4)})


def case_gemm_cast_constant_op9():
    rng = np.random.default_rng(5)
    inits = [_init("w", rng.uniform(-1, 1, (4, 3)).astype(np.float32)),
             _init("c", rng.uniform(-1, 1, (3,)).astype(np.float32))]
    k = helper.make_tensor("k", TensorProto.FLOAT, [1], [0.5])
    nodes = [helper.make_node("Gemm", ["x", "w", "c"], ["g"], alpha=2.0, beta=0.5),
             helper.make_node("Constant", [], ["k"], value=k),
             helper.make_node("Mul", ["g", "k"], ["m"]),
             helper.make_node("Cast", ["m"], ["y"], to=TensorProto.DOUBLE)]
    return (_model(nodes, [_vi("x", [2, 4])], [_vi("y", None, TensorProto.DOUBLE)], 9, inits),
            {"x": (2, 4)})


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}


@pytest.fixture(scope="module")
def ort():
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:  # the one allowed skip: no independent reference
        pytest.skip(f"onnxruntime is not importable ({e})")


@pytest.mark.parametrize("name", sorted(CASES))
def test_old_opset_rewrite_matches_onnxruntime(name, ort, kiln_cli, tmp_path):
    model, shapes = CASES[name]()
    path = str(tmp_path / f"{name}.onnx")
    onnx.save(model, path)
    rng = np.random.default_rng(abs(hash(name)) % (2**32))
    feeds = {k: rng.uniform(-1, 1, s).astype(np.float32) for k, s in shapes.items()}
    ref = ku.ort_reference(path, feeds)
    load = ku.write_inputs(feeds, str(tmp_path))
    out_json = str(tmp_path / "out.json")
    ku.run_cli(["run", f"--onnx={path}", f"--shapes={ku.shapes_arg(feeds)}",
                f"--loadInputs={load}", f"--exportOutput={out_json}", "--iterations=1",
                "--duration=0", "--warmUp=0"], kiln_cli)
    got = ku.read_export_output(out_json)
    assert set(ref) <= set(got), f"{name}: kiln exported {sorted(got)}, expected {sorted(ref)}"
    for out_name, want in ref.items():
        if np.issubdtype(want.dtype, np.integer):
            np.testing.assert_array_equal(got[out_name], want, err_msg=f"{name} '{out_name}'")
        else:
            ku.assert_close(got[out_name], want, f"{name} output '{out_name}'")


def test_unsupported_nodes_are_all_reported_by_the_cli(kiln_cli, tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="r"),
             helper.make_node("StringNormalizer", ["a"], ["b"], name="sn"),
             helper.make_node("MyOp", ["b"], ["y"], name="custom", domain="com.example")]
    graph = helper.make_graph(nodes, "t", [_vi("x", [2, 3])], [_vi("y", None)])
    m = helper.make_model(graph, ir_version=8, opset_imports=[
        helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)])
    path = str(tmp_path / "unsupported.onnx")
    onnx.save(m, path)
    proc = ku.run_cli(["build", f"--onnx={path}"], kiln_cli, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert "unsupported operator 'StringNormalizer' (domain 'ai.onnx', opset 13)" in text, text
    assert "unsupported operator 'MyOp' (domain 'com.example', opset 1)" in text, text
    assert "node 'custom'" in text, text


def test_shape_tensor_inputs_get_values_from_shapes_or_files(ort, kiln_cli, tmp_path):
    """Resize sizes and ReduceSum axes fed by graph inputs (shape tensor inputs): kiln run takes
    their values from --shapes (trtexec's convention) or from --loadInputs; outputs match
    onnxruntime for two sets of values."""
    nodes = [helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="nearest"),
             helper.make_node("ReduceSum", ["y", "axes"], ["z"], keepdims=0)]
    graph = helper.make_graph(
        nodes, "shape_tensors",
        [_vi("x", [1, 1, 2, 3]), _vi("sizes", [4], TensorProto.INT64),
         _vi("axes", [1], TensorProto.INT64)],
        [_vi("y", None), _vi("z", None)])
    path = str(tmp_path / "st.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)], ir_version=9), path)
    x = np.random.default_rng(7).uniform(-1, 1, (1, 1, 2, 3)).astype(np.float32)
    for k, (sizes, axes, via_file) in enumerate([([1, 1, 4, 6], [3], False),
                                                  ([1, 1, 3, 5], [2], True)]):
        feeds = {"x": x, "sizes": np.array(sizes, np.int64), "axes": np.array(axes, np.int64)}
        ref = ku.ort_reference(path, feeds)
        out_json = str(tmp_path / f"out{k}.json")
        if via_file:
            args = [f"--loadInputs={ku.write_inputs(feeds, str(tmp_path), str(k))}"]
        else:
            values = f"sizes:{'x'.join(map(str, sizes))},axes:{axes[0]}"
            args = [f"--shapes={values}",
                    f"--loadInputs={ku.write_inputs({'x': x}, str(tmp_path), str(k))}"]
        ku.run_cli(["run", f"--onnx={path}", *args, f"--exportOutput={out_json}",
                    "--iterations=1", "--duration=0", "--warmUp=0"], kiln_cli)
        got = ku.read_export_output(out_json)
        assert got["y"].shape == tuple(sizes)
        for name in ("y", "z"):
            ku.assert_close(got[name], ref[name], f"values {sizes}/{axes} output '{name}'")


def test_kiln_run_exports_data_dependent_outputs(ort, kiln_cli, tmp_path):
    """NonZero -> Transpose and NonMaxSuppression: outputs whose shape depends on the data; kiln
    run places them through an output allocator and exports them; values match onnxruntime."""
    nodes = [helper.make_node("NonZero", ["x"], ["nz"]),
             helper.make_node("Transpose", ["nz"], ["nzt"], perm=[1, 0]),
             helper.make_node("NonMaxSuppression", ["boxes", "scores", "maxk", "iou"], ["sel"])]
    graph = helper.make_graph(
        nodes, "dd",
        [_vi("x", [3, 4]), _vi("boxes", [1, 6, 4]), _vi("scores", [1, 1, 6])],
        [_vi("nzt", None, TensorProto.INT64), _vi("sel", None, TensorProto.INT64)],
        initializer=[numpy_helper.from_array(np.array([3], np.int64), "maxk"),
                     numpy_helper.from_array(np.array([0.5], np.float32), "iou")])
    path = str(tmp_path / "dd.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                                ir_version=8), path)
    rng = np.random.default_rng(11)
    xy = rng.uniform(0, 10, (1, 6, 2)).astype(np.float32)
    feeds = {"x": rng.integers(-1, 2, (3, 4)).astype(np.float32),
             "boxes": np.concatenate([xy, xy + rng.uniform(1, 4, (1, 6, 2))], axis=2).astype(
                 np.float32),
             "scores": rng.uniform(0, 1, (1, 1, 6)).astype(np.float32)}
    ref = ku.ort_reference(path, feeds)
    out_json = str(tmp_path / "out.json")
    ku.run_cli(["run", f"--onnx={path}", f"--loadInputs={ku.write_inputs(feeds, str(tmp_path))}",
                f"--exportOutput={out_json}", "--iterations=1", "--duration=0", "--warmUp=0"],
               kiln_cli)
    got = ku.read_export_output(out_json)
    for name in ("nzt", "sel"):
        assert got[name].shape == ref[name].shape, f"{name}: {got[name].shape} vs {ref[name].shape}"
        np.testing.assert_array_equal(got[name], ref[name], err_msg=name)
