"""ONNX If, Loop and Scan, expanded by Kiln's importer at import time (src/onnx/
importers_control.cpp), run through `kiln run --onnx` and compared with onnxruntime running the
same file.

Each case is built with onnx.helper in the forms exporters produce: an If whose condition comes
from shapes, Loops with a constant trip count (carried values, scan outputs, tensors read from
the main graph), a Loop whose condition depends only on the iteration number, an If nested in a
Loop body, and Scans with several inputs/outputs, axes and directions. Reference: onnxruntime
CPU with graph optimizations off (kiln_testutil.ort_reference); bound: kiln_testutil.
assert_close.
"""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import kiln_testutil as ku

F = TensorProto.FLOAT
I64 = TensorProto.INT64
B = TensorProto.BOOL


def _model(nodes, inputs, outputs, opset=17, inits=()):
    graph = helper.make_graph(nodes, "t", inputs, outputs, initializer=list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                             ir_version=8)


def _vi(name, shape, t=F):
    return helper.make_tensor_value_info(name, t, shape)


def _init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def case_if_condition_from_shape():
    # is3 = Equal(Shape(x)[1], 3): then Sigmoid(x) * w, else Neg(x).
    then_g = helper.make_graph(
        [helper.make_node("Sigmoid", ["x"], ["sg"]), helper.make_node("Mul", ["sg", "w"], ["t"])],
        "then", [], [_vi("t", None)])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                               [_vi("e", None)])
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "one"], ["d1"], axis=0),
             helper.make_node("Equal", ["d1", "three"], ["is3"]),
             helper.make_node("If", ["is3"], ["y"], then_branch=then_g, else_branch=else_g)]
    inits = [_init("one", np.int64(1)), _init("three", np.int64(3)),
             _init("w", np.array([0.5, -1.5, 2.0], np.float32))]
    return _model(nodes, [_vi("x", ["n", 3])], [_vi("y", None)], inits=inits), {"x": (2, 3)}


def _loop_body(cond_node):
    # y_out = Tanh(y_in + x * float(i)) (x from the main graph); scan outputs y_out and
    # ReduceSum(y_out).
    nodes = [cond_node,
             helper.make_node("Cast", ["i"], ["fi"], to=F),
             helper.make_node("Mul", ["x", "fi"], ["xi"]),
             helper.make_node("Add", ["y_in", "xi"], ["pre"]),
             helper.make_node("Tanh", ["pre"], ["y_out"]),
             helper.make_node("Identity", ["y_out"], ["y_out_s"]),
             helper.make_node("ReduceSum", ["y_out"], ["total"], keepdims=0)]
    return helper.make_graph(nodes, "body",
                             [_vi("i", [], I64), _vi("cond_in", [], B), _vi("y_in", [2, 3])],
                             [_vi("cond_out", [], B), _vi("y_out", [2, 3]), _vi("y_out_s", None),
                              _vi("total", None)])


def case_loop_trip_count():
    body = _loop_body(helper.make_node("Identity", ["cond_in"], ["cond_out"]))
    nodes = [helper.make_node("Loop", ["M", "", "y0"], ["y", "ys", "totals"], body=body)]
    return (_model(nodes, [_vi("x", [2, 3]), _vi("y0", [2, 3])],
                   [_vi("y", None), _vi("ys", None), _vi("totals", None)],
                   inits=[_init("M", np.int64(4))]),
            {"x": (2, 3), "y0": (2, 3)})


def case_loop_condition_from_iteration():
    # No trip count: runs while i < 2 after each iteration (3 iterations); cond input true.
    body = _loop_body(helper.make_node("Less", ["i", "two"], ["cond_out"]))
    body.initializer.append(_init("two", np.int64(2)))
    nodes = [helper.make_node("Loop", ["", "go", "y0"], ["y", "ys", "totals"], body=body)]
    return (_model(nodes, [_vi("x", [2, 3]), _vi("y0", [2, 3])],
                   [_vi("y", None), _vi("ys", None), _vi("totals", None)],
                   inits=[_init("go", np.bool_(True))]),
            {"x": (2, 3), "y0": (2, 3)})


def case_if_inside_loop():
    # Even iterations: y * x; odd ones: y - x (x from the main graph, y from the Loop body).
    then_g = helper.make_graph([helper.make_node("Mul", ["y_in", "x"], ["t"])], "then", [],
                               [_vi("t", None)])
    else_g = helper.make_graph([helper.make_node("Sub", ["y_in", "x"], ["e"])], "else", [],
                               [_vi("e", None)])
    body_nodes = [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
                  helper.make_node("Mod", ["i", "two"], ["parity"]),
                  helper.make_node("Equal", ["parity", "zero"], ["even"]),
                  helper.make_node("If", ["even"], ["y_out"], then_branch=then_g,
                                   else_branch=else_g),
                  helper.make_node("Identity", ["y_out"], ["scan"])]
    body = helper.make_graph(
        body_nodes, "body",
        [_vi("i", [], I64), _vi("cond_in", [], B), _vi("y_in", [4])],
        [_vi("cond_out", [], B), _vi("y_out", None), _vi("scan", None)],
        initializer=[_init("two", np.int64(2)), _init("zero", np.int64(0))])
    nodes = [helper.make_node("Loop", ["M", "go", "y0"], ["y", "ys"], body=body)]
    return (_model(nodes, [_vi("x", [4]), _vi("y0", [4])], [_vi("y", None), _vi("ys", None)],
                   inits=[_init("M", np.int64(5)), _init("go", np.bool_(True))]),
            {"x": (4,), "y0": (4,)})


def case_scan_two_inputs_axes_directions():
    # States: running sum (of a's rows) and running max (of b's columns, read in reverse).
    body = helper.make_graph(
        [helper.make_node("Add", ["sum_in", "a_t"], ["sum_out"]),
         helper.make_node("Max", ["max_in", "b_t"], ["max_out"]),
         helper.make_node("Mul", ["sum_out", "max_out"], ["prod"]),
         helper.make_node("Identity", ["sum_out"], ["sum_s"])],
        "body",
        [_vi("sum_in", [3]), _vi("max_in", [3]), _vi("a_t", [3]), _vi("b_t", [3])],
        [_vi("sum_out", [3]), _vi("max_out", [3]), _vi("prod", [3]), _vi("sum_s", [3])])
    nodes = [helper.make_node("Scan", ["s0", "m0", "a", "b"], ["s", "m", "prods", "sums"],
                              body=body, num_scan_inputs=2, scan_input_axes=[0, -1],
                              scan_input_directions=[0, 1], scan_output_axes=[1, 0],
                              scan_output_directions=[1, 0])]
    return (_model(nodes, [_vi("s0", [3]), _vi("m0", [3]), _vi("a", [4, 3]), _vi("b", [3, 4])],
                   [_vi("s", None), _vi("m", None), _vi("prods", None), _vi("sums", None)],
                   opset=16),
            {"s0": (3,), "m0": (3,), "a": (4, 3), "b": (3, 4)})


CASES = {name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}


@pytest.fixture(scope="module")
def ort():
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:  # the one allowed skip: no independent reference
        pytest.skip(f"onnxruntime is not importable ({e})")


@pytest.mark.parametrize("name", sorted(CASES))
def test_control_flow_matches_onnxruntime(name, ort, kiln_cli, tmp_path):
    model, shapes = CASES[name]()
    path = str(tmp_path / f"{name}.onnx")
    onnx.save(model, path)
    rng = np.random.default_rng(sum(map(ord, name)))
    feeds = {k: rng.uniform(-1, 1, s).astype(np.float32) for k, s in shapes.items()}
    ref = ku.ort_reference(path, feeds)
    out_json = str(tmp_path / "out.json")
    ku.run_cli(["run", f"--onnx={path}", f"--shapes={ku.shapes_arg(feeds)}",
                f"--loadInputs={ku.write_inputs(feeds, str(tmp_path))}",
                f"--exportOutput={out_json}", "--iterations=1", "--duration=0", "--warmUp=0"],
               kiln_cli)
    got = ku.read_export_output(out_json)
    assert set(ref) <= set(got), f"{name}: kiln exported {sorted(got)}, expected {sorted(ref)}"
    for out_name, want in ref.items():
        assert got[out_name].shape == want.shape, f"{name} '{out_name}'"
        ku.assert_close(got[out_name], want, f"{name} output '{out_name}'")


def test_runtime_condition_selects_between_branches_like_onnxruntime(ort, kiln_cli, tmp_path):
    """An If whose condition is a graph input: both branches run and Where selects (same-shape
    branches); outputs match onnxruntime for both values of the condition. Branches of different
    shapes are refused with a clear message."""
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [],
                               [_vi("t", None)])
    else_g = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [],
                               [_vi("e", None)])
    nodes = [helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then_g,
                              else_branch=else_g)]
    path = str(tmp_path / "if.onnx")
    onnx.save(_model(nodes, [_vi("x", [3]), _vi("c", [], B)], [_vi("y", None)]), path)
    x = np.array([1.5, -2.0, 0.25], np.float32)
    for c in (True, False):
        feeds = {"x": x, "c": np.array(c)}
        ref = ku.ort_reference(path, feeds)
        out_json = str(tmp_path / f"out{int(c)}.json")
        ku.run_cli(["run", f"--onnx={path}",
                    f"--loadInputs={ku.write_inputs(feeds, str(tmp_path), str(int(c)))}",
                    f"--exportOutput={out_json}", "--iterations=1", "--duration=0",
                    "--warmUp=0"], kiln_cli)
        got = ku.read_export_output(out_json)
        np.testing.assert_array_equal(got["y"], ref["y"], err_msg=f"cond={c}")
    else_g = helper.make_graph([helper.make_node("ReduceSum", ["x"], ["e"], keepdims=0)],
                               "else", [], [_vi("e", None)])
    nodes = [helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then_g,
                              else_branch=else_g)]
    onnx.save(_model(nodes, [_vi("x", [3]), _vi("c", [], B)], [_vi("y", None)]), path)
    proc = ku.run_cli(["build", f"--onnx={path}"], kiln_cli, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "If 'branch': the condition is a graph input" in out, out
    assert "float32[3] (then) and float32[] (else)" in out, out
