#!/usr/bin/python3
"""PyTorch twin of bench_ops: the same ops at the same shapes (the ddpm_mnist U-Net's, batch 64).

    /usr/bin/python3 benchmarks/torch_ops.py [--threads 2] [--min-time 0.5] [--json] [--filter REGEX]

Each op: `--warmup` untimed calls, then timed calls until at least `--repeats` of them
and `--min-time` seconds have passed; the median is reported. Names ("<op>/<shape>"),
shapes and FLOP counts are exactly those of benchmarks/bench_ops.cpp (keep the two
lists in step), so benchmarks/compare_torch.py --ops can join the two tables:

  conv forward              2 N Cout Hout Wout Cin kh kw
  conv_transpose forward    2 N Cin H W Cout kh kw          (H, W: its input)
  backward                  2 x forward  (input + weight gradients; bias ignored)
  gemm                      2 m n k
  group_norm                no FLOPs; GB/s of nominal traffic (forward 2, fwd+bwd 5 tensor passes)

*_fwd runs under torch.no_grad(); *_bwd builds the graph once and times
y.backward(g, retain_graph=True) after setting the leaves' .grad to None (as
tinydiff's zero_grad); *_fwdbwd times forward + backward.
"""
import argparse
import json
import re
import statistics
import sys
import time

import torch
import torch.nn.functional as F

BATCH = 64


class Conv:
    def __init__(self, cin, cout, size, k, s, p, transposed=False):
        self.cin, self.cout, self.h, self.k, self.s, self.p, self.transposed = cin, cout, size, k, s, p, transposed

    @property
    def out(self):
        if self.transposed:
            return (self.h - 1) * self.s - 2 * self.p + self.k
        return (self.h + 2 * self.p - self.k) // self.s + 1

    def forward_flops(self):
        spatial = self.h * self.h if self.transposed else self.out * self.out
        return 2.0 * BATCH * spatial * self.cin * self.cout * self.k * self.k

    def shape_name(self):
        return (f"{BATCH}x{self.cin}x{self.h}x{self.h}>{self.cout}x{self.out}x{self.out},"
                f"k{self.k}s{self.s}p{self.p}")

    def weight_shape(self):
        if self.transposed:
            return (self.cin, self.cout, self.k, self.k)
        return (self.cout, self.cin, self.k, self.k)

    def apply(self, x, w, b):
        if self.transposed:
            return F.conv_transpose2d(x, w, b, stride=self.s, padding=self.p)
        return F.conv2d(x, w, b, stride=self.s, padding=self.p)


# The U-Net's convolutions (examples/ddpm_mnist/unet.hpp), in bench_ops.cpp's order.
CONVS = [
    Conv(32, 32, 28, 3, 1, 1),    # down.0 conv1/conv2, up.2 conv2
    Conv(96, 32, 28, 3, 1, 1),    # up.2 conv1 (concat 64 + 32 -> 32)
    Conv(32, 64, 14, 3, 1, 1),    # down.1 conv1
    Conv(64, 64, 14, 3, 1, 1),    # down.1 conv2, up.1 conv2
    Conv(128, 64, 14, 3, 1, 1),   # up.1 conv1
    Conv(64, 64, 7, 3, 1, 1),     # down.2, mid, up.0 conv2
    Conv(128, 64, 7, 3, 1, 1),    # up.0 conv1
    Conv(32, 32, 28, 3, 2, 1),    # down.0 downsample
    Conv(64, 64, 14, 3, 2, 1),    # down.1 downsample
    Conv(64, 64, 7, 4, 2, 1, transposed=True),   # up.0 upsample 7 -> 14
    Conv(64, 64, 14, 4, 2, 1, transposed=True),  # up.1 upsample 14 -> 28
]
NORM_SHAPES = [(BATCH, 32, 28, 28), (BATCH, 64, 14, 14), (BATCH, 64, 7, 7)]
GEMMS = [(1024, 1024, 1024), (32, 784, 288), (64, 196, 576), (64, 1568, 576)]  # m, n, k


def cases():
    """(name, make) pairs; make() sets up the tensors and returns (run, flops, bytes)."""
    out = []
    for c in CONVS:
        op = "conv_transpose2d" if c.transposed else "conv2d"

        def fwd(c=c):
            x, w, b = torch.randn(BATCH, c.cin, c.h, c.h), torch.randn(*c.weight_shape()), torch.randn(c.cout)

            def run():
                with torch.no_grad():
                    c.apply(x, w, b)
            return run, c.forward_flops(), None

        def bwd(c=c):
            x = torch.randn(BATCH, c.cin, c.h, c.h, requires_grad=True)
            w = torch.randn(*c.weight_shape(), requires_grad=True)
            b = torch.randn(c.cout, requires_grad=True)
            y = c.apply(x, w, b)
            g = torch.randn_like(y)

            def run():
                x.grad = w.grad = b.grad = None
                y.backward(g, retain_graph=True)
            return run, 2.0 * c.forward_flops(), None

        out.append((f"{op}_fwd/{c.shape_name()}", fwd))
        out.append((f"{op}_bwd/{c.shape_name()}", bwd))
    for shape in NORM_SHAPES:
        name = "x".join(map(str, shape)) + ",g8"
        nbytes = 4 * shape[0] * shape[1] * shape[2] * shape[3]

        def norm_fwd(shape=shape, nbytes=nbytes):
            x, w, b = torch.randn(*shape), torch.randn(shape[1]), torch.randn(shape[1])

            def run():
                with torch.no_grad():
                    F.group_norm(x, 8, w, b)
            return run, None, 2 * nbytes

        def norm_fwdbwd(shape=shape, nbytes=nbytes):
            x = torch.randn(*shape, requires_grad=True)
            w = torch.randn(shape[1], requires_grad=True)
            b = torch.randn(shape[1], requires_grad=True)
            g = torch.randn(*shape)

            def run():
                x.grad = w.grad = b.grad = None
                F.group_norm(x, 8, w, b).backward(g)
            return run, None, 5 * nbytes

        out.append((f"group_norm_fwd/{name}", norm_fwd))
        out.append((f"group_norm_fwdbwd/{name}", norm_fwdbwd))
    for m, n, k in GEMMS:
        def gemm(m=m, n=n, k=k):
            a, b, c = torch.randn(m, k), torch.randn(k, n), torch.empty(m, n)

            def run():
                torch.mm(a, b, out=c)
            return run, 2.0 * m * n * k, None
        out.append((f"gemm/m{m},n{n},k{k}", gemm))
    return out


def time_op(run, warmup, repeats, min_time):
    for _ in range(warmup):
        run()
    times = []
    start = time.perf_counter()
    while len(times) < repeats or (time.perf_counter() - start < min_time and len(times) < 10000):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls per op (default 3)")
    ap.add_argument("--repeats", type=int, default=10, help="at least this many timed calls (default 10)")
    ap.add_argument("--min-time", type=float, default=0.5, help="and at least this many seconds (default 0.5)")
    ap.add_argument("--filter", default="", help="only ops whose name matches this regex")
    ap.add_argument("--json", action="store_true", help="print a JSON list instead of the table")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for name, make in cases():
        if args.filter and not re.search(args.filter, name):
            continue
        run, flops, nbytes = make()
        sec, count = time_op(run, args.warmup, args.repeats, args.min_time)
        op, shape = name.split("/", 1)
        rows.append({"name": name, "op": op, "shape": shape, "ms": sec * 1e3, "calls": count,
                     "gflops": flops / sec / 1e9 if flops else None,
                     "gbytes_per_s": nbytes / sec / 1e9 if nbytes else None})
        if not args.json:
            print_row(rows[-1], header=len(rows) == 1, threads=args.threads)
    if args.json:
        print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "ops": rows}))


def print_row(r, header, threads):
    if header:
        print(f"PyTorch {torch.__version__}, {threads} thread(s), median per op")
        print(f"{'op':<22} {'shape':<34} {'ms':>9} {'GFLOP/s':>9} {'GB/s':>7}")
    gf = f"{r['gflops']:.1f}" if r["gflops"] else "-"
    gb = f"{r['gbytes_per_s']:.1f}" if r["gbytes_per_s"] else "-"
    print(f"{r['op']:<22} {r['shape']:<34} {r['ms']:>9.3f} {gf:>9} {gb:>7}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
