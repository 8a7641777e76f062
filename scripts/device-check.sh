#!/usr/bin/env bash
# The GPU check, run on the device machine from the repository root with the binaries that
# scripts/package-device.sh put in .carry/:
#   scripts/device-check.sh [tests] [conformance] [sanitize] [model] [bench]   (default: all but bench)
# Phases:
#   tests        every gtest; the op tests run each op on the GPU too and compare with the CPU
#   conformance  ONNX's node suite on the CPU and on the GPU; lists cases that pass on the CPU
#                but not on the GPU
#   sanitize     compute-sanitizer memcheck and racecheck on a representative subset
#   model        kiln build/run on models/tiny_cnn.onnx with --device=cuda (fp32 and fp16)
#   bench        bench/bench_models.py (PyTorch eager / torch.compile vs Kiln), BENCH_ARGS passed on
# CONF_FILTER=REGEX limits the conformance cases (the full GPU run takes about 4 minutes);
# SAN_FILTER (gtest filter), SAN_TOOLS (default "memcheck racecheck") and SAN_TIMEOUT (s) shape
# the sanitizer phase.
# Results and logs go to $OUT (the device tool's output folder) or /tmp/kiln-device; a summary
# table is printed last.
set -u
cd "$(dirname "$0")/.."
FINAL=${OUT:-/tmp/kiln-device}
# Everything is written under $FINAL/work and packed into device-logs.tgz at the end (the device
# tool brings back at most 8 files); the summary, the conformance diff and the benchmark table
# are also left beside it.
OUT=$FINAL/work
mkdir -p "$OUT"
# Binaries and libraries arrive as .carry/payload.tar.xz (see package-device.sh).
C=/tmp/kiln-carry
rm -rf "$C" && mkdir -p "$C" && tar -C "$C" -xJf .carry/payload.tar.xz || { echo "no .carry/payload.tar.xz: run scripts/package-device.sh here first"; exit 1; }
cp .carry/commit "$C/" 2>/dev/null; ln -sf "$PWD/.carry/onnx-node-tests.tar.gz" "$C/onnx-node-tests.tar.gz"
export LD_LIBRARY_PATH=/opt/torch/.venv/lib/python3.12/site-packages/nvidia/cudnn/lib:$C/lib:${LD_LIBRARY_PATH:-}
export PATH=/usr/local/cuda/bin:$PATH
export KILN_EXAMPLE_PLUGIN_LIB=$C/lib/libkiln_example_plugins.so
phases=("$@")
[[ ${#phases[@]} -eq 0 ]] && phases=(tests conformance sanitize model)
want() { local p; for p in "${phases[@]}"; do [[ $p == "$1" ]] && return 0; done; return 1; }
declare -a summary
add() { summary+=("$(printf '%-28s %-6s %s' "$1" "$2" "$3")"); }
started=$(date +%s)

echo "== device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -1)"
echo "== commit: $(cat $C/commit 2>/dev/null | tr '\n' ' ')"

if want tests; then
  echo "== gtests (op tests compared GPU vs CPU)"
  KILN_GPU_UNSUPPORTED_REPORT=$OUT/gpu_unsupported.tsv timeout 300 $C/bin/kiln_tests --gtest_brief=1 \
    --gtest_output=json:$OUT/gtests.json >"$OUT/gtests.log" 2>&1
  rc=$?
  grep -E "^\[  FAILED  \]|GPU run of|^\[kiln tests\]" "$OUT/gtests.log" | head -40
  tail -n 25 "$OUT/gtests.log" | grep -E "PASSED|FAILED|tests ran" | head -5
  unsup=$( [[ -f $OUT/gpu_unsupported.tsv ]] && wc -l <"$OUT/gpu_unsupported.tsv" || echo 0)
  add "gtests" "$([[ $rc -eq 0 ]] && echo PASS || echo FAIL)" "$(grep -E '^\[  PASSED  \]' "$OUT/gtests.log" | head -1) $(grep -cE '^\[  FAILED  \]' "$OUT/gtests.log") failed-lines; $unsup ops CPU-only"
fi

if want conformance; then
  if [[ -f $C/onnx-node-tests.tar.gz ]]; then
    # Unpacked here with tar (the runner's own unpacking uses cmake, which the device lacks).
    mkdir -p /tmp/kiln-conf && tar -C /tmp/kiln-conf -xzf $C/onnx-node-tests.tar.gz
    cases=$(dirname "$(find /tmp/kiln-conf -maxdepth 3 -type d -name 'test_abs' | head -1)")
    for dev in cpu gpu; do
      echo "== conformance on the $dev"
      timeout $([[ $dev == gpu ]] && echo 330 || echo 120) $C/bin/kiln_conformance --cases="$cases" \
        --device=$dev --jobs=16 --timeout=60 ${CONF_FILTER:+--filter=$CONF_FILTER} --json=$OUT/conformance_$dev.json >"$OUT/conformance_$dev.log" 2>&1
      tail -n 3 "$OUT/conformance_$dev.log"
    done
    python3 - "$OUT/conformance_cpu.json" "$OUT/conformance_gpu.json" >"$OUT/conformance_diff.txt" <<'PY'
import json, sys
def load(p):
    d = json.load(open(p))
    cases = d["cases"] if isinstance(d, dict) else d
    return {c["name"]: c for c in cases}
cpu, gpu = load(sys.argv[1]), load(sys.argv[2])
cp = {n for n, c in cpu.items() if c["status"] == "pass"}
gp = {n for n, c in gpu.items() if c["status"] == "pass"}
miss = sorted(cp - gp)
by = {}
for n in miss:
    by.setdefault(gpu.get(n, {}).get("status", "missing"), []).append(n)
print(f"cpu pass {len(cp)}  gpu pass {len(gp)}  cpu-pass-but-not-gpu {len(miss)}")
for st, names in sorted(by.items()):
    print(f"-- {st}: {len(names)}")
    for n in names:
        print(f"   {n}: {gpu.get(n, {}).get('message', '')[:300]}")
PY
    head -n 60 "$OUT/conformance_diff.txt"
    add "conformance cpu/gpu" "-" "$(head -1 "$OUT/conformance_diff.txt")"
  else
    add "conformance" "SKIP" "no tarball in $C"
  fi
fi

if want sanitize; then
  # Kiln's own kernels only (kns=kiln: cuBLAS/cuDNN internals are not ours to check), the op
  # tests (eager launches; the CUDA-graph test is left out, see the GPU notes).
  subset=${SAN_FILTER:-'BinaryOps*:Unary*:Linear*:Norm*:Pool*:Reduce*:Shape*:Indexing*:Gpu*:-GpuRuntime.ChainOnUserStreamAndCudaGraph'}
  for tool in ${SAN_TOOLS:-memcheck racecheck}; do
    echo "== compute-sanitizer $tool ($subset)"
    KILN_GPU_UNSUPPORTED_REPORT= timeout ${SAN_TIMEOUT:-240} compute-sanitizer --tool $tool --error-exitcode 9 \
      --kernel-name kns=kiln --padding 512 --print-limit 20 \
      $C/bin/kiln_tests --gtest_brief=1 --gtest_filter="$subset" >"$OUT/sanitize_$tool.log" 2>&1
    rc=$?
    tail -n 4 "$OUT/sanitize_$tool.log"
    add "sanitizer $tool" "$([[ $rc -eq 0 ]] && echo PASS || echo "rc=$rc")" "$(grep -m1 'ERROR SUMMARY' "$OUT/sanitize_$tool.log")"
  done
fi

if want model; then
  for prec in fp32 fp16; do
    flag=""; [[ $prec == fp16 ]] && flag="--fp16"
    echo "== tiny_cnn $prec"
    $C/bin/kiln build --onnx=models/tiny_cnn.onnx --device=cuda $flag --saveEngine=/tmp/tiny_$prec.plan \
      >"$OUT/model_$prec.log" 2>&1 &&
    $C/bin/kiln run --loadEngine=/tmp/tiny_$prec.plan --device=cuda --duration=1 >>"$OUT/model_$prec.log" 2>&1
    rc=$?
    tail -n 12 "$OUT/model_$prec.log"
    add "tiny_cnn $prec" "$([[ $rc -eq 0 ]] && echo PASS || echo FAIL)" "$(grep -m1 -i 'GPU Compute Time\|error' "$OUT/model_$prec.log" | cut -c1-90)"
  done
fi

if want bench; then
  echo "== benchmark"
  PYTHONUNBUFFERED=1 python3 bench/bench_models.py --kiln $C/bin/kiln --out "$OUT" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log" | tail -n 40
  add "benchmark" "-" "see results.md"
fi

{
  echo
  echo "== summary ($(($(date +%s) - started)) s)"
  for l in "${summary[@]}"; do echo "$l"; done
} | tee "$OUT/summary.txt"
for f in summary.txt conformance_diff.txt results.md results.json gpu_unsupported.tsv; do
  [[ -f $OUT/$f ]] && cp "$OUT/$f" "$FINAL/"
done
tar -C "$OUT" -czf "$FINAL/device-logs.tgz" . && rm -rf "$OUT"
