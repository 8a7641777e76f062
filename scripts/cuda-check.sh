#!/usr/bin/env bash
# Compile-checks CUDA backend sources one by one, without CMake (parallel-safe; for quick
# iteration on a machine with the CUDA toolkit but no GPU). Objects go to a temp dir.
#   scripts/cuda-check.sh src/backends/cuda/kernels_norm.cu [more files...]
set -euo pipefail
cd "$(dirname "$0")/.."
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
common=(-std=c++20 -Iinclude -Isrc -isystem "$CUDA_HOME/include" -isystem /usr/local/include
        -DKILN_HAVE_CUDA=1 '-DKILN_VERSION="check"' -O2)
status=0
for f in "$@"; do
  case "$f" in
    *.cu)
      # --resource-usage prints registers/shared memory/spills per kernel (ptxas lines).
      if ! "$CUDA_HOME/bin/nvcc" "${common[@]}" -gencode arch=compute_90a,code=sm_90a --expt-relaxed-constexpr \
          -diag-suppress 2810 -Xcompiler=-Wall,-Wextra,-Wno-unused-parameter,-Werror -Werror all-warnings \
          --resource-usage -c "$f" -o "$out/$(basename "$f").o" >"$out/log" 2>&1; then
        status=1
      fi
      grep -v "Compiling entry function\|^ptxas info    : Function properties" "$out/log" || true ;;
    *.cpp)
      g++ "${common[@]}" -Wall -Wextra -Wno-unused-parameter -Werror -c "$f" -o "$out/$(basename "$f").o" || status=1 ;;
  esac
done
exit $status
