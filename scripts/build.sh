#!/usr/bin/env bash
# Configures and builds Kiln with a CMake preset (default: "default"; CI uses "ci").
set -euo pipefail
cd "$(dirname "$0")/.."
PRESET=${KILN_PRESET:-default}
cmake --preset "$PRESET" >/dev/null
cmake --build --preset "$PRESET" -j"$(nproc)"
