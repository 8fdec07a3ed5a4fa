#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (clang 14, -fsanitize=fuzzer,address,undefined)
# in build-fuzz/ and runs each for a bounded time, as CI does (fuzz/README.md).
#   scripts/fuzz.sh [--seconds N] [--jobs J] [TARGET...]
#       TARGET: safetensors, checkpoint, idx, cli (default: all); N seconds each (default 60,
#       or $FUZZ_SECONDS); J targets at a time (default: the number of CPUs). Each run starts
#       from the seed corpus fuzz/corpus/TARGET plus what earlier runs here kept in
#       build-fuzz/corpus/TARGET, with the dictionary fuzz/TARGET.dict. Exits non-zero when a
#       target finds anything: the input is saved as build-fuzz/artifacts/TARGET-crash-<sha1>
#       (reproduce with build-fuzz/fuzz_TARGET FILE), and belongs in the regression tests.
#   scripts/fuzz.sh --corpus
#       rewrites the seed corpora fuzz/corpus/{safetensors,checkpoint,idx,cli} with fuzz/make_corpus.cpp
#       (regression inputs saved there by hand, crash-*, are kept).
# The compiler is clang++-14 ($FUZZ_CXX overrides it); packages come from scripts/deps.sh fuzz.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

all_targets=(safetensors checkpoint idx cli)
seconds=${FUZZ_SECONDS:-60}
jobs=$(nproc 2>/dev/null || echo 2)
corpus_mode=no
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=${2:-}; shift 2 || usage ;;
    --jobs) jobs=${2:-}; shift 2 || usage ;;
    --corpus) corpus_mode=yes; shift ;;
    -h | --help) usage ;;
    safetensors | checkpoint | idx | cli) targets+=("$1"); shift ;;
    *) echo "fuzz.sh: unknown argument '$1'" >&2; usage ;;
  esac
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --seconds needs a positive whole number" >&2; exit 2; }
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: --jobs needs a positive whole number" >&2; exit 2; }
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

bash scripts/deps.sh fuzz
cxx=${FUZZ_CXX:-clang++-14}
command -v "$cxx" >/dev/null 2>&1 || { echo "fuzz.sh: '$cxx' not found (set FUZZ_CXX to a clang++ with libFuzzer)" >&2; exit 1; }

build=build-fuzz
mkdir -p "$build"
eigen=/usr/include/eigen3
if command -v pkg-config >/dev/null 2>&1 && pkg-config --exists eigen3; then
  eigen=$(pkg-config --cflags-only-I eigen3 | sed 's/^ *-I//; s/ *$//')
fi
common=(-std=c++17 -gline-tables-only -I include -I examples/ddpm_mnist -I fuzz -isystem "$eigen" -fopenmp -Wno-pass-failed)
# -O1 as libFuzzer's documentation advises; every sanitizer report aborts (so it is a crash).
sanitize=(-O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer)

# compile OUTPUT SOURCE FLAGS...: rebuilds OUTPUT when it is missing or older than anything it
# may include (the library, the example's headers, fuzz/).
compile() {
  local output=$1 source=$2
  shift 2
  if [ -x "$output" ] && [ -z "$(find include examples fuzz scripts/fuzz.sh -newer "$output" \
        \( -name '*.hpp' -o -name '*.cpp' -o -name '*.sh' -o -name '*.ignorelist' \) -print -quit)" ]; then
    return 0
  fi
  echo "fuzz.sh: building $output"
  "$cxx" "${common[@]}" "$@" "$source" -o "$output" -lz
}

if [ $corpus_mode = yes ]; then
  compile "$build/make_corpus" fuzz/make_corpus.cpp -O1
  for t in safetensors checkpoint idx cli; do find "fuzz/corpus/$t" -maxdepth 1 -type f ! -name 'crash-*' -delete 2>/dev/null || true; done
  "$build/make_corpus" fuzz/corpus
  du -b fuzz/corpus/*/* | sort -k2
  exit 0
fi

# in_batches FUNCTION: runs FUNCTION TARGET for every target, `jobs` at a time; each writes its
# exit status to build-fuzz/TARGET.FUNCTION.rc.
in_batches() {
  local fn=$1 t i=0
  local batch=()
  for t in "${targets[@]}"; do
    ( set +e; "$fn" "$t"; echo $? >"$build/$t.$fn.rc" ) &
    batch+=($!)
    i=$((i + 1))
    if [ ${#batch[@]} -ge "$jobs" ] || [ $i -eq ${#targets[@]} ]; then
      wait "${batch[@]}"
      batch=()
    fi
  done
}
build_target() {
  local extra=()
  [ -f "fuzz/$1.ignorelist" ] && extra=(-fsanitize-coverage-ignorelist="fuzz/$1.ignorelist")
  compile "$build/fuzz_$1" "fuzz/fuzz_$1.cpp" "${sanitize[@]}" "${extra[@]}" >"$build/build_$1.log" 2>&1
}
start=$SECONDS
in_batches build_target
status=0
for t in "${targets[@]}"; do
  cat "$build/build_$t.log"
  [ "$(cat "$build/$t.build_target.rc")" = 0 ] || status=1
done
[ $status -eq 0 ] || { echo "fuzz.sh: build failed" >&2; exit 1; }
echo "fuzz.sh: built in $((SECONDS - start)) s"

# Run each target for `seconds`, `jobs` at a time; its log goes to build-fuzz/TARGET.log.
# -rss_limit_mb / -malloc_limit_mb: using or asking for more than 2 GB is a finding, as is an
# input that takes over 10 s (-timeout). One OpenMP thread: the inputs are small, and the
# targets run side by side.
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
mkdir -p "$build/artifacts"
run_target() {
  local t=$1
  mkdir -p "$build/corpus/$t"
  rm -f "$build/artifacts/$t-"*
  local dict=()
  [ -f "fuzz/$t.dict" ] && dict=(-dict="fuzz/$t.dict")
  "$build/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 "${dict[@]}" -artifact_prefix="$build/artifacts/$t-" \
    "$build/corpus/$t" "fuzz/corpus/$t" >"$build/$t.log" 2>&1
}
start=$SECONDS
in_batches run_target
failed=()
for t in "${targets[@]}"; do
  if [ "$(cat "$build/$t.run_target.rc")" = 0 ]; then
    # the last status line (coverage, features, corpus) and the speed from the final stats
    summary=$(grep -E '^#[0-9]+' "$build/$t.log" | tail -1 || true)
    execs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$build/$t.log")
    echo "fuzz.sh: $t: no findings in ${seconds} s (${execs:-?} execs/s): ${summary}"
  else
    failed+=("$t")
    echo "fuzz.sh: $t: FOUND A PROBLEM; the end of $build/$t.log:" >&2
    tail -n 60 "$build/$t.log" >&2
    ls "$build/artifacts/$t-"* 2>/dev/null | sed 's/^/fuzz.sh: input saved as /' >&2 || true
  fi
done
echo "fuzz.sh: ran ${#targets[@]} targets, ${seconds} s each, in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]} (fuzz/README.md says what to do with them)" >&2
  exit 1
fi
