"""Tests of `kiln surgeon extract` and `kiln surgeon sanitize` (docs/cli.md).

Models are built here with onnx.helper. Every written model must pass onnx.checker and run in
onnxruntime; its outputs are compared with onnxruntime on the original model (and numpy), so
the reference is never Kiln itself.
"""
import json
import subprocess

import numpy as np
import pytest

import kiln_testutil as ku

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(5)
W = RNG.uniform(-1, 1, size=(2, 4)).astype(np.float32)
X = RNG.uniform(-1, 1, size=(2, 4)).astype(np.float32)
Z = RNG.uniform(-1, 1, size=(2, 4)).astype(np.float32)


def surgeon(cli, args):
    return subprocess.run([cli, "surgeon"] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=ku.CLI_TIMEOUT_S)


def save(model, path, infer=True):
    model.ir_version = 8
    if infer:
        model = onnx.shape_inference.infer_shapes(model)
    onnx.save(model, str(path))
    return str(path)


def chain_model(tmp, infer=True):
    """x, z [2,4]: a = x + W; b = Relu(a); c = b * z; y = Sigmoid(c); plus a dead Exp node,
    an unused initializer U."""
    nodes = [helper.make_node("Add", ["x", "W"], ["a"], name="add"),
             helper.make_node("Relu", ["a"], ["b"], name="relu"),
             helper.make_node("Mul", ["b", "z"], ["c"], name="mul"),
             helper.make_node("Sigmoid", ["c"], ["y"], name="sig"),
             helper.make_node("Exp", ["x"], ["dead"], name="dead_exp"),
             helper.make_node("Neg", ["dead"], ["dead2"], name="dead_neg")]
    inits = [numpy_helper.from_array(W, "W"),
             numpy_helper.from_array(np.ones((3,), np.float32), "U")]
    vi = lambda n: helper.make_tensor_value_info(n, TensorProto.FLOAT, [2, 4])  # noqa: E731
    graph = helper.make_graph(nodes, "chain", [vi("x"), vi("z")], [vi("y")], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return save(model, tmp / ("chain.onnx" if infer else "chain_noinfer.onnx"), infer)


def run_ort(path, feeds):
    onnx.checker.check_model(onnx.load(path))
    return ku.ort_reference(path, feeds)


def test_extract_middle(kiln_cli, tmp_path):
    src = chain_model(tmp_path)
    out = tmp_path / "sub.onnx"
    p = surgeon(kiln_cli, ["extract", f"--onnx={src}", "--inputs=a,z", "--outputs=y",
                           f"--output={out}"])
    assert p.returncode == 0, ku.explain(p)
    m = onnx.load(str(out))
    assert [n.name for n in m.graph.node] == ["relu", "mul", "sig"]
    assert [i.name for i in m.graph.input] == ["a", "z"]
    assert len(m.graph.initializer) == 0
    a = X + W
    got = run_ort(str(out), {"a": a, "z": Z})["y"]
    ref = ku.ort_reference(src, {"x": X, "z": Z})["y"]
    ku.assert_close(got, ref, "extract a,z -> y")
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-np.maximum(a, 0) * Z)), rtol=1e-5)


def test_extract_intermediate_outputs(kiln_cli, tmp_path):
    src = chain_model(tmp_path)
    out = tmp_path / "head.onnx"
    p = surgeon(kiln_cli, ["extract", f"--onnx={src}", "--inputs=x", "--outputs=b,a",
                           f"--output={out}"])
    assert p.returncode == 0, ku.explain(p)
    m = onnx.load(str(out))
    assert [n.name for n in m.graph.node] == ["add", "relu"]
    assert [t.name for t in m.graph.initializer] == ["W"]
    got = run_ort(str(out), {"x": X})
    np.testing.assert_allclose(got["a"], X + W, rtol=1e-6)
    np.testing.assert_allclose(got["b"], np.maximum(X + W, 0), rtol=1e-6)


@pytest.mark.parametrize("args, needle", [
    (["--inputs=a,z", "--outputs=nope"], "'nope' does not exist"),
    (["--inputs=ghost", "--outputs=y"], "'ghost' does not exist"),
    (["--inputs=a", "--outputs=y"], "needs graph input 'z', which is not in --inputs"),
    (["--inputs=a,z"], "--outputs is required"),
])
def test_extract_errors(kiln_cli, tmp_path, args, needle):
    src = chain_model(tmp_path)
    out = tmp_path / "bad.onnx"
    p = surgeon(kiln_cli, ["extract", f"--onnx={src}", *args, f"--output={out}"])
    assert p.returncode != 0
    assert needle in p.stderr, p.stderr
    assert not out.exists()


def test_extract_unknown_type(kiln_cli, tmp_path):
    src = chain_model(tmp_path, infer=False)  # no value_info: 'b' has no known type
    p = surgeon(kiln_cli, ["extract", f"--onnx={src}", "--inputs=b,z", "--outputs=y",
                           f"--output={tmp_path / 'o.onnx'}"])
    assert p.returncode != 0
    assert "dtype and shape of 'b' are not known" in p.stderr, p.stderr


def test_bad_file(kiln_cli, tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff\xff not a model")
    for tool, extra in (("extract", ["--inputs=x", "--outputs=y"]), ("sanitize", [])):
        for path in (junk, tmp_path / "missing.onnx"):
            p = surgeon(kiln_cli, [tool, f"--onnx={path}", *extra,
                                   f"--output={tmp_path / 'o.onnx'}"])
            assert p.returncode != 0
            assert str(path) in p.stderr and "kiln: error:" in p.stderr, p.stderr
    p = surgeon(kiln_cli, ["carve", "--onnx=x"])
    assert p.returncode == 2 and "unknown surgeon tool 'carve'" in p.stderr


def test_sanitize_removes_dead(kiln_cli, tmp_path):
    src = chain_model(tmp_path)
    out = tmp_path / "clean.onnx"
    js = tmp_path / "s.json"
    p = surgeon(kiln_cli, ["sanitize", f"--onnx={src}", f"--output={out}", f"--json={js}"])
    assert p.returncode == 0, ku.explain(p)
    assert "Nodes: 6 -> 4" in p.stdout and "Initializers: 2 -> 1" in p.stdout, p.stdout
    summary = json.loads(js.read_text())
    assert summary["nodesBefore"] == 6 and summary["nodesAfter"] == 4
    assert summary["initializersBefore"] == 2 and summary["initializersAfter"] == 1
    m = onnx.load(str(out))
    assert [n.name for n in m.graph.node] == ["add", "relu", "mul", "sig"]
    assert "dead" not in {v.name for v in m.graph.value_info}
    got = run_ort(str(out), {"x": X, "z": Z})["y"]
    ku.assert_close(got, ku.ort_reference(src, {"x": X, "z": Z})["y"], "sanitize")


def shape_model(tmp):
    """x [2,3,4]: Constant nodes and a Shape/Gather/Unsqueeze/Concat chain computing the
    Reshape target [2, 12]; y = Reshape(x * k, target); a duplicate initializer."""
    k = np.array(1.5, np.float32)
    nodes = [
        helper.make_node("Constant", [], ["k"], name="const_k",
                         value=numpy_helper.from_array(k)),
        helper.make_node("Constant", [], ["minus1"], name="const_m1", value_ints=[-1]),
        helper.make_node("Constant", [], ["zero"], name="const_0", value_int=0),
        helper.make_node("Shape", ["x"], ["shp"], name="shape"),
        helper.make_node("Gather", ["shp", "zero"], ["d0"], name="gather", axis=0),
        helper.make_node("Unsqueeze", ["d0", "axes0"], ["d0v"], name="unsq"),
        helper.make_node("Concat", ["d0v", "minus1"], ["target"], name="concat", axis=0),
        helper.make_node("Mul", ["x", "k"], ["xs"], name="mul"),
        helper.make_node("Add", ["xs", "bias"], ["xb"], name="add"),
        helper.make_node("Reshape", ["xb", "target"], ["y"], name="reshape"),
    ]
    bias = numpy_helper.from_array(np.full((4,), 0.25, np.float32), "bias")
    dup = numpy_helper.from_array(np.full((4,), 0.25, np.float32), "bias")
    axes = numpy_helper.from_array(np.array([0], np.int64), "axes0")
    graph = helper.make_graph(
        nodes, "shapes", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 12])], [bias, dup, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    return save(model, tmp / "shapes.onnx", infer=False)


def test_sanitize_fold_constants(kiln_cli, tmp_path):
    src = shape_model(tmp_path)
    x = RNG.uniform(-1, 1, size=(2, 3, 4)).astype(np.float32)
    expected = (x * 1.5 + 0.25).reshape(2, 12)
    out = tmp_path / "folded.onnx"
    js = tmp_path / "f.json"
    p = surgeon(kiln_cli, ["sanitize", f"--onnx={src}", f"--output={out}", "--fold-constants",
                           f"--json={js}"])
    assert p.returncode == 0, ku.explain(p)
    m = onnx.load(str(out))
    assert [n.op_type for n in m.graph.node] == ["Mul", "Add", "Reshape"], p.stdout
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    assert sorted(inits) == ["bias", "k", "target"]
    np.testing.assert_array_equal(inits["target"], [2, -1])
    summary = json.loads(js.read_text())
    assert summary["duplicateInitializersRemoved"] == 1
    assert summary["foldedConstants"] == 3 and summary["foldedShapeNodes"] == 4
    assert summary["nodesBefore"] == 10 and summary["nodesAfter"] == 3
    got = run_ort(str(out), {"x": x})["y"]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # Without folding, only the duplicate goes; the model still matches.
    out2 = tmp_path / "plain.onnx"
    p = surgeon(kiln_cli, ["sanitize", f"--onnx={src}", f"--output={out2}"])
    assert p.returncode == 0, ku.explain(p)
    m2 = onnx.load(str(out2))
    assert len(m2.graph.node) == 10 and len(m2.graph.initializer) == 2
    np.testing.assert_allclose(run_ort(str(out2), {"x": x})["y"], expected, rtol=1e-6)


def test_help(kiln_cli):
    for tool in ("extract", "sanitize"):
        p = surgeon(kiln_cli, [tool, "--help"])
        assert p.returncode == 0 and "--onnx" in p.stdout and "--output" in p.stdout
    p = surgeon(kiln_cli, ["--help"])
    assert p.returncode == 0 and "extract" in p.stdout and "sanitize" in p.stdout


def test_fold_leaves_dynamic_and_int32(kiln_cli, tmp_path):
    """Shape of a dynamic dim and Gather on an int32 constant are not folded (the folded value
    would be wrong or change dtype); outputs still match onnxruntime on the original."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shp"], name="shape"),
        helper.make_node("Gather", ["i32", "one"], ["g"], name="gather_i32", axis=0),
        helper.make_node("Cast", ["g"], ["g64"], name="cast", to=TensorProto.INT64),
        helper.make_node("Concat", ["shp", "g64"], ["y"], name="concat", axis=0),
    ]
    inits = [numpy_helper.from_array(np.array([7, 9], np.int32), "i32"),
             numpy_helper.from_array(np.array([1], np.int64), "one")]
    graph = helper.make_graph(
        nodes, "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
        [helper.make_tensor_value_info("y", TensorProto.INT64, [3])], inits)
    src = save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]),
               tmp_path / "dyn.onnx")
    out = tmp_path / "dyn_f.onnx"
    p = surgeon(kiln_cli, ["sanitize", f"--onnx={src}", f"--output={out}", "--fold-constants"])
    assert p.returncode == 0, ku.explain(p)
    m = onnx.load(str(out))
    ops = [n.op_type for n in m.graph.node]
    assert "Shape" in ops and "Gather" in ops, ops
    x = np.zeros((5, 3), np.float32)
    got = run_ort(str(out), {"x": x})["y"]
    np.testing.assert_array_equal(got, [5, 3, 9])
    np.testing.assert_array_equal(got, ku.ort_reference(src, {"x": x})["y"])
