#!/usr/bin/env python3
"""onnxruntime runner of `kiln compare` (docs/cli.md).

Kiln's C++ cannot link onnxruntime, so `kiln compare` runs this script with python3:

    python3 ort_runner.py REQUEST.json

REQUEST.json (written by kiln compare):
    {"model": "m.onnx",
     "inputs": [{"name": "x", "dtype": "float32", "shape": [2, 4], "file": "in_0.bin"}, ...],
     "markAll": false,            # true: every node output becomes a graph output
     "outDir": "/tmp/..."}

Input files hold the raw little-endian bytes of the tensor in C order (ndarray.tofile). The
model runs on onnxruntime's CPU execution provider with graph optimizations off (the graph as
written, no fusions that change rounding). The script writes each output to
OUTDIR/out_<i>.bin and OUTDIR/result.json:
    {"onnxruntime": "1.23.2",
     "outputs": [{"name": "y", "dtype": "float32", "shape": [2, 3], "file": ".../out_0.bin"}],
     "skipped": [{"name": "t", "reason": "..."}],          # --markAll: outputs ORT refused
     "nodes": [{"name": "relu", "op": "Relu", "domain": "", "outputs": ["y"]}]}   # --markAll
Node names are the model's, or "<op>_<index>" for unnamed nodes (as Kiln's parser names them).

Exit codes: 0 success; 3 a needed package is missing (onnxruntime, numpy, or onnx for markAll;
the message says what to pip install); 1 any other failure (message on stderr).
"""
import json
import os
import sys

EXIT_MISSING = 3


def fail(message, code=1):
    sys.stderr.write(f"ort_runner: {message}\n")
    sys.exit(code)


def node_name(node, index):
    return node.name if node.name else f"{node.op_type}_{index}"


def add_all_outputs(model):
    """Makes every node output (except those of Constant nodes) a graph output, in node order.
    Types come from onnx shape inference (value_info may lack them); outputs without a known
    element type are skipped. Returns (names added, [(name, reason)] skipped, node list)."""
    from onnx import shape_inference
    try:
        inferred = shape_inference.infer_shapes(model)
    except Exception as e:  # noqa: BLE001 - any inference failure: fall back to what is declared
        sys.stderr.write(f"ort_runner: warning: onnx shape inference failed ({e}); using the "
                         "model's own value_info\n")
        inferred = model
    g = inferred.graph
    typed = {}
    for vi in list(g.value_info) + list(g.output) + list(g.input):
        typed.setdefault(vi.name, vi)
    existing = {o.name for o in model.graph.output}
    added, skipped, nodes = [], [], []
    for i, node in enumerate(model.graph.node):
        outs = [o for o in node.output if o]
        nodes.append({"name": node_name(node, i), "op": node.op_type,
                      "domain": node.domain if node.domain != "ai.onnx" else "",
                      "outputs": outs})
        if node.op_type == "Constant":
            continue
        for o in outs:
            if o in existing:
                continue
            vi = typed.get(o)
            if (vi is None or not vi.type.HasField("tensor_type")
                    or vi.type.tensor_type.elem_type == 0):
                skipped.append((o, "no element type after onnx shape inference"))
                continue
            copy = model.graph.output.add()
            copy.CopyFrom(vi)
            existing.add(o)
            added.append(o)
    return added, skipped, nodes


def make_session(ort, model_bytes):
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3  # errors only: ORT warns about every unused initializer
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def session_with_outputs(ort, model, added):
    """A session of `model` (whose graph outputs include `added`). If onnxruntime refuses the
    model, the added outputs are tried one at a time and those it refuses are dropped.
    Returns (session, [(name, reason)] dropped)."""
    try:
        return make_session(ort, model.SerializeToString()), []
    except Exception as first_error:  # noqa: BLE001
        if not added:
            raise
        first = str(first_error).splitlines()[0] if str(first_error) else repr(first_error)
    original = [o for o in model.graph.output if o.name not in set(added)]
    extra = {o.name: o for o in model.graph.output if o.name in set(added)}
    kept, dropped = [], []

    def with_outputs(names):
        del model.graph.output[:]
        model.graph.output.extend(original)
        model.graph.output.extend(extra[n] for n in names)
        return model.SerializeToString()

    # The model without extra outputs must load, else the failure is not about them.
    make_session(ort, with_outputs([]))
    for name in added:
        try:
            make_session(ort, with_outputs(kept + [name]))
            kept.append(name)
        except Exception as e:  # noqa: BLE001
            msg = str(e).splitlines()[0] if str(e) else repr(e)
            dropped.append((name, f"onnxruntime refused it as a graph output: {msg}"))
    sys.stderr.write(f"ort_runner: warning: onnxruntime refused the model with every node "
                     f"output marked ({first}); dropped {len(dropped)} of them\n")
    return make_session(ort, with_outputs(kept)), dropped


def main(argv):
    if len(argv) != 2:
        fail("usage: ort_runner.py REQUEST.json")
    with open(argv[1]) as f:
        req = json.load(f)
    try:
        import numpy as np
    except ImportError:
        fail("numpy is not installed (pip install numpy)", EXIT_MISSING)
    try:
        import onnxruntime as ort
    except ImportError:
        fail(f"onnxruntime is not installed for {sys.executable} (pip install onnxruntime)",
             EXIT_MISSING)
    mark_all = bool(req.get("markAll"))
    if mark_all:
        try:
            import onnx
        except ImportError:
            fail("--markAll needs the onnx package (pip install onnx)", EXIT_MISSING)

    feeds = {}
    for spec in req["inputs"]:
        dtype = np.dtype("bool" if spec["dtype"] == "bool" else spec["dtype"])
        arr = np.fromfile(spec["file"], dtype=dtype)
        shape = [int(d) for d in spec["shape"]]
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            fail(f"input '{spec['name']}': {spec['file']} holds {arr.size} elements, "
                 f"shape {shape} needs {int(np.prod(shape, dtype=np.int64))}")
        feeds[spec["name"]] = arr.reshape(shape)

    skipped, nodes = [], []
    if mark_all:
        model = onnx.load(req["model"])
        added, skipped, nodes = add_all_outputs(model)
        sess, dropped = session_with_outputs(ort, model, added)
        skipped += dropped
    else:
        sess = make_session(ort, req["model"])
    names = [o.name for o in sess.get_outputs()]
    results = sess.run(names, feeds)

    out_dir = req["outDir"]
    outputs = []
    for i, (name, value) in enumerate(zip(names, results)):
        arr = np.ascontiguousarray(np.asarray(value))
        path = os.path.join(out_dir, f"out_{i}.bin")
        arr.tofile(path)
        outputs.append({"name": name, "dtype": str(arr.dtype), "shape": list(arr.shape),
                        "file": path})
    result = {"onnxruntime": ort.__version__, "outputs": outputs,
              "skipped": [{"name": n, "reason": r} for n, r in skipped], "nodes": nodes}
    with open(os.path.join(out_dir, "result.json"), "w") as f:
        json.dump(result, f)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - one readable line for kiln, not a traceback
        fail(f"{type(e).__name__}: {e}")
