"""The bad-input matrix through the `kiln` command (docs/reliability.md): each bad file or
value makes the tool exit non-zero, without a crash (no signal), with a `kiln: error:` message
that says what is wrong. Cases already covered by test_cli.py (missing file, 256-byte garbage,
a 10-byte truncated plan, a plan given to --onnx, unsupported ops, shapes outside the profile,
wrong --loadInputs sizes, malformed flag values) are not repeated here.
"""
import os
import subprocess

import numpy as np
import pytest

import kiln_testutil as ku

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

PNG_HEADER = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48,
                    0x44, 0x52, 0, 0, 1, 0, 0, 0, 1, 0, 8, 6, 0, 0, 0]) + bytes(64)
FAST = ["--iterations=1", "--duration=0", "--warmUp=0"]


def run(cli, args, timeout=120):
    return subprocess.run([cli] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout)


def assert_failed(proc, *needles):
    """Exit code 1 or 2 (not 0, not a signal), one `kiln: error:` line, every needle in stderr."""
    assert proc.returncode != 0, f"expected failure, got 0\n{proc.stdout}\n{proc.stderr}"
    assert proc.returncode > 0, f"crashed with signal {-proc.returncode}\n{proc.stderr}"
    assert "kiln: error:" in proc.stderr, proc.stderr
    for n in needles:
        assert n in proc.stderr, f"'{n}' not in stderr:\n{proc.stderr}"


def save(model, path):
    onnx.save(model, str(path))
    return str(path)


def relu_model(shape=(2, 3)):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, list(shape))
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g", [x], [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def good(kiln_cli, tmp_path_factory):
    """(model.onnx, model.plan) of a static Relu model."""
    d = tmp_path_factory.mktemp("bad_input")
    model = save(relu_model(), d / "relu.onnx")
    plan = str(d / "relu.plan")
    ku.run_cli(["build", f"--onnx={model}", f"--saveEngine={plan}"], kiln_cli)
    return model, plan


# ---- wrong files ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cmd", [["build", "--onnx"], ["run", "--loadEngine"], ["inspect"]])
def test_empty_file(kiln_cli, tmp_path, cmd):
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    assert_failed(run(kiln_cli, cmd + [str(path)]), "empty")


@pytest.mark.parametrize("cmd", [["build", "--onnx"], ["run", "--loadEngine"], ["inspect"]])
def test_png_file(kiln_cli, tmp_path, cmd):
    path = tmp_path / "picture.png"
    path.write_bytes(PNG_HEADER)
    assert_failed(run(kiln_cli, cmd + [str(path)]), "picture.png")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_bytes_as_model_and_plan(kiln_cli, tmp_path, seed):
    data = np.random.default_rng(seed).integers(0, 256, size=4096, dtype=np.uint8).tobytes()
    path = tmp_path / "random.bin"
    path.write_bytes(data)
    assert_failed(run(kiln_cli, ["build", f"--onnx={path}"]))
    assert_failed(run(kiln_cli, ["run", f"--loadEngine={path}"] + FAST), "not a Kiln plan")


def test_onnx_given_as_a_plan(kiln_cli, good):
    model, _ = good
    assert_failed(run(kiln_cli, ["run", f"--loadEngine={model}"] + FAST), "not a Kiln plan",
                  "--onnx")


def test_truncated_onnx(kiln_cli, good, tmp_path):
    model, _ = good
    data = open(model, "rb").read()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: len(data) // 2])
    assert_failed(run(kiln_cli, ["build", f"--onnx={path}"]))


# ---- damaged plans -------------------------------------------------------------------------------

def test_plan_truncated_in_the_middle(kiln_cli, good, tmp_path):
    _, plan = good
    data = open(plan, "rb").read()
    path = tmp_path / "half.plan"
    path.write_bytes(data[: len(data) // 2])
    assert_failed(run(kiln_cli, ["run", f"--loadEngine={path}"] + FAST), "truncated",
                  f"expected {len(data)} bytes")


def test_plan_with_a_flipped_byte(kiln_cli, good, tmp_path):
    _, plan = good
    data = bytearray(open(plan, "rb").read())
    data[len(data) - 3] ^= 0x01
    path = tmp_path / "flipped.plan"
    path.write_bytes(bytes(data))
    for cmd in (["run", f"--loadEngine={path}"] + FAST, ["inspect", str(path)]):
        assert_failed(run(kiln_cli, cmd), "checksum mismatch")


def test_plan_of_another_format_version(kiln_cli, good, tmp_path):
    _, plan = good
    data = bytearray(open(plan, "rb").read())
    version = int.from_bytes(data[8:12], "little")  # docs/plan_format.md: u32 at offset 8
    data[8:12] = (version + 1).to_bytes(4, "little")
    path = tmp_path / "future.plan"
    path.write_bytes(bytes(data))
    assert_failed(run(kiln_cli, ["run", f"--loadEngine={path}"] + FAST),
                  f"plan format version {version + 1}", "rebuild")


# ---- bad models ----------------------------------------------------------------------------------

def test_cycle(kiln_cli, tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    nodes = [helper.make_node("Add", ["x", "c"], ["a"], name="first"),
             helper.make_node("Relu", ["a"], ["c"], name="second"),
             helper.make_node("Abs", ["a"], ["y"], name="out")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    assert_failed(run(kiln_cli, ["build", f"--onnx={save(model, tmp_path / 'cycle.onnx')}"]),
                  "cycle", "first", "second")


def test_missing_initializer(kiln_cli, tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Conv", ["x", "conv.weight"], ["y"], name="conv")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    assert_failed(run(kiln_cli, ["build", f"--onnx={save(model, tmp_path / 'noinit.onnx')}"]),
                  "conv.weight", "conv")


def test_wrong_attribute_type(kiln_cli, tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Softmax", ["x"], ["y"], name="sm")
    node.attribute.append(helper.make_attribute("axis", "last"))  # STRING where INT is due
    model = helper.make_model(helper.make_graph([node], "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    assert_failed(run(kiln_cli, ["build", f"--onnx={save(model, tmp_path / 'attr.onnx')}"]),
                  "sm", "axis", "INT")


def test_shape_contradiction(kiln_cli, tmp_path):
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3])
    w = numpy_helper.from_array(np.ones((4, 5), np.float32), "w")
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("MatMul", ["a", "w"], ["y"], name="mm")]
    model = helper.make_model(helper.make_graph(nodes, "g", [a], [y], [w]),
                              opset_imports=[helper.make_opsetid("", 17)])
    assert_failed(run(kiln_cli, ["build", f"--onnx={save(model, tmp_path / 'mm.onnx')}"]), "mm")


def test_unknown_domain(kiln_cli, tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="r", domain="org.nowhere")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]),
                              opset_imports=[helper.make_opsetid("", 17)])
    assert_failed(run(kiln_cli, ["build", f"--onnx={save(model, tmp_path / 'dom.onnx')}"]),
                  "org.nowhere")


def assert_refused_big(proc):
    """A request for 2^60 elements fails with a message about the tensor or the memory.
    (The issue asks for the bytes asked for and the limit in the message; today the CLI says
    "out of memory (are the shapes what you meant?)": see docs/reliability.md, open items.)"""
    assert_failed(proc)
    assert "'x'" in proc.stderr or "memory" in proc.stderr, proc.stderr


def test_huge_input_dims(kiln_cli, tmp_path):
    model = relu_model((1 << 20, 1 << 20, 1 << 20))
    assert_refused_big(run(kiln_cli, ["run", f"--onnx={save(model, tmp_path / 'huge.onnx')}"] + FAST))


def test_huge_dynamic_shape_request(kiln_cli, tmp_path):
    """A dynamic model asked to run at 2^60 elements: refused with a message, not attempted."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1024])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1024])
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = save(model, tmp_path / "dyn.onnx")
    assert_refused_big(run(kiln_cli, ["run", f"--onnx={path}", f"--shapes=x:{1 << 50}x1024"] + FAST))


# ---- inputs --------------------------------------------------------------------------------------

def test_input_file_is_a_directory(kiln_cli, good, tmp_path):
    _, plan = good
    p = run(kiln_cli, ["run", f"--loadEngine={plan}", f"--loadInputs=x:{tmp_path}"] + FAST)
    assert_failed(p, "'x'", str(tmp_path))


def test_shapes_for_a_static_input_with_the_wrong_rank(kiln_cli, good):
    _, plan = good
    assert_failed(run(kiln_cli, ["run", f"--loadEngine={plan}", "--shapes=x:2x3x1"] + FAST), "'x'")
