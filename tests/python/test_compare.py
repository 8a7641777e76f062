"""Tests of `kiln compare` (docs/cli.md): Kiln's CPU engine against onnxruntime on small models
built here with onnx.helper; tolerances and exit codes; the JSON report and --histogram checked
against statistics computed here with numpy; --markAll naming the first wrong layer of a model
whose Relu is replaced (with --preferPlugins) by the deliberately wrong fixture plugin of
libkiln_broken_plugins.so (examples/plugins/broken_relu.cpp: y = x + 0.001 for x > 1); the
onnxruntime runner missing (script, interpreter or package).

Independent references: onnxruntime run here (kiln_testutil.ort_reference), `kiln run
--exportOutput` for Kiln's own values, and numpy float32 replicas of the broken layer (every op
in those models is one correctly rounded float32 operation, so numpy reproduces Kiln exactly).
"""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import kiln_testutil as ku

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

BROKEN_LIB = "libkiln_broken_plugins.so"
RUNNER_SCRIPT = os.path.join(ku.REPO_ROOT, "tools", "kiln", "ort_runner.py")
RNG = np.random.default_rng(2024)
W = RNG.uniform(-1, 1, size=(8, 8)).astype(np.float32)
B = RNG.uniform(0.5, 1.5, size=(8,)).astype(np.float32)   # many Add outputs > 1: the bug shows
C = RNG.uniform(0.5, 3.0, size=(8,)).astype(np.float32)


def compare(cli, args, env_extra=None, timeout=ku.CLI_TIMEOUT_S):
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([cli, "compare"] + [str(a) for a in args], capture_output=True,
                          text=True, timeout=timeout, env=env)


explain = ku.explain


def save(tmp_path, name, nodes, inputs, outputs, inits=()):
    graph = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return str(path)


def vi(name, dims, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, dims)


@pytest.fixture(scope="module")
def broken_lib(kiln_cli):
    """libkiln_broken_plugins.so: $KILN_BINARY_DIR/lib or lib/ next to the CLI's bin/."""
    candidates = []
    if os.environ.get("KILN_BINARY_DIR"):
        candidates.append(os.path.join(os.environ["KILN_BINARY_DIR"], "lib", BROKEN_LIB))
    candidates.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(kiln_cli))),
                                   "lib", BROKEN_LIB))
    for c in candidates:
        if os.path.isfile(c):
            return os.path.realpath(c)
    pytest.fail(f"{BROKEN_LIB} not found (tried {candidates}); build the kiln_broken_plugins "
                "target", pytrace=False)


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    """x[batch, 8] -> MatMul W -> Add B -> Relu -> Mul C -> y;  z = Sigmoid(x)."""
    tmp = tmp_path_factory.mktemp("cmp_mlp")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"], name="matmul"),
             helper.make_node("Add", ["m", "B"], ["s"], name="add"),
             helper.make_node("Relu", ["s"], ["h"], name="relu1"),
             helper.make_node("Mul", ["h", "C"], ["y"], name="scale"),
             helper.make_node("Sigmoid", ["x"], ["z"], name="sig")]
    inits = [numpy_helper.from_array(W, "W"), numpy_helper.from_array(B, "B"),
             numpy_helper.from_array(C, "C")]
    return save(tmp, "mlp", nodes, [vi("x", ["batch", 8])],
                [vi("y", ["batch", 8]), vi("z", ["batch", 8])], inits)


@pytest.fixture(scope="module")
def elementwise(tmp_path_factory):
    """x[5, 8] -> Add B -> Relu -> Mul C -> y;  z = Neg(x). Single float32 ops only, so numpy
    reproduces every value bit for bit."""
    tmp = tmp_path_factory.mktemp("cmp_elem")
    nodes = [helper.make_node("Add", ["x", "B"], ["s"], name="add"),
             helper.make_node("Relu", ["s"], ["h"], name="relu1"),
             helper.make_node("Mul", ["h", "C"], ["y"], name="scale"),
             helper.make_node("Neg", ["x"], ["z"], name="neg")]
    inits = [numpy_helper.from_array(B, "B"), numpy_helper.from_array(C, "C")]
    return save(tmp, "elementwise", nodes, [vi("x", [5, 8])], [vi("y", [5, 8]), vi("z", [5, 8])],
                inits)


def broken_relu(s):
    """The fixture plugin in float32: x + 0.001 for x > 1, else max(x, 0); NaN -> 0."""
    s = s.astype(np.float32)
    with np.errstate(invalid="ignore"):
        return np.where(s > 1, s + np.float32(0.001), np.where(s > 0, s, np.float32(0)))


# ---- help and usage errors ----------------------------------------------------------------------

def test_help_lists_compare_and_its_flags(kiln_cli):
    ku.assert_help_lists(kiln_cli, "compare",
                         ("--onnx", "--runners", "--shapes", "--loadInputs", "--seed", "--rtol",
                          "--atol", "--markAll", "--json", "--histogram", "--plugins",
                          "--preferPlugins"))


@pytest.mark.parametrize("args, needle", [
    ([], "needs --onnx"),
    (["--runners=kiln-cpu"], "at least two runners"),
    (["--runners=kiln-cpu,tensorrt"], "unknown runner 'tensorrt'"),
    (["--runners=kiln-cpu,kiln-cpu"], "listed twice"),
    (["--rtol=-1"], "--rtol=-1"),
    (["--atol=abc"], "--atol=abc"),
    (["--seed=x"], "--seed=x"),
    (["--atoll=1"], "did you mean --atol"),
    (["--shapes=x"], "--shapes"),
])
def test_usage_errors_exit_2(kiln_cli, mlp, args, needle):
    full = args if args == [] else [f"--onnx={mlp}"] + args
    p = compare(kiln_cli, full)
    assert p.returncode == 2, explain(p)
    assert needle in p.stderr, explain(p)


def test_unknown_input_names_exit_1(kiln_cli, mlp, tmp_path):
    p = compare(kiln_cli, [f"--onnx={mlp}", "--shapes=nope:2x8"])
    assert p.returncode == 1 and "no input 'nope'" in p.stderr and "'x'" in p.stderr, explain(p)
    f = tmp_path / "a.bin"
    np.zeros(16, np.float32).tofile(f)
    p = compare(kiln_cli, [f"--onnx={mlp}", f"--loadInputs=nope:{f}"])
    assert p.returncode == 1 and "no input 'nope'" in p.stderr, explain(p)
    # A file of the wrong size for the shape.
    p = compare(kiln_cli, [f"--onnx={mlp}", "--shapes=x:3x8", f"--loadInputs=x:{f}"])
    assert p.returncode == 1 and "bytes" in p.stderr, explain(p)


# ---- kiln-cpu vs onnxruntime ----------------------------------------------------------------------

def kiln_run_outputs(cli, model, load, shapes, tmp_path, tag):
    out = tmp_path / f"kiln_{tag}.json"
    ku.run_cli(["run", f"--onnx={model}", f"--shapes={shapes}", f"--loadInputs={load}",
                f"--exportOutput={out}", "--iterations=1", "--duration=0", "--warmUp=0"], cli)
    return ku.read_export_output(str(out))


def test_kiln_cpu_vs_onnxruntime_passes_and_report_matches_numpy(kiln_cli, mlp, tmp_path):
    x = RNG.uniform(-1, 1, size=(3, 8)).astype(np.float32)
    load = ku.write_inputs({"x": x}, str(tmp_path / "in"))
    report = tmp_path / "report.json"
    p = compare(kiln_cli, [f"--onnx={mlp}", "--runners=kiln-cpu,onnxruntime", "--shapes=x:3x8",
                           f"--loadInputs={load}", f"--json={report}"])
    assert p.returncode == 0, explain(p)
    assert "PASSED" in p.stdout and "[PASS] y" in p.stdout and "[PASS] z" in p.stdout, explain(p)
    doc = json.loads(report.read_text())
    for key in ("model", "reference", "rtol", "atol", "seed", "markAll", "pass", "failing",
                "runners", "inputs", "comparisons"):
        assert key in doc, f"report lacks '{key}'"
    assert doc["pass"] is True and doc["failing"] == [] and doc["reference"] == "kiln-cpu"
    assert doc["rtol"] == 1e-5 and doc["atol"] == 1e-6
    assert [r["name"] for r in doc["runners"]] == ["kiln-cpu", "onnxruntime"]
    assert all(r["status"] == "ran" for r in doc["runners"])
    assert doc["inputs"] == [{"name": "x", "dtype": "float32", "shape": [3, 8], "source": "file",
                              "file": load.split(":", 1)[1]}]
    (cmp,) = doc["comparisons"]
    assert cmp["runner"] == "onnxruntime" and cmp["pass"] is True and cmp["firstMismatch"] is None
    assert [t["name"] for t in cmp["tensors"]] == ["y", "z"]

    # Independent: Kiln's values from `kiln run`, onnxruntime's from this process.
    kiln = kiln_run_outputs(kiln_cli, mlp, load, "x:3x8", tmp_path, "mlp")
    ort = ku.ort_reference(mlp, {"x": x})
    for t in cmp["tensors"]:
        a = ort[t["name"]].astype(np.float64)        # the compared runner: onnxruntime
        # The reference, kiln-cpu: %.9g text rounds back to the exact float32 values.
        b = kiln[t["name"]].reshape(a.shape).astype(np.float32).astype(np.float64)
        err = np.abs(a - b)
        assert t["status"] == "PASS" and t["failing"] == 0
        assert t["dtype"] == "float32" and t["shape"] == [3, 8] and t["count"] == 24
        assert t["maxAbsError"] == pytest.approx(err.max(), rel=1e-7, abs=1e-15)
        assert t["meanAbsError"] == pytest.approx(err.mean(), rel=1e-7, abs=1e-15)
        cos = np.dot(a.ravel(), b.ravel()) / np.sqrt(np.dot(a.ravel(), a.ravel()) *
                                                      np.dot(b.ravel(), b.ravel()))
        assert t["cosineSimilarity"] == pytest.approx(cos, abs=1e-12)
        assert sum(t["histogram"]["counts"]) + t["histogram"]["nonFinite"] == 24


def test_zero_tolerance_outcome_matches_exact_equality(kiln_cli, mlp, tmp_path):
    """--rtol=0 --atol=0 passes exactly when every value is bit-identical (judged here)."""
    x = RNG.uniform(-3, 3, size=(4, 8)).astype(np.float32)
    load = ku.write_inputs({"x": x}, str(tmp_path / "in"))
    p = compare(kiln_cli, [f"--onnx={mlp}", "--runners=kiln-cpu,onnxruntime", "--shapes=x:4x8",
                           f"--loadInputs={load}", "--rtol=0", "--atol=0"])
    kiln = kiln_run_outputs(kiln_cli, mlp, load, "x:4x8", tmp_path, "zero")
    ort = ku.ort_reference(mlp, {"x": x})
    differing = [n for n in ("y", "z")
                 if not np.array_equal(kiln[n].reshape(ort[n].shape).astype(np.float32), ort[n])]
    if differing:
        assert p.returncode == 1, explain(p)
        summary = [line for line in p.stdout.splitlines() if line.startswith("FAILED")]
        assert summary, explain(p)
        for n in differing:
            assert f"{n} (onnxruntime)" in summary[0]
    else:
        assert p.returncode == 0, explain(p)


def test_integer_and_bool_inputs_are_valid(kiln_cli, tmp_path):
    """Random int64 inputs stay valid indices (small non-negative range) and bools are 0/1:
    Gather by a random index input and Where on a random bool input agree with onnxruntime."""
    table = RNG.uniform(-1, 1, size=(6, 3)).astype(np.float32)
    nodes = [helper.make_node("Gather", ["table", "idx"], ["g"], axis=0, name="gather"),
             helper.make_node("Where", ["cond", "g", "zero"], ["y"], name="where")]
    inits = [numpy_helper.from_array(table, "table"),
             numpy_helper.from_array(np.array(0, np.float32), "zero")]
    model = save(tmp_path, "gather_where", nodes,
                 [vi("idx", [2, 5], TensorProto.INT64), vi("cond", [2, 5, 3], TensorProto.BOOL)],
                 [vi("y", [2, 5, 3])], inits)
    report = tmp_path / "r.json"
    p = compare(kiln_cli, [f"--onnx={model}", "--runners=kiln-cpu,onnxruntime", "--seed=7",
                           "--rtol=0", "--atol=0", f"--json={report}"])
    assert p.returncode == 0, explain(p)
    doc = json.loads(report.read_text())
    assert [(i["name"], i["dtype"], i["source"]) for i in doc["inputs"]] == \
        [("idx", "int64", "random"), ("cond", "bool", "random")]
    assert doc["comparisons"][0]["tensors"][0]["maxAbsError"] == 0


def test_data_dependent_outputs_are_compared(kiln_cli, tmp_path):
    """NonZero of a random input: its output shape depends on the data; the kiln-cpu runner
    places it through an output allocator and it equals onnxruntime's exactly."""
    nodes = [helper.make_node("Greater", ["x", "zero"], ["pos"], name="gt"),
             helper.make_node("NonZero", ["pos"], ["nz"], name="nonzero")]
    inits = [numpy_helper.from_array(np.array(0, np.float32), "zero")]
    model = save(tmp_path, "nonzero", nodes, [vi("x", [3, 5])],
                 [vi("nz", [2, "n"], TensorProto.INT64)], inits)
    report = tmp_path / "r.json"
    p = compare(kiln_cli, [f"--onnx={model}", "--runners=kiln-cpu,onnxruntime", "--seed=3",
                           "--rtol=0", "--atol=0", f"--json={report}"])
    assert p.returncode == 0, explain(p)
    doc = json.loads(report.read_text())
    tensor = doc["comparisons"][0]["tensors"][0]
    assert tensor["name"] == "nz" and tensor["maxAbsError"] == 0, tensor


# ---- the broken plugin: failures, statistics, histogram, --markAll ---------------------------------

def run_broken_elementwise(cli, model, lib, tmp_path, x, extra=()):
    load = ku.write_inputs({"x": x}, str(tmp_path / "in"))
    report = tmp_path / "report.json"
    p = compare(cli, [f"--onnx={model}", "--runners=onnxruntime,kiln-cpu", "--preferPlugins",
                      f"--plugins={lib}", f"--loadInputs={load}", f"--json={report}",
                      *extra])
    doc = json.loads(report.read_text()) if report.exists() else None
    return p, doc


def test_broken_layer_fails_with_statistics_and_histogram_of_numpy(kiln_cli, elementwise,
                                                                   broken_lib, tmp_path):
    x = RNG.uniform(-1, 1.5, size=(5, 8)).astype(np.float32)
    p, doc = run_broken_elementwise(kiln_cli, elementwise, broken_lib, tmp_path, x,
                                    ["--histogram"])
    assert p.returncode == 1, explain(p)
    summary = [line for line in p.stdout.splitlines() if line.startswith("FAILED")]
    assert summary and "y (kiln-cpu)" in summary[0] and "z (" not in summary[0], explain(p)
    assert "|a-b| histogram (10 buckets)" in p.stdout
    assert doc["pass"] is False and doc["failing"] == ["y (kiln-cpu)"]
    assert doc["reference"] == "onnxruntime"
    (cmp,) = doc["comparisons"]
    y, z = cmp["tensors"]
    assert (y["name"], y["status"], z["name"], z["status"]) == ("y", "FAIL", "z", "PASS")

    # numpy replica, float32 op by op: b = onnxruntime (reference), a = Kiln with the bad Relu.
    s = x + B
    b = (np.maximum(s, np.float32(0)) * C).astype(np.float64)
    a = (broken_relu(s) * C).astype(np.float64)
    err = np.abs(a - b)
    tol = 1e-6 + 1e-5 * np.abs(b)
    rel = err / np.maximum(np.abs(b), np.finfo(np.float32).tiny)
    assert y["count"] == 40
    assert y["failing"] == int(np.sum(err > tol)) > 0
    assert y["maxAbsError"] == pytest.approx(err.max(), rel=1e-8)
    assert y["meanAbsError"] == pytest.approx(err.mean(), rel=1e-8)
    assert y["maxRelError"] == pytest.approx(rel.max(), rel=1e-8)
    assert y["meanRelError"] == pytest.approx(rel.mean(), rel=1e-8)
    cos = np.dot(a.ravel(), b.ravel()) / np.linalg.norm(a) / np.linalg.norm(b)
    assert y["cosineSimilarity"] == pytest.approx(cos, abs=1e-12)
    worst = int(np.argmax(err / tol))
    assert y["worst"]["flatIndex"] == worst
    assert y["worst"]["index"] == [worst // 8, worst % 8]
    assert y["worst"]["value"] == pytest.approx(a.flat[worst], rel=1e-8)
    assert y["worst"]["reference"] == pytest.approx(b.flat[worst], rel=1e-8)
    counts, edges = np.histogram(err, bins=10)
    assert y["histogram"]["counts"] == counts.tolist()
    assert y["histogram"]["edges"] == pytest.approx(edges.tolist(), rel=1e-8, abs=1e-15)
    assert y["histogram"]["nonFinite"] == 0
    # The printed histogram shows the same counts, one line per bucket.
    block = p.stdout.split("[FAIL] y", 1)[1].split("|a-b| histogram", 1)[1].splitlines()[1:11]
    printed = [int(re.search(r"[)\]]\s+(\d+)", line).group(1)) for line in block]
    assert printed == counts.tolist(), "\n".join(block)

    # Loose enough for the 0.001 error: the same run passes.
    p2, doc2 = run_broken_elementwise(kiln_cli, elementwise, broken_lib, tmp_path / "loose", x,
                                      ["--atol=0.01"])
    assert p2.returncode == 0, explain(p2)
    assert doc2["pass"] is True and "PASSED" in p2.stdout


def test_nan_matches_only_nan(kiln_cli, elementwise, broken_lib, tmp_path):
    """The fixture maps NaN to 0; onnxruntime's Relu keeps NaN (read from onnxruntime here). NaN
    in both runners (z = -NaN) matches; infinities match the same infinity."""
    x = RNG.uniform(-1, 1.5, size=(5, 8)).astype(np.float32)
    x[0, 0] = np.nan
    x[1, 1] = np.inf
    x[2, 2] = -np.inf
    p, doc = run_broken_elementwise(kiln_cli, elementwise, broken_lib, tmp_path, x,
                                    ["--atol=0.01", "--histogram"])
    ort_y = ku.ort_reference(elementwise, {"x": x})["y"]
    y, z = doc["comparisons"][0]["tensors"]
    assert z["status"] == "PASS" and z["nanMismatches"] == 0, z   # -NaN vs -NaN, -inf vs -inf
    if np.isnan(ort_y[0, 0]):
        assert y["status"] == "FAIL" and y["nanMismatches"] == 1 and y["failing"] == 1, y
        assert y["maxAbsError"] == float("inf") and y["histogram"]["nonFinite"] == 1
        assert y["worst"]["index"] == [0, 0]
        assert p.returncode == 1, explain(p)
    else:
        assert y["status"] == "PASS" and p.returncode == 0, explain(p)


def test_mark_all_names_the_broken_relu_first(kiln_cli, mlp, broken_lib, tmp_path):
    report = tmp_path / "r.json"
    p = compare(kiln_cli, [f"--onnx={mlp}", "--runners=onnxruntime,kiln-cpu", "--markAll",
                           "--preferPlugins", f"--plugins={broken_lib}", "--shapes=x:4x8",
                           "--seed=3", f"--json={report}"])
    assert p.returncode == 1, explain(p)
    assert "first mismatch: tensor 'h' produced by ONNX node 'relu1' (Relu)" in p.stdout, \
        explain(p)
    doc = json.loads(report.read_text())
    (cmp,) = doc["comparisons"]
    assert cmp["firstMismatch"] == {"tensor": "h", "node": "relu1", "op": "Relu"}
    status = {t["name"]: t["status"] for t in cmp["tensors"]}
    # Every node output, in node order; those before the Relu and the branch beside it pass.
    assert [t["name"] for t in cmp["tensors"]] == ["m", "s", "h", "y", "z"]
    assert [(t["node"], t["op"]) for t in cmp["tensors"]] == \
        [("matmul", "MatMul"), ("add", "Add"), ("relu1", "Relu"), ("scale", "Mul"),
         ("sig", "Sigmoid")]
    assert status == {"m": "PASS", "s": "PASS", "h": "FAIL", "y": "FAIL", "z": "PASS"}
    assert [t["isOutput"] for t in cmp["tensors"]] == [False, False, False, True, True]
    assert cmp["notCompared"] == []

    # The same model without the plugin: everything matches.
    p = compare(kiln_cli, [f"--onnx={mlp}", "--runners=onnxruntime,kiln-cpu", "--markAll",
                           "--shapes=x:4x8", "--seed=3"])
    assert p.returncode == 0, explain(p)
    assert "first mismatch" not in p.stdout and p.stdout.count("[PASS]") == 5, explain(p)


def test_mark_all_skips_constants_and_lists_tensors_not_compared(kiln_cli, tmp_path):
    """Constant nodes are not compared. A Shape -> Gather -> Concat -> Reshape chain: Kiln's
    parser may fold it, in which case its tensors are listed as not compared."""
    nodes = [helper.make_node("Shape", ["x"], ["shp"], name="shape"),
             helper.make_node("Constant", [], ["idx"], name="const_idx",
                              value=numpy_helper.from_array(np.array([0], np.int64))),
             helper.make_node("Gather", ["shp", "idx"], ["b0"], axis=0, name="gather"),
             helper.make_node("Constant", [], ["m1"], name="const_m1",
                              value=numpy_helper.from_array(np.array([-1], np.int64))),
             helper.make_node("Concat", ["b0", "m1"], ["newshape"], axis=0, name="concat"),
             helper.make_node("Reshape", ["x", "newshape"], ["r"], name="reshape"),
             helper.make_node("Softmax", ["r"], ["y"], axis=-1, name="softmax")]
    model = save(tmp_path, "shape_chain", nodes, [vi("x", [2, 3, 4])], [vi("y", [2, 12])])
    report = tmp_path / "r.json"
    p = compare(kiln_cli, [f"--onnx={model}", "--runners=kiln-cpu,onnxruntime", "--markAll",
                           f"--json={report}"])
    assert p.returncode == 0, explain(p)
    cmp = json.loads(report.read_text())["comparisons"][0]
    compared = [t["name"] for t in cmp["tensors"]]
    skipped = [t["name"] for t in cmp["notCompared"]]
    assert "idx" not in compared + skipped and "m1" not in compared + skipped
    assert sorted(compared + skipped) == sorted(["shp", "b0", "newshape", "r", "y"])
    assert compared[-2:] == ["r", "y"]
    for t in cmp["notCompared"]:
        assert "not produced by kiln-cpu" in t["reason"], t
    if skipped:
        assert "not compared" in p.stdout


# ---- the onnxruntime runner unavailable --------------------------------------------------------------

def test_missing_runner_script_explicit_is_an_error(kiln_cli, mlp):
    p = compare(kiln_cli, [f"--onnx={mlp}", "--runners=kiln-cpu,onnxruntime"],
                {"KILN_ORT_RUNNER": "/nonexistent"})
    assert p.returncode == 1, explain(p)
    assert "/nonexistent" in p.stderr and "pip install onnxruntime" in p.stderr, explain(p)


def test_missing_runner_script_default_is_a_warning(kiln_cli, mlp):
    p = compare(kiln_cli, [f"--onnx={mlp}"], {"KILN_ORT_RUNNER": "/nonexistent"})
    assert "kiln: warning: skipping the onnxruntime runner" in p.stderr, explain(p)
    assert "pip install onnxruntime" in p.stderr
    assert "kiln: error" not in p.stderr.split("skipping the onnxruntime runner")[0]
    if "Running kiln-cuda" in p.stdout:  # a CUDA build on a GPU: two runners remain
        assert p.returncode == 0, explain(p)
    else:
        assert p.returncode == 1 and "nothing to compare" in p.stderr, explain(p)


def test_missing_python_interpreter(kiln_cli, mlp):
    p = compare(kiln_cli, [f"--onnx={mlp}", "--runners=kiln-cpu,onnxruntime"],
                {"KILN_PYTHON": "/nonexistent/python3"})
    assert p.returncode == 1, explain(p)
    assert "/nonexistent/python3" in p.stderr and "pip install onnxruntime" in p.stderr


def test_missing_onnxruntime_package(kiln_cli, mlp, tmp_path):
    """A python3 whose `import onnxruntime` fails: the helper exits 3 and kiln says how to
    install it."""
    fake = tmp_path / "fake" / "onnxruntime"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('simulated: no onnxruntime')\n")
    env = {"PYTHONPATH": str(tmp_path / "fake")}
    p = compare(kiln_cli, [f"--onnx={mlp}", "--runners=kiln-cpu,onnxruntime"], env)
    assert p.returncode == 1, explain(p)
    assert "onnxruntime is not installed" in p.stderr and "pip install onnxruntime" in p.stderr
    p = compare(kiln_cli, [f"--onnx={mlp}", "--runners=onnxruntime,kiln-cpu"], env)
    assert p.returncode == 1 and "runner onnxruntime is unavailable" in p.stderr, explain(p)


def test_explicit_onnxruntime_failure_on_the_model_is_an_error(kiln_cli, tmp_path):
    """A model onnxruntime refuses (a value_info type contradicting the op) named in
    --runners: exit 1 with onnxruntime's failure."""
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu"),
             helper.make_node("Neg", ["a"], ["y"], name="neg")]
    graph = helper.make_graph(nodes, "g", [vi("x", [4])], [vi("y", [4])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    model.graph.value_info.append(vi("a", [4], TensorProto.INT64))  # ORT rejects the type
    path = tmp_path / "bad_for_ort.onnx"
    onnx.save(model, str(path))
    p = compare(kiln_cli, [f"--onnx={path}", "--runners=kiln-cpu,onnxruntime"])
    assert p.returncode == 1 and "onnxruntime failed" in p.stderr, explain(p)


def test_runner_drops_outputs_onnxruntime_refuses(monkeypatch):
    """ort_runner.session_with_outputs: with every node output added, a model onnxruntime
    refuses is retried output by output and the refused ones are reported as skipped."""
    sys.path.insert(0, os.path.dirname(RUNNER_SCRIPT))
    try:
        import ort_runner
    finally:
        sys.path.pop(0)
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Neg", ["a"], ["b"]),
             helper.make_node("Abs", ["b"], ["y"])]
    graph = helper.make_graph(nodes, "g", [vi("x", [3])], [vi("y", [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    added, skipped, node_list = ort_runner.add_all_outputs(model)
    assert added == ["a", "b"] and skipped == []
    assert [n["name"] for n in node_list] == ["Relu_0", "Neg_1", "Abs_2"]

    def fake_session(_ort, model_bytes):
        m = onnx.load_from_string(model_bytes)
        if "b" in [o.name for o in m.graph.output]:
            raise RuntimeError("simulated refusal of 'b'")
        return [o.name for o in m.graph.output]

    monkeypatch.setattr(ort_runner, "make_session", fake_session)
    sess, dropped = ort_runner.session_with_outputs(None, model, added)
    assert sess == ["y", "a"]
    assert [n for n, _ in dropped] == ["b"] and "simulated refusal" in dropped[0][1]
