#!/usr/bin/env bash
# Makes sure the packages tinydiff needs are present.
#   scripts/deps.sh [build|test|fuzz|docs] [--aarch64]
# On Debian/Ubuntu, missing packages are installed with apt-get when running as
# root (or listed with the command to run otherwise). Elsewhere it only checks
# for a compiler and CMake: CMake's find_package/FetchContent does the rest.
# --aarch64 adds what the cross build of scripts/test.sh --aarch64 needs; fuzz is
# what scripts/fuzz.sh needs (clang 14 with libFuzzer and its sanitizer runtimes); docs is what
# scripts/docs_check.sh --doxygen needs (the build's packages, python3 and Doxygen).
set -euo pipefail
what=${1:-build}
cross=${2:-}
case "$what/$cross" in
  build/ | test/ | build/--aarch64 | test/--aarch64 | fuzz/ | docs/) ;;
  *) echo "usage: scripts/deps.sh [build|test|fuzz|docs] [--aarch64]" >&2; exit 2 ;;
esac

# Build: compiler, CMake, the header libraries. Test adds PyTorch (the independent
# reference the parity tests compare against) with an OpenMP OpenBLAS, and strace, with which
# the kill -9 fault test stops a run inside a checkpoint write (without it, those moments are
# skipped).
packages=(g++ make cmake libeigen3-dev nlohmann-json3-dev zlib1g-dev libstb-dev libcli11-dev)
if [ "$what" = test ]; then
  packages+=(doctest-dev python3 python3-torch python3-numpy libopenblas0-openmp strace)
fi
# The docs check compiles the docs' C++ blocks (the build's packages), reads the markdown with
# python3, and builds the API reference with Doxygen.
if [ "$what" = docs ]; then
  packages+=(python3 doxygen)
fi
# The fuzz targets (fuzz/) are built with clang 14 (-fsanitize=fuzzer needs its runtime
# library, in libclang-rt-14-dev) and clang's OpenMP, libomp; no g++, make or CMake.
if [ "$what" = fuzz ]; then
  packages=(clang-14 libclang-rt-14-dev libomp-14-dev libeigen3-dev nlohmann-json3-dev zlib1g-dev libcli11-dev)
fi
# The aarch64 cross build (cmake/toolchains/aarch64-linux-gnu.cmake): the cross compiler (it
# brings the aarch64 libc, libstdc++ and libgomp), QEMU to run the test programs, and the one
# compiled dependency, zlib, as the arm64 package through Debian multiarch. The header-only
# libraries above serve every architecture.
if [ "$cross" = --aarch64 ]; then
  packages+=(g++-aarch64-linux-gnu qemu-user-static zlib1g-dev:arm64)
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  tools=(cmake c++)
  if [ "$what" = fuzz ]; then tools=(clang++); fi
  if [ "$what" = docs ]; then tools+=(python3 doxygen); fi
  if [ "$cross" = --aarch64 ]; then tools+=(aarch64-linux-gnu-g++ qemu-aarch64-static); fi
  for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || { echo "tinydiff: '$tool' is required but not found" >&2; exit 1; }
  done
  if [ "$what" = fuzz ]; then
    echo "tinydiff: not a Debian-based system; the fuzz build needs Eigen, nlohmann-json, CLI11 and zlib headers installed"
    exit 0
  fi
  echo "tinydiff: not a Debian-based system; relying on CMake to find or fetch Eigen, nlohmann-json and doctest"
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

# arm64 packages need dpkg to accept that architecture first (Debian multiarch).
want_arm64=no need_arm64=no
if [[ " ${missing[*]} " == *:arm64\ * ]]; then
  want_arm64=yes
  dpkg --print-foreign-architectures | grep -qx arm64 || need_arm64=yes
fi

if [ "$(id -u)" -eq 0 ]; then
  echo "tinydiff: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ $need_arm64 = yes ]; then
    echo "tinydiff: adding the arm64 architecture to dpkg (multiarch) for the aarch64 cross build"
    dpkg --add-architecture arm64
  fi
  apt-get update -q >/dev/null
  if [ $want_arm64 = yes ]; then
    # Debian's mirrors carry arm64; Ubuntu's main archive does not (arm64 lives on ports.ubuntu.com).
    if ! apt-cache show zlib1g-dev:arm64 >/dev/null 2>&1; then
      echo "tinydiff: the apt sources offer no arm64 packages (zlib1g-dev:arm64); add a source that does" >&2
      echo "(on Ubuntu: ports.ubuntu.com with 'Architectures: arm64') and run this again" >&2
      exit 1
    fi
  fi
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "tinydiff: these packages are missing: ${missing[*]}" >&2
  if [ $need_arm64 = yes ]; then
    echo "install them with:  sudo dpkg --add-architecture arm64 && sudo apt-get update && sudo apt-get install ${missing[*]}" >&2
  else
    echo "install them with:  sudo apt-get install ${missing[*]}" >&2
  fi
  exit 1
fi
