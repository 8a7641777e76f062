#!/usr/bin/env bash
# The README's first command: set up, build, and run the main job on the model shipped in the
# repo: import models/tiny_cnn.onnx, build a plan, load it and run it with a performance summary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
BIN=build/bin/kiln
mkdir -p build/quickstart
$BIN build --onnx=models/tiny_cnn.onnx --minShapes=input:1x3x32x32 --optShapes=input:4x3x32x32 \
  --maxShapes=input:16x3x32x32 --saveEngine=build/quickstart/tiny_cnn.plan
$BIN run --loadEngine=build/quickstart/tiny_cnn.plan --shapes=input:4x3x32x32 \
  --exportOutput=build/quickstart/output.json
echo "[quickstart] plan: build/quickstart/tiny_cnn.plan, outputs: build/quickstart/output.json"
