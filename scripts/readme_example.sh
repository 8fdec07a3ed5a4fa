#!/usr/bin/env bash
# The README's library example ("## The library"), compiled as a user would (the README's C++ block,
# -O2, no -march) with g++ and with clang++, run, and the two outputs compared: the example must
# print the same final loss with both compilers (#17: C++ leaves the order in which a call's
# arguments are evaluated unspecified, so layers built inside one call draw their weights in a
# compiler-dependent order).
#   scripts/readme_example.sh             g++, and clang++ when installed (else says it is missing)
#   scripts/readme_example.sh --clang     fails when clang++ is not installed (CI)
set -euo pipefail
cd "$(dirname "$0")/.."
need_clang=0
case ${1:-} in
  "") ;;
  --clang) need_clang=1 ;;
  *) echo "readme_example.sh: unknown option '$1' (only --clang)" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The first ```cpp block after the "## The library" heading.
awk '/^## The library/{inside=1} inside && /^```cpp/{code=1; next} code && /^```/{exit} code' README.md >"$work/readme.cpp"
if ! grep -q 'int main' "$work/readme.cpp"; then
  echo "readme_example.sh: no C++ example with a main() under '## The library' in README.md" >&2
  exit 1
fi

compilers=(g++)
if command -v clang++ >/dev/null 2>&1; then
  compilers+=(clang++)
elif [ $need_clang = 1 ]; then
  echo "readme_example.sh: clang++ is not installed (Debian: apt-get install clang-14)" >&2
  exit 1
else
  echo "readme_example.sh: clang++ is not installed; checking g++ alone"
fi
launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(ccache); fi
eigen=$(pkg-config --cflags eigen3 2>/dev/null || echo -I/usr/include/eigen3)
for cxx in "${compilers[@]}"; do
  # shellcheck disable=SC2086
  "${launcher[@]}" "$cxx" -std=c++17 -O2 -fopenmp -Iinclude $eigen "$work/readme.cpp" -o "$work/readme_$cxx" -lz
  (cd "$work" && "./readme_$cxx") >"$work/out_$cxx"
  echo "$cxx: $(cat "$work/out_$cxx")"
  grep -q '^final loss [0-9.]*$' "$work/out_$cxx" || { echo "readme_example.sh: $cxx's run printed no final loss" >&2; exit 1; }
done
if [ ${#compilers[@]} = 2 ] && ! cmp -s "$work/out_g++" "$work/out_clang++"; then
  echo "readme_example.sh: the README example prints different results with g++ and clang++" >&2
  exit 1
fi
echo "readme_example.sh: the README example runs${compilers[1]:+ and prints the same with g++ and clang++}"
