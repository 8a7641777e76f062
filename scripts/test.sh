#!/usr/bin/env bash
# The README's test command: build with warnings as errors (preset "ci" unless KILN_PRESET is
# set) and run every test (C++ unit/op/model tests and the Python tests) with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${KILN_PRESET:-ci}
cmake --preset "$PRESET" >/dev/null
cmake --build --preset "$PRESET" -j"$(nproc)"
ctest --preset "$PRESET" -j"$(nproc)" "$@"
