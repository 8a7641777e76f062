"""Tests of the `kiln` Python module (python/): the TensorRT-style flow from the network API and
from ONNX, dynamic shapes, numpy/DLPack interop, errors and the logger.

References are independent of Kiln: numpy computations written out here (float64) and
onnxruntime. The module is imported from the build tree ($KILN_BINARY_DIR/python, else the
newest build*/python), never from an installed copy unless neither exists.
"""
import ast
import gc
import glob
import os
import re
import sys

import numpy as np
import pytest

from kiln_testutil import assert_close, ort_session

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def _import_kiln():
    """Imports kiln from the build tree. Skips only when the build did not configure the module
    (no python/ folder there: pybind11 missing or a sanitizer build); fails when it did but the
    module cannot be imported."""
    binary_dir = os.environ.get("KILN_BINARY_DIR")
    if binary_dir:
        candidates = [os.path.join(binary_dir, "python")]
    else:
        candidates = sorted(glob.glob(os.path.join(REPO_ROOT, "build*", "python")),
                            key=os.path.getmtime, reverse=True)
    for folder in candidates:
        if glob.glob(os.path.join(folder, "kiln", "_kiln*.so")):
            sys.path.insert(0, folder)
            import kiln
            return kiln
    if binary_dir and os.path.isdir(os.path.join(binary_dir, "python", "kiln")):
        pytest.fail(f"{binary_dir}/python/kiln exists but holds no _kiln extension "
                    "(build the _kiln target)", pytrace=False)
    try:
        import kiln  # an installed copy (pip install .)
        return kiln
    except ImportError:
        pytest.skip("the kiln Python module was not built (needs pybind11-dev, python3-dev)",
                    allow_module_level=True)


kiln = _import_kiln()


# --------------------------------------------------------------------------------------------
# Independent numpy references (float64).

def ref_conv2d(x, w, b, pad, stride=1):
    """out[n,o,i,j] = b[o] + sum_{c,p,q} xpad[n, c, i*s+p, j*s+q] * w[o, c, p, q]."""
    x = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    oh, ow = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.zeros((n, o, oh, ow))
    for p in range(kh):
        for q in range(kw):
            patch = x[:, :, p:p + stride * oh:stride, q:q + stride * ow:stride]
            out += np.einsum("nchw,oc->nohw", patch, w[:, :, p, q].astype(np.float64))
    return out + b.astype(np.float64)[None, :, None, None]


def ref_maxpool2(x):
    """2x2 max pooling, stride 2 (even sizes)."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def ref_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# --------------------------------------------------------------------------------------------
# A small conv net built with the network API.

RNG = np.random.default_rng(1234)
CONV_W = RNG.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.5
CONV_B = RNG.standard_normal(4).astype(np.float32)
FC_W = RNG.standard_normal((5, 4 * 4 * 4)).astype(np.float32) * 0.2
FC_B = RNG.standard_normal(5).astype(np.float32)


def conv_net_reference(x):
    y = np.maximum(ref_conv2d(x, CONV_W, CONV_B, pad=1), 0.0)
    y = ref_maxpool2(y).reshape(x.shape[0], -1)
    return ref_softmax(y @ FC_W.astype(np.float64).T + FC_B)


def build_conv_net(logger=None, max_batch=4):
    """x[-1,3,8,8] -> Conv(4,3x3,pad 1) -> Relu -> MaxPool 2x2 -> Flatten -> FC(5) -> Softmax.
    Returns (plan, builder, network)."""
    builder = kiln.Builder(logger or kiln.Logger())
    network = builder.create_network()
    x = network.add_input("x", kiln.float32, (-1, 3, 8, 8))
    conv = network.add_convolution(x, 4, (3, 3), CONV_W, CONV_B, padding=(1, 1))
    conv.name = "conv1"
    relu = network.add_activation(conv.get_output(0), kiln.ActivationType.RELU)
    pool = network.add_pooling(relu.get_output(0), kiln.PoolingType.MAX, (2, 2), stride=(2, 2))
    flat = network.add_flatten(pool.get_output(0), 1)
    fc = network.add_fully_connected(flat.get_output(0), 5, FC_W, FC_B)
    soft = network.add_softmax(fc.get_output(0), axis=1)
    soft.get_output(0).name = "probs"
    network.mark_output(soft.get_output(0))
    config = builder.create_builder_config()
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (1, 3, 8, 8), (2, 3, 8, 8), (max_batch, 3, 8, 8))
    assert config.add_optimization_profile(profile) == 0
    plan = builder.build_serialized_network(network, config)
    return plan, builder, network


@pytest.fixture(scope="module")
def conv_plan():
    plan, _, _ = build_conv_net()
    return bytes(plan)


@pytest.fixture
def conv_context(conv_plan):
    engine = kiln.Runtime(kiln.Logger()).deserialize_cuda_engine(conv_plan)
    return engine.create_execution_context()


def test_version_matches_library_and_cmake():
    with open(os.path.join(REPO_ROOT, "CMakeLists.txt")) as f:
        cmake_version = re.search(r"project\(kiln VERSION ([0-9.]+)", f.read()).group(1)
    assert kiln.__version__ == cmake_version
    assert kiln.version_string() == kiln.__version__
    assert kiln.versionString() == kiln.__version__
    assert issubclass(kiln.Error, RuntimeError)
    assert issubclass(kiln.OnnxParseError, kiln.Error)


def test_network_api_flow_matches_numpy():
    plan, builder, network = build_conv_net()
    # Introspection of what was built.
    assert network.num_inputs == 1 and network.num_outputs == 1
    # add_fully_connected expands to MatMul + Add.
    assert network.num_layers == len(network) == 7
    assert [layer.type for layer in network] == ["Conv", "Relu", "MaxPool", "Flatten", "MatMul",
                                                 "Add", "Softmax"]
    conv = network.get_layer(0)
    assert conv.name == "conv1" and conv.type == "Conv"
    assert conv.num_inputs >= 1 and conv.num_outputs == 1
    assert conv.get_input(0).name == "x" and conv.get_input(0).is_network_input
    assert conv.get_output(0).shape == (-1, 4, 8, 8)
    assert conv.get_output(0).dtype == kiln.DataType.FLOAT
    assert network.get_layer(1).type == "Relu"
    assert network.get_layer(2).get_output(0).shape == (-1, 4, 4, 4)
    assert network[-1].get_output(0).name == "probs"
    assert network.get_output(0).name == "probs" and network.get_output(0).is_network_output
    assert network.get_tensor("probs").shape == (-1, 5)
    assert network.get_tensor("no such tensor") is None
    with pytest.raises(IndexError):
        network.get_layer(7)
    assert isinstance(plan, kiln.HostMemory) and plan.nbytes == len(bytes(plan)) > 0

    engine = kiln.Runtime(kiln.Logger()).deserialize_cuda_engine(plan)
    assert engine.num_io_tensors == 2
    assert [engine.get_tensor_name(i) for i in range(2)] == ["x", "probs"]
    assert engine.get_tensor_mode("x") == kiln.TensorIOMode.INPUT
    assert engine.get_tensor_mode("probs") == kiln.TensorIOMode.OUTPUT
    assert engine.get_tensor_mode("nope") == kiln.TensorIOMode.NONE
    assert engine.get_tensor_dtype("probs") == kiln.float32
    assert engine.get_tensor_shape("x") == (-1, 3, 8, 8)
    assert engine.num_optimization_profiles == 1
    assert engine.get_tensor_profile_shape("x", 0) == [(1, 3, 8, 8), (2, 3, 8, 8), (4, 3, 8, 8)]
    assert engine.device_type == kiln.DeviceType.CPU

    context = engine.create_execution_context()
    for batch in (2, 3, 1):
        x = RNG.standard_normal((batch, 3, 8, 8)).astype(np.float32)
        assert context.set_input_shape("x", x.shape)
        assert context.get_tensor_shape("probs") == (batch, 5)
        out = context.infer({"x": x})
        assert list(out) == ["probs"] and out["probs"].dtype == np.float32
        assert_close(out["probs"], conv_net_reference(x), f"conv net batch {batch}")


def test_plan_round_trips_through_bytes_memoryview_and_serialize(conv_plan, tmp_path):
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    runtime = kiln.Runtime(kiln.Logger())
    first = runtime.deserialize_cuda_engine(conv_plan)
    expected = first.create_execution_context().infer({"x": x})["probs"]
    assert_close(expected, conv_net_reference(x), "conv net")
    path = tmp_path / "net.plan"
    path.write_bytes(first.serialize())
    for buf in (memoryview(conv_plan), bytearray(conv_plan), path.read_bytes(),
                np.frombuffer(conv_plan, dtype=np.uint8), first.serialize()):
        engine = runtime.deserialize_engine(buf)
        got = engine.create_execution_context().infer({"x": x})["probs"]
        np.testing.assert_array_equal(got, expected)


def test_objects_outlive_their_creators(conv_plan):
    """Contexts keep engines, engines runtimes, runtimes loggers alive (no dangling refs)."""
    def make():
        messages = []
        logger = kiln.Logger(kiln.Logger.VERBOSE, callback=lambda s, m: messages.append(m))
        return kiln.Runtime(logger).deserialize_cuda_engine(conv_plan).create_execution_context()
    context = make()
    gc.collect()
    x = RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)
    assert_close(context.infer({"x": x})["probs"], conv_net_reference(x), "conv net")

    def make_network():
        return kiln.Builder(kiln.Logger()).create_network()
    network = make_network()
    gc.collect()
    t = network.add_input("a", kiln.float32, (2, 2))
    layer = network.add_unary(t, kiln.UnaryOperation.ABS)
    del network
    gc.collect()
    assert layer.get_output(0).shape == (2, 2)  # the layer keeps its network alive


# --------------------------------------------------------------------------------------------
# numpy and DLPack interop.

def test_numpy_zero_copy_input_and_output(conv_context):
    x = RNG.standard_normal((3, 3, 8, 8)).astype(np.float32)
    y = np.full((3, 5), np.nan, dtype=np.float32)
    conv_context.set_input_shape("x", x.shape)
    assert conv_context.set_tensor_address("x", x)
    assert conv_context.set_tensor_address("probs", y)
    assert conv_context.get_tensor_address("x") == x.ctypes.data
    assert conv_context.get_tensor_address("probs") == y.ctypes.data
    assert conv_context.execute_v2()
    assert_close(y, conv_net_reference(x), "output written into the bound array")
    # The same binding runs again on new data written in place.
    x[...] = RNG.standard_normal(x.shape)
    assert conv_context.execute_async_v3(0)
    assert_close(y, conv_net_reference(x), "second run, in place")


def test_infer_writes_into_given_output_array(conv_context):
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    out = np.zeros((2, 5), dtype=np.float32)
    res = conv_context.infer({"x": x}, out={"probs": out})
    assert res["probs"] is out
    assert_close(out, conv_net_reference(x), "infer(out=...)")
    # Inputs already float32/C-contiguous are used in place, not copied.
    assert conv_context.get_tensor_address("x") == x.ctypes.data


def test_infer_converts_inputs_that_need_it(conv_context):
    x64 = RNG.standard_normal((2, 3, 8, 8))  # float64, converted by infer()
    xf = np.asfortranarray(x64.astype(np.float32))  # not C-contiguous
    ref = conv_net_reference(x64.astype(np.float32))
    assert_close(conv_context.infer({"x": x64})["probs"], ref, "float64 input")
    assert_close(conv_context.infer({"x": xf})["probs"], ref, "Fortran-order input")
    assert_close(conv_context.infer({"x": x64.astype(np.float32).tolist()})["probs"], ref,
                 "nested-list input")


def test_execute_v2_with_bindings_list(conv_context):
    x = RNG.standard_normal((1, 3, 8, 8)).astype(np.float32)
    y = np.empty((1, 5), dtype=np.float32)
    conv_context.set_input_shape("x", x.shape)
    assert conv_context.execute_v2([x.ctypes.data, y.ctypes.data])  # raw addresses
    assert_close(y, conv_net_reference(x), "execute_v2(bindings of ints)")
    y2 = np.empty_like(y)
    assert conv_context.execute_v2([x, y2])  # arrays
    np.testing.assert_array_equal(y2, y)


class HostDLPack:
    """A DLPack-only producer (no numpy type, no buffer protocol) over a numpy array, standing
    in for a CPU torch/jax tensor."""

    def __init__(self, array, device=(1, 0)):
        self._array = array
        self._device = device

    def __dlpack__(self, **kwargs):
        return self._array.__dlpack__(**kwargs)

    def __dlpack_device__(self):
        return self._device


def test_dlpack_input_and_output_without_copies(conv_context):
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    y = np.full((2, 5), np.nan, dtype=np.float32)
    conv_context.set_input_shape("x", x.shape)
    conv_context.set_tensor_address("x", HostDLPack(x))
    conv_context.set_tensor_address("probs", HostDLPack(y))
    assert conv_context.get_tensor_address("x") == x.ctypes.data
    assert conv_context.get_tensor_address("probs") == y.ctypes.data
    conv_context.execute_v2()
    assert_close(y, conv_net_reference(x), "DLPack output")
    out = conv_context.infer({"x": HostDLPack(x)})
    assert_close(out["probs"], conv_net_reference(x), "infer with a DLPack input")
    assert conv_context.get_tensor_address("x") == x.ctypes.data
    # numpy consumes Kiln's outputs through DLPack as well.
    np.testing.assert_array_equal(np.from_dlpack(out["probs"]), out["probs"])


def test_dlpack_gpu_tensor_is_refused_on_cpu_engine(conv_context):
    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    conv_context.set_input_shape("x", x.shape)
    with pytest.raises(kiln.Error, match="CUDA device"):
        conv_context.set_tensor_address("x", HostDLPack(x, device=(2, 0)))


def test_bad_bindings_raise(conv_context):
    conv_context.set_input_shape("x", (2, 3, 8, 8))
    with pytest.raises(kiln.Error, match="float32, got an array of float64"):
        conv_context.set_tensor_address("x", np.zeros((2, 3, 8, 8)))
    with pytest.raises(kiln.Error, match="not C-contiguous"):
        conv_context.set_tensor_address("x", np.zeros((2, 3, 8, 16), np.float32)[..., ::2])
    ro = np.zeros((2, 5), np.float32)
    ro.flags.writeable = False
    with pytest.raises(kiln.Error, match="read-only"):
        conv_context.set_tensor_address("probs", ro)
    # A bound output smaller than the current shape is refused before the engine runs.
    conv_context.set_tensor_address("x", np.zeros((2, 3, 8, 8), np.float32))
    conv_context.set_tensor_address("probs", np.zeros((1, 5), np.float32))
    with pytest.raises(kiln.Error, match="holds 20 bytes but shape \\(2, 5\\) needs 40"):
        conv_context.execute_v2()


def test_dtype_mapping():
    pairs = {kiln.float32: np.float32, kiln.float16: np.float16, kiln.float64: np.float64,
             kiln.int8: np.int8, kiln.int16: np.int16, kiln.int32: np.int32,
             kiln.int64: np.int64, kiln.uint8: np.uint8, kiln.uint16: np.uint16,
             kiln.uint32: np.uint32, kiln.uint64: np.uint64, kiln.bool: np.bool_}
    for kt, nt in pairs.items():
        assert kiln.nptype(kt) == np.dtype(nt)
        assert kiln.from_numpy_dtype(nt) == kt
        assert kt.itemsize == np.dtype(nt).itemsize
    assert kiln.DataType.INT64.type_name == "int64"
    with pytest.raises(TypeError):
        kiln.from_numpy_dtype(np.complex64)


# --------------------------------------------------------------------------------------------
# More layers, against numpy.

def build_and_run(network_fn, feeds, builder=None):
    builder = builder or kiln.Builder(kiln.Logger())
    network = builder.create_network()
    network_fn(network)
    plan = builder.build_serialized_network(network, builder.create_builder_config())
    engine = kiln.Runtime(kiln.Logger()).deserialize_cuda_engine(plan)
    return engine.create_execution_context().infer(feeds), network


def test_assorted_layers_match_numpy():
    a = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    b = RNG.standard_normal((2, 4, 5)).astype(np.float32)
    c = RNG.standard_normal((3, 4)).astype(np.float32)
    idx = np.array([2, 0], dtype=np.int64)

    def net(n):
        ta = n.add_input("a", kiln.float32, a.shape)
        tb = n.add_input("b", kiln.float32, b.shape)
        tc = n.add_constant(c.shape, c, name="c")
        ti = n.add_constant(idx.shape, idx)
        outs = {
            "mm": n.add_matrix_multiply(ta, kiln.MatrixOperation.NONE, tb,
                                        kiln.MatrixOperation.NONE),
            "add": n.add_elementwise(ta, tc, kiln.ElementWiseOperation.SUM),
            "exp": n.add_unary(ta, kiln.UnaryOperation.EXP),
            "rsum": n.add_reduce(ta, kiln.ReduceOperation.SUM, [2], keep_dims=False),
            "tr": n.add_transpose(ta, [2, 0, 1]),
            "cat": n.add_concatenation([ta, ta], axis=1),
            "sl": n.add_slice(ta, [1], [3], axes=[2]),
            "ga": n.add_gather(ta, ti, axis=1),
            "rs": n.add_reshape(ta, [0, -1]),
            "lsm": n.add_log_softmax(ta, axis=-1),
            "op": n.add_op("LeakyRelu", [ta], {"alpha": 0.25}),
        }
        for name, layer in outs.items():
            layer.get_output(0).name = name
            n.mark_output(layer.get_output(0))

    out, network = build_and_run(net, {"a": a, "b": b})
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ref = {
        "mm": a64 @ b64, "add": a64 + c, "exp": np.exp(a64), "rsum": a64.sum(axis=2),
        "tr": a64.transpose(2, 0, 1), "cat": np.concatenate([a64, a64], axis=1),
        "sl": a64[:, :, 1:3], "ga": a64[:, idx], "rs": a64.reshape(2, -1),
        "lsm": np.log(ref_softmax(a64)), "op": np.where(a64 > 0, a64, 0.25 * a64),
    }
    assert set(out) == set(ref)
    for name in ref:
        assert_close(out[name], ref[name], name)
    assert network.get_tensor("c").is_constant


def test_int64_and_bool_tensors_round_trip():
    x = RNG.integers(-50, 50, size=(3, 4)).astype(np.int64)

    def net(n):
        t = n.add_input("x", kiln.int64, x.shape)
        s = n.add_constant((1, 4), np.array([[1, 2, 3, 4]], dtype=np.int64))
        prod = n.add_elementwise(t, s, kiln.ElementWiseOperation.PROD)
        prod.get_output(0).name = "prod"
        n.mark_output(prod.get_output(0))
        zero = n.add_constant((), np.array(0, dtype=np.int64))
        gt = n.add_elementwise(t, zero, kiln.ElementWiseOperation.GREATER)
        gt.get_output(0).name = "pos"
        n.mark_output(gt.get_output(0))

    out, _ = build_and_run(net, {"x": x})
    assert out["prod"].dtype == np.int64 and out["pos"].dtype == np.bool_
    np.testing.assert_array_equal(out["prod"], x * np.array([[1, 2, 3, 4]]))
    np.testing.assert_array_equal(out["pos"], x > 0)


def test_layer_precision_and_repr():
    network = kiln.Builder(kiln.Logger()).create_network()
    t = network.add_input("x", kiln.float32, (2, 3), dim_names=["", ""])
    layer = network.add_activation(t, kiln.ActivationType.LEAKY_RELU, alpha=0.1)
    assert layer.precision == kiln.float32 and not layer.precision_is_set
    layer.precision = kiln.float16
    assert layer.precision == kiln.float16 and layer.precision_is_set
    layer.reset_precision()
    assert not layer.precision_is_set
    assert "x" in repr(t) and "float32" in repr(t)
    assert layer.type in repr(layer)


# --------------------------------------------------------------------------------------------
# ONNX, against onnxruntime.

def make_onnx_model(path=None):
    """X[batch,3,16,16] -> Conv(8,3x3,pad 1) -> Relu -> GlobalAveragePool -> Flatten -> Gemm(10)
    and a second output Sigmoid(Gemm)."""
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(7)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.3
    b = rng.standard_normal(8).astype(np.float32)
    gw = rng.standard_normal((10, 8)).astype(np.float32)
    gb = rng.standard_normal(10).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["X", "W", "B"], ["c"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"], name="relu"),
        helper.make_node("GlobalAveragePool", ["r"], ["g"], name="gap"),
        helper.make_node("Flatten", ["g"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "GW", "GB"], ["Y"], name="fc", transB=1),
        helper.make_node("Sigmoid", ["Y"], ["Z"], name="sig"),
    ]
    graph = helper.make_graph(
        nodes, "py_api_test",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["batch", 3, 16, 16])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["batch", 10]),
         helper.make_tensor_value_info("Z", TensorProto.FLOAT, ["batch", 10])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B"),
         numpy_helper.from_array(gw, "GW"), numpy_helper.from_array(gb, "GB")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if path is not None:
        with open(path, "wb") as f:
            f.write(model.SerializeToString())
    return model


def build_onnx_engine(parse, logger, profiles):
    builder = kiln.Builder(logger)
    network = builder.create_network(1 << int(kiln.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
    parser = kiln.OnnxParser(network, logger)
    assert parse(parser)
    assert parser.num_errors == 0 and parser.errors == []
    assert network.get_input(0).shape == (-1, 3, 16, 16)
    config = builder.create_builder_config()
    config.set_memory_pool_limit(kiln.MemoryPoolType.WORKSPACE, 1 << 28)
    assert config.get_memory_pool_limit(kiln.MemoryPoolType.WORKSPACE) == 1 << 28
    for lo, opt, hi in profiles:
        p = builder.create_optimization_profile()
        p.set_shape("X", (lo, 3, 16, 16), (opt, 3, 16, 16), (hi, 3, 16, 16))
        config.add_optimization_profile(p)
    plan = builder.build_serialized_network(network, config)
    return kiln.Runtime(logger).deserialize_cuda_engine(plan)


def test_onnx_flow_matches_onnxruntime(tmp_path):
    path = tmp_path / "model.onnx"
    model = make_onnx_model(path)
    sess = ort_session(str(path))
    logger = kiln.Logger()
    parses = {
        "bytes": lambda p: p.parse(path.read_bytes()),
        "memoryview": lambda p: p.parse(memoryview(model.SerializeToString())),
        "ModelProto": lambda p: p.parse(model),
        "file": lambda p: p.parse_from_file(path),
        "file str": lambda p: p.parse_from_file(str(path)),
    }
    for how, parse in parses.items():
        engine = build_onnx_engine(parse, logger, [(1, 2, 4)])
        assert engine.io_tensor_names == ["X", "Y", "Z"]
        context = engine.create_execution_context()
        for batch in (1, 4):
            x = RNG.standard_normal((batch, 3, 16, 16)).astype(np.float32)
            ref_y, ref_z = sess.run(["Y", "Z"], {"X": x})
            out = context.infer({"X": x})
            assert_close(out["Y"], ref_y, f"Y ({how}, batch {batch})")
            assert_close(out["Z"], ref_z, f"Z ({how}, batch {batch})")


def test_dynamic_shapes_with_two_profiles(tmp_path):
    path = tmp_path / "model.onnx"
    make_onnx_model(path)
    sess = ort_session(str(path))
    engine = build_onnx_engine(lambda p: p.parse_from_file(path), kiln.Logger(),
                               [(1, 1, 2), (3, 4, 6)])
    assert engine.num_optimization_profiles == 2
    assert engine.get_tensor_profile_shape("X", 1)[2] == (6, 3, 16, 16)
    context = engine.create_execution_context()
    assert context.active_optimization_profile == 0
    with pytest.raises(kiln.Error):
        context.set_input_shape("X", (5, 3, 16, 16))  # outside profile 0
    context.set_optimization_profile(1)
    assert context.active_optimization_profile == 1
    for batch in (3, 5, 6):
        x = RNG.standard_normal((batch, 3, 16, 16)).astype(np.float32)
        out = context.infer({"X": x})
        assert_close(out["Y"], sess.run(["Y"], {"X": x})[0], f"profile 1, batch {batch}")
    with pytest.raises(kiln.Error):
        context.set_input_shape("X", (2, 3, 16, 16))  # below profile 1's min


# --------------------------------------------------------------------------------------------
# Errors carry the C++ message; nothing aborts.

def test_shape_outside_profile_raises_with_cpp_message(conv_context):
    with pytest.raises(kiln.Error) as info:
        conv_context.set_input_shape("x", (5, 3, 8, 8))
    assert conv_context.last_error and conv_context.last_error in str(info.value)
    assert "x" in str(info.value)
    with pytest.raises(kiln.Error):
        conv_context.set_input_shape("x", (2, 3, 9, 8))  # contradicts a static dim


def test_unknown_tensor_names_raise(conv_context):
    engine = conv_context.engine
    with pytest.raises(kiln.Error, match="nope"):
        conv_context.set_input_shape("nope", (1, 3, 8, 8))
    with pytest.raises(kiln.Error, match="unknown tensor name 'nope'.*'x', 'probs'"):
        engine.get_tensor_dtype("nope")
    with pytest.raises(kiln.Error, match="unknown tensor name 'nope'"):
        engine.get_tensor_shape("nope")
    with pytest.raises(kiln.Error, match="unknown tensor name 'nope'"):
        conv_context.set_tensor_address("nope", np.zeros(4, np.float32))
    with pytest.raises(kiln.Error, match="unknown input name"):
        conv_context.infer({"x": np.zeros((1, 3, 8, 8), np.float32), "nope": np.zeros(1)})
    with pytest.raises(kiln.Error, match="missing input"):
        conv_context.infer({})
    with pytest.raises(IndexError):
        engine.get_tensor_name(7)


def test_execute_without_bindings_raises(conv_plan):
    context = kiln.Runtime().deserialize_cuda_engine(conv_plan).create_execution_context()
    context.set_input_shape("x", (1, 3, 8, 8))
    with pytest.raises(kiln.Error) as info:
        context.execute_v2()
    assert context.last_error in str(info.value)


def test_bad_onnx_raises_parse_error_with_errors(tmp_path):
    network = kiln.Builder(kiln.Logger(kiln.Logger.INTERNAL_ERROR)).create_network()
    parser = kiln.OnnxParser(network, kiln.Logger(kiln.Logger.INTERNAL_ERROR))
    with pytest.raises(kiln.OnnxParseError) as info:
        parser.parse(b"this is not an ONNX model")
    assert isinstance(info.value, kiln.Error)
    errors = info.value.errors
    assert errors and errors[0].reason and errors[0].reason in str(info.value)
    assert parser.num_errors == len(errors)
    assert parser.get_error(0).reason == errors[0].reason
    with pytest.raises(kiln.Error):
        parser.parse_from_file(tmp_path / "missing.onnx")
    with pytest.raises(TypeError):
        parser.parse(12345)


def test_unsupported_onnx_node_is_reported_with_node_and_op():
    from onnx import TensorProto, helper
    nodes = [helper.make_node("Relu", ["X"], ["r"], name="ok_relu"),
             helper.make_node("NoSuchOp", ["r"], ["Y"], name="weird_node")]
    graph = helper.make_graph(
        nodes, "bad", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [2])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    network = kiln.Builder(kiln.Logger(kiln.Logger.INTERNAL_ERROR)).create_network()
    parser = kiln.OnnxParser(network, kiln.Logger(kiln.Logger.INTERNAL_ERROR))
    with pytest.raises(kiln.OnnxParseError, match="weird_node") as info:
        parser.parse(model.SerializeToString())
    (err,) = [e for e in info.value.errors if e.node == "weird_node"]
    assert err.op == "NoSuchOp" and err.node_index == 1 and err.reason
    assert err.code == kiln.ParserErrorCode.UNSUPPORTED_NODE
    assert "weird_node" in str(err)
    assert "Relu" in kiln.OnnxParser.supported_ops()


def test_network_and_builder_errors_raise_with_cpp_message():
    builder = kiln.Builder(kiln.Logger(kiln.Logger.INTERNAL_ERROR))
    network = builder.create_network()
    x = network.add_input("x", kiln.float32, (1, 3, 8, 8))
    bad_kernel = np.zeros((4, 2, 3, 3), np.float32)  # 2 input channels, x has 3
    with pytest.raises(kiln.Error) as info:
        network.add_convolution(x, 4, (3, 3), bad_kernel)
    assert network.last_error and network.last_error in str(info.value)
    with pytest.raises(kiln.Error):
        network.add_input("x", kiln.float32, (1,))  # duplicate name
    with pytest.raises(ValueError, match="at most 8 dims"):
        network.add_input("big", kiln.float32, (1,) * 9)
    with pytest.raises(TypeError):
        network.add_constant((2,), np.zeros(2, np.complex64))
    # No outputs: the build fails with the builder's message.
    with pytest.raises(kiln.Error) as info:
        builder.build_serialized_network(network, builder.create_builder_config())
    assert builder.last_error and builder.last_error in str(info.value)
    # An invalid profile (min > max) is refused when added to a config.
    profile = builder.create_optimization_profile()
    profile.set_shape("x", (4, 3, 8, 8), (2, 3, 8, 8), (1, 3, 8, 8))
    assert not profile.is_valid()
    with pytest.raises(kiln.Error, match="invalid"):
        builder.create_builder_config().add_optimization_profile(profile)
    with pytest.raises(kiln.Error):  # a rank that contradicts the earlier call
        profile.set_dimensions("x", kiln.OptProfileSelector.MIN, (1, 3))


def test_corrupt_plan_raises_with_runtime_message(conv_plan):
    runtime = kiln.Runtime(kiln.Logger(kiln.Logger.INTERNAL_ERROR))
    with pytest.raises(kiln.Error) as info:
        runtime.deserialize_cuda_engine(b"garbage")
    assert runtime.last_error and runtime.last_error in str(info.value)
    corrupt = bytearray(conv_plan)
    corrupt[len(corrupt) // 2] ^= 0xFF
    with pytest.raises(kiln.Error):
        runtime.deserialize_cuda_engine(corrupt)
    with pytest.raises(TypeError):
        runtime.deserialize_cuda_engine("not bytes")


# --------------------------------------------------------------------------------------------
# Logger.

def test_logger_callback_receives_messages():
    got = []
    logger = kiln.Logger(kiln.Logger.VERBOSE, callback=lambda sev, msg: got.append((sev, msg)))
    runtime = kiln.Runtime(logger)
    with pytest.raises(kiln.Error):
        runtime.deserialize_cuda_engine(b"garbage")
    errors = [m for s, m in got if s == kiln.Severity.ERROR]
    assert errors, f"no ERROR message logged; got {got}"
    assert any(runtime.last_error in m or m in runtime.last_error for m in errors)
    # Building logs through the same sink (released GIL re-acquired in the callback).
    got.clear()
    build_conv_net(logger)
    assert got and all(isinstance(s, kiln.Severity) and isinstance(m, str) for s, m in got)


def test_logger_min_severity_filters_and_subclass_override():
    class Collect(kiln.Logger):
        def __init__(self):
            super().__init__(kiln.Logger.ERROR)
            self.seen = []

        def log(self, severity, message):
            self.seen.append(severity)

    logger = Collect()
    runtime = kiln.Runtime(logger)
    with pytest.raises(kiln.Error):
        runtime.deserialize_cuda_engine(b"garbage")
    build_conv_net(logger)
    assert kiln.Severity.ERROR in logger.seen
    assert all(s <= kiln.Severity.ERROR for s in logger.seen)
    assert logger.min_severity == kiln.Severity.ERROR


def test_logger_callback_exception_does_not_abort():
    def boom(sev, msg):
        raise ValueError("callback failure")
    seen = []
    old_hook = sys.unraisablehook
    sys.unraisablehook = lambda u: seen.append(u.exc_type)
    try:
        runtime = kiln.Runtime(kiln.Logger(kiln.Logger.VERBOSE, callback=boom))
        with pytest.raises(kiln.Error):
            runtime.deserialize_cuda_engine(b"garbage")
    finally:
        sys.unraisablehook = old_hook
    assert ValueError in seen


# --------------------------------------------------------------------------------------------
# Type stubs stay in step with the module.

def test_type_stubs_cover_the_module():
    stub_path = os.path.join(REPO_ROOT, "python", "kiln", "__init__.pyi")
    with open(stub_path) as f:
        tree = ast.parse(f.read())
    missing = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            if not hasattr(kiln, node.name):
                missing.append(node.name)
                continue
            cls = getattr(kiln, node.name)
            for item in node.body:
                names = []
                if isinstance(item, (ast.FunctionDef, ast.AnnAssign, ast.Assign)):
                    if isinstance(item, ast.FunctionDef):
                        names = [item.name]
                    elif isinstance(item, ast.AnnAssign):
                        names = [item.target.id]
                    else:
                        names = [t.id for t in item.targets]
                for n in names:
                    if n in ("__init__", "__buffer__") or (node.name, n) == ("OnnxParseError",
                                                                            "errors"):
                        continue
                    if not hasattr(cls, n):
                        missing.append(f"{node.name}.{n}")
        elif isinstance(node, ast.FunctionDef) and not hasattr(kiln, node.name):
            missing.append(node.name)
    assert not missing, f"in __init__.pyi but not in the module: {missing}"
    # And every public class of the module has a stub.
    stubbed = {n.name for n in tree.body if isinstance(n, ast.ClassDef)}
    classes = {n for n in dir(kiln) if isinstance(getattr(kiln, n), type) and not n.startswith("_")}
    assert classes <= stubbed, f"classes without stubs: {sorted(classes - stubbed)}"


def test_profiler_subclass_gets_every_layer_per_run(conv_context):
    """A Python kiln.Profiler (TensorRT's IProfiler) receives each layer once per run, in order."""

    class Times(kiln.IProfiler):
        def __init__(self):
            super().__init__()
            self.names = []
            self.ms = []

        def report_layer_time(self, layer_name, ms):
            self.names.append(layer_name)
            self.ms.append(ms)

    x = RNG.standard_normal((2, 3, 8, 8)).astype(np.float32)
    y = np.full((2, 5), np.nan, dtype=np.float32)
    conv_context.set_input_shape("x", x.shape)
    conv_context.set_tensor_address("x", x)
    conv_context.set_tensor_address("probs", y)
    assert conv_context.profiler is None
    times = Times()
    conv_context.profiler = times
    assert conv_context.profiler is times
    assert conv_context.execute_v2()
    per_run = len(times.names)
    assert per_run >= 4 and "conv1" in times.names
    assert conv_context.execute_v2()
    assert times.names == times.names[:per_run] * 2
    assert all(t >= 0 for t in times.ms)
    assert_close(y, conv_net_reference(x), "profiled run")
    conv_context.profiler = None
    assert conv_context.execute_v2()
    assert len(times.names) == 2 * per_run


def test_data_dependent_outputs_and_shape_tensor_inputs_match_onnxruntime(tmp_path):
    """NonZero + Unique (outputs whose shape depends on the data: infer() places them through a
    HostOutputAllocator) and a Reshape whose target is an input (a shape tensor input, bound as
    a host array), against onnxruntime for two sets of data."""
    from onnx import TensorProto, helper
    nodes = [helper.make_node("NonZero", ["x"], ["nz"]),
             helper.make_node("Unique", ["x"], ["u", "idx", "inv", "cnt"], sorted=1),
             helper.make_node("Reshape", ["x", "target"], ["r"])]
    graph = helper.make_graph(
        nodes, "dd",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6]),
         helper.make_tensor_value_info("target", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info(n, t, None) for n, t in
         [("nz", TensorProto.INT64), ("u", TensorProto.FLOAT), ("idx", TensorProto.INT64),
          ("inv", TensorProto.INT64), ("cnt", TensorProto.INT64), ("r", TensorProto.FLOAT)]])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "dd.onnx"
    path.write_bytes(model.SerializeToString())
    sess = ort_session(str(path))
    logger = kiln.Logger()
    builder = kiln.Builder(logger)
    network = builder.create_network(0)
    parser = kiln.OnnxParser(network, logger)
    assert parser.parse_from_file(path)
    assert network.get_input(1).is_shape_tensor and not network.get_input(0).is_shape_tensor
    plan = builder.build_serialized_network(network, builder.create_builder_config())
    engine = kiln.Runtime(logger).deserialize_cuda_engine(plan)
    assert engine.is_shape_inference_io("target")
    assert engine.get_tensor_shape("nz") == (2, -1)
    context = engine.create_execution_context()
    rng = np.random.default_rng(5)
    for target in ([3, 4], [12, 1]):
        x = rng.integers(-2, 3, (2, 6)).astype(np.float32)  # zeros and repeats
        t = np.array(target, np.int64)
        out = context.infer({"x": x, "target": t})
        ref = dict(zip(["nz", "u", "idx", "inv", "cnt", "r"],
                       sess.run(None, {"x": x, "target": t})))
        for name, want in ref.items():
            assert out[name].shape == want.shape, f"{name}: {out[name].shape} vs {want.shape}"
            np.testing.assert_array_equal(out[name], want, err_msg=name)


def test_low_precision_outputs_are_ml_dtypes_arrays(tmp_path):
    """Cast to float8 e4m3fn and int4 (one element per byte in Kiln, as in ml_dtypes): infer()
    returns ml_dtypes arrays equal to ml_dtypes' own conversion of in-range values."""
    ml_dtypes = pytest.importorskip("ml_dtypes")
    from onnx import TensorProto, helper
    nodes = [helper.make_node("Cast", ["x"], ["f8"], to=TensorProto.FLOAT8E4M3FN),
             helper.make_node("Cast", ["k"], ["i4"], to=TensorProto.INT4)]
    graph = helper.make_graph(
        nodes, "lp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8]),
         helper.make_tensor_value_info("k", TensorProto.INT32, [6])],
        [helper.make_tensor_value_info("f8", TensorProto.FLOAT8E4M3FN, [8]),
         helper.make_tensor_value_info("i4", TensorProto.INT4, [6])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    logger = kiln.Logger()
    builder = kiln.Builder(logger)
    network = builder.create_network(0)
    assert kiln.OnnxParser(network, logger).parse(model)
    plan = builder.build_serialized_network(network, builder.create_builder_config())
    engine = kiln.Runtime(logger).deserialize_cuda_engine(plan)
    assert kiln.nptype(engine.get_tensor_dtype("f8")) == np.dtype(ml_dtypes.float8_e4m3fn)
    assert kiln.from_numpy_dtype(ml_dtypes.int4) == kiln.DataType.INT4
    x = np.array([0.0, -1.75, 3.3, 100.0, -448.0, 0.013, 7.0625, 240.5], np.float32)
    k = np.array([-8, -1, 0, 3, 7, 5], np.int32)
    out = engine.create_execution_context().infer({"x": x, "k": k})
    assert out["f8"].dtype == np.dtype(ml_dtypes.float8_e4m3fn)
    np.testing.assert_array_equal(out["f8"].view(np.uint8),
                                  x.astype(ml_dtypes.float8_e4m3fn).view(np.uint8))
    np.testing.assert_array_equal(out["i4"].astype(np.int32), k)


def test_disabled_passes_keep_the_decomposed_gelu(tmp_path):
    """config.disabled_passes: with gelu-fusion off the decomposed erf GELU stays several layers,
    with it on it becomes one Gelu layer; both match the formula; an unknown name fails."""
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(np.array(v, np.float32), n)
             for n, v in (("sqrt2", np.sqrt(2.0)), ("one", 1.0), ("half", 0.5))]
    nodes = [helper.make_node("Div", ["x", "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
             helper.make_node("Add", ["e", "one"], ["a"]), helper.make_node("Mul", ["x", "a"], ["m"]),
             helper.make_node("Mul", ["m", "half"], ["y"])]
    graph = helper.make_graph(nodes, "gelu", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    x = RNG.standard_normal((4, 8)).astype(np.float32)
    from math import erf
    want = np.vectorize(lambda v: 0.5 * v * (1.0 + erf(v / np.sqrt(2.0))))(x.astype(np.float64))
    layers = {}
    for disabled in ([], ["gelu-fusion"]):
        logger = kiln.Logger()
        builder = kiln.Builder(logger)
        network = builder.create_network(0)
        assert kiln.OnnxParser(network, logger).parse(model)
        config = builder.create_builder_config()
        config.disabled_passes = disabled
        assert config.disabled_passes == disabled
        engine = kiln.Runtime(logger).deserialize_cuda_engine(
            builder.build_serialized_network(network, config))
        layers[tuple(disabled)] = engine.num_layers
        y = engine.create_execution_context().infer({"x": x})["y"]
        assert np.max(np.abs(y - want)) <= 1e-5 * max(np.max(np.abs(want)), 1.0)
    assert layers[()] == 1 and layers[("gelu-fusion",)] == 5, layers
    builder = kiln.Builder(kiln.Logger())
    network = builder.create_network(0)
    assert kiln.OnnxParser(network, kiln.Logger()).parse(model)
    config = builder.create_builder_config()
    config.disabled_passes = ["no-such-pass"]
    with pytest.raises(kiln.Error):
        builder.build_serialized_network(network, config)


def test_timing_cache_file_property():
    """config.timing_cache_file round-trips (it is read and written by GPU builds only; a CPU
    build with a path set neither reads nor creates the file)."""
    builder = kiln.Builder(kiln.Logger())
    config = builder.create_builder_config()
    assert config.timing_cache_file == ""
    config.timing_cache_file = "/nonexistent/dir/cache.txt"
    assert config.timing_cache_file == "/nonexistent/dir/cache.txt"
    network = builder.create_network(0)
    x = network.add_input("x", kiln.DataType.FLOAT, (2, 3))
    network.mark_output(network.add_activation(x, kiln.ActivationType.RELU).get_output(0))
    assert builder.build_serialized_network(network, config) is not None


def test_profiling_verbosity_is_stored_in_the_plan_and_limits_nvtx():
    """config.profiling_verbosity (trtexec --profilingVerbosity) is stored in the plan: the engine
    reports it, NONE hides the layer information, and a context's NVTX verbosity cannot exceed
    the engine's (NONE engines refuse any)."""
    builder = kiln.Builder(kiln.Logger())
    runtime = kiln.Runtime(kiln.Logger())
    engines = {}
    for verbosity in (kiln.ProfilingVerbosity.DETAILED, kiln.ProfilingVerbosity.NONE):
        network = builder.create_network(0)
        x = network.add_input("x", kiln.DataType.FLOAT, (2, 3))
        relu = network.add_activation(x, kiln.ActivationType.RELU)
        relu.name = "the_relu"
        network.mark_output(relu.get_output(0))
        config = builder.create_builder_config()
        assert config.profiling_verbosity == kiln.ProfilingVerbosity.DETAILED  # the default
        config.profiling_verbosity = verbosity
        assert config.profiling_verbosity == verbosity
        engines[verbosity] = runtime.deserialize_cuda_engine(
            builder.build_serialized_network(network, config))
    detailed = engines[kiln.ProfilingVerbosity.DETAILED]
    none = engines[kiln.ProfilingVerbosity.NONE]
    assert detailed.profiling_verbosity == kiln.ProfilingVerbosity.DETAILED
    assert none.profiling_verbosity == kiln.ProfilingVerbosity.NONE
    assert "the_relu" in detailed.get_layer_information()
    assert "the_relu" not in none.get_layer_information()

    ctx = detailed.create_execution_context()
    if os.environ.get("KILN_NVTX", "0") in ("", "0"):
        assert ctx.nvtx_verbosity == kiln.ProfilingVerbosity.NONE  # off by default
    ctx.nvtx_verbosity = kiln.ProfilingVerbosity.LAYER_NAMES_ONLY
    assert ctx.nvtx_verbosity == kiln.ProfilingVerbosity.LAYER_NAMES_ONLY
    ctx.nvtx_verbosity = kiln.ProfilingVerbosity.NONE
    assert ctx.nvtx_verbosity == kiln.ProfilingVerbosity.NONE
    with pytest.raises(kiln.Error):
        none.create_execution_context().nvtx_verbosity = kiln.ProfilingVerbosity.DETAILED
