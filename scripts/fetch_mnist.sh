#!/usr/bin/env bash
# Downloads the full MNIST (60,000 training digits) in IDX form, for
#   ddpm_mnist train --data DIR
# Needs internet. usage: scripts/fetch_mnist.sh [DIR]   (default: data/mnist)
set -euo pipefail
dir=${1:-data/mnist}
mkdir -p "$dir"
base=https://ossci-datasets.s3.amazonaws.com/mnist   # the mirror torchvision uses
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  if [ -s "$dir/$f" ]; then echo "have $dir/$f"; continue; fi
  echo "downloading $f"
  if command -v curl >/dev/null; then curl -fL --retry 3 -o "$dir/$f.part" "$base/$f"
  else wget -O "$dir/$f.part" "$base/$f"; fi
  mv "$dir/$f.part" "$dir/$f"
done
echo "MNIST is in $dir: train with  ddpm_mnist train --data $dir"
