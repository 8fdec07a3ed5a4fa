#!/usr/bin/python3
"""tinydiff vs PyTorch on the ddpm_mnist U-Net, in the same run, each case in its own process.

    /usr/bin/python3 benchmarks/compare_torch.py [--threads 2] [--unet-step build-release/benchmarks/unet_step]
                                                 [--cases train64,train128,sample100,sample200,ddim50x100,dpmpp2m15x100]
                                                 [--repeats 10] [--warmup 2] [--rounds 1]
    /usr/bin/python3 benchmarks/compare_torch.py --ops [--threads 2] [--bench-ops build-release/benchmarks/bench_ops]

    /usr/bin/python3 benchmarks/compare_torch.py --cases ddim50x100,dpmpp2m15x100
                                                 [--sample-run build-release/benchmarks/sample_run]
    /usr/bin/python3 benchmarks/compare_torch.py --check-sample [--check-weights runs/quick/ema.safetensors]

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

Whole sampling runs, <sampler><steps>x<images> (ddim50x100, dpmpp2m15x100): x_T ~ N(0, I) to
images, timed as a whole; tinydiff runs benchmarks/sample_run (the real samplers of
examples/ddpm_mnist/samplers.hpp), PyTorch the same sampler written below over the mirror, both
with the linear schedule (T = 1000), epsilon prediction, x_0 clipped, labels i % 10 and guidance
--guidance (default 2: each step one doubled batch [x; x] with labels [y; null]); DDIM on uniform
timesteps (ddpm_mnist's default), DPM-Solver++ 2M on trailing ones. --run-warmup runs, then the
median of --run-repeats runs.

--check-sample: the same weights (the mirror's seeded ones, or --check-weights) and the same x_T
on both sides; runs DDIM and 2M for --check-steps steps on --check-batch images and fails unless
the images agree within --check-tol (max abs difference) and the timesteps are the same.

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
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DEFAULT_CASES = "train64,train128,sample100,sample200,ddim50x100,dpmpp2m15x100"
SPACING = {"ddim": "uniform", "dpmpp2m": "trailing"}  # each sampler's timesteps in the whole-run cases


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
    """(kind, batch, steps): ("train", 64, 0), ("sample", 100, 0) (one forward) or ("ddim", 100, 50)."""
    m = re.fullmatch(r"(train|sample)(\d+)", name)
    if m:
        return m.group(1), int(m.group(2)), 0
    m = re.fullmatch(r"(ddim|dpmpp2m)(\d+)x(\d+)", name)
    if not m:
        sys.exit(f"compare_torch: bad case '{name}' (expected e.g. train64, sample100, ddim50x100 or dpmpp2m15x100)")
    return m.group(1), int(m.group(3)), int(m.group(2))


# ---------------------------------------------------------------- samplers, as examples/ddpm_mnist/samplers.hpp
def linear_abar(T=1000, beta_start=1e-4, beta_end=0.02):
    """abar_t = prod_{s<=t} (1 - beta_s), betas evenly spaced (NoiseSchedule::linear), in double."""
    abar, running = [], 1.0
    for t in range(T):
        running *= 1.0 - (beta_start + (beta_end - beta_start) * t / (T - 1))
        abar.append(running)
    return abar


def sampling_timesteps(n, spacing, T=1000):
    """uniform: round(i (T-1) / (n-1)); trailing: round((i+1) T / n) - 1 (C++ lround: halves up)."""
    if spacing == "uniform":
        return [T - 1] if n == 1 else [math.floor(i * (T - 1) / (n - 1) + 0.5) for i in range(n)]
    if spacing == "trailing":
        return [math.floor((i + 1) * T / n + 0.5) - 1 for i in range(n)]
    sys.exit(f"compare_torch: spacing '{spacing}' is not mirrored here")


def guided_output(model, x, t, y, null, s):
    """uncond + s (cond - uncond), both passes as one doubled batch [x; x] with labels [y; null]."""
    b = x.shape[0]
    tt = torch.full((2 * b,), t, dtype=torch.int64)
    both = model(torch.cat([x, x]), tt, torch.cat([y, torch.full_like(y, null)]))
    cond, uncond = both[:b], both[b:]
    return uncond + (cond - uncond) * s


def denoise(model, abar, x, t, y, null, s):
    """eps and x_0 at x_t: x_0 = (x_t - sqrt(1-abar) eps) / sqrt(abar), clipped to [-1, 1], eps redone from it."""
    out = guided_output(model, x, t, y, null, s)
    a, b = math.sqrt(abar[t]), math.sqrt(1.0 - abar[t])
    x0 = ((x - b * out) / a).clamp(-1.0, 1.0)
    return (x - x0 * a) / b, x0


def ddim(model, abar, steps, x, y, null, s):
    """DDIM, eta = 0: x_t' = sqrt(abar_t') x_0 + sqrt(1 - abar_t') eps, from steps[i] to steps[i-1] (abar = 1 last)."""
    for i in reversed(range(len(steps))):
        eps, x0 = denoise(model, abar, x, steps[i], y, null, s)
        abar_prev = abar[steps[i - 1]] if i > 0 else 1.0
        x = x0 * math.sqrt(abar_prev) + eps * math.sqrt(max(0.0, 1.0 - abar_prev))
    return x


def dpmpp_2m(model, abar, steps, x, y, null, s):
    """DPM-Solver++(2M), lambda = log(alpha / sigma), h = lambda_t - lambda_s, r = h_prev / h:
    x_t = (sigma_t / sigma_s) x_s + alpha_t (1 - e^{-h}) D,  D = (1 + 1/(2r)) x_0(s) - 1/(2r) x_0(r);
    D = x_0(s) on the first step, and the last step (to sigma = 0) lands on x_0(s)."""
    def level(t):  # alpha, sigma, lambda
        return math.sqrt(abar[t]), math.sqrt(1.0 - abar[t]), 0.5 * (math.log(abar[t]) - math.log1p(-abar[t]))
    x0_prev, h_prev = None, 0.0
    for i in reversed(range(len(steps))):
        _, x0 = denoise(model, abar, x, steps[i], y, null, s)
        if i == 0:
            return x0
        (_, sigma_s, lambda_s), (alpha_t, sigma_t, lambda_t) = level(steps[i]), level(steps[i - 1])
        h = lambda_t - lambda_s
        D = x0
        if x0_prev is not None:
            r = h_prev / h
            D = x0 * (1.0 + 0.5 / r) - x0_prev * (0.5 / r)
        x = x * (sigma_t / sigma_s) + D * (alpha_t * -math.expm1(-h))
        x0_prev, h_prev = x0, h
    return x


SAMPLERS = {"ddim": ddim, "dpmpp2m": dpmpp_2m}


def torch_sample(model, kind, steps, spacing, x, y, guidance):
    """A whole sampling run from x_T under no_grad; null label = num_classes (10)."""
    with torch.no_grad():
        return SAMPLERS[kind](model, linear_abar(), sampling_timesteps(steps, spacing), x, y, model.num_classes,
                              guidance)


# ---------------------------------------------------------------- PyTorch side (own process)
def import_torch():
    """Imports torch (global, for the samplers above) and the mirror's UNet."""
    global torch
    import torch
    sys.path.insert(0, os.path.join(ROOT, "tests", "parity"))
    from unet_mirror import UNet
    return UNet


def torch_case(args):
    import torch.nn.functional as F
    UNet = import_torch()

    torch.set_num_threads(args.threads)
    kind, batch, steps = parse_case(args.torch_case)
    torch.manual_seed(0)
    model = UNet()
    if steps:  # a whole sampling run
        labels = torch.arange(batch) % 10
        baseline = vm_hwm_mb()
        times = []
        for i in range(args.warmup + args.repeats):
            t0 = time.perf_counter()
            torch_sample(model, kind, steps, SPACING[kind], torch.randn(batch, 1, 28, 28), labels, args.guidance)
            if i >= args.warmup:
                times.append((time.perf_counter() - t0) * 1e3)
        print(json.dumps({"case": args.torch_case, "median_ms": statistics.median(times), "min_ms": min(times),
                          "peak_rss_mb": vm_hwm_mb(), "baseline_rss_mb": baseline, "threads": torch.get_num_threads(),
                          "torch": torch.__version__, "times_ms": times}))
        return
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


def sampler_flags(kind, steps, guidance):
    return ["--sampler", kind, "--steps", str(steps), "--spacing", SPACING[kind], "--guidance", str(guidance)]


def compare_unet(args):
    cases = [(case, *parse_case(case)) for case in args.cases.split(",")]
    exe, runner = resolve(args.unet_step), resolve(args.sample_run)
    if any(not steps for *_, steps in cases):
        require_binary(exe, "unet_step")
    if any(steps for *_, steps in cases):
        require_binary(runner, "sample_run")
    header = machine_lines(args.threads)
    rows = []
    for case, kind, batch, steps in cases:
        # a forward / training step: unet_step; a whole sampling run: sample_run, fewer repeats
        repeats, warmup = (args.run_repeats, args.run_warmup) if steps else (args.repeats, args.warmup)
        timing = ["--threads", str(args.threads), "--repeats", str(repeats), "--warmup", str(warmup)]
        td_cmd = ([runner, "--batch", str(batch), *sampler_flags(kind, steps, args.guidance), *timing, "--json"]
                  if steps else [exe, "--only", case, *timing, "--json"])
        pt_cmd = [sys.executable, os.path.abspath(__file__), "--torch-case", case, "--guidance", str(args.guidance),
                  *timing]
        td_runs, pt_runs = [], []
        for _ in range(args.rounds):  # alternate the two sides, so both see the same machine phases
            td_runs.append(run_json_lines(td_cmd, env=thread_env(args.threads))[0])
            pt_runs.append(run_json_lines(pt_cmd, env=thread_env(args.threads))[0])
        td, pt = merge_rounds(td_runs), merge_rounds(pt_runs)
        rows.append((case, td, pt))
        print(f"  {case}: tinydiff {td['median_ms']:.1f} ms, PyTorch {pt['median_ms']:.1f} ms", file=sys.stderr,
              flush=True)

    print("\n".join(header))
    if args.rounds == 1:
        print(f"Median of {args.repeats} runs after {args.warmup} warm-up (whole sampling runs: {args.run_repeats} "
              f"after {args.run_warmup}); each case in its own process, tinydiff first, then PyTorch.")
    else:
        print(f"Median of {args.rounds} x {args.repeats} runs (whole sampling runs: {args.rounds} x "
              f"{args.run_repeats}): {args.rounds} rounds per case, each a tinydiff process then a PyTorch process "
              f"({args.warmup} warm-up + {args.repeats} timed runs each; whole runs {args.run_warmup} + "
              f"{args.run_repeats}).")
    runs = [(case, td) for case, td, _ in rows if "sampler" in td]
    if runs:
        print("Whole sampling runs (x_T to images, guidance " + f"{args.guidance:g}" + "): " + "; ".join(
            f"{case} = {td['sampler']}, {td['steps']} {td['spacing']} steps, {td['batch']} images, forward batch "
            f"{td['forward_batch']}" for case, td in runs))
    print()
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
    steps_rows = [(case, td) for case, td, _ in rows if "gflops" in td]
    if steps_rows:
        print(f"tinydiff effective GFLOP/s ({steps_rows[0][1]['gflop_per_image_forward']:.4f} GFLOP/image forward, "
              f"x3 per training image): " + ", ".join(f"{case} {td['gflops']:.1f}" for case, td in steps_rows))
    print(f"Load average at the end: {os.getloadavg()[0]:.2f}")


def check_sample(args):
    """Same weights, same x_T, same sampler on both sides: the images must agree within --check-tol."""
    UNet = import_torch()
    runner = resolve(args.sample_run)
    require_binary(runner, "sample_run")
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="check_sample_") as work:
        failed = check_sample_in(args, UNet, runner, work)
    sys.exit(1 if failed else 0)


def check_sample_in(args, UNet, runner, work):
    """check_sample with its files in `work`; returns whether any sampler failed."""
    from safetensors_io import read_safetensors, write_safetensors
    if args.check_weights:  # e.g. a trained ema.safetensors: the mirror loads it strictly
        weights_path = resolve(args.check_weights)
        weights, meta = read_safetensors(weights_path)
        cfg = json.loads(meta.get("model", "{}"))
        if json.loads(meta.get("diffusion", '{"schedule": "linear", "T": 1000, "prediction": "eps"}')) != \
                {"schedule": "linear", "T": 1000, "prediction": "eps"}:
            sys.exit("compare_torch: --check-sample mirrors the linear schedule, T = 1000, eps prediction only")
        model = UNet(in_ch=cfg.get("in_channels", 1), base=cfg.get("base", 32),
                     mults=tuple(cfg.get("mults", (1, 2, 2))), groups=cfg.get("groups", 8),
                     num_classes=cfg.get("num_classes", 10))
        model.load_state_dict(weights, strict=True)
    else:  # the mirror's own seeded initialisation, written for the C++ side
        torch.manual_seed(0)
        model = UNet()
        weights_path = os.path.join(work, "weights.safetensors")
        write_safetensors(weights_path, list(model.state_dict().items()), {})
    model.eval()
    g = torch.Generator().manual_seed(1)
    x_T = torch.randn(args.check_batch, 1, 28, 28, generator=g)
    y = torch.arange(args.check_batch, dtype=torch.int64) % 10
    noise_path = os.path.join(work, "noise.safetensors")
    write_safetensors(noise_path, [("x_T", x_T), ("y", y)], {})

    failed = False
    for kind in SAMPLERS:
        out_path = os.path.join(work, f"{kind}.safetensors")
        run_json_lines([runner, "--weights", weights_path, "--noise", noise_path, "--out", out_path, "--threads",
                        str(args.threads), *sampler_flags(kind, args.check_steps, args.guidance)])
        theirs, _ = read_safetensors(out_path)
        ours = torch_sample(model, kind, args.check_steps, SPACING[kind], x_T.clone(), y, args.guidance)
        same_steps = theirs["timesteps"].tolist() == sampling_timesteps(args.check_steps, SPACING[kind])
        diff = (theirs["x"] - ours).abs().max().item()
        ok = same_steps and diff < args.check_tol
        failed |= not ok
        print(f"{kind}: {args.check_steps} {SPACING[kind]} steps, {args.check_batch} images, guidance "
              f"{args.guidance:g}: max |tinydiff - PyTorch| = {diff:.2e} (images in [{ours.min().item():.2f}, "
              f"{ours.max().item():.2f}]), timesteps {'the same' if same_steps else 'DIFFER'}: "
              f"{'ok' if ok else 'FAILED'} (tolerance {args.check_tol:g})")
    print(f"weights: {args.check_weights or 'the mirror seeded with manual_seed(0)'}")
    return failed


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
    ap.add_argument("--sample-run", default="build-release/benchmarks/sample_run",
                    help="the sample_run binary, for whole sampling runs (relative: as --unet-step)")
    ap.add_argument("--guidance", type=float, default=2.0,
                    help="classifier-free guidance of the whole sampling runs and the check (default 2)")
    ap.add_argument("--run-repeats", type=int, default=3,
                    help="timed whole sampling runs per case, median reported (default 3)")
    ap.add_argument("--run-warmup", type=int, default=1, help="untimed whole sampling runs first (default 1)")
    ap.add_argument("--check-sample", action="store_true",
                    help="check that both sides sample the same images from the same weights and x_T")
    ap.add_argument("--check-weights", default="", help="--check-sample: weights (default: the seeded mirror's)")
    ap.add_argument("--check-steps", type=int, default=10, help="--check-sample: steps (default 10)")
    ap.add_argument("--check-batch", type=int, default=8, help="--check-sample: images (default 8)")
    ap.add_argument("--check-tol", type=float, default=1e-3, help="--check-sample: max abs difference (default 1e-3)")
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
    if min(args.threads, args.repeats, args.rounds, args.ops_repetitions, args.run_repeats, args.check_steps,
           args.check_batch) < 1 or args.warmup < 0 or args.run_warmup < 0:
        ap.error("--threads, --repeats, --rounds, --ops-repetitions, --run-repeats, --check-steps and --check-batch "
                 "must be >= 1, --warmup and --run-warmup >= 0")
    if args.sgemm_pairs < 0:
        ap.error("--sgemm-pairs must be >= 0")
    if args.torch_case:
        torch_case(args)
    elif args.check_sample:
        check_sample(args)
    elif args.ops:
        compare_ops(args)
    else:
        compare_unet(args)


if __name__ == "__main__":
    main()
