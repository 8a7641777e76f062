"""Tests of `kiln debug precision` (docs/cli.md) on the CPU backend's float16 builds.

The model (built here with onnx.helper) has one layer that overflows float16 among harmless ones:

    x [4, 8] -> MatMul W1 (matmul1) -> Relu (relu1) -> Mul 1e5 (scale_up) -> Div 1e5 (scale_down)
             -> Add B (add_bias) -> MatMul W2 (matmul2) -> Tanh (tanh_out) -> y

In a float16 build the constant 1e5 is beyond float16's range (65504): scale_up gives inf (or
NaN for 0 * inf) and the output is ruined. Keeping scale_up in float32 keeps its output (up to
~1e5) in float32, and scale_down then follows its float32 input (Kiln's fp16 pass), so the pair
divides back to ordinary values. The search from the outputs back must name exactly scale_up.

Independent references: numpy computes y in float64; `kiln run --fp16` with the written
--layerPrecisions file must match it, and without the file must not (non-finite values).
"""
import json
import os
import subprocess

import numpy as np
import pytest

import kiln_testutil as ku

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

RNG = np.random.default_rng(77)
W1 = RNG.uniform(-1, 1, size=(8, 8)).astype(np.float32)
W2 = RNG.uniform(-0.5, 0.5, size=(8, 8)).astype(np.float32)
B = RNG.uniform(-0.5, 0.5, size=(8,)).astype(np.float32)
X = RNG.uniform(-1, 1, size=(4, 8)).astype(np.float32)
LAYERS = ["matmul1", "relu1", "scale_up", "scale_down", "add_bias", "matmul2", "tanh_out"]
TOL = ["--rtol=1e-2", "--atol=1e-2"]


explain = ku.explain


def debug(cli, args):
    return subprocess.run([cli, "debug", "precision"] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=ku.CLI_TIMEOUT_S)


def reference(x):
    h = np.maximum(x.astype(np.float64) @ W1.astype(np.float64), 0)
    h = h * 1e5 / 1e5 + B
    return np.tanh(h @ W2.astype(np.float64))


@pytest.fixture(scope="module")
def overflow_model(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dbgprec")
    big = np.array(1e5, np.float32)
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["m1"], name="matmul1"),
             helper.make_node("Relu", ["m1"], ["r1"], name="relu1"),
             helper.make_node("Mul", ["r1", "big"], ["up"], name="scale_up"),
             helper.make_node("Div", ["up", "big"], ["down"], name="scale_down"),
             helper.make_node("Add", ["down", "B"], ["s"], name="add_bias"),
             helper.make_node("MatMul", ["s", "W2"], ["m2"], name="matmul2"),
             helper.make_node("Tanh", ["m2"], ["y"], name="tanh_out")]
    inits = [numpy_helper.from_array(W1, "W1"), numpy_helper.from_array(W2, "W2"),
             numpy_helper.from_array(B, "B"), numpy_helper.from_array(big, "big")]
    graph = helper.make_graph(nodes, "overflow", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [4, 8])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [4, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = tmp / "overflow.onnx"
    onnx.save(model, str(path))
    load = ku.write_inputs({"x": X}, str(tmp))
    return str(path), load


def kiln_run_fp16(cli, model, load, tmp_path, extra=()):
    out = tmp_path / "out.json"
    ku.run_cli(["run", f"--onnx={model}", "--fp16", f"--loadInputs={load}",
                f"--exportOutput={out}", "--iterations=1", "--duration=0", "--warmUp=0",
                *extra], cli)
    return ku.read_export_output(str(out))["y"]


def test_fp16_build_without_pins_is_ruined(kiln_cli, overflow_model, tmp_path):
    # The premise: the plain float16 build overflows (else the search has nothing to find).
    model, load = overflow_model
    y = kiln_run_fp16(kiln_cli, model, load, tmp_path)
    assert not np.all(np.isfinite(y))


def test_names_exactly_the_overflowing_layer_and_the_file_fixes_the_build(
        kiln_cli, overflow_model, tmp_path):
    model, load = overflow_model
    prec = tmp_path / "prec.txt"
    report = tmp_path / "report.json"
    p = debug(kiln_cli, [f"--onnx={model}", f"--loadInputs={load}", f"--output={prec}",
                         f"--json={report}", *TOL])
    assert p.returncode == 0, explain(p)
    entries = [ln.strip() for ln in prec.read_text().splitlines()
               if ln.strip() and not ln.startswith("#")]
    assert entries == ["scale_up:fp32"], prec.read_text()
    # A progress line per build, numbered, with PASS/FAIL.
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("[")]
    assert lines[0].startswith("[0] float32 reference"), p.stdout
    assert "nothing pinned" in lines[1] and "FAIL" in lines[1], p.stdout
    assert "every layer pinned" in lines[2] and "PASS" in lines[2], p.stdout

    doc = json.loads(report.read_text())
    assert doc["status"] == "pass"
    assert doc["pinned"] == ["scale_up"]
    assert doc["layers"] == LAYERS
    assert doc["precision"] == "float16" and doc["device"] == "cpu"
    assert doc["direction"] == "reverse"
    its = doc["iterations"]
    assert doc["builds"] == len(its) + 1  # + the float32 reference
    assert len(lines) == len(its) + 1
    assert its[0]["pinned"] == [] and its[0]["pass"] is False
    assert its[0]["failing_elements"] > 0
    assert its[1]["pinned"] == LAYERS and its[1]["pass"] is True
    # Every passing candidate pins scale_up, every failing one does not (the model is monotone).
    for it in its:
        assert it["pass"] == ("scale_up" in it["pinned"]), it
    # Bisection: far fewer builds than one per layer subset; log2(7) rounds up to 3.
    assert len(its) <= 2 + 3 + 1

    # The written file makes the float16 build pass (against numpy, not against Kiln).
    y = kiln_run_fp16(kiln_cli, model, load, tmp_path, [f"--layerPrecisions=@{prec}"])
    want = reference(X)
    assert np.all(np.isfinite(y))
    assert np.max(np.abs(y - want)) <= 1e-2, np.max(np.abs(y - want))
    # It ran in float16: not bit-equal to the float32 result.
    assert np.max(np.abs(y - want)) > 0


def test_forward_direction_also_gives_a_passing_file(kiln_cli, overflow_model, tmp_path):
    # From the inputs, pinning matmul1 already keeps the following elementwise layers in float32,
    # so the forward search keeps matmul1; the file must still make the build pass.
    model, load = overflow_model
    prec = tmp_path / "prec_fwd.txt"
    p = debug(kiln_cli, [f"--onnx={model}", f"--loadInputs={load}", f"--output={prec}",
                         "--direction=forward", *TOL])
    assert p.returncode == 0, explain(p)
    entries = [ln.strip() for ln in prec.read_text().splitlines()
               if ln.strip() and not ln.startswith("#")]
    assert entries == ["matmul1:fp32"], prec.read_text()
    y = kiln_run_fp16(kiln_cli, model, load, tmp_path, [f"--layerPrecisions=@{prec}"])
    assert np.max(np.abs(y - reference(X))) <= 1e-2


def test_no_pins_needed_writes_a_comment_only_file(kiln_cli, tmp_path):
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"], name="mm"),
             helper.make_node("Relu", ["m"], ["y"], name="act")]
    graph = helper.make_graph(nodes, "fine", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [4, 8])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [4, 8])], [numpy_helper.from_array(W1, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "fine.onnx"
    onnx.save(model, str(path))
    prec = tmp_path / "none.txt"
    report = tmp_path / "none.json"
    p = debug(kiln_cli, [f"--onnx={path}", f"--output={prec}", f"--json={report}", *TOL])
    assert p.returncode == 0, explain(p)
    assert "no --layerPrecisions needed" in p.stdout, explain(p)
    assert all(ln.startswith("#") for ln in prec.read_text().splitlines() if ln.strip())
    doc = json.loads(report.read_text())
    assert doc["status"] == "pass_without_pins" and doc["pinned"] == []
    assert doc["builds"] == 2


def test_help_lists_the_flags(kiln_cli):
    ku.assert_help_lists(kiln_cli, "debug precision",
                         ("--onnx", "--output", "--fp16", "--bf16", "--rtol", "--atol",
                          "--direction", "--shapes", "--loadInputs", "--seed", "--json",
                          "--device"))
    p = subprocess.run([kiln_cli, "debug", "--help"], capture_output=True, text=True)
    assert p.returncode == 0 and "precision" in p.stdout, explain(p)


@pytest.mark.parametrize("args, needle", [
    (["--output=o.txt"], "needs --onnx"),
    (["MODEL"], "needs --output"),
    (["MODEL", "--output=o.txt", "--fp16", "--bf16"], "--fp16 and --bf16"),
    (["MODEL", "--output=o.txt", "--rtol=-1"], "--rtol=-1"),
    (["MODEL", "--output=o.txt", "--atol=x"], "--atol=x"),
    (["MODEL", "--output=o.txt", "--direction=sideways"], "--direction=sideways"),
    (["MODEL", "--output=o.txt", "--seed=-3"], "--seed=-3"),
    (["MODEL", "--output=o.txt", "--outptu=x"], "--outptu"),
])
def test_usage_errors_exit_2(kiln_cli, overflow_model, tmp_path, args, needle):
    model, _ = overflow_model
    full = [f"--onnx={model}" if a == "MODEL" else a for a in args]
    p = subprocess.run([kiln_cli, "debug", "precision"] + full, capture_output=True, text=True,
                       cwd=tmp_path)
    assert p.returncode == 2, explain(p)
    assert needle in p.stderr, explain(p)
    assert not (tmp_path / "o.txt").exists()


def test_unknown_tool_and_missing_tool_exit_2(kiln_cli):
    p = subprocess.run([kiln_cli, "debug", "layers"], capture_output=True, text=True)
    assert p.returncode == 2 and "unknown debug tool 'layers'" in p.stderr, explain(p)
    p = subprocess.run([kiln_cli, "debug"], capture_output=True, text=True)
    assert p.returncode == 2 and "precision" in p.stderr, explain(p)


def test_failures_exit_1(kiln_cli, overflow_model, tmp_path):
    model, _ = overflow_model
    out = tmp_path / "o.txt"
    p = debug(kiln_cli, [f"--onnx={tmp_path / 'missing.onnx'}", f"--output={out}"])
    assert p.returncode == 1 and "missing.onnx" in p.stderr, explain(p)
    p = debug(kiln_cli, [f"--onnx={model}", f"--output={out}", "--shapes=nope:2x8"])
    assert p.returncode == 1 and "no input 'nope'" in p.stderr, explain(p)
    bad = tmp_path / "short.bin"
    np.zeros(3, np.float32).tofile(bad)
    p = debug(kiln_cli, [f"--onnx={model}", f"--output={out}", f"--loadInputs=x:{bad}"])
    assert p.returncode == 1 and "bytes" in p.stderr, explain(p)
    # An output file that cannot be written.
    p = debug(kiln_cli, [f"--onnx={model}", f"--output={tmp_path / 'no_dir' / 'o.txt'}", *TOL])
    assert p.returncode == 1 and "o.txt" in p.stderr, explain(p)
    assert not out.exists()
