#!/usr/bin/env bash
# Seconds per 100 images: the wall time of `ddpm_mnist sample --n 100` (the shipped weights unless
# CKPT is given, 2 threads, whole process: loading, sampling and writing the PNG), for each
# setting, the faster of two runs (the column "s / 100" of docs/quality.md).
#
#   scripts/sample_timing.sh SETTING... [-- CKPT]
#     SETTING  sampler:steps:guidance:spacing, e.g. unipc:8:1.5:trailing ddim:50:1:uniform
#
# Needs build-release/examples/ddpm_mnist/ddpm_mnist (TINYDIFF_BIN: another build's examples
# folder). Time on a quiet machine: 2 shared cores lose whole time slices to anything else running.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TINYDIFF_BIN:-build-release/examples}/ddpm_mnist/ddpm_mnist
settings=() ckpt=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then ckpt=(--ckpt "$2"); break; fi
  settings+=("$1"); shift
done
if [ ${#settings[@]} -eq 0 ]; then
  sed -n '2,10p' "$0" >&2
  exit 2
fi
png=$(mktemp --suffix .png)
trap 'rm -f "$png"' EXIT
echo "| sampler | steps | guidance s | spacing | s / 100 images |"
echo "|---|---:|---:|---|---:|"
for setting in "${settings[@]}"; do
  IFS=: read -r sampler steps guidance spacing <<<"$setting"
  best=""
  for run in 1 2; do
    start=$(date +%s%N)
    "$bin" --threads 2 sample "${ckpt[@]}" --n 100 --sampler "$sampler" --steps "$steps" --guidance "$guidance" \
      --spacing "${spacing:-uniform}" --out "$png" >/dev/null
    took=$(( $(date +%s%N) - start ))
    if [ -z "$best" ] || [ "$took" -lt "$best" ]; then best=$took; fi
  done
  printf '| %s | %s | %s | %s | %d.%02d |\n' "$sampler" "$steps" "$guidance" "${spacing:-uniform}" \
    $((best / 1000000000)) $(((best / 10000000) % 100))
done
