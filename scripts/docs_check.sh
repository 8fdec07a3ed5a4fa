#!/usr/bin/env bash
# The docs cannot go stale: every C++ block of README.md, docs/ and the examples' READMEs compiles
# against include/ (those with a main() are run), every relative link, image and #anchor resolves,
# and every path and file:LINE the docs name exists (scripts/docs_check.py says how fragments are
# compiled and how a block is marked to be skipped).
#   scripts/docs_check.sh             the checks above (g++ and python3)
#   scripts/docs_check.sh --doxygen   also the API reference: Doxygen over include/tinydiff in
#                                     build-docs/docs/html, failing on any warning (docs/Doxyfile.in)
set -euo pipefail
cd "$(dirname "$0")/.."
doxygen=0
case ${1:-} in
  "") ;;
  --doxygen) doxygen=1 ;;
  *) echo "docs_check.sh: unknown option '$1' (only --doxygen)" >&2; exit 2 ;;
esac

bash scripts/deps.sh "$([ $doxygen = 1 ] && echo docs || echo build)"
python3 scripts/docs_check.py
if [ $doxygen = 1 ]; then
  # A configure without tests or examples: the docs target needs none of their dependencies.
  cmake -S . -B build-docs -DTINYDIFF_BUILD_TESTS=OFF -DTINYDIFF_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build build-docs --target docs
  echo "docs_check.sh: API reference in build-docs/docs/html/index.html, no Doxygen warnings"
fi
