#!/usr/bin/env bash
# Collects what a GPU run needs into .carry/ (ignored by git; the device tool carries it):
# the CUDA build's binaries (stripped), the host libraries the device image lacks (OpenBLAS and
# its Fortran runtime), and ONNX's conformance tarball. Then, through the device tool:
#   run(command="scripts/device-check.sh", carry=[".carry"])
#   scripts/package-device.sh [BUILD_DIR=build-gpu]
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build-gpu}
C=.carry
rm -rf "$C" && mkdir -p "$C/bin" "$C/lib"
for f in "$B/bin/kiln" "$B/tests/kiln_tests" "$B/tests/conformance/kiln_conformance"; do
  [[ -x $f ]] || { echo "missing $f: build first (cmake --preset gpu && cmake --build build-gpu)" >&2; exit 1; }
  strip -o "$C/bin/$(basename "$f")" "$f"
done
cp "$B/lib/libkiln_example_plugins.so" "$C/lib/"
for lib in libopenblas.so.0 libgfortran.so.5 libquadmath.so.0; do
  cp -L "$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')" "$C/lib/$lib"
done
T=../shared/conformance/onnx-node-tests.tar.gz
[[ -f $T ]] && cp "$T" "$C/"
git rev-parse --short HEAD > "$C/commit"
git diff --quiet HEAD || echo "+dirty" >> "$C/commit"
# OpenBLAS alone is ~38 MB and the device tool carries at most 64 MiB: ship binaries and
# libraries as one xz archive (~9 MB); device-check.sh unpacks it.
tar -C "$C" -cf - bin lib | xz -6 -T2 > "$C/payload.tar.xz"
rm -rf "$C/bin" "$C/lib"
du -sh "$C" "$C"/*
