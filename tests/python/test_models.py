"""Model-level tests: scripts/gen_models.py models run through the kiln CLI vs onnxruntime.

Reference: onnxruntime's CPUExecutionProvider with graph optimizations disabled
(ORT_DISABLE_ALL), so it runs each node as written. Bound (kiln_testutil.assert_close):
    max|kiln - ort| / max(max|ort|, 1e-6) <= 1e-5
    and np.allclose(kiln, ort, rtol=1e-4, atol=1e-5 * max|ort|) elementwise.

Besides the kiln comparisons, tests that need only onnx/onnxruntime validate the generated
models themselves (checker, sane activation scales, batch rows independent, old-opset variants
equal to their base, causal/padding masks effective, the LSTM bidirectional, the U-Net fully
convolutional over dynamic height/width, shipped files current).

Only a missing onnxruntime skips tests; a missing kiln CLI fails the kiln tests.
"""
import os
import zlib

import numpy as np
import onnx
import pytest

import gen_models
import kiln_testutil as ku

SEQ_MODELS = ("bert_like", "gpt2_like", "lstm_like")
IMAGE_MODELS_DYNAMIC_HW = ("unet_like",)   # dim_params height and width (multiples of 4)

# Shape points are (batch, seq, height, width); each model uses the dims it declares as
# dim_params (batch always, seq for the sequence models, height/width for unet_like).
# Dynamic-shape profile for the plan tests:
PROFILE = {"min": (1, 4, 8, 8), "opt": (2, 12, 32, 32), "max": (4, 16, 48, 48)}
DIRECT_SHAPE = (2, 12, 32, 24)      # the direct --onnx comparison
# Batch 1 and batch 3; seq, height and width vary too where dynamic (non-square, so swapped
# height/width would show).
PLAN_SHAPES = [(1, 12, 16, 40), (3, 7, 24, 8)]
DEFAULT_HW = (16, 24)               # height, width where a test passes only batch and seq


@pytest.fixture(scope="module")
def ort():
    try:
        import onnxruntime
    except ImportError as e:  # the one allowed skip: no independent reference available
        pytest.skip(f"onnxruntime is not importable ({e}); it is the reference for these tests")
    return onnxruntime


def _base_of(name):
    return gen_models.VARIANTS[name][0] if name in gen_models.VARIANTS else name


def _input_dims(model, batch, seq, height=DEFAULT_HW[0], width=DEFAULT_HW[1]):
    """{input name: concrete shape} with dim_param batch/seq/height/width replaced."""
    values = {"batch": batch, "seq": seq, "height": height, "width": width}
    dims = {}
    for vi in model.graph.input:
        shape = []
        for d in vi.type.tensor_type.shape.dim:
            if d.dim_param in values:
                shape.append(values[d.dim_param])
            elif d.dim_param:
                raise AssertionError(f"unexpected dim_param {d.dim_param!r} in {vi.name}")
            else:
                shape.append(d.dim_value)
        dims[vi.name] = tuple(shape)
    return dims


VOCAB = {"bert_like": gen_models.BERT_VOCAB, "gpt2_like": gen_models.GPT2_VOCAB,
         "lstm_like": gen_models.LSTM_VOCAB}


def make_feeds(name, model, batch, seq, height=DEFAULT_HW[0], width=DEFAULT_HW[1]):
    """Deterministic random inputs. Floats ~ N(0, 1); token ids in [0, vocab); token types in
    {0, 1}; attention masks are 1 on a prefix and 0 on trailing padding (every row keeps at
    least one real token, and the batch has some zeros)."""
    rng = np.random.default_rng(zlib.crc32(f"{name}:{batch}:{seq}:{height}:{width}".encode()))
    feeds = {}
    for input_name, shape in _input_dims(model, batch, seq, height, width).items():
        if input_name == "input_ids":
            feeds[input_name] = rng.integers(0, VOCAB[_base_of(name)], shape, dtype=np.int64)
        elif input_name == "token_type_ids":
            feeds[input_name] = rng.integers(0, 2, shape, dtype=np.int64)
        elif input_name == "attention_mask":
            mask = np.ones(shape, dtype=np.int64)
            for r in range(shape[0]):
                valid = max(1, shape[1] - 1 - 2 * r)
                mask[r, valid:] = 0
            feeds[input_name] = mask
        else:
            feeds[input_name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


@pytest.fixture(scope="module")
def loaded(generated_models):
    return {name: onnx.load(path) for name, path in generated_models.items()}


# --- generator / model validation (onnx + onnxruntime only) ----------------------------------

@pytest.mark.parametrize("name", gen_models.ALL_MODELS)
def test_model_passes_full_check(name, generated_models, loaded):
    onnx.checker.check_model(generated_models[name], full_check=True)
    opset = next(o.version for o in loaded[name].opset_import if o.domain in ("", "ai.onnx"))
    expected = gen_models.VARIANTS[name][1] if name in gen_models.VARIANTS \
        else gen_models.DEFAULT_OPSET
    assert opset == expected


@pytest.mark.parametrize("name", gen_models.ALL_MODELS)
def test_model_dynamic_dims(name, loaded):
    """The inputs' dim_params are exactly what the shape points above vary: batch everywhere,
    seq for SEQ_MODELS, height and width for IMAGE_MODELS_DYNAMIC_HW (so the plan tests really
    exercise those ranges)."""
    base = _base_of(name)
    want = {"batch"} | ({"seq"} if base in SEQ_MODELS else set()) \
        | ({"height", "width"} if base in IMAGE_MODELS_DYNAMIC_HW else set())
    got = {d.dim_param for vi in loaded[name].graph.input
           for d in vi.type.tensor_type.shape.dim if d.dim_param}
    assert got == want


def test_generator_is_deterministic():
    for name in gen_models.ALL_MODELS:
        assert gen_models.make_model(name) == gen_models.make_model(name), name


def test_shipped_models_are_current():
    """models/*.onnx must equal what the generator makes now (regenerate with
    `python3 scripts/gen_models.py --out models --shipped`) and stay small."""
    models_dir = os.path.join(ku.REPO_ROOT, "models")
    total = 0
    for name in gen_models.SHIPPED:
        path = os.path.join(models_dir, f"{name}.onnx")
        assert os.path.exists(path), f"{path} missing; regenerate with gen_models.py --shipped"
        total += os.path.getsize(path)
        assert onnx.load(path) == gen_models.make_model(name), \
            f"{path} is stale; regenerate: python3 scripts/gen_models.py --out models --shipped"
    assert os.path.getsize(os.path.join(models_dir, "tiny_cnn.onnx")) < 200 * 1024
    assert total < 2 * 1024 * 1024


@pytest.mark.parametrize("name", gen_models.ALL_MODELS)
def test_ort_outputs_have_sane_scale(name, ort, generated_models, loaded):
    """Realistic init: outputs finite, neither vanishing nor exploding."""
    feeds = make_feeds(name, loaded[name], *DIRECT_SHAPE)
    outs = ku.ort_reference(generated_models[name], feeds)
    assert set(outs) == {o.name for o in loaded[name].graph.output}
    for out_name, value in outs.items():
        assert np.all(np.isfinite(value)), f"{name}.{out_name} not finite"
        std = float(np.std(value))
        assert 1e-2 < std < 1e2, f"{name}.{out_name}: std {std:.3g} outside (1e-2, 1e2)"
    if "probs" in outs:
        np.testing.assert_allclose(outs["probs"].sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", gen_models.ALL_MODELS)
def test_ort_batch_rows_are_independent(name, ort, generated_models, loaded):
    """Running a batch of 3 equals running its rows one at a time: the dynamic batch dim (and
    Shape-derived reshapes) are real, and no op mixes samples."""
    feeds = make_feeds(name, loaded[name], 3, 7)
    sess = ku.ort_session(generated_models[name])
    whole = sess.run(None, feeds)
    for r in range(3):
        row = sess.run(None, {k: v[r:r + 1] for k, v in feeds.items()})
        for w, o in zip(whole, row):
            scale = float(np.max(np.abs(w[r:r + 1])))
            np.testing.assert_allclose(o, w[r:r + 1], rtol=1e-5, atol=1e-6 * scale)


@pytest.mark.parametrize("variant", list(gen_models.VARIANTS))
def test_ort_old_opset_variant_matches_base(variant, ort, generated_models, loaded):
    base = gen_models.VARIANTS[variant][0]
    feeds = make_feeds(base, loaded[base], *DIRECT_SHAPE)
    got = ku.ort_reference(generated_models[variant], feeds)
    want = ku.ort_reference(generated_models[base], feeds)
    assert set(got) == set(want)
    for out_name in want:
        ku.assert_close(got[out_name], want[out_name], f"{variant}.{out_name} vs {base}")


@pytest.mark.parametrize("name", ["gpt2_like", "gpt2_like_op13"])
def test_ort_gpt2_mask_is_causal(name, ort, generated_models, loaded):
    """Changing the last token must not change the logits of earlier positions."""
    feeds = make_feeds(name, loaded[name], 2, 9)
    changed = {"input_ids": feeds["input_ids"].copy()}
    changed["input_ids"][:, -1] = (changed["input_ids"][:, -1] + 1) % gen_models.GPT2_VOCAB
    a = ku.ort_reference(generated_models[name], feeds)["logits"]
    b = ku.ort_reference(generated_models[name], changed)["logits"]
    np.testing.assert_array_equal(a[:, :-1], b[:, :-1])
    assert not np.allclose(a[:, -1], b[:, -1])


@pytest.mark.parametrize("name", ["bert_like", "bert_like_op11"])
def test_ort_bert_padding_is_masked(name, ort, generated_models, loaded):
    """Tokens under attention_mask == 0 must not influence real tokens' hidden states
    (exp(-10000 + s) underflows to exactly 0 in float32)."""
    feeds = make_feeds(name, loaded[name], 3, 9)
    mask = feeds["attention_mask"]
    assert (mask == 0).any()
    changed = dict(feeds)
    changed["input_ids"] = np.where(mask == 0, (feeds["input_ids"] + 7) % gen_models.BERT_VOCAB,
                                    feeds["input_ids"])
    a = ku.ort_reference(generated_models[name], feeds)
    b = ku.ort_reference(generated_models[name], changed)
    valid = mask.astype(bool)
    np.testing.assert_allclose(a["last_hidden_state"][valid], b["last_hidden_state"][valid],
                               rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(a["pooler_output"], b["pooler_output"], rtol=1e-6, atol=1e-6)


def test_ort_lstm_reads_both_directions(ort, generated_models, loaded):
    """lstm_like's LSTM is bidirectional: changing the first token reaches the last position
    (forward direction), changing the last token reaches the first (reverse direction)."""
    name = "lstm_like"
    feeds = make_feeds(name, loaded[name], 2, 9)
    base = ku.ort_reference(generated_models[name], feeds)["logits"]
    assert base.shape == (2, 9, 7)
    for pos, far in ((0, -1), (-1, 0)):
        changed = feeds["input_ids"].copy()
        changed[:, pos] = (changed[:, pos] + 1) % gen_models.LSTM_VOCAB
        out = ku.ort_reference(generated_models[name], {"input_ids": changed})["logits"]
        assert not np.allclose(out[:, far], base[:, far], rtol=1e-4, atol=1e-4), \
            f"changing token {pos} left position {far} unchanged"


def test_ort_unet_is_fully_convolutional(ort, generated_models, loaded):
    """unet_like maps [N,3,H,W] to [N,K,H,W] for any H, W multiple of 4 (non-square too), and
    a one-pixel change stays local (finite receptive field: no op mixes distant pixels)."""
    name = "unet_like"
    for h, w in ((8, 8), (16, 40), (44, 12)):
        feeds = make_feeds(name, loaded[name], 2, 1, h, w)
        out = ku.ort_reference(generated_models[name], feeds)["logits"]
        assert out.shape == (2, gen_models.UNET_CLASSES, h, w)
    feeds = make_feeds(name, loaded[name], 1, 1, 48, 48)
    changed = {"input": feeds["input"].copy()}
    changed["input"][0, :, 24, 24] += 1.0
    a = ku.ort_reference(generated_models[name], feeds)["logits"]
    b = ku.ort_reference(generated_models[name], changed)["logits"]
    assert np.abs(a - b)[0, :, 24, 24].max() > 1e-3
    for r, c in ((0, 0), (0, 47), (47, 0), (47, 47)):
        np.testing.assert_array_equal(a[0, :, r, c], b[0, :, r, c])


# --- kiln vs onnxruntime ---------------------------------------------------------------------

def _kiln_run(cli, work, tag, feeds, model=None, engine=None):
    """One `kiln run` with exactly these input shapes; returns {output: ndarray}."""
    load = ku.write_inputs(feeds, work, tag)
    out_json = os.path.join(work, f"out{tag}.json")
    args = ["run"]
    args += [f"--onnx={model}"] if model else [f"--loadEngine={engine}"]
    args += [f"--shapes={ku.shapes_arg(feeds)}", f"--loadInputs={load}",
             f"--exportOutput={out_json}", "--iterations=1", "--duration=0", "--warmUp=0"]
    ku.run_cli(args, cli)
    assert os.path.exists(out_json), f"kiln run did not write {out_json}"
    return ku.read_export_output(out_json)


def _compare_all(name, kiln_out, ref, label):
    missing = set(ref) - set(kiln_out)
    assert not missing, \
        f"{name} {label}: kiln exported no {sorted(missing)} (got {sorted(kiln_out)})"
    for out_name, want in ref.items():
        ku.assert_close(kiln_out[out_name], want, f"{name} {label} output '{out_name}'")


@pytest.mark.parametrize("name", gen_models.ALL_MODELS)
def test_kiln_matches_ort(name, ort, kiln_cli, generated_models, loaded, tmp_path):
    feeds = make_feeds(name, loaded[name], *DIRECT_SHAPE)
    ref = ku.ort_reference(generated_models[name], feeds)
    got = _kiln_run(kiln_cli, str(tmp_path), "", feeds, model=generated_models[name])
    _compare_all(name, got, ref, f"--onnx batch {DIRECT_SHAPE[0]}")


@pytest.mark.parametrize("name", gen_models.ALL_MODELS)
def test_kiln_plan_two_batch_sizes(name, ort, kiln_cli, generated_models, loaded, tmp_path):
    """Build once with a min/opt/max profile into a plan, run the plan at batch 1 and batch 3
    (and two sequence lengths / two image sizes where those are dynamic), compare with
    onnxruntime, and check the plan's batch-3 outputs equal a direct --onnx run's exactly."""
    model, work = loaded[name], str(tmp_path)
    plan = os.path.join(work, f"{name}.plan")
    profile = {k: ku.dims_arg(_input_dims(model, *v)) for k, v in PROFILE.items()}
    ku.run_cli(["build", f"--onnx={generated_models[name]}", f"--minShapes={profile['min']}",
                f"--optShapes={profile['opt']}", f"--maxShapes={profile['max']}",
                f"--saveEngine={plan}"], kiln_cli)
    assert os.path.exists(plan) and os.path.getsize(plan) > 0, "build wrote no plan"
    last = None
    for shape in PLAN_SHAPES:
        feeds = make_feeds(name, model, *shape)
        ref = ku.ort_reference(generated_models[name], feeds)
        got = _kiln_run(kiln_cli, work, f"_b{shape[0]}", feeds, engine=plan)
        _compare_all(name, got, ref, f"plan {ku.shapes_arg(feeds)}")
        last = (feeds, got)
    feeds, plan_out = last
    direct = _kiln_run(kiln_cli, work, "_direct", feeds, model=generated_models[name])
    for out_name, value in plan_out.items():
        np.testing.assert_array_equal(
            value, direct[out_name],
            err_msg=f"{name}: plan output '{out_name}' differs from direct --onnx output")
