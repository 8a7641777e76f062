"""RNN, GRU and LSTM imported from ONNX and run through `kiln run --onnx`, compared with
onnxruntime running the same file.

Each case is one recurrent node built with onnx.helper (random weights as initializers, fixed
seed) at opset 9 (op version 7), 14 or 22, covering directions, sequence_lens (as an initializer
and as a run-time input), initial states, peepholes, clip, linear_before_reset, input_forget,
non-default activations with their alpha/beta, absent outputs and symbolic dims. onnxruntime has
no batchwise (layout=1) kernels, so layout=1 cases are compared with onnxruntime running the
layout=0 node between Transposes. Reference: onnxruntime CPU with graph optimizations off
(kiln_testutil.ort_reference); bound: kiln_testutil.assert_close (relative 1e-5 of the output's
scale). Activations with alpha/beta always get one value per activation: onnxruntime reads the
lists positionally and uses 0 rather than the ONNX defaults when they are absent. onnxruntime's
LSTM (1.23) gives zeros where Affine, ScaledTanh or HardSigmoid is g or h, and does not apply
alpha/beta to the reverse direction's activations, so the LSTM cases give parameters only to the
forward direction and take those three only as f (the C++ tests in tests/ops/recurrent_test.cpp
cover every activation against the spec's equations).
"""
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import kiln_testutil as ku

F = TensorProto.FLOAT
GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _ir_for(opset):
    return 7 if opset <= 12 else (8 if opset <= 18 else 10)


def recurrent_case(op, opset, seed, seq=5, batch=3, inp=4, hidden=6, direction="forward",
                   layout=0, bias=True, init_h=False, init_c=False, peepholes=False,
                   seq_lens=None, seq_lens_input=False, outputs=("Y", "Y_h", "Y_c"),
                   symbolic=False, **attrs):
    """(kiln model, reference model, feeds): one recurrent node; the reference is the same node
    with layout 0 between Transposes when layout == 1, else the same model."""
    rng = np.random.default_rng(seed)
    g, d = GATES[op], 2 if direction == "bidirectional" else 1
    outputs = [o for o in outputs if op == "LSTM" or o != "Y_c"]

    def rand(*shape, scale=0.7):
        return rng.uniform(-scale, scale, shape).astype(np.float32)

    inits = [numpy_helper.from_array(rand(d, g * hidden, inp), "W"),
             numpy_helper.from_array(rand(d, g * hidden, hidden), "R")]
    names = ["X", "W", "R", "", "", "", "", ""]
    feeds = {}
    x_shape = (seq, batch, inp) if layout == 0 else (batch, seq, inp)
    feeds["X"] = rand(*x_shape, scale=1.5)
    graph_inputs = [helper.make_tensor_value_info(
        "X", F, (["seq", "batch", inp] if layout == 0 else ["batch", "seq", inp]) if symbolic
        else list(x_shape))]
    state_shape = (d, batch, hidden) if layout == 0 else (batch, d, hidden)
    if bias:
        inits.append(numpy_helper.from_array(rand(d, 2 * g * hidden, scale=0.5), "B"))
        names[3] = "B"
    if seq_lens is not None:
        lens = np.array(seq_lens, np.int32)
        names[4] = "sequence_lens"
        if seq_lens_input:
            feeds["sequence_lens"] = lens
            graph_inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, [batch]))
        else:
            inits.append(numpy_helper.from_array(lens, "sequence_lens"))
    for flag, slot, name in ((init_h, 5, "initial_h"), (init_c, 6, "initial_c")):
        if flag:
            feeds[name] = rand(*state_shape, scale=1.0)
            graph_inputs.append(helper.make_tensor_value_info(name, F, list(state_shape)))
            names[slot] = name
    if peepholes:
        inits.append(numpy_helper.from_array(rand(d, 3 * hidden, scale=0.5), "P"))
        names[7] = "P"
    while names[-1] == "":
        names.pop()
    out_names = ["Y", "Y_h", "Y_c"][:3 if op == "LSTM" else 2]
    node_outs = [n if n in outputs else "" for n in out_names]
    while node_outs[-1] == "":
        node_outs.pop()
    graph_outputs = [helper.make_tensor_value_info(n, F, None) for n in node_outs if n]

    def model(nodes, inputs):
        graph = helper.make_graph(nodes, op.lower(), inputs, graph_outputs, initializer=inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                 ir_version=_ir_for(opset))

    if layout == 1:
        attrs["layout"] = 1
    kiln_model = model([helper.make_node(op, names, node_outs, name="rec", hidden_size=hidden,
                                         direction=direction, **attrs)], graph_inputs)
    if layout == 0:
        return kiln_model, kiln_model, feeds
    # Reference: X, initial_h/c transposed to layout 0; Y [S,D,N,H] -> [N,S,D,H];
    # Y_h/Y_c [D,N,H] -> [N,D,H].
    ref_attrs = {k: v for k, v in attrs.items() if k != "layout"}
    nodes, ref_names = [], list(names)
    for slot, perm in ((0, [1, 0, 2]), (5, [1, 0, 2]), (6, [1, 0, 2])):
        if slot < len(names) and names[slot]:
            nodes.append(helper.make_node("Transpose", [names[slot]], [names[slot] + "_t"], perm=perm))
            ref_names[slot] = names[slot] + "_t"
    ref_outs = [n + "_t" if n else "" for n in node_outs]
    nodes.append(helper.make_node(op, ref_names, ref_outs, hidden_size=hidden, direction=direction,
                                  **ref_attrs))
    for n in node_outs:
        if n:
            nodes.append(helper.make_node("Transpose", [n + "_t"], [n],
                                          perm=[2, 0, 1, 3] if n == "Y" else [1, 0, 2]))
    return kiln_model, model(nodes, graph_inputs), feeds


CASES = {
    "lstm_forward_op9": lambda: recurrent_case("LSTM", 9, 1, init_h=True, init_c=True),
    "lstm_bidirectional_peepholes_clip_op14": lambda: recurrent_case(
        "LSTM", 14, 2, direction="bidirectional", peepholes=True, init_h=True, init_c=True,
        seq_lens=[5, 2, 4], clip=0.6),
    "lstm_reverse_input_forget_op22": lambda: recurrent_case(
        "LSTM", 22, 3, direction="reverse", input_forget=1, init_c=True),
    "lstm_only_y_h_symbolic_op14": lambda: recurrent_case(
        "LSTM", 14, 4, outputs=("Y_h",), symbolic=True, seq_lens=[5, 3, 1],
        seq_lens_input=True, init_h=True),
    "lstm_activations_op14": lambda: recurrent_case(
        "LSTM", 14, 5, activations=["HardSigmoid", "LeakyRelu", "Elu"],
        activation_alpha=[0.2, 0.1, 0.8], activation_beta=[0.6, 0.0, 0.0], init_h=True),
    "lstm_bidirectional_activations_op14": lambda: recurrent_case(
        "LSTM", 14, 7, direction="bidirectional",
        activations=["HardSigmoid", "LeakyRelu", "Elu", "Sigmoid", "Softsign", "Softplus"],
        activation_alpha=[0.25, 0.1, 0.7, 0.0, 0.0, 0.0],
        activation_beta=[0.45, 0.0, 0.0, 0.0, 0.0, 0.0]),
    "lstm_layout1_op22": lambda: recurrent_case(
        "LSTM", 22, 6, layout=1, direction="bidirectional", init_h=True, init_c=True,
        peepholes=True, seq_lens=[4, 5, 2]),
    "gru_forward_op9": lambda: recurrent_case("GRU", 9, 11, init_h=True),
    "gru_reverse_linear_before_reset_op14": lambda: recurrent_case(
        "GRU", 14, 12, direction="reverse", linear_before_reset=1, init_h=True,
        seq_lens=[3, 5, 1]),
    "gru_bidirectional_seq_lens_input_op22": lambda: recurrent_case(
        "GRU", 22, 13, direction="bidirectional", seq_lens=[2, 5, 3], seq_lens_input=True,
        clip=0.8),
    "gru_activations_op14": lambda: recurrent_case(
        "GRU", 14, 14, activations=["HardSigmoid", "Elu"], activation_alpha=[0.3, 0.7],
        activation_beta=[0.4, 0.0], bias=False),
    "gru_layout1_op14": lambda: recurrent_case(
        "GRU", 14, 15, layout=1, init_h=True, linear_before_reset=1, outputs=("Y_h",)),
    "rnn_forward_op9": lambda: recurrent_case("RNN", 9, 21, init_h=True),
    "rnn_bidirectional_activations_op14": lambda: recurrent_case(
        "RNN", 14, 22, direction="bidirectional", activations=["Relu", "Affine"],
        activation_alpha=[0.0, 0.6], activation_beta=[0.0, -0.2], seq_lens=[5, 4, 2]),
    "rnn_reverse_thresholded_relu_op22": lambda: recurrent_case(
        "RNN", 22, 23, direction="reverse", activations=["ThresholdedRelu"],
        activation_alpha=[0.1], init_h=True, outputs=("Y",)),
    "rnn_layout1_softplus_op14": lambda: recurrent_case(
        "RNN", 14, 24, layout=1, direction="bidirectional", activations=["Softplus", "Tanh"],
        init_h=True, clip=1.5),
}


@pytest.fixture(scope="module")
def ort():
    try:
        import onnxruntime  # noqa: F401
    except ImportError as e:  # the one allowed skip: no independent reference
        pytest.skip(f"onnxruntime is not importable ({e})")


@pytest.mark.parametrize("name", sorted(CASES))
def test_recurrent_matches_onnxruntime(name, ort, kiln_cli, tmp_path):
    kiln_model, ref_model, feeds = CASES[name]()
    path = str(tmp_path / f"{name}.onnx")
    ref_path = str(tmp_path / f"{name}_ref.onnx")
    onnx.save(kiln_model, path)
    onnx.save(ref_model, ref_path)
    ref = ku.ort_reference(ref_path, feeds)
    load = ku.write_inputs(feeds, str(tmp_path))
    out_json = str(tmp_path / "out.json")
    ku.run_cli(["run", f"--onnx={path}", f"--shapes={ku.shapes_arg(feeds)}",
                f"--loadInputs={load}", f"--exportOutput={out_json}", "--iterations=1",
                "--duration=0", "--warmUp=0"], kiln_cli)
    got = ku.read_export_output(out_json)
    assert set(ref) == set(got), f"{name}: kiln exported {sorted(got)}, expected {sorted(ref)}"
    for out_name, want in ref.items():
        ku.assert_close(got[out_name], want, f"{name} output '{out_name}'")


def test_malformed_recurrent_node_is_reported_by_the_cli(kiln_cli, tmp_path):
    model, _, _ = recurrent_case("GRU", 14, 31, activations=["Sigmoid", "Swish"])
    path = str(tmp_path / "bad_gru.onnx")
    onnx.save(model, path)
    proc = ku.run_cli(["build", f"--onnx={path}"], kiln_cli, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    text = proc.stdout + proc.stderr
    assert "node 'rec' (GRU, opset 14" in text, text
    assert "unknown activation 'Swish'" in text, text
