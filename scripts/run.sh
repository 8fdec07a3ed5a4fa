#!/usr/bin/env bash
# The main job: installs what is missing, builds the examples in Release and runs them.
# For now that is the autograd tour (examples/autograd_tour).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh build

flags=(-DCMAKE_BUILD_TYPE=Release -DTINYDIFF_BUILD_TESTS=OFF)
if command -v ccache >/dev/null 2>&1; then flags+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B build-release "${flags[@]}" >/dev/null
cmake --build build-release -j "$(nproc 2>/dev/null || echo 2)" --target autograd_tour
./build-release/examples/autograd_tour/autograd_tour "$@"
