"""Shared helpers for Kiln's Python tests.

- find_cli(): the `kiln` executable: $KILN_CLI, else the newest build*/bin/kiln in the repo.
- run_cli(args): runs it, failing the test with the full command line and output on error.
- write_inputs(): numpy arrays -> raw files (ndarray.tofile bytes) + a --loadInputs value.
- read_export_output(): parses a --exportOutput JSON file into {name: ndarray}.
- assert_close(): the float32 comparison every model test uses (bound stated there).
- ort_reference(): onnxruntime outputs with all graph optimizations off.
- explain(), assert_help_lists(): a finished process for assertion messages; a command's --help.
- save_tiny_cli_model(): the CLI tests' tiny two-output model (y = relu(x @ W + b), z = x * 2).
"""
import glob
import json
import os
import shlex
import subprocess

import numpy as np
import pytest

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLI_TIMEOUT_S = 300


def find_cli():
    """Path of the kiln CLI, or None. $KILN_CLI wins; else the newest build*/bin/kiln."""
    env = os.environ.get("KILN_CLI")
    if env:
        return env if os.access(env, os.X_OK) else None
    candidates = [p for p in glob.glob(os.path.join(REPO_ROOT, "build*", "bin", "kiln"))
                  if os.access(p, os.X_OK)]
    return max(candidates, key=os.path.getmtime) if candidates else None


def require_cli():
    """The CLI path; fails (never skips) the test when it cannot be found."""
    cli = find_cli()
    if cli is None:
        pytest.fail("kiln CLI not found: set KILN_CLI or build the kiln_cli target "
                    "(build*/bin/kiln)", pytrace=False)
    return cli


def run_cli(args, cli=None, timeout=CLI_TIMEOUT_S, check=True):
    """Runs `kiln ARGS...`; returns CompletedProcess. On a non-zero exit (check=True) fails
    the test with the command line and the tail of its output."""
    cli = cli or require_cli()
    cmd = [cli] + [str(a) for a in args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"timed out after {timeout}s: {shlex.join(cmd)}", pytrace=False)
    if check and proc.returncode != 0:
        out = (proc.stdout + proc.stderr)[-6000:]
        pytest.fail(f"kiln exited with {proc.returncode}: {shlex.join(cmd)}\n{out}",
                    pytrace=False)
    return proc


def shapes_arg(feeds):
    """{name: array} -> "name:2x3x32x32,other:2x12" (the --shapes/--minShapes syntax)."""
    return ",".join(f"{n}:{'x'.join(str(d) for d in np.shape(a))}" for n, a in feeds.items())


def dims_arg(dims):
    """{name: (2, 3, 32, 32)} -> "name:2x3x32x32"."""
    return ",".join(f"{n}:{'x'.join(str(d) for d in shape)}" for n, shape in dims.items())


def write_inputs(feeds, folder, tag=""):
    """Writes each array as raw bytes (ndarray.tofile: C order, native little-endian) and
    returns the --loadInputs value "name:path,...". File names avoid ':' and ','."""
    os.makedirs(folder, exist_ok=True)
    parts = []
    for name, arr in feeds.items():
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name)
        path = os.path.join(folder, f"{safe}{tag}.bin")
        np.ascontiguousarray(arr).tofile(path)
        parts.append(f"{name}:{path}")
    return ",".join(parts)


def _parse_dims(d):
    if d is None:
        return None
    if isinstance(d, str):
        d = d.strip()
        return [] if d == "" else [int(x) for x in d.split("x")]
    return [int(x) for x in d]


def _entry_to_array(entry):
    """One output entry -> ndarray. Accepts {"values"|"data": [...],
    "dimensions"|"dims"|"shape": "2x10" | [2, 10]} or a bare (nested) list."""
    if isinstance(entry, dict):
        values = next((entry[k] for k in ("values", "data", "value") if k in entry), None)
        if values is None:
            raise ValueError(f"output entry without values: keys {sorted(entry)}")
        dims = _parse_dims(next((entry[k] for k in ("dimensions", "dims", "shape")
                                 if k in entry), None))
    else:
        values, dims = entry, None
    arr = np.array(values, dtype=np.float64)
    if dims is not None:
        arr = arr.reshape(dims)
    return arr


def read_export_output(path):
    """Parses --exportOutput JSON into {name: float64 ndarray}.

    Accepts trtexec's layout, a list of {"name", "dimensions": "AxB", "values": [...]}, also
    wrapped as {"outputs": [...]}, or a map {name: entry}. JSON numbers parse exactly to
    float64, so two exports of equal float32 values compare equal."""
    with open(path) as f:
        doc = json.load(f)
    if isinstance(doc, dict) and "outputs" in doc:
        doc = doc["outputs"]
    result = {}
    if isinstance(doc, list):
        for entry in doc:
            result[entry["name"]] = _entry_to_array(entry)
    elif isinstance(doc, dict):
        for name, entry in doc.items():
            result[name] = _entry_to_array(entry)
    else:
        raise ValueError(f"{path}: unexpected JSON top level {type(doc).__name__}")
    return result


# Float32 model-level bound, relative to the output's largest magnitude:
#   max|kiln - ort| / max(max|ort|, 1e-6) <= 1e-5
# and, elementwise, np.allclose(kiln, ort, rtol=1e-4, atol=1e-5 * max|ort|).
# Both sides compute in float32 with different summation orders; for these shallow models the
# measured error is ~1e-6 of the output scale, so 1e-5 leaves headroom yet catches any wrong
# index, missing term or wrong epsilon.
REL_TOL = 1e-5
ELEM_RTOL = 1e-4
ELEM_ATOL_SCALE = 1e-5


def assert_close(actual, expected, what):
    """Asserts the model-level bound above; the message names `what` and the worst element."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, \
        f"{what}: shape {list(actual.shape)} != expected {list(expected.shape)}"
    assert np.all(np.isfinite(actual)), f"{what}: non-finite values in kiln output"
    scale = max(float(np.max(np.abs(expected))) if expected.size else 0.0, 1e-6)
    diff = np.abs(actual - expected)
    worst = int(np.argmax(diff)) if diff.size else 0
    max_err = float(diff.flat[worst]) if diff.size else 0.0
    rel = max_err / scale
    where = np.unravel_index(worst, diff.shape) if diff.size else ()
    detail = (f"{what}: max|kiln-ort| = {max_err:.3e} at {tuple(int(i) for i in where)} "
              f"(kiln {actual.flat[worst] if diff.size else 0:.7g}, "
              f"ort {expected.flat[worst] if diff.size else 0:.7g}), max|ort| = {scale:.4g}, "
              f"relative {rel:.3e}")
    assert rel <= REL_TOL, detail + f" > {REL_TOL}"
    assert np.allclose(actual, expected, rtol=ELEM_RTOL, atol=ELEM_ATOL_SCALE * scale), \
        detail + f" (elementwise allclose rtol={ELEM_RTOL}, atol={ELEM_ATOL_SCALE}*max|ort|)"
    return rel


def ort_session(model_path):
    """onnxruntime CPU session with every graph optimization disabled, so the reference runs
    the graph as written (no fusions that change rounding)."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model_path, opts, providers=["CPUExecutionProvider"])


def ort_reference(model_path, feeds):
    """{output name: ndarray} from onnxruntime for `feeds`."""
    sess = ort_session(model_path)
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def save_tiny_cli_model(path, w, b):
    """Writes the CLI tests' tiny model to `path` and returns it as a str: y = relu(x @ w + b)
    (x: float32[batch, 4], w: [4, 3], b: [3]; nodes matmul, add, relu) and z = x * 2 (node
    double), opset 17, checked with onnx.checker."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    z = helper.make_tensor_value_info("z", TensorProto.FLOAT, ["batch", 4])
    nodes = [
        helper.make_node("MatMul", ["x", "W"], ["xw"], name="matmul"),
        helper.make_node("Add", ["xw", "b"], ["xwb"], name="add"),
        helper.make_node("Relu", ["xwb"], ["y"], name="relu"),
        helper.make_node("Mul", ["x", "two"], ["z"], name="double"),
    ]
    inits = [numpy_helper.from_array(np.asarray(w, dtype=np.float32), "W"),
             numpy_helper.from_array(np.asarray(b, dtype=np.float32), "b"),
             numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two")]
    graph = helper.make_graph(nodes, "tiny", [x], [y, z], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def explain(proc):
    """A finished CLI process (exit code, stdout, stderr) for assertion messages."""
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


def assert_help_lists(cli, command, flags):
    """`kiln --help` names `command` ("compare", "debug precision"), and `kiln <command> --help`
    succeeds and lists every one of `flags`."""
    top = subprocess.run([cli, "--help"], capture_output=True, text=True, timeout=CLI_TIMEOUT_S)
    assert top.returncode == 0 and command in top.stdout, explain(top)
    p = subprocess.run([cli, *command.split(), "--help"], capture_output=True, text=True,
                       timeout=CLI_TIMEOUT_S)
    assert p.returncode == 0, explain(p)
    for flag in flags:
        assert flag in p.stdout, f"{flag} missing from kiln {command} --help"
