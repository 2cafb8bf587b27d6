#!/usr/bin/env bash
# Builds NASC against PyPI's CUDA LibTorch 2.x and runs the fast tests of that build on the CPU.
#   scripts/check-torch2.sh [BUILD_DIR]      (default build-torch2)
# The default build (`make run`, `make test`) stays on Debian's CPU LibTorch 1.13; this is the second supported
# LibTorch. The pinned `torch` wheel goes into BUILD_DIR/venv once (about 5 GB with its CUDA libraries); the CUDA
# toolkit of the machine (nvcc) compiles the CUDA parts of LibTorch's CMake package, so a missing toolkit or a
# wheel without CUDA fails here rather than building a CPU-only binary by accident. No GPU is needed: the tests run
# on the CPU, and CUDA-only code paths are compiled and linked. The same venv is the PyTorch 2.x reference of
# `bench/pytorch_reference.py` (see results/training-speed/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_PIN="torch==2.15.0"
BUILD="${1:-build-torch2}"
VENV="$BUILD/venv"
PYTHON="${NASC_TORCH2_PYTHON:-/usr/bin/python3}"
JOBS="${JOBS:-$(nproc)}"

./scripts/install-deps.sh
command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ] || {
  echo "check-torch2: no CUDA toolkit (nvcc not on PATH nor in /usr/local/cuda/bin); expected the machine's CUDA" \
       "toolkit to build against a CUDA LibTorch" >&2
  exit 1
}
export PATH="$PATH:/usr/local/cuda/bin"

mkdir -p "$BUILD"
stamp="$VENV/.nasc-torch-pin"
if [ "$(cat "$stamp" 2>/dev/null)" != "$TORCH_PIN" ]; then
  echo "check-torch2: installing $TORCH_PIN from PyPI into $VENV"
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$TORCH_PIN" numpy
  echo "$TORCH_PIN" > "$stamp"
fi
read -r TORCH_VERSION TORCH_CUDA TORCH_PREFIX < <("$VENV/bin/python" -c \
  'import torch; print(torch.__version__, torch.version.cuda, torch.utils.cmake_prefix_path)')
if [ "$TORCH_CUDA" = "None" ]; then
  echo "check-torch2: $TORCH_PIN from PyPI is a CPU-only build (torch.version.cuda is None); expected a CUDA build" >&2
  exit 1
fi
echo "check-torch2: LibTorch $TORCH_VERSION (CUDA $TORCH_CUDA), toolkit $(nvcc --version | tail -1)"

# LibTorch's CMake package looks its libtorch and libc10 up with find_library, whose system paths come before its
# own: with Debian's libtorch-dev installed it links 2.x headers against the 1.13 libraries. Name them.
TORCH_LIB="$(dirname "$(dirname "$TORCH_PREFIX")")/lib"  # torch/share/cmake -> torch/lib
# The wheel's libtorch_cuda needs the NCCL, cuDNN, cuBLAS... of its own nvidia-* wheels, newer than the toolkit's
# (/usr/local/cuda/lib has an older libnccl): at run time its RUNPATH finds them, at link time ld must be told.
RPATH_LINK="$TORCH_LIB"
for d in "$(dirname "$(dirname "$TORCH_LIB")")"/nvidia/*/lib; do [ -d "$d" ] && RPATH_LINK="$RPATH_LINK:$d"; done
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$TORCH_PREFIX" \
  -DTORCH_LIBRARY="$TORCH_LIB/libtorch.so" -Dc10_LIBRARY="$TORCH_LIB/libc10.so" \
  -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$RPATH_LINK" \
  -DCMAKE_CUDA_COMPILER="$(command -v nvcc)" >"$BUILD/cmake.log" 2>&1 || {
  tail -40 "$BUILD/cmake.log" >&2
  echo "check-torch2: cmake against LibTorch $TORCH_VERSION failed; log in $BUILD/cmake.log" >&2
  exit 1
}
grep -q "NASC_TORCH_CUDA:BOOL=ON" "$BUILD/CMakeCache.txt" || {
  echo "check-torch2: CMake did not configure the CUDA build of LibTorch (NASC_TORCH_CUDA is off)" >&2
  exit 1
}
if grep -E "^(TORCH|c10|C10_CUDA)_LIBRARY:FILEPATH=" "$BUILD/CMakeCache.txt" | grep -v "=$TORCH_LIB/"; then
  echo "check-torch2: the LibTorch libraries above are not the wheel's ($TORCH_LIB); expected every one there" >&2
  exit 1
fi
cmake --build "$BUILD" -j "$JOBS"
cd "$BUILD"
ctest -L fast --output-on-failure -j "$JOBS"
echo "check-torch2: the fast tests pass against LibTorch $TORCH_VERSION (CUDA $TORCH_CUDA) on the CPU"
