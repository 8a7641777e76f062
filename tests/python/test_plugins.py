"""Plugins through the kiln CLI: ONNX models (built with onnx.helper) whose custom-domain or
missing ops run through the example plugins (libkiln_example_plugins.so), loaded with
--plugins or KILN_PLUGIN_PATH; plans that need plugins; an out-of-tree plugin build.

References: numpy in float64 (every plugin) and onnxruntime (FastGelu, an onnxruntime contrib
op in the com.microsoft domain that Kiln runs only through the example plugin).
"""
import os
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import kiln_testutil as ku

FAST = ["--iterations=1", "--duration=0", "--warmUp=0"]
LIB_NAME = "libkiln_example_plugins.so"


@pytest.fixture(scope="module")
def plugin_lib(kiln_cli):
    """The example plugin library: $KILN_EXAMPLE_PLUGIN_LIB, $KILN_BINARY_DIR/lib, or lib/ next
    to the CLI's bin/."""
    candidates = [os.environ.get("KILN_EXAMPLE_PLUGIN_LIB", "")]
    if os.environ.get("KILN_BINARY_DIR"):
        candidates.append(os.path.join(os.environ["KILN_BINARY_DIR"], "lib", LIB_NAME))
    candidates.append(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(kiln_cli))),
                                   "lib", LIB_NAME))
    for c in candidates:
        if c and os.path.isfile(c):
            return os.path.realpath(c)
    pytest.fail(f"{LIB_NAME} not found (tried {candidates}); build the kiln_example_plugins "
                "target", pytrace=False)


def save_model(tmp_path, name, nodes, inputs, outputs, initializers=(),
               domains=("kiln.examples", "com.microsoft"), opset=17):
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in domains]
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=opsets)
    model.ir_version = 8
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return str(path)


def run_model(cli, args, feeds, tmp_path, tag, env=None, check=True):
    """kiln run ARGS with `feeds` loaded from files; returns (process, {output: array})."""
    load = ku.write_inputs(feeds, str(tmp_path / f"in_{tag}"))
    out = tmp_path / f"out_{tag}.json"
    cmd = [cli, "run"] + [str(a) for a in args] + [f"--loadInputs={load}",
                                                   f"--exportOutput={out}"] + FAST
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=ku.CLI_TIMEOUT_S,
                          env=env)
    if check:
        assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    outputs = ku.read_export_output(str(out)) if proc.returncode == 0 else {}
    return proc, outputs


def swish_ref(x, beta):
    x = x.astype(np.float64)
    return x / (1.0 + np.exp(-beta * x))


def emb_layer_norm_ref(ids, table, gamma, beta, eps):
    e = table.astype(np.float64)[ids]
    mean = e.mean(axis=-1, keepdims=True)
    var = ((e - mean) ** 2).mean(axis=-1, keepdims=True)
    return (e - mean) / np.sqrt(var + eps) * gamma.astype(np.float64) + beta.astype(np.float64)


def swish_model(tmp_path, beta):
    node = helper.make_node("ScaledSwish", ["x"], ["y"], name="act", domain="kiln.examples",
                            beta=beta)
    return save_model(tmp_path, "swish", [node],
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 16])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16])])


def test_scaled_swish_custom_domain_op(kiln_cli, plugin_lib, tmp_path):
    beta = 1.3
    model = swish_model(tmp_path, beta)
    x = np.random.default_rng(1).uniform(-5, 5, size=(3, 16)).astype(np.float32)
    _, got = run_model(kiln_cli, [f"--onnx={model}", f"--plugins={plugin_lib}",
                                  "--shapes=x:3x16"], {"x": x}, tmp_path, "swish")
    np.testing.assert_allclose(got["y"], swish_ref(x, np.float32(beta)), rtol=1e-5, atol=1e-7)


def test_emb_layer_norm_fused_plugin(kiln_cli, plugin_lib, tmp_path):
    rng = np.random.default_rng(2)
    vocab, hidden, eps = 30, 12, 1e-4
    table = rng.uniform(-1, 1, size=(vocab, hidden)).astype(np.float32)
    gamma = rng.uniform(0.5, 1.5, size=hidden).astype(np.float32)
    beta = rng.uniform(-0.5, 0.5, size=hidden).astype(np.float32)
    node = helper.make_node("EmbLayerNorm", ["ids", "table", "gamma", "beta"], ["y"],
                            name="emb", domain="kiln.examples", epsilon=eps)
    model = save_model(
        tmp_path, "emb", [node],
        [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq", hidden])],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(gamma, "gamma"),
         numpy_helper.from_array(beta, "beta")])
    ids = rng.integers(0, vocab, size=(2, 7)).astype(np.int64)
    _, got = run_model(kiln_cli, [f"--onnx={model}", f"--plugins={plugin_lib}",
                                  "--minShapes=ids:1x1", "--optShapes=ids:2x7",
                                  "--maxShapes=ids:4x32"], {"ids": ids}, tmp_path, "emb")
    ref = emb_layer_norm_ref(ids, table, gamma, beta, np.float32(eps))
    np.testing.assert_allclose(got["y"], ref, rtol=1e-5, atol=1e-6)


def fast_gelu_ref(x, bias=None):
    v = x.astype(np.float64) + (0 if bias is None else bias.astype(np.float64))
    return 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v ** 3)))


@pytest.mark.parametrize("with_bias", [True, False])
def test_contrib_op_fails_without_its_plugin_and_matches_onnxruntime_with_it(
        kiln_cli, plugin_lib, tmp_path, with_bias):
    rng = np.random.default_rng(3)
    bias = rng.uniform(-1, 1, size=8).astype(np.float32)
    node = helper.make_node("FastGelu", ["x", "bias"] if with_bias else ["x"], ["y"],
                            name="gelu", domain="com.microsoft")
    model = save_model(
        tmp_path, f"fastgelu_{int(with_bias)}", [node],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 5, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 5, 8])],
        [numpy_helper.from_array(bias, "bias")] if with_bias else [],
        domains=("com.microsoft",))
    x = rng.uniform(-4, 4, size=(2, 5, 8)).astype(np.float32)
    proc, _ = run_model(kiln_cli, [f"--onnx={model}", "--shapes=x:2x5x8"], {"x": x}, tmp_path,
                        "nolib", check=False)
    assert proc.returncode != 0
    assert "unsupported operator 'FastGelu' (domain 'com.microsoft'" in proc.stderr, proc.stderr
    assert "docs/plugins.md" in proc.stderr, proc.stderr
    _, got = run_model(kiln_cli, [f"--onnx={model}", f"--plugins={plugin_lib}",
                                  "--shapes=x:2x5x8"], {"x": x}, tmp_path, "lib")
    np.testing.assert_allclose(got["y"], fast_gelu_ref(x, bias if with_bias else None),
                               rtol=1e-6, atol=1e-7)
    ort = ku.ort_reference(model, {"x": x})["y"]
    np.testing.assert_allclose(got["y"], ort, rtol=1e-5, atol=1e-6)


def two_plugin_model(tmp_path):
    nodes = [helper.make_node("ScaledSwish", ["x"], ["s"], name="act", domain="kiln.examples",
                              beta=0.8),
             helper.make_node("FastGelu", ["s"], ["y"], name="gelu", domain="com.microsoft")]
    return save_model(tmp_path, "two", nodes,
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 4, 4])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 4, 4])])


def test_plan_with_plugins_round_trips_and_fails_clearly_without_them(kiln_cli, plugin_lib,
                                                                      tmp_path):
    model = two_plugin_model(tmp_path)
    plan = tmp_path / "two.plan"
    ku.run_cli(["build", f"--onnx={model}", f"--saveEngine={plan}", f"--plugins={plugin_lib}"],
               kiln_cli)
    x = np.random.default_rng(4).uniform(-3, 3, size=(3, 4, 4)).astype(np.float32)
    ref = fast_gelu_ref(swish_ref(x, np.float32(0.8)).astype(np.float32))

    # Without the library: one error lists both plugins and the library recorded at build time.
    proc, _ = run_model(kiln_cli, [f"--loadEngine={plan}"], {"x": x}, tmp_path, "missing",
                        check=False)
    assert proc.returncode != 0
    err = proc.stderr
    assert "2 plugins that are not registered" in err, err
    assert "ScaledSwish (version 1, namespace 'kiln.examples'), used by layer 'act'" in err, err
    assert "FastGelu (version 1, namespace 'com.microsoft'), used by layer 'gelu'" in err, err
    assert f"provided at build time by library '{plugin_lib}'" in err, err
    assert f"--plugins={plugin_lib}" in err, err

    # With it (flag or environment): the plan recreates both plugins from their fields.
    _, got = run_model(kiln_cli, [f"--loadEngine={plan}", f"--plugins={plugin_lib}"], {"x": x},
                       tmp_path, "flag")
    np.testing.assert_allclose(got["y"], ref, rtol=1e-5, atol=1e-7)
    env = dict(os.environ, KILN_PLUGIN_PATH=f":{plugin_lib}:")  # empty entries are skipped
    _, got_env = run_model(kiln_cli, [f"--loadEngine={plan}"], {"x": x}, tmp_path, "env",
                           env=env)
    assert np.array_equal(got_env["y"], got["y"])


def test_inspect_shows_plugin_layers(kiln_cli, plugin_lib, tmp_path):
    model = two_plugin_model(tmp_path)
    p = ku.run_cli(["inspect", model, f"--plugins={plugin_lib}"], kiln_cli)
    assert 'plugin_name="ScaledSwish"' in p.stdout, p.stdout
    assert 'plugin_name="FastGelu"' in p.stdout, p.stdout
    assert "field.beta=0.8" in p.stdout, p.stdout


def test_bad_plugin_library_is_reported(kiln_cli, tmp_path):
    model = swish_model(tmp_path, 1.0)
    p = ku.run_cli(["build", f"--onnx={model}", "--plugins=/nonexistent/libnope.so"], kiln_cli,
                   check=False)
    assert p.returncode == 1
    assert "cannot load plugin library '/nonexistent/libnope.so'" in p.stderr, p.stderr
    env = dict(os.environ, KILN_PLUGIN_PATH="/nonexistent/libenv.so")
    proc = subprocess.run([kiln_cli, "build", f"--onnx={model}"], capture_output=True,
                          text=True, env=env, timeout=ku.CLI_TIMEOUT_S)
    assert proc.returncode == 1
    assert "KILN_PLUGIN_PATH" in proc.stderr and "/nonexistent/libenv.so" in proc.stderr, \
        proc.stderr


def test_plugin_built_out_of_tree_against_the_public_header_only(kiln_cli, tmp_path):
    """A plugin library needs kiln/plugin.h and nothing else: compile the examples with the
    plain compiler (no Kiln library, every symbol resolved) and load the result."""
    cxx = shutil.which(os.environ.get("CXX", "c++")) or shutil.which("g++")
    if cxx is None:
        pytest.skip("no C++ compiler on PATH")
    src = os.path.join(ku.REPO_ROOT, "examples", "plugins")
    lib = tmp_path / "libmyplugins.so"
    sources = [os.path.join(src, f) for f in
               ("scaled_swish.cpp", "emb_layer_norm.cpp", "fast_gelu.cpp", "plugin_entry.cpp")]
    cmd = [cxx, "-std=c++20", "-O1", "-shared", "-fPIC", "-fvisibility=hidden",
           f"-I{os.path.join(ku.REPO_ROOT, 'include')}", *sources, "-o", str(lib),
           "-Wl,--no-undefined"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    model = swish_model(tmp_path, 0.6)
    x = np.random.default_rng(5).uniform(-2, 2, size=(2, 16)).astype(np.float32)
    _, got = run_model(kiln_cli, [f"--onnx={model}", f"--plugins={lib}", "--shapes=x:2x16"],
                       {"x": x}, tmp_path, "oot")
    np.testing.assert_allclose(got["y"], swish_ref(x, np.float32(0.6)), rtol=1e-5, atol=1e-7)
