#!/usr/bin/env bash
# scripts/quality.sh end to end on a 2-step checkpoint: one eval per setting, one table
# row each (FID, KID, precision / recall), no label accuracy for unconditional (guidance 0) samples, and a setting
# already scored is read back rather than redrawn.
#   quality_script_test.sh EXAMPLES_BUILD_DIR JUDGE_WEIGHTS WORK_DIR
set -euo pipefail
bin=$1 judge=$2 work=$3
root=$(cd "$(dirname "$0")/../../.." && pwd)
rm -rf "$work"
mkdir -p "$work/quality"
"$bin/ddpm_mnist/ddpm_mnist" --threads 2 train --preset test --steps 2 --sample-every 0 --out "$work/run" >/dev/null
cp "$judge" "$work/quality/classifier.safetensors"
run() { TINYDIFF_BIN="$bin" bash "$root/scripts/quality.sh" "$work/run/ema.safetensors" "$work/quality/test" 20 "$@"; }
table=$(run ddim:2:1 ddpm:3:0 dpmpp2m:3:1:trailing)
echo "$table"
[ "$(echo "$table" | grep -c '^| DDIM | 2 | uniform | 1 | 20 | ')" = 1 ]
echo "$table" | grep -q '^| DDPM | 3 | uniform | 0 | 20 | .* | - | [0-9.]* |$'
# A fourth field sets the spacing, and names the file.
echo "$table" | grep -q '^| DPMPP2M | 3 | trailing | 1 | 20 | '
[ -f "$work/quality/test/ddim-2-g1.json" ] && [ -f "$work/quality/test/ddpm-3-g0.json" ] && [ -f "$work/quality/test/dpmpp2m-3-g1-trailing.json" ]
# FID / floor against both references, KID +- s.e., its floor, precision and recall: in the JSON and in the table.
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); [r[k] + 0 for k in ("fid_ratio", "fid_heldout", "fid_heldout_floor", "fid_heldout_ratio", "kid", "kid_se", "kid_floor", "precision", "recall", "precision_floor", "recall_floor")]' \
  "$work/quality/test/ddim-2-g1.json"
echo "$table" | grep -q '^| DDIM | 2 | uniform | 1 | 20 | [0-9.]* | [0-9.]* | [0-9.]* | [0-9.]* | -\?[0-9.]* ± [0-9.]* | -\?[0-9.]* ± [0-9.]* | [0-9.]* | [0-9.]* | '
# Scored settings are not redrawn: the same table comes back without running eval.
stamp=$(stat -c %Y "$work/quality/test/ddim-2-g1.json")
[ "$(run ddim:2:1 ddpm:3:0 dpmpp2m:3:1:trailing)" = "$table" ]
[ "$(stat -c %Y "$work/quality/test/ddim-2-g1.json")" = "$stamp" ]
# A malformed setting list is refused with the usage text.
if run 2>/dev/null; then echo "quality.sh accepted no settings"; exit 1; fi
echo "quality.sh: ok"
