#!/usr/bin/python3
"""Several builds (revisions x compiler flags x kernel tiers) of unet_step, timed in the same run.

    /usr/bin/python3 benchmarks/compare_builds.py \\
        --build old-v3=993271c:x86-64-v3 \\
        --build avx2=HEAD:x86-64-v3:TINYDIFF_ISA=avx2 \\
        --build avx2-nomarch=HEAD:none:TINYDIFF_ISA=avx2 \\
        [--cases train64,sample200] [--threads 2] [--rounds 5] [--repeats 5] [--warmup 2] \\
        [--sgemm-isa avx2] [--work build-compare]

A build is NAME=REV:MARCH[:VAR=VALUE,...]: the git revision REV (HEAD means the working tree,
uncommitted changes included), compiled in Release with -DTINYDIFF_MARCH=MARCH (native, none or
a -march value), and run with the environment variables given (TINYDIFF_ISA=avx2 forces that
tier). Each revision other than HEAD is checked out with `git worktree` under --work and every
build gets its own CMake build directory there (reused, and rebuilt incrementally, on the next
run).

The runs alternate: round after round, every case of every build in its own process
(`unet_step --only CASE --json`), so that a machine whose speed drifts affects all builds alike;
each build's time for a case is the median over all rounds of its processes' medians. The table
gives each build's time, its ratio to the first build (the speed-up is first / build), and the
effective rate (the U-Net's counted FLOPs per second, unet_step --flops).

--sgemm-isa: also measures, between the rounds, the best single-precision GEMM rate of that
instruction set on this machine: PyTorch's (OpenBLAS; OPENBLAS_CORETYPE=Haswell holds it to
AVX2 + FMA, SkylakeX lets it use AVX-512) and tinydiff's own Eigen GEMM (bench_ops'
gemm/m1024,n1024,k1024 of the first build compiled for it), 1024^3 at the same thread count,
and prints each training case's effective rate as a share of the best of them.

Run it on a quiet machine (no builds, no other benchmarks); the load average is printed.
Use Debian's /usr/bin/python3 (python3-torch) for --sgemm-isa.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def fail(message):
    sys.exit(f"compare_builds: {message}")


class Build:
    def __init__(self, spec, work):
        if "=" not in spec:
            fail(f"--build '{spec}': expected NAME=REV:MARCH[:VAR=VALUE,...]")
        self.name, rest = spec.split("=", 1)
        parts = rest.split(":", 2)
        if len(parts) < 2 or not self.name or not parts[0] or not parts[1]:
            fail(f"--build '{spec}': expected NAME=REV:MARCH[:VAR=VALUE,...]")
        self.rev, self.march = parts[0], parts[1]
        self.env = {}
        if len(parts) == 3 and parts[2]:
            for item in parts[2].split(","):
                if "=" not in item:
                    fail(f"--build '{spec}': environment entry '{item}' is not VAR=VALUE")
                key, value = item.split("=", 1)
                self.env[key] = value
        self.source = ROOT if self.rev == "HEAD" else os.path.join(work, "src-" + self.rev)
        self.build_dir = os.path.join(work, f"build-{self.rev}-{self.march}")
        self.unet_step = os.path.join(self.build_dir, "benchmarks", "unet_step")
        self.bench_ops = os.path.join(self.build_dir, "benchmarks", "bench_ops")

    def prepare(self, need_bench_ops):
        if self.rev != "HEAD" and not os.path.isdir(self.source):
            subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", self.source, self.rev], check=True,
                           stdout=subprocess.DEVNULL)
        flags = ["-DCMAKE_BUILD_TYPE=Release", "-DTINYDIFF_BUILD_BENCHMARKS=ON", "-DTINYDIFF_BUILD_TESTS=OFF",
                 "-DTINYDIFF_BUILD_EXAMPLES=OFF", "-DTINYDIFF_INSTALL=OFF"]
        has_march = "TINYDIFF_MARCH" in open(os.path.join(self.source, "CMakeLists.txt")).read()
        if has_march:
            flags.append(f"-DTINYDIFF_MARCH={self.march}")
        else:  # revisions before TINYDIFF_MARCH: the flag by hand
            flags += ["-DTINYDIFF_NATIVE=" + ("ON" if self.march == "native" else "OFF")]
            if self.march not in ("native", "none"):
                flags.append(f"-DCMAKE_CXX_FLAGS=-march={self.march}")
        subprocess.run(["cmake", "-S", self.source, "-B", self.build_dir] + flags, check=True,
                       stdout=subprocess.DEVNULL)
        targets = ["unet_step"] + (["bench_ops"] if need_bench_ops else [])
        jobs = str(os.cpu_count() or 2)
        subprocess.run(["cmake", "--build", self.build_dir, "-j", jobs, "--target"] + targets, check=True,
                       stdout=subprocess.DEVNULL)

    def environment(self, threads):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        env.update(self.env)
        return env


def run_case(build, case, args):
    cmd = [build.unet_step, "--only", case, "--json", "--threads", str(args.threads), "--repeats", str(args.repeats),
           "--warmup", str(args.warmup)]
    out = subprocess.run(cmd, env=build.environment(args.threads), check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def torch_sgemm(args, coretype):
    code = ("import time, torch; torch.set_num_threads(%d); a = torch.randn(1024, 1024); b = torch.randn(1024, 1024)\n"
            "for _ in range(3): a @ b\n"
            "best = 1e9\n"
            "for _ in range(7):\n"
            "    t = time.perf_counter()\n"
            "    for _ in range(10): a @ b\n"
            "    best = min(best, (time.perf_counter() - t) / 10)\n"
            "print(2 * 1024 ** 3 / best / 1e9)\n") % args.threads
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_CORETYPE=coretype)
    try:
        out = subprocess.run(["/usr/bin/python3", "-c", code], env=env, check=True, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError) as e:
        return None, f"PyTorch sgemm not measured ({e})"
    return float(out.stdout.strip()), None


def eigen_sgemm(build, args):
    cmd = [build.bench_ops, "--threads", str(args.threads), "--benchmark_filter=^gemm/m1024,n1024,k1024",
           "--benchmark_format=json", "--benchmark_min_time=0.5", "--benchmark_repetitions=3"]
    out = subprocess.run(cmd, env=build.environment(args.threads), check=True, capture_output=True, text=True).stdout
    rates = [b["GFLOP"] for b in json.loads(out)["benchmarks"] if b.get("run_type") == "iteration"]  # GFLOP/s
    return max(rates)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", action="append", required=True, help="NAME=REV:MARCH[:VAR=VALUE,...]")
    parser.add_argument("--cases", default="train64,sample200")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--sgemm-isa", choices=["avx2", "avx512"], help="also measure that ISA's best sgemm rate")
    parser.add_argument("--work", default=os.path.join(ROOT, "build-compare"))
    args = parser.parse_args()
    for name, value in (("--threads", args.threads), ("--rounds", args.rounds), ("--repeats", args.repeats)):
        if value < 1:
            fail(f"{name} must be at least 1, got {value}")
    if args.warmup < 0:
        fail(f"--warmup must be at least 0, got {args.warmup}")
    builds = [Build(spec, os.path.abspath(args.work)) for spec in args.build]
    names = [b.name for b in builds]
    if len(set(names)) != len(names):
        fail(f"build names must differ: {names}")
    cases = [c for c in args.cases.split(",") if c]
    os.makedirs(args.work, exist_ok=True)
    for b in builds:
        print(f"building {b.name}: {b.rev}, -march {b.march} ...", file=sys.stderr, flush=True)
        b.prepare(need_bench_ops=args.sgemm_isa is not None and b is builds[0])

    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    medians = {(b.name, c): [] for b in builds for c in cases}
    records = {}
    sgemm = {}
    for r in range(args.rounds):
        for c in cases:
            for b in builds:
                record = run_case(b, c, args)
                medians[(b.name, c)].append(record["median_ms"])
                records[(b.name, c)] = record
        if args.sgemm_isa and r in (0, args.rounds - 1):  # twice: early and late in the run
            coretype = "Haswell" if args.sgemm_isa == "avx2" else "SkylakeX"
            rate, error = torch_sgemm(args, coretype)
            if rate:
                sgemm.setdefault(f"PyTorch/OpenBLAS ({coretype})", []).append(rate)
            elif error:
                print(error, file=sys.stderr)
            sgemm.setdefault(f"tinydiff Eigen GEMM ({builds[0].name})", []).append(eigen_sgemm(builds[0], args))
    print(f"load average at end: {os.getloadavg()[0]:.2f}")

    first = builds[0]
    cpu = next((records[(b.name, cases[0])]["cpu"]["cpu"] for b in builds if "cpu" in records[(b.name, cases[0])]),
               "? (no build records it)")
    print(f"\n{args.threads} thread(s), {args.rounds} rounds x {len(builds)} builds, each a process of "
          f"{args.warmup} warm-up + {args.repeats} timed runs; CPU: {cpu}\n")
    header = "| case | " + " | ".join(f"{b.name} ms" for b in builds) + " | " + \
        " | ".join(f"{first.name} / {b.name}" for b in builds[1:]) + " | " + \
        " | ".join(f"{b.name} GFLOP/s" for b in builds) + " |"
    print(header)
    print("|" + "---|" * (1 + len(builds) * 2 + len(builds) - 1))
    for c in cases:
        times = [statistics.median(medians[(b.name, c)]) for b in builds]
        flops = records[(first.name, c)]["gflop_per_step"]
        row = [c] + [f"{t:.1f}" for t in times] + [f"{times[0] / t:.2f}" for t in times[1:]] + \
              [f"{flops / (t / 1e3):.1f}" for t in times]
        print("| " + " | ".join(row) + " |")
    print("\nbuilds:")
    for b in builds:
        info = records[(b.name, cases[0])].get("cpu", {})
        env = " ".join(f"{k}={v}" for k, v in b.env.items()) or "(no variables)"
        print(f"  {b.name}: revision {b.rev}, -march {b.march}, {env}; kernels: {info.get('isa', 'before tiers')}"
              + (f" (GEMM block {info['gemm_block']})" if "gemm_block" in info else ""))
    if sgemm:
        best_name, best = max(((n, max(v)) for n, v in sgemm.items()), key=lambda item: item[1])
        print(f"\n{args.sgemm_isa} sgemm 1024^3, {args.threads} thread(s), best of the run: " +
              ", ".join(f"{n} {max(v):.1f} GFLOP/s" for n, v in sgemm.items()))
        for c in cases:
            if not c.startswith("train"):
                continue
            for b in builds:
                t = statistics.median(medians[(b.name, c)])
                rate = records[(first.name, c)]["gflop_per_step"] / (t / 1e3)
                print(f"  {c} {b.name}: {rate:.1f} GFLOP/s effective = {100 * rate / best:.0f}% of {best_name}")


if __name__ == "__main__":
    main()
