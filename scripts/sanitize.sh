#!/usr/bin/env bash
# Sanitizer checks of the C++ test suite (docs/reliability.md).
#
#   scripts/sanitize.sh [asan|tsan|all] [extra ctest args]      (default: asan)
#
# asan: preset "asan" (Debug, AddressSanitizer + UndefinedBehaviorSanitizer with no recovery,
#       LeakSanitizer at exit) builds kiln_tests and runs every gtest (ctest label "unit").
#       Any report fails the test that triggered it.
# tsan: preset "tsan" (clang, ThreadSanitizer) builds kiln_tests and runs the concurrency test
#       (the only one that runs several threads) with OpenBLAS single-threaded (OpenBLAS is not
#       instrumented; its own threads would only add noise).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-asan}
shift || true
JOBS=${KILN_JOBS:-$(nproc)}

run_asan() {
  cmake --preset asan >/dev/null
  local t0=$SECONDS
  cmake --build --preset asan -j"$JOBS" --target kiln_tests
  echo "[sanitize] asan build: $((SECONDS - t0)) s"
  t0=$SECONDS
  # halt_on_error keeps the first report readable; detect_leaks is LeakSanitizer (on by default
  # on x86-64 Linux, stated here so nobody wonders). strict_string_checks and
  # detect_stack_use_after_return catch more at little cost.
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1} \
  UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
  OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1} \
    ctest --preset asan -L unit -j"$JOBS" --timeout 900 "$@"
  echo "[sanitize] asan tests: $((SECONDS - t0)) s"
}

run_tsan() {
  cmake --preset tsan >/dev/null
  local t0=$SECONDS
  cmake --build --preset tsan -j"$JOBS" --target kiln_tests
  echo "[sanitize] tsan build: $((SECONDS - t0)) s"
  t0=$SECONDS
  TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1} OPENBLAS_NUM_THREADS=1 \
    build-tsan/tests/kiln_tests --gtest_filter='Concurrency*' "$@"
  echo "[sanitize] tsan tests: $((SECONDS - t0)) s"
}

case $MODE in
  asan) run_asan "$@" ;;
  tsan) run_tsan "$@" ;;
  all) run_asan "$@"; run_tsan ;;
  *) echo "usage: $0 [asan|tsan|all] [ctest args]" >&2; exit 2 ;;
esac
