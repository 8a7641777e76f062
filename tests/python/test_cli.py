"""Tests of the `kiln` command-line tool (docs/cli.md): flags, errors, and end-to-end runs of a
tiny model generated here with onnx.helper, checked against numpy.

The CLI path comes from $KILN_CLI (set by ctest), else the newest build*/bin/kiln.
"""
import json
import os
import subprocess

import numpy as np
import pytest

import kiln_testutil as ku

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

# The tiny model: y = relu(x @ W + b), x: float32[batch, 4], W: [4, 3], b: [3];
# z = x * 2 (a second output).
RNG = np.random.default_rng(1234)
W = RNG.uniform(-1, 1, size=(4, 3)).astype(np.float32)
B = RNG.uniform(-1, 1, size=(3,)).astype(np.float32)


def reference(x):
    """float64 numpy reference of the tiny model."""
    x64 = x.astype(np.float64)
    y = np.maximum(x64 @ W.astype(np.float64) + B.astype(np.float64), 0.0)
    return {"y": y, "z": x64 * 2.0}


def run(cli, args, timeout=120):
    return subprocess.run([cli] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout)


def assert_failed(proc, *needles):
    """Non-zero exit without a crash, and every needle in stderr."""
    assert proc.returncode not in (0,), f"expected failure, got 0\n{proc.stdout}\n{proc.stderr}"
    # A signal (crash) shows as a negative return code in subprocess.
    assert proc.returncode > 0, f"crashed with signal {-proc.returncode}\n{proc.stderr}"
    for n in needles:
        assert n in proc.stderr, f"'{n}' not in stderr:\n{proc.stderr}"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return ku.save_tiny_cli_model(tmp_path_factory.mktemp("cli_model") / "tiny.onnx", W, B)


@pytest.fixture(scope="module")
def tiny_plan(kiln_cli, tiny_model, tmp_path_factory):
    """tiny.onnx built with a profile batch 1..4 (opt 2)."""
    plan = str(tmp_path_factory.mktemp("cli_plan") / "tiny.plan")
    ku.run_cli(["build", f"--onnx={tiny_model}", "--minShapes=x:1x4", "--optShapes=x:2x4",
                "--maxShapes=x:4x4", f"--saveEngine={plan}"], kiln_cli)
    assert os.path.getsize(plan) > 8
    return plan


FAST = ["--iterations=1", "--duration=0", "--warmUp=0"]

# ---- help, version, usage errors (no model needed) ----------------------------------------------

RUN_FLAGS = ["--onnx", "--saveEngine", "--minShapes", "--optShapes", "--maxShapes", "--shapes",
             "--fp16", "--memPoolSize", "--device", "--verbose", "--loadEngine", "--loadInputs",
             "--exportOutput", "--iterations", "--warmUp", "--duration", "--skipInference",
             "--exportTimes", "--useCudaGraph", "--noDataTransfers", "--streams", "--useSpinWait",
             "--help"]


def test_main_help_lists_commands(kiln_cli):
    p = run(kiln_cli, ["--help"])
    assert p.returncode == 0
    for cmd in ("build", "run", "inspect"):
        assert cmd in p.stdout


def test_run_help_lists_every_flag(kiln_cli):
    p = run(kiln_cli, ["run", "--help"])
    assert p.returncode == 0, p.stderr
    missing = [f for f in RUN_FLAGS if f not in p.stdout]
    assert not missing, f"run --help lacks {missing}"


def test_build_and_inspect_help(kiln_cli):
    b = run(kiln_cli, ["build", "-h"])
    assert b.returncode == 0
    for f in ("--onnx", "--saveEngine", "--minShapes", "--fp16", "--memPoolSize", "--device"):
        assert f in b.stdout
    assert "--loadInputs" not in b.stdout  # a run flag
    i = run(kiln_cli, ["inspect", "--help"])
    assert i.returncode == 0
    assert "--json" in i.stdout


def test_version(kiln_cli):
    p = run(kiln_cli, ["--version"])
    assert p.returncode == 0
    assert p.stdout.startswith("kiln 0.")


def test_no_arguments_is_usage_error(kiln_cli):
    p = run(kiln_cli, [])
    assert p.returncode == 2
    assert "Usage" in p.stderr


@pytest.mark.parametrize("cmd", [["build"], ["run"], ["inspect"], []])
def test_unknown_flag(kiln_cli, cmd):
    p = run(kiln_cli, cmd + ["--bogusFlag=1"])
    assert_failed(p, "--bogusFlag", "--help")
    assert p.returncode == 2


def test_unknown_flag_suggests(kiln_cli):
    p = run(kiln_cli, ["build", "--saveEngin=x.plan"])
    assert_failed(p, "did you mean --saveEngine")


def test_unknown_command(kiln_cli):
    assert_failed(run(kiln_cli, ["frobnicate"]), "frobnicate")


@pytest.mark.parametrize("args, needle", [
    (["build", "--onnx=m.onnx", "--minShapes=x:1x-3"], "-3"),
    (["build", "--onnx=m.onnx", "--shapes=1x3"], "1x3"),
    (["build", "--onnx=m.onnx", "--memPoolSize=workspace:lots"], "lots"),
    (["build", "--onnx=m.onnx", "--memPoolSize=dlaSRAM:1M"], "dlaSRAM"),
    (["run", "--loadEngine=m.plan", "--iterations=0"], "--iterations"),
    (["run", "--loadEngine=m.plan", "--duration=-1"], "--duration"),
    (["run", "--loadEngine=m.plan", "--loadInputs=x.bin"], "--loadInputs"),
    (["run", "--loadEngine=m.plan", "--device=tpu"], "tpu"),
    (["run", "--loadEngine=m.plan", "--streams=0"], "--streams"),
    (["run", "--loadEngine=m.plan", "--streams=two"], "--streams"),
    (["run"], "--onnx"),
    (["run", "--onnx=a.onnx", "--loadEngine=b.plan"], "exactly one"),
    (["build"], "--onnx"),
    (["inspect"], "inspect"),
    (["build", "--onnx"], "needs a value"),
])
def test_bad_values_are_usage_errors(kiln_cli, args, needle):
    p = run(kiln_cli, args)
    assert_failed(p, needle)
    assert p.returncode == 2


def test_device_cuda_without_cuda_backend(kiln_cli, tmp_path):
    if "cuda" in run(kiln_cli, ["--version"]).stdout:
        pytest.skip("this build has the CUDA backend")
    p = run(kiln_cli, ["build", "--onnx=m.onnx", "--device=cuda"])
    assert_failed(p, "no CUDA backend")
    assert p.returncode == 1  # the build lacks something; not a usage error
    p = run(kiln_cli, ["run", "--onnx=m.onnx", "--device=cuda", "--useCudaGraph"])
    assert_failed(p, "no CUDA backend")
    assert p.returncode == 1


@pytest.mark.parametrize("cmd", [["build", "--onnx"], ["run", "--onnx"], ["run", "--loadEngine"],
                                 ["inspect"]])
def test_missing_file(kiln_cli, tmp_path, cmd):
    path = str(tmp_path / "does_not_exist.onnx")
    p = run(kiln_cli, cmd + [path])  # also exercises the "--flag value" spelling
    assert_failed(p, "does_not_exist.onnx", "does not exist")


@pytest.mark.parametrize("cmd", [["build", "--onnx"], ["run", "--loadEngine"], ["inspect"]])
def test_garbage_file(kiln_cli, tmp_path, cmd):
    path = tmp_path / "garbage.bin"
    path.write_bytes(bytes(range(256)) * 7)
    p = run(kiln_cli, cmd + [str(path)])
    assert_failed(p, "kiln: error:")


def test_truncated_plan(kiln_cli, tmp_path):
    path = tmp_path / "truncated.plan"
    path.write_bytes(b"KILNPLAN\x01\x00")
    for cmd in (["inspect"], ["run", "--loadEngine"]):
        assert_failed(run(kiln_cli, cmd + [str(path)]), "kiln: error:")


def test_kebab_case_spelling_accepted(kiln_cli, tmp_path):
    # The flags are known (no usage error); the failure is the missing model.
    p = run(kiln_cli, ["build", "--onnx", str(tmp_path / "nope.onnx"), "--save-engine",
                       str(tmp_path / "x.plan"), "--mem-pool-size=workspace:1G",
                       "--min-shapes=x:1x4"])
    assert_failed(p, "does not exist")
    assert p.returncode == 1


# ---- end to end on the tiny model --------------------------------------------------------------


def test_run_onnx_matches_numpy(kiln_cli, tiny_model, tmp_path):
    x = np.random.default_rng(7).uniform(-2, 2, size=(3, 4)).astype(np.float32)
    load = ku.write_inputs({"x": x}, str(tmp_path))
    out = tmp_path / "out.json"
    p = ku.run_cli(["run", f"--onnx={tiny_model}", "--shapes=x:3x4", f"--loadInputs={load}",
                    f"--exportOutput={out}"] + FAST, kiln_cli)
    assert "Throughput:" in p.stdout
    doc = json.loads(out.read_text())
    assert [e["name"] for e in doc] == ["y", "z"]
    assert doc[0]["dimensions"] == "3x3"
    got = ku.read_export_output(str(out))
    ref = reference(x)
    for name in ("y", "z"):
        np.testing.assert_allclose(got[name], ref[name], rtol=1e-5, atol=1e-6, err_msg=name)
    # z = 2x is exact in float32, and %.9g round-trips float32 exactly.
    assert np.array_equal(got["z"].astype(np.float32), (x * 2).astype(np.float32))


def test_trtexec_style_without_subcommand(kiln_cli, tiny_model, tmp_path):
    out = tmp_path / "out.json"
    ku.run_cli([f"--onnx={tiny_model}", "--shapes=x:2x4", f"--exportOutput={out}"] + FAST,
               kiln_cli)
    got = ku.read_export_output(str(out))
    assert got["y"].shape == (2, 3)
    assert np.all(got["y"] >= 0)


def test_random_inputs_are_reproducible_and_in_range(kiln_cli, tiny_model, tmp_path):
    outs = []
    for i in range(2):
        out = tmp_path / f"out{i}.json"
        ku.run_cli(["run", f"--onnx={tiny_model}", "--shapes=x:4x4", f"--exportOutput={out}"]
                   + FAST, kiln_cli)
        outs.append(ku.read_export_output(str(out)))
    assert np.array_equal(outs[0]["z"], outs[1]["z"])
    x = outs[0]["z"] / 2  # z = 2x recovers the random input
    assert np.all(np.abs(x) <= 1.0) and np.std(x) > 0.1
    np.testing.assert_allclose(outs[0]["y"], reference(x.astype(np.float32))["y"], rtol=1e-5,
                               atol=1e-6)


def test_dynamic_input_without_shapes_defaults_to_one(kiln_cli, tiny_model, tmp_path):
    out = tmp_path / "out.json"
    p = ku.run_cli(["run", f"--onnx={tiny_model}", f"--exportOutput={out}"] + FAST, kiln_cli)
    assert "dynamic" in p.stderr and "warning" in p.stderr
    assert ku.read_export_output(str(out))["y"].shape == (1, 3)


def test_plan_round_trip_identical(kiln_cli, tiny_model, tiny_plan, tmp_path):
    x = np.random.default_rng(8).uniform(-1, 1, size=(4, 4)).astype(np.float32)
    load = ku.write_inputs({"x": x}, str(tmp_path))
    direct, loaded = tmp_path / "direct.json", tmp_path / "loaded.json"
    ku.run_cli(["run", f"--onnx={tiny_model}", "--minShapes=x:1x4", "--optShapes=x:2x4",
                "--maxShapes=x:4x4", "--shapes=x:4x4", f"--loadInputs={load}",
                f"--exportOutput={direct}"] + FAST, kiln_cli)
    ku.run_cli(["run", f"--loadEngine={tiny_plan}", "--shapes=x:4x4", f"--loadInputs={load}",
                f"--exportOutput={loaded}"] + FAST, kiln_cli)
    a, b = ku.read_export_output(str(direct)), ku.read_export_output(str(loaded))
    for name in ("y", "z"):
        assert np.array_equal(a[name], b[name]), name
    np.testing.assert_allclose(b["y"], reference(x)["y"], rtol=1e-5, atol=1e-6)


def test_loaded_plan_uses_opt_shape_by_default(kiln_cli, tiny_plan, tmp_path):
    out = tmp_path / "out.json"
    ku.run_cli(["run", f"--loadEngine={tiny_plan}", f"--exportOutput={out}"] + FAST, kiln_cli)
    assert ku.read_export_output(str(out))["y"].shape == (2, 3)  # opt = 2x4


def test_resave_loaded_plan(kiln_cli, tiny_plan, tmp_path):
    copy = tmp_path / "copy.plan"
    ku.run_cli(["run", f"--loadEngine={tiny_plan}", f"--saveEngine={copy}", "--skipInference"],
               kiln_cli)
    assert copy.read_bytes() == open(tiny_plan, "rb").read()


def test_load_inputs_wrong_size(kiln_cli, tiny_plan, tmp_path):
    bad = tmp_path / "x.bin"
    np.zeros((2, 3), dtype=np.float32).tofile(bad)  # 24 bytes; 2x4 float32 needs 32
    p = run(kiln_cli, ["run", f"--loadEngine={tiny_plan}", "--shapes=x:2x4",
                       f"--loadInputs=x:{bad}"] + FAST)
    assert_failed(p, "24 bytes", "expected 32", "'x'")


def test_load_inputs_unknown_input(kiln_cli, tiny_plan, tmp_path):
    f = tmp_path / "q.bin"
    f.write_bytes(b"\0" * 8)
    p = run(kiln_cli, ["run", f"--loadEngine={tiny_plan}", f"--loadInputs=q:{f}"] + FAST)
    assert_failed(p, "'q'", "'x'")


def test_shape_outside_profile(kiln_cli, tiny_plan):
    p = run(kiln_cli, ["run", f"--loadEngine={tiny_plan}", "--shapes=x:8x4"] + FAST)
    assert_failed(p, "'x'", "8x4")


def test_shape_with_wrong_static_dim(kiln_cli, tiny_model):
    p = run(kiln_cli, ["build", f"--onnx={tiny_model}", "--shapes=x:2x5"])
    assert_failed(p, "'x'", "2x5")


def test_shapes_for_unknown_input(kiln_cli, tiny_model):
    p = run(kiln_cli, ["build", f"--onnx={tiny_model}", "--shapes=nope:2x4"])
    assert_failed(p, "'nope'", "'x'")


def test_profile_min_greater_than_max(kiln_cli, tiny_model):
    p = run(kiln_cli, ["build", f"--onnx={tiny_model}", "--minShapes=x:4x4",
                       "--optShapes=x:2x4", "--maxShapes=x:3x4"])
    assert_failed(p, "min <= opt <= max")


def test_onnx_flag_given_a_plan(kiln_cli, tiny_plan):
    assert_failed(run(kiln_cli, ["build", f"--onnx={tiny_plan}"]), "--loadEngine")


def test_unsupported_op_lists_parser_errors(kiln_cli, tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    nodes = [helper.make_node("NoSuchOp", ["x"], ["t"], name="n1", domain="com.example"),
             helper.make_node("AlsoMissing", ["t"], ["y"], name="n2", domain="com.example")]
    model = helper.make_model(helper.make_graph(nodes, "bad", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17),
                                             helper.make_opsetid("com.example", 1)])
    path = tmp_path / "bad.onnx"
    onnx.save(model, str(path))
    p = run(kiln_cli, ["build", f"--onnx={path}"])
    assert_failed(p, "n1", "n2", "NoSuchOp", "AlsoMissing")


def test_export_times_and_iterations(kiln_cli, tiny_plan, tmp_path):
    times = tmp_path / "times.json"
    p = ku.run_cli(["run", f"--loadEngine={tiny_plan}", "--iterations=25", "--duration=0",
                    "--warmUp=0", f"--exportTimes={times}"], kiln_cli)
    doc = json.loads(times.read_text())
    assert len(doc) >= 25
    for t in doc:
        assert t["latencyMs"] >= 0 and t["computeMs"] >= 0
        assert t["h2dMs"] == 0 and t["d2hMs"] == 0  # CPU backend: no transfers
    starts = [t["startComputeMs"] for t in doc]
    assert starts == sorted(starts)
    for label in ("Throughput:", "Latency: min =", "Enqueue Time:", "H2D Latency:",
                  "Compute Time:", "D2H Latency:", "Total Host Walltime:", "percentile(99%)"):
        assert label in p.stdout, label
    assert "no host-device transfers" in p.stdout


def test_gpu_flags_on_cpu_engine_warn_and_run(kiln_cli, tiny_plan, tmp_path):
    """--useCudaGraph & co. are GPU-only: with a CPU engine they are ignored with a warning."""
    out, times = tmp_path / "out.json", tmp_path / "times.json"
    p = ku.run_cli(["run", f"--loadEngine={tiny_plan}", "--useCudaGraph", "--no-data-transfers",
                    "--streams=2", "--useSpinWait", f"--exportOutput={out}",
                    f"--exportTimes={times}", "--iterations=3", "--duration=0", "--warmUp=0"],
                   kiln_cli)
    assert "warning" in p.stderr and "ignored" in p.stderr
    for flag in ("--useCudaGraph", "--noDataTransfers", "--streams", "--useSpinWait"):
        assert flag in p.stderr, flag
    assert "Throughput:" in p.stdout and "no host-device transfers" in p.stdout
    assert ku.read_export_output(str(out))["y"].shape == (2, 3)
    doc = json.loads(times.read_text())
    assert len(doc) >= 3
    for t in doc:
        assert 0 <= t["startMs"] <= t["endMs"]
        assert "stream" not in t  # one stream on the CPU
    # Without GPU flags there is no such warning.
    q = ku.run_cli(["run", f"--loadEngine={tiny_plan}"] + FAST, kiln_cli)
    assert "ignored" not in q.stderr


def test_duration_runs_at_least_that_long(kiln_cli, tiny_plan, tmp_path):
    times = tmp_path / "times.json"
    ku.run_cli(["run", f"--loadEngine={tiny_plan}", "--iterations=1", "--duration=0.3",
                "--warmUp=50", f"--exportTimes={times}"], kiln_cli)
    doc = json.loads(times.read_text())
    assert doc[-1]["endMs"] >= 300.0
    assert len(doc) > 1


def test_inspect_onnx(kiln_cli, tiny_model):
    p = ku.run_cli(["inspect", tiny_model], kiln_cli)
    assert "(ONNX)" in p.stdout
    assert "batch" in p.stdout  # symbolic dim name kept
    for layer in ("matmul", "relu", "double"):
        assert layer in p.stdout
    j = json.loads(ku.run_cli(["inspect", "--json", f"--onnx={tiny_model}"], kiln_cli).stdout)
    assert j["format"] == "onnx"
    assert [t["name"] for t in j["inputs"]] == ["x"]
    assert j["inputs"][0]["dtype"] == "float32"
    assert "batch" in j["inputs"][0]["shape"]
    assert [t["name"] for t in j["outputs"]] == ["y", "z"]
    types = [layer["type"] for layer in j["layers"]]
    assert "MatMul" in types and "Relu" in types
    relu = next(layer for layer in j["layers"] if layer["type"] == "Relu")
    assert relu["outputs"][0]["name"] == "y"


def test_inspect_plan(kiln_cli, tiny_plan):
    p = ku.run_cli(["inspect", tiny_plan], kiln_cli)
    assert "Kiln plan" in p.stdout
    assert "min 1x4, opt 2x4, max 4x4" in p.stdout
    j = json.loads(ku.run_cli(["inspect", tiny_plan, "--json"], kiln_cli).stdout)
    assert j["format"] == "plan"
    assert j["device"] == "cpu"
    assert j["profiles"][0]["x"] == {"min": "1x4", "opt": "2x4", "max": "4x4"}
    assert [t["name"] for t in j["outputs"]] == ["y", "z"]
    # The build report: MatMul + Add + Relu became one FusedMatMul that names them, in float32.
    assert "fused: matmul + add + relu" in p.stdout
    fused = [l for l in j["layerInformation"]["layers"] if l["type"] == "FusedMatMul"]
    assert len(fused) == 1, j["layerInformation"]
    assert fused[0]["fusedNodes"] == "matmul + add + relu"
    assert fused[0]["precision"] == "float32" and fused[0]["backend"] == "cpu"
    assert fused[0]["tactic"] == ""  # tactics are timed for GPU plans only


def test_int_bool_scalar_io(kiln_cli, tmp_path):
    """int64 inputs from a file, int64/bool/scalar outputs exported exactly."""
    table = np.arange(10, dtype=np.float32).reshape(5, 2) * 0.5
    nodes = [helper.make_node("Gather", ["table", "idx"], ["g"], axis=0, name="gather"),
             helper.make_node("Greater", ["x", "zero"], ["gt"], name="greater"),
             helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0, name="sum"),
             helper.make_node("Add", ["idx", "idx"], ["i2"], name="addi")]
    graph = helper.make_graph(
        nodes, "mixed",
        [helper.make_tensor_value_info("idx", TensorProto.INT64, [3]),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("g", TensorProto.FLOAT, [3, 2]),
         helper.make_tensor_value_info("gt", TensorProto.BOOL, [4]),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, []),
         helper.make_tensor_value_info("i2", TensorProto.INT64, [3])],
        [numpy_helper.from_array(table, "table"),
         numpy_helper.from_array(np.array(0, np.float32), "zero")])
    path = tmp_path / "mixed.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    idx = np.array([4, 0, 3], dtype=np.int64)
    x = np.array([0.5, -1.25, 2.0, -0.0], dtype=np.float32)
    load = ku.write_inputs({"idx": idx, "x": x}, str(tmp_path))
    out = tmp_path / "out.json"
    ku.run_cli(["run", f"--onnx={path}", f"--loadInputs={load}", f"--exportOutput={out}"] + FAST,
               kiln_cli)
    doc = {e["name"]: e for e in json.loads(out.read_text())}
    assert doc["g"]["dimensions"] == "3x2"
    assert doc["g"]["values"] == [4.0, 4.5, 0.0, 0.5, 3.0, 3.5]
    assert doc["gt"]["values"] == [1, 0, 1, 0]
    assert doc["s"]["dimensions"] == "" and doc["s"]["values"] == [1.25]
    assert doc["i2"]["values"] == [8, 0, 6]
    assert all(isinstance(v, int) for v in doc["i2"]["values"])
    # Random int64 inputs are in [0, 4): valid Gather indices into 5 rows.
    rnd = tmp_path / "rnd.json"
    ku.run_cli(["run", f"--onnx={path}", f"--exportOutput={rnd}"] + FAST, kiln_cli)
    i2 = next(e for e in json.loads(rnd.read_text()) if e["name"] == "i2")["values"]
    assert all(v in (0, 2, 4, 6) for v in i2)


def test_profile_reports_every_layer_in_order(kiln_cli, tiny_plan, tmp_path):
    """--exportProfile (trtexec's layout) lists every engine layer once, in execution order, from a
    separate profiling run of at least 10 iterations; --dumpProfile prints the same table."""
    prof = tmp_path / "profile.json"
    info = tmp_path / "layers.json"
    p = ku.run_cli(["run", f"--loadEngine={tiny_plan}", "--iterations=3", "--duration=0", "--warmUp=0",
                    "--dumpProfile", f"--exportProfile={prof}", f"--exportLayerInfo={info}",
                    "--separateProfileRun"], kiln_cli)
    doc = json.loads(prof.read_text())
    assert doc[0] == {"count": 10}
    layers = doc[1:]
    engine_layers = [l["name"] for l in json.loads(info.read_text())["layers"]]
    assert [l["name"] for l in layers] == engine_layers
    for l in layers:
        assert l["averageMs"] >= 0 and l["medianMs"] >= 0
        assert abs(l["timeMs"] - 10 * l["averageMs"]) <= 1e-6 * max(1.0, l["timeMs"])
    assert abs(sum(l["percentage"] for l in layers) - 100.0) < 1e-3
    assert "=== Profile (10 iterations) ===" in p.stdout
    for name in engine_layers:
        assert name in p.stdout


def test_layer_precisions_pin_layers(kiln_cli, tmp_path):
    """--layerPrecisions (trtexec's flag): with --fp16, a layer pinned to fp32 keeps float32
    outputs while the other compute layers run in float16 (layer information); fp16 without --fp16
    and an unknown layer name fail with a message that says what to do; @file works."""
    rng = np.random.default_rng(5)
    w1 = numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.standard_normal((8, 8)).astype(np.float32), "w2")
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="mm1"),
             helper.make_node("MatMul", ["h", "w2"], ["y"], name="mm2")]
    graph = helper.make_graph(nodes, "two_mm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])], [w1, w2])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "two_mm.onnx"
    onnx.save(model, str(path))

    def layer_types(extra):
        info = tmp_path / "layers.json"
        ku.run_cli(["run", f"--onnx={path}", "--fp16", "--iterations=1", "--duration=0", "--warmUp=0",
                    f"--exportLayerInfo={info}"] + extra, kiln_cli)
        layers = json.loads(info.read_text())["layers"]
        return {l["name"]: l["outputs"][0]["dtype"] for l in layers if l["type"] == "MatMul"}

    assert layer_types([]) == {"mm1": "float16", "mm2": "float16"}
    info = tmp_path / "best.json"  # --best (trtexec) allows float16 like --fp16
    ku.run_cli(["run", f"--onnx={path}", "--best", "--iterations=1", "--duration=0", "--warmUp=0",
                f"--exportLayerInfo={info}"], kiln_cli)
    assert {l["outputs"][0]["dtype"] for l in json.loads(info.read_text())["layers"]
            if l["type"] == "MatMul"} == {"float16"}
    assert layer_types(["--layerPrecisions=mm2:fp32"]) == {"mm1": "float16", "mm2": "float32"}
    spec = tmp_path / "prec.txt"
    spec.write_text("# first layer exact\nmm1:fp32\n")
    assert layer_types([f"--layerPrecisions=@{spec}"]) == {"mm1": "float32", "mm2": "float16"}
    p = run(kiln_cli, ["run", f"--onnx={path}", "--layerPrecisions=mm1:fp16"])
    assert_failed(p, "--fp16")
    p = run(kiln_cli, ["run", f"--onnx={path}", "--fp16", "--layerPrecisions=nosuch:fp32"])
    assert_failed(p, "no layer named 'nosuch'", "kiln inspect")
