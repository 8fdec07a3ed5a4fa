#!/usr/bin/env bash
# The main job: installs what is missing, builds ddpm_mnist in Release, trains the
# quick preset on the embedded MNIST digits and writes a sample grid.
#   scripts/run.sh                       -> runs/quick/samples.png (about 4 minutes on 2 cores, first build included)
#   scripts/run.sh --preset full --out runs/full     (any `ddpm_mnist train` flags)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build

flags=(-DCMAKE_BUILD_TYPE=Release -DTINYDIFF_BUILD_TESTS=OFF)
if command -v ccache >/dev/null 2>&1; then flags+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B build-release "${flags[@]}" >/dev/null
cmake --build build-release -j "$(nproc 2>/dev/null || echo 2)" --target ddpm_mnist autograd_tour
if [ $# -eq 0 ]; then set -- --preset quick --out runs/quick; fi
exec ./build-release/examples/ddpm_mnist/ddpm_mnist train "$@"
