#!/usr/bin/env bash
# Installs the Debian packages NASC builds and runs with. Idempotent: does nothing when all are present.
# ccache makes rebuilds cheap; python3-venv makes the venv the ONNX test installs onnxruntime into (from PyPI).
# --bench adds python3-torch (the PyTorch eager reference of `make bench`, the same LibTorch as libtorch-dev).
set -euo pipefail
PKGS=(cmake make g++ libtorch-dev nlohmann-json3-dev libcli11-dev libgtest-dev zlib1g-dev libstb-dev libssl-dev
      dataset-fashion-mnist gnuplot-nox libonnx-dev protobuf-compiler libprotobuf-dev python3 python3-venv openssl
      ccache)
[ "${1:-}" = "--bench" ] && PKGS+=(python3-torch)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${missing[*]}"
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
