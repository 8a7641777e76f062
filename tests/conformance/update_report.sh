#!/usr/bin/env bash
# Runs the ONNX conformance suite and regenerates docs/onnx_support.md (and, with
# --update-baseline, tests/conformance/baseline.txt).
#   tests/conformance/update_report.sh [BUILD_DIR] [--update-baseline] [other kiln_conformance flags]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
[[ $# -gt 0 ]] && shift
TARBALL="${KILN_CONFORMANCE_TARBALL:-$ROOT/../shared/conformance/onnx-node-tests.tar.gz}"
cmake --build "$BUILD" --target kiln_conformance
exec "$BUILD/tests/conformance/kiln_conformance" \
  --tarball="$TARBALL" --unpack-dir="$BUILD/tests/conformance/cases" \
  --json="$BUILD/tests/conformance/conformance_report.json" \
  --markdown="$ROOT/docs/onnx_support.md" \
  --baseline="$ROOT/tests/conformance/baseline.txt" "$@"
