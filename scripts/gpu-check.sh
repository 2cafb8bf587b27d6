#!/usr/bin/env bash
# Everything a lent GPU must check, in one call of the device tool: the build against a CUDA LibTorch, the fast
# tests with CUDA visible, the training benchmark on the GPU, and `nasc profile --device cuda`.
#
#   here, once:     scripts/gpu-check.sh --prepare      # copies the dependencies the GPU machine lacks into .carry/
#   on the device:  scripts/gpu-check.sh                # device tool: carry [".carry"], timeout_s 560
#
# The GPU machine has a CUDA PyTorch (/opt/torch/.venv, or NASC_TORCH_PYTHON), nvcc, cmake and nlohmann-json, but
# none of Debian's -dev packages: --prepare carries CLI11 and stb (header-only), GoogleTest (Debian's static
# libraries with their CMake package), and the OpenSSL and zlib headers and libraries. Results go to $OUT (the
# device tool's folder, else gpu-check-out/): build and test logs, bench_train_throughput's CSV (CPU and CUDA
# rows), cuda-*.json profiles, nvidia-smi. Each step's log is kept even when a later step fails.
set -uo pipefail
cd "$(dirname "$0")/.."
CARRY=.carry
ARCH_LIB=/usr/lib/x86_64-linux-gnu

if [ "${1:-}" = "--prepare" ]; then
  set -e
  rm -rf "$CARRY" && mkdir -p "$CARRY/include" "$CARRY/gtest/include" "$CARRY/gtest/lib/x86_64-linux-gnu" \
    "$CARRY/ssl/include" "$CARRY/ssl/lib"
  cp -r /usr/include/CLI /usr/include/stb "$CARRY/include/"
  cp -r /usr/include/gtest /usr/include/gmock "$CARRY/gtest/include/"
  # GTestConfig.cmake finds its prefix three folders above itself: keep Debian's layout under .carry/gtest.
  cp "$ARCH_LIB"/libgtest*.a "$ARCH_LIB"/libgmock*.a "$CARRY/gtest/lib/x86_64-linux-gnu/"
  mkdir -p "$CARRY/gtest/lib/x86_64-linux-gnu/cmake"
  cp -r "$ARCH_LIB/cmake/GTest" "$CARRY/gtest/lib/x86_64-linux-gnu/cmake/"
  cp -r /usr/include/openssl /usr/include/zlib.h /usr/include/zconf.h "$CARRY/ssl/include/"
  cp -r /usr/include/x86_64-linux-gnu/openssl/* "$CARRY/ssl/include/openssl/"
  # Real files under the names the linker asks for (the device tool carries no symbolic links).
  cp -L "$ARCH_LIB/libssl.so" "$CARRY/ssl/lib/libssl.so"
  cp -L "$ARCH_LIB/libcrypto.so" "$CARRY/ssl/lib/libcrypto.so"
  cp -L "$ARCH_LIB/libz.so" "$CARRY/ssl/lib/libz.so"
  echo "gpu-check: carried $(du -sh "$CARRY" | cut -f1) in $CARRY/ (the device tool carries at most 64 MiB)"
  exit 0
fi

OUT=${OUT:-gpu-check-out}
mkdir -p "$OUT"
PY=${NASC_TORCH_PYTHON:-/opt/torch/.venv/bin/python}
BUILD=build-gpu
[ -d "$CARRY" ] || { echo "gpu-check: no $CARRY/: run scripts/gpu-check.sh --prepare here and carry it" >&2; exit 1; }
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1
read -r TORCH_VERSION TORCH_CUDA TORCH_PREFIX < <("$PY" -c \
  'import torch; print(torch.__version__, torch.version.cuda, torch.utils.cmake_prefix_path)')
echo "gpu-check: LibTorch $TORCH_VERSION (CUDA $TORCH_CUDA) from $PY" | tee "$OUT/summary.txt"
TORCH_LIB="$(dirname "$(dirname "$TORCH_PREFIX")")/lib"
RPATH_LINK="$TORCH_LIB"
for d in "$(dirname "$(dirname "$TORCH_LIB")")"/nvidia/*/lib; do [ -d "$d" ] && RPATH_LINK="$RPATH_LINK:$d"; done

step() {  # name, command...: runs one step, logs it to $OUT/name.log, records its time and status
  local name=$1 t0=$SECONDS
  shift
  "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "gpu-check: $name: exit $rc after $((SECONDS - t0)) s" | tee -a "$OUT/summary.txt"
  return $rc
}
step configure cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$TORCH_PREFIX;$PWD/$CARRY/gtest" -DTORCH_LIBRARY="$TORCH_LIB/libtorch.so" \
  -Dc10_LIBRARY="$TORCH_LIB/libc10.so" -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$RPATH_LINK" \
  -DCLI11_INCLUDE_DIR="$PWD/$CARRY/include" -DSTB_INCLUDE_DIR="$PWD/$CARRY/include" \
  -DOPENSSL_ROOT_DIR="$PWD/$CARRY/ssl" -DZLIB_INCLUDE_DIR="$PWD/$CARRY/ssl/include" \
  -DZLIB_LIBRARY="$PWD/$CARRY/ssl/lib/libz.so" -DNASC_TEST_PYTHON="$PY" || exit 1
grep -q "NASC_TORCH_CUDA:BOOL=ON" "$BUILD/CMakeCache.txt" || { echo "gpu-check: not a CUDA LibTorch" >&2; exit 1; }
step build cmake --build "$BUILD" -j "$(nproc)" || exit 1
step fast-tests bash -c "cd $BUILD && ctest -L fast --output-on-failure -j 8"
step train-throughput "$BUILD/bench_train_throughput" --csv
cp "$OUT/train-throughput.log" "$OUT/train_throughput.csv"
for space in hwnas-cifar nbmacro; do
  step "profile-$space" "$BUILD/nasc" profile --space "$space" --device cuda --out "$OUT/cuda-$space.json"
done
echo "gpu-check: done; logs and numbers in $OUT/" | tee -a "$OUT/summary.txt"
