#!/usr/bin/env bash
# The test command: installs what is missing, builds the tests in Release and runs them (CTest).
#   scripts/test.sh                Release build in build/ for this CPU (-march=native), all tests
#   scripts/test.sh --march VALUE  the same compiled with -march=VALUE, in build-march-VALUE/: x86-64-v3
#                                  (AVX2 + FMA), none (no -march: baseline x86-64), ... (TINYDIFF_MARCH)
#   scripts/test.sh --aarch64      cross-compiled for 64-bit ARM in build-aarch64/, the tests run under
#                                  QEMU; those labelled slow or native_only are left out (and listed)
#   scripts/test.sh --sanitize     under AddressSanitizer + UndefinedBehaviorSanitizer, in build-asan/; the
#                                  tests labelled slow are left out (and listed)
# TINYDIFF_ISA, when set, reaches the test programs unchanged (QEMU passes the environment on too).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,10p' "$0" | sed 's/^# //' >&2; exit 2; }

mode=native
option=${1:-}
if [ $# -gt 0 ]; then shift; fi
case $option in
  "") ;;
  --sanitize) mode=sanitize ;;
  --aarch64) mode=aarch64 ;;
  --march)
    mode=march
    march=${1:-}
    # The value names a build folder too: keep it to what -march values are made of.
    if [[ ! "$march" =~ ^[A-Za-z0-9][A-Za-z0-9._+-]*$ ]]; then
      echo "test.sh: --march needs a value such as native, none or x86-64-v3 (got '${march}')" >&2
      exit 2
    fi
    shift ;;
  -h | --help) usage ;;
  *) echo "test.sh: unknown option '$option'" >&2; usage ;;
esac
[ $# -eq 0 ] || { echo "test.sh: one option at a time (left over: $*)" >&2; usage; }

# Unity builds: each test program's sources compile as one translation unit, so the headers
# (Eigen, doctest, the kernels) are compiled once per program, not once per file. (A developer's
# own build dir compiles file by file; the test files share their helpers through
# tests/test_helpers.hpp so that both ways compile.)
flags=(-DCMAKE_BUILD_TYPE=Release -DCMAKE_UNITY_BUILD=ON)
ctest_args=()
declare -A skip_reason=()  # CTest label -> why tests with it are left out here
case $mode in
  native)
    bash scripts/deps.sh test
    build_dir=build
    flags+=(-DTINYDIFF_MARCH=native) ;;
  march)
    bash scripts/deps.sh test
    build_dir=build-march-$march
    flags+=("-DTINYDIFF_MARCH=$march") ;;
  aarch64)
    bash scripts/deps.sh test --aarch64
    build_dir=build-aarch64
    # The toolchain file picks the cross compiler, the arm64 libraries and QEMU for CTest; the
    # programs get the compiler's default target (armv8-a), the baseline every aarch64 CPU has.
    flags+=(-DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/toolchains/aarch64-linux-gnu.cmake" -DTINYDIFF_MARCH=none)
    # Under QEMU these would take most of CI's time or cannot run (labels: tests/CMakeLists.txt).
    skip_reason[slow]="too slow under QEMU"
    skip_reason[native_only]="must run on the build machine, not under QEMU"
    ;;
  sanitize)
    bash scripts/deps.sh test
    build_dir=build-asan
    # -O1 and line tables only (-g1): half the compile time of -O2 -g, and the sanitizers' reports
    # still name file and line.
    flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" -DCMAKE_UNITY_BUILD=ON
           -DTINYDIFF_SANITIZE=ON)
    # The whole suite, examples too, but for the tests that train for minutes (labels:
    # tests/CMakeLists.txt): several times slower under the sanitizers.
    skip_reason[slow]="trains for minutes, too slow under the sanitizers" ;;
esac
if command -v ccache >/dev/null 2>&1; then flags+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
if [ -n "${TINYDIFF_ISA:-}" ]; then echo "test.sh: TINYDIFF_ISA=$TINYDIFF_ISA is passed to the tests"; fi

jobs=$(nproc 2>/dev/null || echo 2)
start=$SECONDS
cmake -S . -B "$build_dir" "${flags[@]}" >/dev/null
cmake --build "$build_dir" -j "$jobs"
echo "test.sh: $build_dir configured and built in $((SECONDS - start)) s"  # CTest prints the tests' time

# Say which tests are left out and why, then leave them out (ctest -LE takes a regex of labels).
if [ ${#skip_reason[@]} -gt 0 ]; then
  labels=$(IFS='|'; echo "${!skip_reason[*]}")
  for label in "${!skip_reason[@]}"; do
    # -FA: only the labelled tests, not the fixture setups they would bring in
    names=$(ctest --test-dir "$build_dir" -N -L "^${label}\$" -FA '.*' | sed -n 's/^ *Test *#[0-9]*: //p' | tr '\n' ' ')
    echo "test.sh: skipped (label $label: ${skip_reason[$label]}): ${names:-none}"
  done
  ctest_args+=(-LE "^($labels)\$")
fi
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" "${ctest_args[@]}"
