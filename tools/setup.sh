#!/usr/bin/env bash
# Installs the Debian packages fp4moe builds with, and the Python packages its oracle tests use
# (tests/oracle: ml_dtypes and safetensors, the formats' independent implementations).
# Idempotent: prints nothing when all are there.
set -euo pipefail

packages=(
  bazel-bootstrap g++ pkg-config
  libeigen3-dev libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  libprotobuf-dev protobuf-compiler libsimde-dev libnuma-dev nlohmann-json3-dev
  gnuplot-nox python3 python3-pip python3-dev pybind11-dev
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "setup: done"
fi
# The system font cache, brought up to date (quick and silent when it is): gnuplot's fontconfig
# otherwise tries to write a cache of its own, and where it cannot (Bazel's test sandbox) it
# prints "No writable cache directories" on every plot, which the tools' one-message tests see.
$sudo fc-cache -s >/dev/null 2>&1 || true

# numpy is not pinned: pip picks numpy 2, which python/fp4moe_module.cc supports under Debian's
# pybind11 2.10 by never reading numpy's dtype struct through pybind11 (laid out anew in numpy
# 2); python/fp4moe_test.py passes with numpy 1.26 and 2.4 alike.
python_packages=("ml_dtypes>=0.5" "safetensors>=0.4" numpy)
if ! python3 -c "import ml_dtypes, safetensors, numpy; ml_dtypes.float4_e2m1fn" 2>/dev/null; then
  echo "setup: installing Python packages ${python_packages[*]}"
  # Debian's own python3 refuses pip installs unless told (PEP 668); a user's Python does not.
  python3 -m pip install --quiet "${python_packages[@]}" 2>/dev/null ||
    python3 -m pip install --quiet --break-system-packages "${python_packages[@]}"
  echo "setup: done"
fi
