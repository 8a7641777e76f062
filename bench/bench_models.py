#!/usr/bin/env python3
"""Kiln vs PyTorch on the GPU: latency of whole models, and whether Kiln's outputs agree.

For each model (resnet50, mobilenet_v2, vit_b_16 from torchvision; bert-base from transformers,
all with random weights from a fixed seed), batch size and precision:

  1. export the float32 model to ONNX (TorchScript exporter, opset 17, fixed shapes);
  2. build a Kiln plan with the CLI (`kiln build --device=cuda`, plus --fp16 for float16; float32
     plans get --noTF32 so that both sides compute in strict float32, see --kiln-tf32);
  3. time it with `kiln run --useCudaGraph --noDataTransfers` on the same random inputs PyTorch
     gets, and take the median GPU compute time from --exportTimes;
  4. time PyTorch eager and torch.compile(mode="reduce-overhead") with CUDA events under
     torch.inference_mode() (TF32 off for float32; model.half() for float16): warm-up, then at
     least --iters iterations, median;
  5. compare Kiln's output with PyTorch's float32 eager output: max |kiln - ref| / max |ref|.

Every configuration runs in its own try/except: a failure (an op Kiln lacks, an export error)
is recorded with the first line of its error and the run goes on. Results: a table printed last,
and results.json / results.md in --out (plus logs/ with each Kiln command's output).

    python3 bench/bench_models.py --kiln .dev/bin/kiln --out "$OUT" \\
        --models resnet50,bert-base --batches 1,32 --precisions fp32,fp16 --time-budget 900

Needs: a CUDA GPU, torch, torchvision, transformers, onnx, numpy. See bench/README.md.
"""
import argparse
import copy
import datetime
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

import numpy as np

ALL_MODELS = ["resnet50", "mobilenet_v2", "vit_b_16", "bert-base"]
ALL_PRECISIONS = ["fp32", "fp16"]
PRECISION_ALIASES = {"fp32": "fp32", "float32": "fp32", "float": "fp32",
                     "fp16": "fp16", "float16": "fp16", "half": "fp16"}
BERT_SEQ = 128
# Agreement bounds (max |kiln - ref| / max |ref|) beyond which a result is marked "inaccurate".
# float16 is compared with the float32 reference, so its bound is the float16 one.
TOLERANCE = {"fp32": 1e-3, "fp16": 5e-2}
# Kiln dtype names (dataTypeName) that numpy spells differently.
KILN_TO_NUMPY = {"bool": np.bool_}


# ---- small helpers -------------------------------------------------------------------------------

def csv_list(values):
    """["a,b", "c"] -> ["a", "b", "c"] (flags accept commas and/or repeats)."""
    out = []
    for v in values:
        out += [x.strip() for x in v.split(",") if x.strip()]
    return out


def first_line(text):
    """The line of an error text worth showing: the first 'error' line, else the first line.
    A line announcing a list ("... (3 errors)") gets the list's first item appended."""
    lines = [ln.strip() for ln in str(text).splitlines() if ln.strip()]
    if not lines:
        return "(no message)"
    i = next((k for k, ln in enumerate(lines) if "error" in ln.lower()), 0)
    line = lines[i].removeprefix("kiln: error: ")
    if (line.endswith("errors)") or line.endswith("error)")) and i + 1 < len(lines):
        line += " | " + lines[i + 1]
    return line[:400]


def describe_exception(e):
    return f"{type(e).__name__}: {first_line(e)}"


class StageError(Exception):
    """A failed stage; the message is already the line to record."""


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_cmd(cmd, log_path, timeout, log_stdout=True):
    """Runs a command, appends its command line and output to log_path, raises StageError with the
    first error line on failure or timeout. Returns (stdout, stderr)."""
    t0 = time.monotonic()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        with open(log_path, "a") as f:
            f.write(f"$ {' '.join(cmd)}\n(timed out after {timeout:.0f} s)\n")
            for part in (e.stdout, e.stderr):
                if part:
                    f.write(part if isinstance(part, str) else part.decode(errors="replace"))
        raise StageError(f"timed out after {timeout:.0f} s: {os.path.basename(cmd[0])} {cmd[1]}")
    with open(log_path, "a") as f:
        f.write(f"$ {' '.join(cmd)}\n(exit {proc.returncode}, {time.monotonic() - t0:.1f} s)\n")
        if log_stdout:
            f.write(proc.stdout)
        f.write(proc.stderr)
        f.write("\n")
    if proc.returncode != 0:
        raise StageError(first_line(proc.stderr or proc.stdout or f"exit code {proc.returncode}"))
    return proc.stdout, proc.stderr


def max_rel_err(got, ref):
    """max |got - ref| / max |ref| in float64 (inf when shapes differ or got has NaN/Inf)."""
    got = np.asarray(got, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    if got.size != ref.size:
        raise StageError(f"output has {got.size} elements, PyTorch's has {ref.size}")
    got = got.reshape(ref.shape)
    if not np.all(np.isfinite(got)):
        return float("inf")
    denom = float(np.max(np.abs(ref))) if ref.size else 0.0
    diff = float(np.max(np.abs(got - ref))) if ref.size else 0.0
    return diff / denom if denom > 0 else diff


# ---- models --------------------------------------------------------------------------------------

def make_model(name, seed, attn=None):
    """The float32 eval-mode model on the CPU, its ONNX input/output names, and a function that
    makes its inputs (numpy, ONNX input order) for a batch size."""
    import torch

    torch.manual_seed(seed)
    if name in ("resnet50", "mobilenet_v2", "vit_b_16"):
        import torchvision

        model = getattr(torchvision.models, name)(weights=None)
        # Random weights, made representative: (1) BatchNorm statistics calibrated on random
        # images (a few training-mode passes, no gradients), otherwise eval-mode BN with mean 0 /
        # var 1 lets activations shrink layer after layer until float16 underflows (seen with
        # MobileNetV2: outputs near 1e-7); (2) torchvision zero-initializes ViT's classifier
        # head, which makes the output identically zero: give it random weights so the output
        # comparison means something.
        with torch.no_grad():
            if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
                model.train()
                for m in model.modules():
                    if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                        m.momentum = None  # cumulative average over the calibration passes
                        m.reset_running_stats()
                g = torch.Generator().manual_seed(seed + 1)
                for _ in range(4):
                    model(torch.randn(8, 3, 224, 224, generator=g))
            if name == "vit_b_16":
                torch.nn.init.normal_(model.heads.head.weight, std=0.02)
                torch.nn.init.normal_(model.heads.head.bias, std=0.02)
        model = model.eval()

        def inputs(batch):
            g = np.random.default_rng(seed + batch)
            return {"input": g.standard_normal((batch, 3, 224, 224)).astype(np.float32)}

        return model, ["input"], ["output"], inputs
    if name == "bert-base":
        import transformers

        # Attention "eager" for the ONNX export (plain MatMul/Softmax), PyTorch's default (SDPA)
        # for timing; same weights, same function. Best effort: whatever the installed
        # transformers accepts (the ONNX exporter handles SDPA too).
        try:
            cfg = transformers.BertConfig(attn_implementation=attn) if attn else transformers.BertConfig()
        except TypeError:
            cfg = transformers.BertConfig()
        bert = transformers.BertModel(cfg, add_pooling_layer=False).eval()
        if attn and hasattr(bert, "set_attn_implementation"):
            try:
                bert.set_attn_implementation(attn)
            except Exception:  # noqa: BLE001 - keep the default attention
                pass

        class LastHidden(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask):
                out = self.m(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
                return out.last_hidden_state

        model = LastHidden(bert).eval()
        vocab = cfg.vocab_size

        def inputs(batch):
            g = np.random.default_rng(seed + batch)
            ids = g.integers(0, vocab, size=(batch, BERT_SEQ), dtype=np.int64)
            # Each sequence has a random length in [BERT_SEQ/2, BERT_SEQ]; the rest is padding.
            lengths = g.integers(BERT_SEQ // 2, BERT_SEQ + 1, size=(batch,))
            mask = (np.arange(BERT_SEQ)[None, :] < lengths[:, None]).astype(np.int64)
            return {"input_ids": ids, "attention_mask": mask}

        return model, ["input_ids", "attention_mask"], ["last_hidden_state"], inputs
    raise ValueError(f"unknown model '{name}' (known: {', '.join(ALL_MODELS)})")


def export_onnx(model, feeds, input_names, output_names, path):
    import torch

    args = tuple(torch.from_numpy(feeds[n]) for n in input_names)
    # nn.MultiheadAttention's inference fast path (aten::_native_multi_head_attention, used by
    # torchvision's ViT) has no ONNX export; the plain path exports MatMul/Softmax.
    if hasattr(torch.backends, "mha"):
        torch.backends.mha.set_fastpath_enabled(False)
    with torch.no_grad():
        torch.onnx.export(model, args, path, dynamo=False, opset_version=17,
                          input_names=input_names, output_names=output_names,
                          do_constant_folding=True)
    if not os.path.exists(path):
        raise StageError("torch.onnx.export wrote no file")


# ---- Kiln ----------------------------------------------------------------------------------------

def kiln_io_dtypes(kiln, plan, log_path, timeout):
    """{input name: numpy dtype} from `kiln inspect --json` (the plan's I/O types may differ
    from the ONNX model's, e.g. with --fp16); None when inspect fails."""
    try:
        doc = json.loads(run_cmd([kiln, "inspect", "--json", plan], log_path, timeout,
                                 log_stdout=False)[0])
    except (StageError, json.JSONDecodeError):
        return None
    out = {}
    for t in doc.get("inputs", []):
        name = t["dtype"]
        out[t["name"]] = np.dtype(KILN_TO_NUMPY.get(name, name))
    return out


def read_export_output(path):
    """{name: float64 array} from kiln's --exportOutput JSON (trtexec layout)."""
    with open(path) as f:
        doc = json.load(f)
    out = {}
    for e in doc:
        dims = [int(d) for d in e["dimensions"].split("x")] if e["dimensions"] else []
        out[e["name"]] = np.asarray(e["values"], dtype=np.float64).reshape(dims)
    return out


def run_kiln(args, onnx_path, precision, feeds, workdir, log_path, timeout):
    """Builds and runs the plan; returns (stats dict, {output name: array})."""
    plan = os.path.join(workdir, f"model_{precision}.plan")
    build = [args.kiln, "build", f"--onnx={onnx_path}", f"--saveEngine={plan}",
             f"--device={args.kiln_device}"]
    if precision == "fp16":
        build.append("--fp16")
    elif not args.kiln_tf32:
        build.append("--noTF32")
    t0 = time.monotonic()
    try:
        run_cmd(build, log_path, timeout)
    except StageError as e:
        raise StageError(f"kiln build: {e}")
    build_s = time.monotonic() - t0

    # Inputs in the plan's dtypes, written with ndarray.tofile.
    dtypes = kiln_io_dtypes(args.kiln, plan, log_path, 120) or {}
    specs = []
    for name, arr in feeds.items():
        path = os.path.join(workdir, f"in_{name}.bin")
        np.ascontiguousarray(arr.astype(dtypes.get(name, arr.dtype), copy=False)).tofile(path)
        specs.append(f"{name}:{path}")
    times = os.path.join(workdir, f"times_{precision}.json")
    outputs = os.path.join(workdir, f"out_{precision}.json")
    cmd = [args.kiln, "run", f"--loadEngine={plan}", f"--device={args.kiln_device}",
           "--useCudaGraph", "--noDataTransfers", f"--warmUp={args.warmup_ms}",
           f"--duration={args.duration}", f"--exportTimes={times}",
           f"--loadInputs={','.join(specs)}", f"--exportOutput={outputs}"]
    try:
        stdout, stderr = run_cmd(cmd, log_path, timeout)
    except StageError as e:
        raise StageError(f"kiln run: {e}")
    with open(times) as f:
        doc = json.load(f)
    compute = [t["computeMs"] for t in doc]
    if not compute:
        raise StageError("kiln run: no timed inferences in --exportTimes")
    mean = statistics.fmean(compute)
    stats = {
        "kiln_ms": statistics.median(compute),
        "kiln_mean_ms": mean,
        "kiln_min_ms": min(compute),
        "kiln_iterations": len(compute),
        "kiln_cv": (statistics.pstdev(compute) / mean) if mean > 0 and len(compute) > 1 else 0.0,
        "kiln_cuda_graph": "CUDA graph: yes" in stdout,
        "kiln_warnings": [ln.strip() for ln in stderr.splitlines() if "warning" in ln][:5],
        "kiln_build_s": build_s,
        "kiln_plan_bytes": os.path.getsize(plan),
    }
    outs = read_export_output(outputs)
    for p in (outputs, times):  # large; the numbers are in the results
        os.remove(p)
    if args.profile:
        stats["kiln_profile"] = profile_kiln(args, plan, specs, workdir, log_path, timeout)
    if args.validate:
        # One inference with KILN_VALIDATE=1: every layer re-run on the CPU; layers that disagree
        # are logged ("... differs from the CPU").
        vcmd = [args.kiln, "run", f"--loadEngine={plan}", f"--device={args.kiln_device}", "--warmUp=0",
                "--duration=0", "--iterations=1", f"--loadInputs={','.join(specs)}"]
        env = dict(os.environ, KILN_VALIDATE="1")
        try:
            proc = subprocess.run(vcmd, capture_output=True, text=True, timeout=timeout, env=env)
            lines = [ln.strip() for ln in (proc.stdout + proc.stderr).splitlines() if "differs from the CPU" in ln]
            stats["kiln_validate"] = lines[:20] if lines else ["every layer agrees with the CPU"]
        except Exception as e:  # noqa: BLE001 - diagnostics only
            stats["kiln_validate"] = [f"validation run failed: {e}"]
        for ln in stats["kiln_validate"]:
            log(f"validate: {ln}")
    return stats, outs


def profile_kiln(args, plan, specs, workdir, log_path, timeout):
    """Per-layer GPU times (kiln run --exportProfile, eager launches, one event pair per layer)
    summed by layer type (from --exportLayerInfo): where the time goes, for the optimizer work.
    Returns {"by_type": [[type, ms, layers], ...], "top_layers": [[name, type, ms], ...]}."""
    prof = os.path.join(workdir, "profile.json")
    info = os.path.join(workdir, "layers.json")
    cmd = [args.kiln, "run", f"--loadEngine={plan}", f"--device={args.kiln_device}", "--noDataTransfers",
           "--warmUp=50", "--duration=0", "--iterations=20", f"--exportProfile={prof}",
           f"--exportLayerInfo={info}"] + ([f"--loadInputs={','.join(specs)}"] if specs else [])
    try:
        run_cmd(cmd, log_path, timeout, log_stdout=False)
        with open(prof) as f:
            rows = [r for r in json.load(f) if "name" in r]
        with open(info) as f:
            types = {layer["name"]: layer.get("type", "?") for layer in json.load(f).get("layers", [])}
    except Exception as e:  # noqa: BLE001 - diagnostics only
        return {"error": first_line(str(e))}
    by_type = {}
    for r in rows:
        t = types.get(r["name"], "?")
        ms, n = by_type.get(t, (0.0, 0))
        by_type[t] = (ms + r["medianMs"], n + 1)
    total = sum(ms for ms, _ in by_type.values())
    ranked = sorted(by_type.items(), key=lambda kv: -kv[1][0])
    top = sorted(rows, key=lambda r: -r["medianMs"])[:12]
    log(f"profile (sum of per-layer medians {total:.3f} ms, {len(rows)} layers): " +
        ", ".join(f"{t} {ms:.3f} ms/{n}" for t, (ms, n) in ranked[:12]))
    return {"sum_ms": total, "layers": len(rows),
            "by_type": [[t, round(ms, 4), n] for t, (ms, n) in ranked],
            "top_layers": [[r["name"], types.get(r["name"], "?"), round(r["medianMs"], 4)] for r in top]}


# ---- PyTorch -------------------------------------------------------------------------------------

def torch_feeds(feeds, input_names, half):
    import torch

    out = []
    for n in input_names:
        t = torch.from_numpy(feeds[n]).cuda()
        if half and t.is_floating_point():
            t = t.half()
        out.append(t)
    return out


def time_cuda(fn, inputs, warmup, iters, min_ms, before=None):
    """Median ms of fn(*inputs) between CUDA events: `warmup` untimed calls, then at least `iters`
    timed calls and at least `min_ms` of timed GPU time (at most 10x iters). `before()` runs
    before each call, outside the timed region."""
    import torch

    with torch.inference_mode():
        for _ in range(warmup):
            if before:
                before()
            fn(*inputs)
        torch.cuda.synchronize()
        times = []
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        while len(times) < iters or (sum(times) < min_ms and len(times) < 10 * iters):
            if before:
                before()
            start.record()
            fn(*inputs)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
    return statistics.median(times)


def reference_output(model, feeds, input_names):
    """float32 eager output on the GPU (TF32 off), as a float64 numpy array."""
    import torch

    with torch.inference_mode():
        y = model(*torch_feeds(feeds, input_names, half=False))
    torch.cuda.synchronize()
    return y.double().cpu().numpy()


def free_gpu():
    import torch

    gc.collect()
    try:
        torch.compiler.reset()
    except Exception:  # noqa: BLE001 - best effort cleanup
        pass
    torch.cuda.empty_cache()


# ---- the benchmark ---------------------------------------------------------------------------------

def bench_config(args, cfg, state, workroot, logdir, deadline):
    """Fills cfg (a result dict) for one (model, batch, precision)."""
    import torch

    name, batch, precision = cfg["model"], cfg["batch"], cfg["precision"]
    tag = f"{name}_b{batch}_{precision}"
    log_path = os.path.join(logdir, f"{tag}.log")
    workdir = os.path.join(workroot, name, f"b{batch}")
    os.makedirs(workdir, exist_ok=True)
    remaining = (deadline - time.monotonic()) if deadline else None
    # A single stuck command must not eat the whole budget.
    timeout = args.cmd_timeout if remaining is None else max(60.0, min(args.cmd_timeout, remaining + 60))
    errors = []

    # The model (built once per name, on the CPU, float32; one model at a time, and the ONNX
    # files and plans of the previous one are deleted) and this batch's inputs.
    if state.get("name") != name:
        if state.get("name"):
            shutil.rmtree(os.path.join(workroot, state["name"]), ignore_errors=True)
        state.update(name=None, model=None, onnx={})
        gc.collect()
        state["model"] = make_model(name, args.seed, attn="eager" if name == "bert-base" else None)
        state["name"] = name
    model, in_names, out_names, make_inputs = state["model"]
    if name == "bert-base":  # which attention the ONNX export traced
        cfg["bert_attention_exported"] = str(getattr(model.m.config, "_attn_implementation", "?"))
    feeds = make_inputs(batch)

    # 1. ONNX (shared by both precisions of this batch; a failure is remembered).
    key = (name, batch)
    if key not in state["onnx"]:
        onnx_path = os.path.join(workdir, "model.onnx")
        try:
            t0 = time.monotonic()
            export_onnx(model, feeds, in_names, out_names, onnx_path)
            log(f"{tag}: exported ONNX in {time.monotonic() - t0:.1f} s "
                f"({os.path.getsize(onnx_path) / 2**20:.0f} MiB)")
            state["onnx"][key] = (onnx_path, None)
        except Exception as e:  # noqa: BLE001 - recorded
            state["onnx"][key] = (None, f"onnx export: {describe_exception(e)}")
            with open(log_path, "a") as f:
                traceback.print_exc(file=f)
    onnx_path, onnx_error = state["onnx"][key]

    # 2. Kiln.
    kiln_out = None
    if onnx_error:
        errors.append(onnx_error)
    else:
        try:
            stats, outs = run_kiln(args, onnx_path, precision, feeds, workdir, log_path, timeout)
            cfg.update(stats)
            kiln_out = outs.get(out_names[0], next(iter(outs.values())) if outs else None)
            log(f"{tag}: kiln {stats['kiln_ms']:.4f} ms (build {stats['kiln_build_s']:.1f} s)")
        except Exception as e:  # noqa: BLE001 - recorded
            errors.append(str(e) if isinstance(e, StageError) else f"kiln: {describe_exception(e)}")

    # 3. PyTorch: float32 reference, eager and compiled timings.
    gpu_model = None
    try:
        if name == "bert-base":
            # Same weights, PyTorch's default attention (SDPA) for timing.
            timed = make_model(name, args.seed)[0]
            timed.load_state_dict(model.state_dict())
        else:
            timed = copy.deepcopy(model)
        gpu_model = timed.cuda().eval()
        ref = reference_output(gpu_model, feeds, in_names)
        if kiln_out is not None:
            try:
                cfg["max_rel_err"] = max_rel_err(kiln_out, ref)
            except Exception as e:  # noqa: BLE001 - recorded; the timings still run
                errors.append(f"compare: {describe_exception(e)}")
        if precision == "fp16":
            gpu_model = gpu_model.half()
            # PyTorch's own float16 error against the same float32 reference: the yardstick for
            # Kiln's float16 error (a model can lose that much in float16 whoever runs it).
            try:
                with torch.inference_mode():
                    y16 = gpu_model(*torch_feeds(feeds, in_names, half=True))
                cfg["torch_fp16_rel_err"] = max_rel_err(y16.double().cpu().numpy(), ref)
            except Exception as e:  # noqa: BLE001 - diagnostics only
                errors.append(f"torch fp16 reference: {describe_exception(e)}")
        inputs = torch_feeds(feeds, in_names, half=precision == "fp16")
        cfg["eager_ms"] = time_cuda(gpu_model, inputs, args.torch_warmup, args.iters, args.min_ms)
        log(f"{tag}: eager {cfg['eager_ms']:.4f} ms")
        if not args.skip_compile:
            if deadline and time.monotonic() > deadline:
                errors.append("compile: skipped (time budget)")
            else:
                try:
                    compiled = torch.compile(gpu_model, mode="reduce-overhead")
                    # Outputs of earlier replays are discarded: tell the CUDA graph trees so.
                    step = getattr(torch.compiler, "cudagraph_mark_step_begin", None)
                    t0 = time.monotonic()
                    with torch.inference_mode():
                        for _ in range(3):  # compile, then record the CUDA graph
                            if step:
                                step()
                            compiled(*inputs)
                    torch.cuda.synchronize()
                    cfg["compile_s"] = time.monotonic() - t0
                    cfg["compile_ms"] = time_cuda(compiled, inputs, args.torch_warmup, args.iters,
                                                  args.min_ms, before=step)
                    log(f"{tag}: torch.compile {cfg['compile_ms']:.4f} ms "
                        f"(compiled in {cfg['compile_s']:.1f} s)")
                except Exception as e:  # noqa: BLE001 - recorded
                    errors.append(f"torch.compile: {describe_exception(e)}")
                    with open(log_path, "a") as f:
                        traceback.print_exc(file=f)
    except Exception as e:  # noqa: BLE001 - recorded
        errors.append(f"pytorch: {describe_exception(e)}")
        with open(log_path, "a") as f:
            traceback.print_exc(file=f)
    # GPU memory is released by the caller (free_gpu) once this frame's references are gone.

    if cfg.get("kiln_ms") and cfg.get("eager_ms"):
        cfg["kiln_vs_eager"] = cfg["eager_ms"] / cfg["kiln_ms"]
    if cfg.get("kiln_ms") and cfg.get("compile_ms"):
        cfg["kiln_vs_compile"] = cfg["compile_ms"] / cfg["kiln_ms"]
    if errors:
        # "error": no Kiln result (or no comparison); "partial": Kiln ran, a PyTorch side failed.
        kiln_ok = cfg.get("kiln_ms") is not None and cfg.get("max_rel_err") is not None
        cfg["status"] = "partial" if kiln_ok else "error"
        cfg["error"] = errors[0]
        if len(errors) > 1:
            cfg["other_errors"] = errors[1:]
    elif cfg.get("max_rel_err") is not None and not cfg["max_rel_err"] <= TOLERANCE[precision]:
        cfg["status"] = "inaccurate"
        cfg["error"] = (f"max rel err {cfg['max_rel_err']:.3g} > {TOLERANCE[precision]:g} "
                        f"({precision} vs PyTorch float32)")
    else:
        cfg["status"] = "ok"


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


COLUMNS = ["model", "batch", "prec", "kiln ms", "eager ms", "compile ms", "kiln/eager",
           "kiln/compile", "max rel err", "torch fp16 err", "status"]


def table_rows(results):
    rows = []
    for r in results:
        status = r["status"]
        if r.get("error"):
            status += ": " + r["error"]
        rows.append([r["model"], str(r["batch"]), r["precision"], fmt(r.get("kiln_ms"), ".4f"),
                     fmt(r.get("eager_ms"), ".4f"), fmt(r.get("compile_ms"), ".4f"),
                     fmt(r.get("kiln_vs_eager"), ".2f") + ("x" if r.get("kiln_vs_eager") else ""),
                     fmt(r.get("kiln_vs_compile"), ".2f") + ("x" if r.get("kiln_vs_compile") else ""),
                     fmt(r.get("max_rel_err"), ".2e"), fmt(r.get("torch_fp16_rel_err"), ".2e"), status])
    return rows


def text_table(results):
    rows = [COLUMNS] + table_rows(results)
    # The status column is last and left unpadded (it can be long).
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS) - 1)]
    lines = []
    for k, r in enumerate(rows):
        cells = [c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells + [r[-1]]))
        if k == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    return "\n".join(lines)


def markdown(results, meta):
    out = ["# Kiln vs PyTorch", ""]
    for k in ("date", "gpu", "kiln_version", "torch", "torchvision", "transformers", "cuda",
              "cudnn", "command"):
        if meta.get(k) is not None:
            out.append(f"- {k}: `{meta[k]}`")
    out += ["",
            "Times are medians in ms: Kiln's GPU Compute Time (`kiln run --useCudaGraph "
            "--noDataTransfers`), PyTorch eager and `torch.compile(mode=\"reduce-overhead\")` "
            "between CUDA events. kiln/eager and kiln/compile are speed ratios (PyTorch ms / "
            "Kiln ms: above 1 means Kiln is faster). max rel err = max |kiln - ref| / max |ref| "
            "against PyTorch's float32 output (TF32 off).", ""]
    out.append("| " + " | ".join(COLUMNS) + " |")
    out.append("|" + "---|" * len(COLUMNS))
    for r in table_rows(results):
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in r) + " |")
    return "\n".join(out) + "\n"


def metadata(args):
    meta = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
            "command": " ".join(sys.argv), "python": platform.python_version(),
            "host": platform.node()}
    try:
        meta["kiln_version"] = subprocess.run([args.kiln, "--version"], capture_output=True,
                                              text=True, timeout=30).stdout.strip()
    except Exception as e:  # noqa: BLE001
        meta["kiln_version"] = f"? ({describe_exception(e)})"
    try:
        import torch

        meta["torch"] = torch.__version__
        meta["cuda"] = torch.version.cuda
        meta["cudnn"] = torch.backends.cudnn.version()
        if torch.cuda.is_available():
            p = torch.cuda.get_device_properties(0)
            meta["gpu"] = f"{p.name} (sm_{p.major}{p.minor}, {p.total_memory / 2**30:.0f} GiB)"
        import torchvision

        meta["torchvision"] = torchvision.__version__
        import transformers

        meta["transformers"] = transformers.__version__
    except Exception as e:  # noqa: BLE001
        meta.setdefault("import_error", describe_exception(e))
    return meta


def write_results(out_dir, results, meta):
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=2, default=str)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(markdown(results, meta))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kiln", required=True, help="path of the kiln CLI (a CUDA build)")
    p.add_argument("--out", required=True, help="folder for results.json, results.md and logs/")
    p.add_argument("--models", nargs="+", default=[",".join(ALL_MODELS)],
                   help=f"comma-separated and/or repeated (default: {','.join(ALL_MODELS)})")
    p.add_argument("--batches", nargs="+", default=["1,32"], help="batch sizes (default: 1,32)")
    p.add_argument("--precisions", nargs="+", default=["fp32,fp16"],
                   help="fp32 and/or fp16 (default: fp32,fp16)")
    p.add_argument("--skip-compile", action="store_true", help="do not time torch.compile")
    p.add_argument("--profile", action="store_true",
                   help="also record Kiln's per-layer GPU times summed by layer type "
                        "(results.json: kiln_profile; the log line 'profile ...')")
    p.add_argument("--validate", action="store_true",
                   help="also run each plan once with KILN_VALIDATE=1 (every layer checked against the CPU)")
    p.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="start no new configuration after this many seconds; the rest are "
                        "recorded as 'not run'")
    p.add_argument("--duration", type=float, default=2.0, help="kiln run --duration (s, default 2)")
    p.add_argument("--warmup-ms", type=float, default=200, help="kiln run --warmUp (ms, default 200)")
    p.add_argument("--iters", type=int, default=50,
                   help="PyTorch: at least this many timed iterations (default 50)")
    p.add_argument("--min-ms", type=float, default=500.0,
                   help="PyTorch: at least this much timed GPU time, up to 10x --iters (default 500)")
    p.add_argument("--torch-warmup", type=int, default=10, help="PyTorch warm-up iterations")
    p.add_argument("--seed", type=int, default=0, help="seed of weights and inputs (default 0)")
    p.add_argument("--kiln-tf32", action="store_true",
                   help="let Kiln use TF32 for float32 (default: kiln build --noTF32, matching "
                        "PyTorch with TF32 off)")
    p.add_argument("--kiln-device", default="cuda", help=argparse.SUPPRESS)  # testing only
    p.add_argument("--cmd-timeout", type=float, default=1200.0,
                   help="timeout of one kiln command in s (default 1200; with --time-budget also "
                        "at most the remaining budget + 60)")
    p.add_argument("--workdir", default=None,
                   help="where ONNX models and plans go (default: a temporary folder, deleted "
                        "at the end; never --out, they are large)")
    args = p.parse_args(argv)
    args.models = csv_list(args.models)
    for m in args.models:
        if m not in ALL_MODELS:
            p.error(f"unknown model '{m}' (known: {', '.join(ALL_MODELS)})")
    try:
        args.batches = [int(b) for b in csv_list(args.batches)]
    except ValueError:
        p.error("--batches takes integers")
    if any(b < 1 for b in args.batches):
        p.error("--batches must be >= 1")
    precisions = []
    for x in csv_list(args.precisions):
        if x.lower() not in PRECISION_ALIASES:
            p.error(f"unknown precision '{x}' (fp32, fp16)")
        precisions.append(PRECISION_ALIASES[x.lower()])
    args.precisions = list(dict.fromkeys(precisions))
    return args


def main(argv=None):
    args = parse_args(argv)
    args.kiln = os.path.abspath(args.kiln)
    if not os.access(args.kiln, os.X_OK):
        sys.exit(f"bench: kiln CLI not found or not executable: {args.kiln}")
    os.makedirs(args.out, exist_ok=True)
    logdir = os.path.join(args.out, "logs")
    os.makedirs(logdir, exist_ok=True)
    workroot = args.workdir or tempfile.mkdtemp(prefix="kiln_bench_")
    os.makedirs(workroot, exist_ok=True)

    import torch

    if not torch.cuda.is_available():
        sys.exit("bench: PyTorch sees no CUDA GPU")
    # Strict float32 on the PyTorch side; fastest conv algorithms for these fixed shapes.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True

    meta = metadata(args)
    meta["settings"] = {k: v for k, v in vars(args).items() if k not in ("kiln_device",)}
    log(f"GPU: {meta.get('gpu')}, {meta.get('kiln_version')}, torch {meta.get('torch')}")

    configs = [{"model": m, "batch": b, "precision": p}
               for m in args.models for b in args.batches for p in args.precisions]
    start = time.monotonic()
    deadline = start + args.time_budget if args.time_budget else None
    state = {"name": None, "model": None, "onnx": {}}
    results = []
    try:
        for i, cfg in enumerate(configs):
            if deadline and time.monotonic() > deadline:
                for rest in configs[i:]:
                    rest.update(status="not run", error="time budget exceeded")
                    results.append(rest)
                log(f"time budget of {args.time_budget:.0f} s exceeded: {len(configs) - i} "
                    f"configurations not run")
                break
            tag = f"{cfg['model']} b{cfg['batch']} {cfg['precision']}"
            log(f"[{i + 1}/{len(configs)}] {tag}")
            t0 = time.monotonic()
            try:
                bench_config(args, cfg, state, workroot, logdir, deadline)
            except Exception as e:  # noqa: BLE001 - never abort the run
                cfg["status"] = "error"
                cfg["error"] = describe_exception(e)
                traceback.print_exc()
            free_gpu()
            cfg["seconds"] = round(time.monotonic() - t0, 1)
            results.append(cfg)
            log(f"{tag}: {cfg['status']}{': ' + cfg['error'] if cfg.get('error') else ''}")
            write_results(args.out, results, meta)  # partial results survive a kill
    finally:
        meta["total_seconds"] = round(time.monotonic() - start, 1)
        write_results(args.out, results, meta)
        if not args.workdir:
            shutil.rmtree(workroot, ignore_errors=True)
    print()
    print(f"Kiln vs PyTorch on {meta.get('gpu')} (median ms; kiln/x = x ms / kiln ms, >1 = Kiln "
          f"faster; max rel err vs PyTorch float32)")
    print(text_table(results))
    print(f"\nresults: {os.path.join(args.out, 'results.json')}, "
          f"{os.path.join(args.out, 'results.md')}; logs: {logdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
