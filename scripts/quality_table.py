#!/usr/bin/env python3
"""Formats `ddpm_mnist eval --json` files as one markdown table (used by scripts/quality.sh)."""
import json
import sys


def row(path):
    with open(path) as f:
        r = json.load(f)
    s = r.get("sampler", {})
    acc = r.get("label_accuracy")

    def kid(key):  # files written before eval reported KID have none
        if r.get(key) is None:
            return "-"
        se = r.get(key + "_se")
        return "{:.2f} ± {}".format(r[key], "-" if se is None else "{:.2f}".format(se))

    def fraction(key):
        return "-" if r.get(key) is None else "{:.3f}".format(r[key])

    # Files written before eval measured FID against the class-balanced reference have only the
    # held-out FID, under "fid"; newer ones have both.
    held_out = "-" if r.get("fid_heldout_ratio") is None else "{:.2f}".format(r["fid_heldout_ratio"])

    return "| {} | {} | {} | {:g} | {} | {:.2f} | {:.2f} | {:.2f} | {} | {} | {} | {} | {} | {} | {:.3f} |".format(
        s.get("kind", "-").upper(), s.get("steps", "-"), s.get("spacing", "-"), s.get("guidance", float("nan")), r["n"], r["fid"],
        r["fid_floor"], r["fid_ratio"], held_out, kid("kid"), kid("kid_floor"), fraction("precision"), fraction("recall"),
        "-" if acc is None else "{:.3f}".format(acc), r["nearest_train_distance"])


def main(paths):
    if not paths:
        sys.exit("usage: quality_table.py EVAL.json...")
    print("| sampler | steps | spacing | guidance s | N | FID | floor | FID / floor | FID / floor, held-out | KID ± s.e. "
          "| KID floor | precision | recall | label accuracy | nearest-train distance |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for p in paths:
        print(row(p))


if __name__ == "__main__":
    main(sys.argv[1:])
