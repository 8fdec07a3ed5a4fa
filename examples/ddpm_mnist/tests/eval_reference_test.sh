#!/usr/bin/env bash
# `ddpm_mnist eval --idx` on real digits: FID / floor is measured against a class-balanced
# reference, so
#   - 1,000 other class-balanced training digits score about the floor (FID / floor near 1),
#   - the 1,000 held-out digits (no 5s, 223 ones, 40 eights) score well above it, although they
#     are real: the class proportions are wrong,
# and the held-out FID printed beside it is about 0 for the held-out digits themselves.
#   eval_reference_test.sh DDPM_MNIST JUDGE_WEIGHTS DATA_DIR WORK_DIR
set -euo pipefail
ddpm=$1 judge=$2 data=$3 work=$4
rm -rf "$work"
mkdir -p "$work"
# Cut two sets of 1,000 out of the embedded IDX files: training digits 2000..2999 and the last 1,000.
python3 - "$data" "$work" <<'EOF'
import gzip, sys
data, work = sys.argv[1:]
images = gzip.open(data + "/mnist10k-images-idx3-ubyte.gz").read()
labels = gzip.open(data + "/mnist10k-labels-idx1-ubyte.gz").read()
for name, start in (("balanced", 2000), ("heldout", 9000)):
    with gzip.open(f"{work}/{name}-images-idx3-ubyte.gz", "wb") as f:
        f.write(images[:4] + (1000).to_bytes(4, "big") + images[8:16] + images[16 + start * 784:16 + (start + 1000) * 784])
    with gzip.open(f"{work}/{name}-labels-idx1-ubyte.gz", "wb") as f:
        f.write(labels[:4] + (1000).to_bytes(4, "big") + labels[8 + start:8 + start + 1000])
EOF
for name in balanced heldout; do
  "$ddpm" --threads 2 eval --classifier "$judge" --idx "$work/$name" --json "$work/$name.json" >"$work/$name.log"
done
python3 - "$work" <<'EOF'
import json, sys
work = sys.argv[1]
balanced = json.load(open(work + "/balanced.json"))
heldout = json.load(open(work + "/heldout.json"))
print("balanced training digits: FID / floor %.3f, held-out FID / floor %.3f" % (balanced["fid_ratio"], balanced["fid_heldout_ratio"]))
print("held-out digits:          FID / floor %.3f, held-out FID %.3f" % (heldout["fid_ratio"], heldout["fid_heldout"]))
assert 0.8 < balanced["fid_ratio"] < 1.25, "real class-balanced digits should score about the floor"
assert heldout["fid_ratio"] > 1.5, "digits with the wrong class proportions should score well above the floor"
assert heldout["fid_heldout"] < 1e-3 * heldout["fid_heldout_floor"], "a set against itself should score about 0"
assert heldout["label_accuracy"] > 0.97 and balanced["label_accuracy"] > 0.97
EOF
