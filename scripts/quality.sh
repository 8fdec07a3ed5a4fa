#!/usr/bin/env bash
# Scores a trained ddpm_mnist checkpoint with `ddpm_mnist eval` over a list of
# sampler settings and prints one markdown table (the tables in docs/quality.md).
#
#   scripts/quality.sh CKPT OUTDIR N SETTING...
#     CKPT     ema.safetensors (or checkpoint.safetensors) of a training run
#     OUTDIR   where each setting's JSON goes (OUTDIR/<sampler>-<steps>-g<guidance>.json)
#     N        samples per setting (1000 = 100 per class)
#     SETTING  sampler:steps:guidance[:spacing], e.g. ddim:50:1 ddpm:250:1.5 dpmpp2m:15:2:trailing
#              (spacing: uniform, trailing or logsnr; uniform when left out)
#
# Needs the built binaries (build-release, as scripts/run.sh builds them, plus the
# mnist_classifier target); trains the judge classifier once if OUTDIR/../classifier
# has none. Settings already scored (their JSON exists) are not redrawn.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 4 ]; then
  sed -n '2,14p' "$0" >&2
  exit 2
fi
ckpt=$1 outdir=$2 n=$3
shift 3
bin=${TINYDIFF_BIN:-build-release/examples}
judge=$(dirname "$outdir")/classifier.safetensors
mkdir -p "$outdir"
if [ ! -f "$judge" ]; then
  "$bin/mnist_classifier/mnist_classifier" --out "$judge"
fi
files=()
for setting in "$@"; do
  IFS=: read -r sampler steps guidance spacing <<<"$setting"
  name="$sampler-$steps-g$guidance${spacing:+-$spacing}"
  json="$outdir/$name.json"
  if [ ! -f "$json" ]; then
    start=$(date +%s)
    "$bin/ddpm_mnist/ddpm_mnist" eval --classifier "$judge" --ckpt "$ckpt" --n "$n" --sampler "$sampler" \
      --steps "$steps" --guidance "$guidance" --spacing "${spacing:-uniform}" --json "$json" >"$outdir/$name.log"
    echo "$setting: $(($(date +%s) - start)) s" >&2
  fi
  files+=("$json")
done
python3 scripts/quality_table.py "${files[@]}"
