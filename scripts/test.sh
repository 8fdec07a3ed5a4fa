#!/usr/bin/env bash
# The test command: installs what is missing, builds the tests in Release and runs them.
#   scripts/test.sh              Release build in build/, all tests (CTest)
#   scripts/test.sh --sanitize   the same under AddressSanitizer + UndefinedBehaviorSanitizer, in build-asan/
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh test

build_dir=build
flags=(-DCMAKE_BUILD_TYPE=Release)
if [ "${1:-}" = --sanitize ]; then
  build_dir=build-asan
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DTINYDIFF_SANITIZE=ON -DTINYDIFF_BUILD_EXAMPLES=OFF)
fi
if command -v ccache >/dev/null 2>&1; then flags+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi

jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B "$build_dir" "${flags[@]}" >/dev/null
cmake --build "$build_dir" -j "$jobs"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs"
