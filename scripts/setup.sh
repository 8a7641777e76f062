#!/usr/bin/env bash
# Installs everything Kiln needs to build and test on Debian/Ubuntu (run as root or with sudo).
# Debian packages for C/C++ dependencies, pinned PyPI packages for the Python test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

PACKAGES=(
  cmake ninja-build g++ ccache pkg-config
  libprotobuf-dev protobuf-compiler   # ONNX model parsing (linked statically)
  libonnx-dev                         # onnx.proto, the ONNX schema
  libopenblas-dev                     # GEMM/convolution in the CPU reference backend
  libgtest-dev libgmock-dev           # C++ tests
  clang libclang-rt-14-dev llvm       # libFuzzer, ThreadSanitizer, llvm-symbolizer (scripts/fuzz.sh, sanitize.sh)
  python3 python3-pip
  pybind11-dev python3-dev             # the `kiln` Python module (python/)
)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "[setup] installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
fi

PY=${PYTHON:-python3}
if ! $PY -c "import numpy, onnx, onnxruntime, pytest" >/dev/null 2>&1 ||
   ! $PY - <<'PYEOF' >/dev/null 2>&1
import importlib.metadata as m, sys
want = {}
for line in open("requirements-test.txt"):
    line = line.split("#")[0].strip()
    if line:
        name, ver = line.split("==")
        want[name] = ver
sys.exit(0 if all(m.version(k) == v for k, v in want.items()) else 1)
PYEOF
then
  echo "[setup] installing Python test packages (requirements-test.txt)"
  $PY -m pip install -q -r requirements-test.txt ||
    $PY -m pip install -q --break-system-packages -r requirements-test.txt
fi
echo "[setup] done"
