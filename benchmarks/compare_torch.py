#!/usr/bin/python3
"""tinydiff vs PyTorch on the ddpm_mnist U-Net, in the same run, each case in its own process.

    /usr/bin/python3 benchmarks/compare_torch.py [--threads 2] [--unet-step build-release/benchmarks/unet_step]
                                                 [--cases train64,train128,sample100,sample200]
                                                 [--repeats 10] [--warmup 2] [--rounds 1]
    /usr/bin/python3 benchmarks/compare_torch.py --ops [--threads 2] [--bench-ops build-release/benchmarks/bench_ops]

Default mode: for each case, first `unet_step --only CASE --json` (tinydiff), then this script
again as `--torch-case CASE` (PyTorch, the mirror tests/parity/unet_mirror.py: the same
architecture and parameter count), both with the same thread count, inputs drawn the same way
(x, target ~ N(0,1) [B,1,28,28], t in [0,1000), labels in [0,10]), W warm-ups and the median of
R timed runs (with --rounds K: K such pairs of processes per case, alternating, and the median
over all K x R runs, so that a machine whose speed drifts between phases affects both sides
alike). A training step is forward, F.mse_loss, zero_grad (set_to_none), backward,
AdamW(lr 1e-3).step(); a sampling case is one forward pass under no_grad. Peak memory is the
process's peak RSS (VmHWM / ru_maxrss), so one case per process; the baseline of each process
(libraries + model, before the case runs) is printed below the table.

--ops: runs bench_ops (Google Benchmark, JSON) and torch_ops.py with the same threads and joins
them per op, with the ratio tinydiff/PyTorch. '% sgemm' is each op's rate over the 1024^3 sgemm
rate of the same run (with --ops-repetitions R > 1 also '% sgemm, best': the fastest of the
R interleaved repetitions of each, the op's over the sgemm's); with --sgemm-pairs P each op is also timed P times right before the sgemm
(separate short runs) and the median of those P ratios reported, which a slow spell of the
machine, lasting longer than a pair, cannot skew.

Run it with Debian's /usr/bin/python3 (python3-torch), not another python3.
"""
import argparse
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_CASES = "train64,train128,sample100,sample200"


def vm_hwm_mb():
    """Peak RSS of this process in MiB: VmHWM, else ru_maxrss (KiB on Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def parse_case(name):
    m = re.fullmatch(r"(train|sample)(\d+)", name)
    if not m:
        sys.exit(f"compare_torch: bad case '{name}' (expected e.g. train64 or sample100)")
    return m.group(1), int(m.group(2))


# ---------------------------------------------------------------- PyTorch side (own process)
def torch_case(args):
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
    from unet_mirror import UNet

    torch.set_num_threads(args.threads)
    kind, batch = parse_case(args.torch_case)
    torch.manual_seed(0)
    model = UNet()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 1, 28, 28)
    target = torch.randn(batch, 1, 28, 28)
    t = torch.randint(0, 1000, (batch,))
    y = torch.randint(0, 11, (batch,))  # 0..9 digits, 10 = "no label"
    baseline = vm_hwm_mb()

    def train():
        out = model(x, t, y)
        loss = F.mse_loss(out, target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    def sample():
        with torch.no_grad():
            model(x, t, y)

    step = train if kind == "train" else sample
    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"case": args.torch_case, "median_ms": statistics.median(times), "min_ms": min(times),
                      "peak_rss_mb": vm_hwm_mb(), "baseline_rss_mb": baseline, "threads": torch.get_num_threads(),
                      "parameters": sum(p.numel() for p in model.parameters()), "torch": torch.__version__,
                      "times_ms": times}))


# ---------------------------------------------------------------- driver
def resolve(path):
    if os.path.isabs(path) or os.path.exists(path):
        return path
    return os.path.join(ROOT, path)


def require_binary(path, target):
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        sys.exit(f"compare_torch: {path} not found; build it with\n"
                 f"  cmake -S . -B build-release -DCMAKE_BUILD_TYPE=Release -DTINYDIFF_BUILD_BENCHMARKS=ON\n"
                 f"  cmake --build build-release --target {target}")


def run_json_lines(cmd, env=None):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        sys.exit(f"compare_torch: {' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def thread_env(threads):
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def cpu_busy_fraction(seconds=0.5):
    """Fraction of all CPUs busy over `seconds` (from /proc/stat), or None where unavailable."""
    def sample():
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        return fields[3] + fields[4], sum(fields)  # idle + iowait, total
    try:
        idle0, total0 = sample()
        time.sleep(seconds)
        idle1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return 1.0 - (idle1 - idle0) / max(1, total1 - total0)


def machine_lines(threads):
    model, cpus = platform.processor() or "unknown", os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        info = {k.strip(): v.strip() for k, v in info.items()}
        model = info.get("Model name", model)
        cores = int(info.get("Core(s) per socket", 0)) * int(info.get("Socket(s)", 1) or 1)
        cpus = f"{info.get('CPU(s)', cpus)} CPUs, {cores} cores" if cores else f"{info.get('CPU(s)', cpus)} CPUs"
    except (OSError, ValueError):
        cpus = f"{cpus} CPUs"
    import torch
    busy = cpu_busy_fraction()
    lines = []
    if busy is not None and busy > 0.10:
        lines.append(f"WARNING: the CPUs were {100 * busy:.0f}% busy before this run started (other processes); "
                     f"the timings below are not reliable.")
    return lines + [f"Machine: {model} ({cpus}); load average {os.getloadavg()[0]:.2f} at start, "
            f"CPUs {100 * busy if busy is not None else float('nan'):.0f}% busy just before",
            f"PyTorch {torch.__version__} (MKL-DNN {'on' if torch.backends.mkldnn.is_available() else 'off'}), "
            f"threads: {threads} on both sides (OMP_NUM_THREADS / torch.set_num_threads)"]


def ratio(a, b):
    return f"{a / b:.2f}" if a and b else "-"


def merge_rounds(runs):
    """One result from several processes' runs of a case: median and minimum over all their timed
    runs, the largest peak RSS, the first baseline."""
    merged = dict(runs[0])
    times = [t for r in runs for t in r["times_ms"]]
    merged["times_ms"] = times
    merged["median_ms"] = statistics.median(times)
    merged["min_ms"] = min(times)
    merged["peak_rss_mb"] = max(r["peak_rss_mb"] for r in runs)
    if "gflop_per_step" in merged:
        merged["gflops"] = merged["gflop_per_step"] / (merged["median_ms"] / 1e3)
    return merged


def compare_unet(args):
    exe = resolve(args.unet_step)
    require_binary(exe, "unet_step")
    header = machine_lines(args.threads)
    rows = []
    for case in args.cases.split(","):
        parse_case(case)
        td_runs, pt_runs = [], []
        for _ in range(args.rounds):  # alternate the two sides, so both see the same machine phases
            td_runs.append(run_json_lines([exe, "--only", case, "--threads", str(args.threads), "--repeats",
                                           str(args.repeats), "--warmup", str(args.warmup), "--json"],
                                          env=thread_env(args.threads))[0])
            pt_runs.append(run_json_lines([sys.executable, os.path.abspath(__file__), "--torch-case", case,
                                           "--threads", str(args.threads), "--repeats", str(args.repeats),
                                           "--warmup", str(args.warmup)], env=thread_env(args.threads))[0])
        td, pt = merge_rounds(td_runs), merge_rounds(pt_runs)
        rows.append((case, td, pt))
        print(f"  {case}: tinydiff {td['median_ms']:.1f} ms, PyTorch {pt['median_ms']:.1f} ms", file=sys.stderr,
              flush=True)

    print("\n".join(header))
    if args.rounds == 1:
        print(f"Median of {args.repeats} runs after {args.warmup} warm-up; each case in its own process, "
              f"tinydiff first, then PyTorch.\n")
    else:
        print(f"Median of {args.rounds} x {args.repeats} runs: {args.rounds} rounds per case, each a tinydiff "
              f"process then a PyTorch process ({args.warmup} warm-up + {args.repeats} timed runs each).\n")
    print("| case | tinydiff ms | PyTorch ms | time ratio (tinydiff/PyTorch) | tinydiff peak MB | PyTorch peak MB "
          "| memory ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for case, td, pt in rows:
        print(f"| {case} | {td['median_ms']:.1f} | {pt['median_ms']:.1f} | {ratio(td['median_ms'], pt['median_ms'])} "
              f"| {td['peak_rss_mb']:.0f} | {pt['peak_rss_mb']:.0f} | {ratio(td['peak_rss_mb'], pt['peak_rss_mb'])} |")
    td0, pt0 = rows[0][1], rows[0][2]
    print(f"\nPeak MB = the process's peak RSS (MiB), libraries and model included; before any case ran: "
          f"tinydiff {td0['baseline_rss_mb']:.0f} MB, PyTorch (import torch + model + inputs) "
          f"{pt0['baseline_rss_mb']:.0f} MB.")
    print("Min ms (tinydiff / PyTorch): " + ", ".join(f"{case} {td['min_ms']:.1f} / {pt['min_ms']:.1f}"
                                                        for case, td, pt in rows))
    print(f"tinydiff effective GFLOP/s ({td0['gflop_per_image_forward']:.4f} GFLOP/image forward, x3 per "
          f"training image): " + ", ".join(f"{case} {td['gflops']:.1f}" for case, td, _ in rows))
    print(f"Load average at the end: {os.getloadavg()[0]:.2f}")


SGEMM_REFERENCE = "gemm/m1024,n1024,k1024"  # the sgemm rate the conv kernels are compared with


def bench_ops_rate(exe, name, args):
    """GFLOP/s of one bench_ops benchmark, in a run of its own."""
    cmd = [exe, "--benchmark_format=json", "--threads", str(args.threads),
           f"--benchmark_filter=^{re.escape(name)}/real_time$", f"--benchmark_min_time={args.ops_min_time or 0.2}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=thread_env(args.threads))
    if proc.returncode != 0:
        sys.exit(f"compare_torch: bench_ops failed ({proc.returncode}):\n{proc.stderr}")
    results = [b for b in json.loads(proc.stdout)["benchmarks"] if b.get("run_type", "iteration") == "iteration"]
    if not results or not results[0].get("GFLOP"):
        sys.exit(f"compare_torch: bench_ops gave no GFLOP rate for {name}")
    return results[0]["GFLOP"]


def paired_sgemm_shares(exe, names, args):
    """name -> the median over --sgemm-pairs pairs of (op rate / sgemm rate), each pair run back to back."""
    shares = {}
    for name in names if args.sgemm_pairs else []:
        print(f"pairing {name} with {SGEMM_REFERENCE}", file=sys.stderr, flush=True)
        ratios = [bench_ops_rate(exe, name, args) / bench_ops_rate(exe, SGEMM_REFERENCE, args)
                  for _ in range(args.sgemm_pairs)]
        shares[name] = statistics.median(ratios)
    return shares


def compare_ops(args):
    exe = resolve(args.bench_ops)
    require_binary(exe, "bench_ops")
    header = machine_lines(args.threads)
    cmd = [exe, "--benchmark_format=json", "--threads", str(args.threads)]
    if args.ops_min_time:
        cmd.append(f"--benchmark_min_time={args.ops_min_time}")
    if args.ops_repetitions > 1:  # interleaved at random, so that a slow spell of the machine hits all ops alike
        cmd += [f"--benchmark_repetitions={args.ops_repetitions}", "--benchmark_enable_random_interleaving=true"]
    if args.filter:
        cmd.append(f"--benchmark_filter={args.filter}")
    print("running " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=thread_env(args.threads))
    if proc.returncode != 0:
        sys.exit(f"compare_torch: bench_ops failed ({proc.returncode}):\n{proc.stderr}")
    report = json.loads(proc.stdout)
    runs = {}  # name -> one entry per repetition
    order = {}  # name -> its registration order (interleaved repetitions arrive shuffled)
    for b in report["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue
        name = re.sub(r"/real_time$", "", b.get("run_name", b["name"]))
        scale = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}[b.get("time_unit", "ns")]
        order.setdefault(name, (b.get("family_index", len(order)), b.get("per_family_instance_index", 0)))
        runs.setdefault(name, []).append(
            {"ms": b["real_time"] * scale, "gflops": b.get("GFLOP"),
             "gbytes_per_s": b["bytes_per_second"] / 1e9 if "bytes_per_second" in b else None})
    # the median repetition of each benchmark (by time; the lower middle one for an even count)
    td = {name: sorted(runs[name], key=lambda r: r["ms"])[(len(runs[name]) - 1) // 2]
          for name in sorted(runs, key=lambda n: order[n])}
    # and the fastest repetition's rate: noise on a shared machine only ever adds time
    fastest = {name: max(r["gflops"] for r in runs[name]) for name in runs if runs[name][0].get("gflops")}

    cmd = [sys.executable, os.path.join(HERE, "torch_ops.py"), "--json", "--threads", str(args.threads)]
    if args.ops_min_time or args.ops_repetitions > 1:  # PyTorch's median per call then spans as long
        cmd += ["--min-time", str((args.ops_min_time or 0.5) * args.ops_repetitions)]
    if args.filter:
        cmd += ["--filter", args.filter]
    print("running " + " ".join(cmd), file=sys.stderr, flush=True)
    pt = {r["name"]: r for r in run_json_lines(cmd, env=thread_env(args.threads))[0]["ops"]}

    print("\n".join(header))
    reps = (f"the median of {args.ops_repetitions} repetitions per op, interleaved at random across ops"
            if args.ops_repetitions > 1 else "one run")
    print(f"Batch 64, the U-Net's shapes; tinydiff: Google Benchmark real time, {reps}; PyTorch: "
          f"median per call.")
    sgemm = td.get(SGEMM_REFERENCE, {}).get("gflops")
    paired = paired_sgemm_shares(exe, [n for n in td if n != SGEMM_REFERENCE and td[n].get("gflops")], args)
    if sgemm:
        print(f"'% sgemm': tinydiff's rate as a share of its own {SGEMM_REFERENCE} rate in this run "
              f"({sgemm:.1f} GFLOP/s).")
    best = args.ops_repetitions > 1 and SGEMM_REFERENCE in fastest
    if best:
        print(f"'% sgemm, best': the op's fastest repetition over the sgemm's fastest repetition "
              f"({fastest[SGEMM_REFERENCE]:.1f} GFLOP/s); the repetitions are interleaved, so both saw "
              f"the machine's fast spells alike.")
    if paired:
        print(f"'% sgemm, paired': the median over {args.sgemm_pairs} back-to-back pairs (the op, then "
              f"{SGEMM_REFERENCE}, each its own bench_ops run) of the op's rate over the sgemm rate: slow "
              f"spells of the machine, which last longer than a pair, cancel out.")
    print()
    print("| op | shape | tinydiff ms | PyTorch ms | time ratio (tinydiff/PyTorch) | tinydiff GFLOP/s (GB/s) "
          "| PyTorch GFLOP/s (GB/s) | % sgemm |" + (" % sgemm, best |" if best else "")
          + (" % sgemm, paired |" if paired else ""))
    print("|---|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if best else "") + ("---:|" if paired else ""))

    def rate(r):
        if r.get("gflops"):
            return f"{r['gflops']:.1f}"
        if r.get("gbytes_per_s"):
            return f"({r['gbytes_per_s']:.1f})"
        return "-"

    for name in list(td) + [n for n in pt if n not in td]:
        a, b = td.get(name), pt.get(name)
        op, shape = name.split("/", 1)
        print(f"| {op} | {shape} | {a['ms']:.3f} | " if a else f"| {op} | {shape} | - | ", end="")
        print(f"{b['ms']:.3f} | " if b else "- | ", end="")
        share = f"{100 * a['gflops'] / sgemm:.0f}%" if a and a.get("gflops") and sgemm else "-"
        print(f"{ratio(a['ms'], b['ms']) if a and b else '-'} | {rate(a) if a else '-'} | {rate(b) if b else '-'} "
              f"| {share} |", end="")
        if best:
            print(f" {100 * fastest[name] / fastest[SGEMM_REFERENCE]:.0f}% |" if name in fastest else " - |", end="")
        if paired:
            print(f" {100 * paired[name]:.0f}% |" if name in paired else " - |", end="")
        print()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2, help="threads on both sides (default 2)")
    ap.add_argument("--unet-step", default="build-release/benchmarks/unet_step",
                    help="the unet_step binary (relative: to the current directory, else to the repository)")
    ap.add_argument("--cases", default=DEFAULT_CASES, help=f"comma-separated (default {DEFAULT_CASES})")
    ap.add_argument("--repeats", type=int, default=10, help="timed runs per case, median reported (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed runs per case first (default 2)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="processes per side and case, alternating tinydiff and PyTorch; the median is over "
                         "all rounds' runs (default 1)")
    ap.add_argument("--ops", action="store_true", help="compare per-op timings (bench_ops vs torch_ops.py) instead")
    ap.add_argument("--bench-ops", default="build-release/benchmarks/bench_ops", help="the bench_ops binary")
    ap.add_argument("--ops-min-time", type=float, default=None,
                    help="--ops: seconds per op on both sides (default: Google Benchmark's and torch_ops.py's own)")
    ap.add_argument("--filter", default="", help="--ops: only ops matching this regex")
    ap.add_argument("--ops-repetitions", type=int, default=1,
                    help="--ops: bench_ops repetitions per op, the median one reported (default 1)")
    ap.add_argument("--sgemm-pairs", type=int, default=0,
                    help="--ops: also time each op and the sgemm reference back to back this many times and "
                         "report the median ratio (default 0: off)")
    ap.add_argument("--torch-case", help=argparse.SUPPRESS)  # internal: run one PyTorch case, print JSON
    args = ap.parse_args()
    if args.threads < 1 or args.repeats < 1 or args.rounds < 1 or args.ops_repetitions < 1 or args.warmup < 0:
        ap.error("--threads, --repeats, --rounds and --ops-repetitions must be >= 1, --warmup >= 0")
    if args.sgemm_pairs < 0:
        ap.error("--sgemm-pairs must be >= 0")
    if args.torch_case:
        torch_case(args)
    elif args.ops:
        compare_ops(args)
    else:
        compare_unet(args)


if __name__ == "__main__":
    main()
