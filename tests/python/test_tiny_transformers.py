"""Model-level tests of the attention passes on tiny exports of the benchmark's transformers.

tests/data/tiny_vit.onnx (torchvision VisionTransformer: 2 layers, 2 heads, hidden 64) and
tests/data/tiny_bert.onnx (HF BertModel, eager attention: 2 layers, 2 heads, hidden 64, seq 16)
come from bench/export_tiny.py (the same exporter settings as bench/bench_models.py: opset 17,
dynamo=False); each .npz holds the inputs and PyTorch's float32 outputs (the reference).

Each model is built on the CPU with every optimizer pass and run on the .npz inputs:
    max|kiln - torch| / max|torch| <= 1e-4
and the plan's layers are counted with attention-layout enabled and disabled: every attention
becomes one FusedAttention and the heads split/merge Transposes around it disappear.
"""
import json
import os

import numpy as np
import pytest

import kiln_testutil as ku

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data")
REL_TOL = 1e-4

# name: (output name, attention layers, Transposes attention-layout removes per attention,
# compared with the plan built without it): the heads split of Q, K and V and the merge. (ViT:
# SDPA's K^T and attention-fusion's inverse Transpose cancel either way; BERT: K's [0,2,3,1]
# and the inverse compose into one [0,2,1,3].)
MODELS = {
    "tiny_vit": ("output", 2, 4),
    "tiny_bert": ("last_hidden_state", 2, 4),
}


def _build(cli, model, plan, extra=()):
    ku.run_cli(["build", f"--onnx={model}", f"--saveEngine={plan}", *extra], cli)
    doc = json.loads(ku.run_cli(["inspect", "--json", plan], cli).stdout)
    return [layer["type"] for layer in doc["layerInformation"]["layers"]], doc


def _run(cli, plan, feeds, work):
    load = ku.write_inputs(feeds, work)
    out_json = os.path.join(work, "out.json")
    ku.run_cli(["run", f"--loadEngine={plan}", f"--loadInputs={load}",
                f"--exportOutput={out_json}", "--iterations=1", "--duration=0", "--warmUp=0"], cli)
    return ku.read_export_output(out_json)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_tiny_transformer_matches_torch_and_drops_transposes(name, kiln_cli, tmp_path):
    out_name, attentions, per_attention = MODELS[name]
    model = os.path.join(DATA, f"{name}.onnx")
    if not os.path.exists(model):
        # The exports need PyTorch (bench/export_tiny.py tests/data); until they are committed
        # there is nothing to compare with.
        pytest.skip(f"{model} is not committed yet (bench/export_tiny.py writes it)")
    npz = np.load(os.path.join(DATA, f"{name}.npz"))
    feeds = {k: npz[k] for k in npz.files if k != out_name}
    want = npz[out_name].astype(np.float64)

    on_plan, off_plan = str(tmp_path / "on.plan"), str(tmp_path / "off.plan")
    on, on_doc = _build(kiln_cli, model, on_plan)
    off, _ = _build(kiln_cli, model, off_plan, ["--disablePasses=attention-layout"])
    assert on.count("FusedAttention") == attentions, on
    assert on.count("Attention") == 0, on
    assert off.count("Attention") == attentions, off
    assert off.count("Transpose") - on.count("Transpose") == attentions * per_attention, \
        (off.count("Transpose"), on.count("Transpose"))
    # The fused layers name the Transposes they replaced.
    for layer in on_doc["layerInformation"]["layers"]:
        if layer["type"] == "FusedAttention":
            assert "Transpose" in layer["fusedNodes"], layer

    for plan, label in ((on_plan, "attention-layout"), (off_plan, "without attention-layout")):
        got = _run(kiln_cli, plan, feeds, str(tmp_path / label.replace(" ", "_")))[out_name]
        assert got.shape == want.shape, (label, got.shape, want.shape)
        err = np.abs(got - want).max() / np.abs(want).max()
        assert err <= REL_TOL, f"{name} {label}: relative error {err:.3g} > {REL_TOL}"
