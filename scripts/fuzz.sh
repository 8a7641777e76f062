#!/usr/bin/env bash
# Builds Kiln's libFuzzer targets (preset "fuzz": clang, ASan + UBSan, coverage in the library),
# makes their seed corpora, replays the committed crash regressions, then runs each target for a
# bounded time and prints executions and crashes per target. Exits non-zero on any crash.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s; all targets)
#
# Targets: onnx_fuzz (ONNX bytes -> parse -> build -> run), engine_fuzz (plan bytes ->
# deserializeEngine -> context -> run), plan_fuzz (plan bytes -> plan reader), cli_fuzz (the CLI's
# shape/size/tensor-file parsers). Everything generated lives under build-fuzz/fuzz/:
#   seeds/<target>/      seed corpus (regenerated each run)
#   corpus/<target>/     what the fuzzer found interesting (kept between runs, grows)
#   artifacts/<target>/  crash-*, leak-*, timeout-*, oom-* inputs: minimize with
#                        build-fuzz/tests/fuzz/<target> -minimize_crash=1 -runs=10000 FILE, then
#                        add the result to tests/fuzz/regressions/<target>/ (docs/reliability.md)
#   logs/<target>.log    libFuzzer's output
# Inputs named open-* in tests/fuzz/regressions/<target>/ are known, still-unfixed crashes
# (listed in docs/reliability.md): they are not replayed, only counted.
# Environment: KILN_FUZZ_KEEP_GOING=1 runs libFuzzer in fork mode and keeps fuzzing past crashes
# (each crash still lands in artifacts/ and fails the script); KILN_FUZZ_RSS_MB (default 2048), KILN_FUZZ_MALLOC_MB (default 1024): a single
# allocation above the latter is reported as a bug (an input must not make Kiln allocate huge
# buffers); KILN_FUZZ_SKIP_BUILD=1 uses the existing build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_PER_TARGET=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(onnx_fuzz engine_fuzz plan_fuzz cli_fuzz)
BUILD=$ROOT/build-fuzz
OUT=$BUILD/fuzz
RSS_MB=${KILN_FUZZ_RSS_MB:-2048}
MALLOC_MB=${KILN_FUZZ_MALLOC_MB:-1024}

if [ "${KILN_FUZZ_SKIP_BUILD:-0}" != 1 ]; then
  # ccache keys on the compiler and flags, so clang objects never mix with g++ ones.
  cmake --preset fuzz >/dev/null
  cmake --build --preset fuzz -j"$(nproc)"
fi
BIN=$BUILD/tests/fuzz
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# One thread for OpenBLAS: the fuzzers measure Kiln, not thread start-up.
export OPENBLAS_NUM_THREADS=1

# ---- Seeds -------------------------------------------------------------------------------------
mkdir -p "$OUT"/{seeds,corpus,artifacts,logs}
rm -rf "$OUT/seeds" "$OUT/models"
mkdir -p "$OUT"/seeds/{onnx_fuzz,engine_fuzz,plan_fuzz,cli_fuzz} "$OUT/models"
python3 tests/fuzz/make_onnx_seeds.py "$OUT/models" >/dev/null
python3 scripts/gen_models.py --out "$OUT/models" --only tiny_cnn,tiny_cnn_op11 >/dev/null 2>&1 ||
  echo "[fuzz] note: gen_models.py failed; seeding from models/ and the tiny models only"
cp models/*.onnx "$OUT/models/" 2>/dev/null || true
cp "$OUT"/models/*.onnx "$OUT/seeds/onnx_fuzz/"
mkdir -p "$OUT/plans"
ASAN_OPTIONS=detect_leaks=0 "$BIN/fuzz_seed_plans" "$OUT/plans" "$OUT"/models/*.onnx 2>/dev/null | tail -1
# The plan fuzzers drop the last byte and read it as the mode (odd: repair size and checksum),
# so each plan goes in twice: as it is, and in "repair" mode.
for p in "$OUT"/plans/*.plan; do
  b=$(basename "$p" .plan)
  for t in engine_fuzz plan_fuzz; do
    { cat "$p"; printf '\x00'; } > "$OUT/seeds/$t/$b.even"
    { cat "$p"; printf '\x01'; } > "$OUT/seeds/$t/$b.odd"
  done
done
cp tests/fuzz/corpus/cli_fuzz/* "$OUT/seeds/cli_fuzz/"

max_len() {
  case $1 in
    onnx_fuzz) echo 32768 ;;
    engine_fuzz|plan_fuzz) echo 65536 ;;
    cli_fuzz) echo 256 ;;
  esac
}

# ---- Regressions: every input that once crashed must now pass ----------------------------------
status=0
for t in "${TARGETS[@]}"; do
  reg=tests/fuzz/regressions/$t
  files=()
  [ -d "$reg" ] && while IFS= read -r -d '' f; do files+=("$f"); done < <(find "$reg" -type f ! -name '*.md' ! -name 'open-*' -print0)
  # (a target without a regressions folder must not stop the script under pipefail)
  nopen=$({ find "$reg" -type f -name 'open-*' 2>/dev/null || true; } | wc -l)
  [ "$nopen" -eq 0 ] || echo "[fuzz] $t: $nopen known open crash input(s) not replayed (docs/reliability.md)"
  if [ ${#files[@]} -gt 0 ]; then
    if "$BIN/$t" -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$MALLOC_MB" "${files[@]}" \
         >"$OUT/logs/$t.regressions.log" 2>&1; then
      echo "[fuzz] $t: ${#files[@]} regression inputs pass"
    else
      echo "[fuzz] $t: a regression input fails again (see $OUT/logs/$t.regressions.log)"
      status=1
    fi
  fi
done

# ---- Fuzz --------------------------------------------------------------------------------------
printf '%-12s %10s %8s %8s %8s\n' target seconds execs exec/s crashes
summary=()
for t in "${TARGETS[@]}"; do
  mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t"
  before=$(find "$OUT/artifacts/$t" -type f | wc -l)
  start=$(date +%s)
  fork=()
  [ "${KILN_FUZZ_KEEP_GOING:-0}" = 1 ] && fork=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
  set +e
  "$BIN/$t" "${fork[@]}" "$OUT/corpus/$t" "$OUT/seeds/$t" \
    -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len "$t")" -timeout=25 \
    -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$MALLOC_MB" -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/$t/" >"$OUT/logs/$t.log" 2>&1
  rc=$?
  set -e
  elapsed=$(( $(date +%s) - start ))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$OUT/logs/$t.log" | grep -o '[0-9]*$' | tail -1 || true)
  # Fork mode prints no final stats; its progress lines start with "#<executions>:".
  [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*:' "$OUT/logs/$t.log" | tail -1 | tr -d '#:' || true)
  [ -n "$execs" ] || execs=0
  after=$(find "$OUT/artifacts/$t" -type f | wc -l)
  crashes=$(( after - before ))
  if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
  rate=$(( elapsed > 0 ? execs / elapsed : execs ))
  printf '%-12s %10s %8s %8s %8s\n' "$t" "$elapsed" "$execs" "$rate" "$crashes"
  if [ "$crashes" -ne 0 ]; then
    status=1
    summary+=("$t: exit $rc; log $OUT/logs/$t.log; inputs in $OUT/artifacts/$t/")
    grep -m3 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error|SUMMARY' "$OUT/logs/$t.log" | sed 's/^/    /' || true
  fi
done
for s in "${summary[@]}"; do echo "[fuzz] crash: $s"; done
exit $status
