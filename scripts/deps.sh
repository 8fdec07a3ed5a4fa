#!/usr/bin/env bash
# Makes sure the packages tinydiff needs are present.
#   scripts/deps.sh [build|test]
# On Debian/Ubuntu, missing packages are installed with apt-get when running as
# root (or listed with the command to run otherwise). Elsewhere it only checks
# for a compiler and CMake: CMake's find_package/FetchContent does the rest.
set -euo pipefail
what=${1:-build}

# Build: compiler, CMake, the header libraries. Test adds PyTorch (the independent
# reference the parity tests compare against) with an OpenMP OpenBLAS.
packages=(g++ make cmake libeigen3-dev nlohmann-json3-dev zlib1g-dev libstb-dev libcli11-dev)
if [ "$what" = test ]; then
  packages+=(doctest-dev python3 python3-torch python3-numpy libopenblas0-openmp)
fi

if ! command -v dpkg-query >/dev/null 2>&1; then
  for tool in cmake c++; do
    command -v "$tool" >/dev/null 2>&1 || { echo "tinydiff: '$tool' is required but not found" >&2; exit 1; }
  done
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

if [ "$(id -u)" -eq 0 ]; then
  echo "tinydiff: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "tinydiff: these packages are missing: ${missing[*]}" >&2
  echo "install them with:  sudo apt-get install ${missing[*]}" >&2
  exit 1
fi
