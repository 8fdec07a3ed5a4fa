// Op timings at the shapes of the ddpm_mnist U-Net (batch 64), with Google Benchmark.
//
//   bench_ops [--threads N] [Google Benchmark flags, e.g. --benchmark_filter=conv2d]
//
// Threads: OpenMP's, so OMP_NUM_THREADS (or --threads N, which calls
// tinydiff::set_num_threads) sets how many; the count used is printed in the
// context header and in the JSON "context" as "threads".
//
// Each benchmark is named "<op>/<shape>" exactly as benchmarks/torch_ops.py names
// its PyTorch twin, so compare_torch.py --ops can join the two tables:
//   conv2d_fwd / conv2d_bwd        x [N,Cin,H,W] -> [N,Cout,Hout,Wout], "k3s1p1"
//   conv_transpose2d_fwd / _bwd    the same naming, output is the upsampled size
//   group_norm_fwd / _fwdbwd       affine GroupNorm(8) on [N,C,H,W]
//   gemm                           kernels::gemm, C[m,n] = A[m,k] B[k,n]
// *_bwd times only y.backward(g) of a graph built once (retain_graph), producing the
// input, weight and bias gradients; *_fwdbwd times forward + backward together.
//
// FLOPs (the "GFLOP" rate counter, 1e9 FLOP per second):
//   conv2d forward            2 N Cout Hout Wout (Cin/groups) kh kw
//   conv_transpose2d forward  2 N Cin H W (Cout/groups) kh kw   (H, W its input: every input
//                             pixel stamps a Cout x kh x kw kernel; the same count as the
//                             conv2d it is the adjoint of)
//   backward                  2 x forward (input gradient + weight gradient; bias ignored)
//   gemm                      2 m n k
// group_norm has no FLOP counter; "bytes_per_second" counts the nominal traffic
// (forward reads x and writes y; backward also reads g and x and writes dx).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>

namespace {

using tinydiff::Shape;
using tinydiff::Tensor;

constexpr int64_t kBatch = 64;

void set_gflops(benchmark::State& state, double flops_per_iteration) {
  state.counters["GFLOP"] = benchmark::Counter(flops_per_iteration * static_cast<double>(state.iterations()) / 1e9,
                                               benchmark::Counter::kIsRate);
}

Tensor random_tensor(const Shape& shape, bool requires_grad = false) {
  Tensor t = tinydiff::randn(shape);
  if (requires_grad) t.requires_grad_();
  return t;
}

// One convolution layer: input [kBatch, cin, h, w], kernel k, stride s, padding p.
struct ConvCase {
  int64_t cin, cout, h, w, k, s, p;
  bool transposed;

  int64_t out_h() const { return transposed ? (h - 1) * s - 2 * p + k : (h + 2 * p - k) / s + 1; }
  int64_t out_w() const { return transposed ? (w - 1) * s - 2 * p + k : (w + 2 * p - k) / s + 1; }
  Shape weight_shape() const { return transposed ? Shape{cin, cout, k, k} : Shape{cout, cin, k, k}; }
  // 2 * multiply-adds of the forward pass (groups = 1).
  double forward_flops() const {
    const double spatial = transposed ? static_cast<double>(h * w) : static_cast<double>(out_h() * out_w());
    return 2.0 * static_cast<double>(kBatch) * spatial * static_cast<double>(cin * cout * k * k);
  }
  // "64x32x28x28>32x28x28,k3s1p1", the key shared with torch_ops.py.
  std::string shape_name() const {
    return std::to_string(kBatch) + "x" + std::to_string(cin) + "x" + std::to_string(h) + "x" + std::to_string(w) +
           ">" + std::to_string(cout) + "x" + std::to_string(out_h()) + "x" + std::to_string(out_w()) + ",k" +
           std::to_string(k) + "s" + std::to_string(s) + "p" + std::to_string(p);
  }
  Tensor apply(const Tensor& x, const Tensor& weight, const Tensor& bias) const {
    return transposed ? tinydiff::conv_transpose2d(x, weight, bias, s, p) : tinydiff::conv2d(x, weight, bias, s, p);
  }
};

// The U-Net's convolutions (examples/ddpm_mnist/unet.hpp, base 32, mults (1, 2, 2)).
const std::vector<ConvCase> kConvCases = {
    {32, 32, 28, 28, 3, 1, 1, false},   // down.0 conv1/conv2, up.2 conv2
    {96, 32, 28, 28, 3, 1, 1, false},   // up.2 conv1: concat(64 upsampled, 32 skip) -> 32
    {32, 64, 14, 14, 3, 1, 1, false},   // down.1 conv1
    {64, 64, 14, 14, 3, 1, 1, false},   // down.1 conv2, up.1 conv2
    {128, 64, 14, 14, 3, 1, 1, false},  // up.1 conv1: concat(64, 64) -> 64
    {64, 64, 7, 7, 3, 1, 1, false},     // down.2, mid.0, mid.1 conv1/conv2, up.0 conv2
    {128, 64, 7, 7, 3, 1, 1, false},    // up.0 conv1: concat(64, 64) -> 64
    {32, 32, 28, 28, 3, 2, 1, false},   // down.0 downsample 28 -> 14
    {64, 64, 14, 14, 3, 2, 1, false},   // down.1 downsample 14 -> 7
    {64, 64, 7, 7, 4, 2, 1, true},      // up.0 upsample 7 -> 14
    {64, 64, 14, 14, 4, 2, 1, true},    // up.1 upsample 14 -> 28
};

void conv_forward(benchmark::State& state, ConvCase c) {
  tinydiff::manual_seed(0);
  const Tensor x = random_tensor({kBatch, c.cin, c.h, c.w});
  const Tensor weight = random_tensor(c.weight_shape());
  const Tensor bias = random_tensor({c.cout});
  for (auto _ : state) {
    Tensor y = c.apply(x, weight, bias);
    benchmark::DoNotOptimize(y.data());
  }
  set_gflops(state, c.forward_flops());
}

// The graph is built once; each iteration drops the leaves' gradients (as
// zero_grad does) and runs y.backward(g), which computes dx, dW and db.
void conv_backward(benchmark::State& state, ConvCase c) {
  tinydiff::manual_seed(0);
  const Tensor x = random_tensor({kBatch, c.cin, c.h, c.w}, true);
  const Tensor weight = random_tensor(c.weight_shape(), true);
  const Tensor bias = random_tensor({c.cout}, true);
  const Tensor y = c.apply(x, weight, bias);
  const Tensor g = random_tensor(y.shape());
  for (auto _ : state) {
    x.zero_grad();
    weight.zero_grad();
    bias.zero_grad();
    y.backward(g, /*retain_graph=*/true);
    benchmark::DoNotOptimize(x.grad().data());
  }
  set_gflops(state, 2.0 * c.forward_flops());
}

void group_norm_forward(benchmark::State& state, Shape shape) {
  tinydiff::manual_seed(0);
  const Tensor x = random_tensor(shape);
  const Tensor weight = random_tensor({shape[1]}), bias = random_tensor({shape[1]});
  for (auto _ : state) {
    Tensor y = tinydiff::group_norm(x, 8, weight, bias);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * x.numel() * 2 * static_cast<int64_t>(sizeof(float)));
}

void group_norm_forward_backward(benchmark::State& state, Shape shape) {
  tinydiff::manual_seed(0);
  const Tensor x = random_tensor(shape, true);
  const Tensor weight = random_tensor({shape[1]}, true), bias = random_tensor({shape[1]}, true);
  const Tensor g = random_tensor(shape);
  for (auto _ : state) {
    x.zero_grad();
    weight.zero_grad();
    bias.zero_grad();
    Tensor y = tinydiff::group_norm(x, 8, weight, bias);
    y.backward(g);
    benchmark::DoNotOptimize(x.grad().data());
  }
  state.SetBytesProcessed(state.iterations() * x.numel() * 5 * static_cast<int64_t>(sizeof(float)));
}

void gemm(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  tinydiff::manual_seed(0);
  const Tensor a = random_tensor({m, k}), b = random_tensor({k, n});
  Tensor c = Tensor::empty({m, n});
  for (auto _ : state) {
    tinydiff::kernels::gemm(false, false, m, n, k, 1.0f, a.data(), b.data(), 0.0f, c.data());
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_gflops(state, 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k));
}

std::string shape_name(const Shape& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) out += (i ? "x" : "") + std::to_string(s[i]);
  return out;
}

void register_all() {
  auto configure = [](benchmark::internal::Benchmark* b) { b->UseRealTime()->Unit(benchmark::kMillisecond); };
  for (const ConvCase& c : kConvCases) {
    const std::string op = c.transposed ? "conv_transpose2d" : "conv2d";
    configure(benchmark::RegisterBenchmark((op + "_fwd/" + c.shape_name()).c_str(), conv_forward, c));
    configure(benchmark::RegisterBenchmark((op + "_bwd/" + c.shape_name()).c_str(), conv_backward, c));
  }
  const std::vector<Shape> norm_shapes = {{kBatch, 32, 28, 28}, {kBatch, 64, 14, 14}, {kBatch, 64, 7, 7}};
  for (const Shape& s : norm_shapes) {
    const std::string name = shape_name(s) + ",g8";
    configure(benchmark::RegisterBenchmark(("group_norm_fwd/" + name).c_str(), group_norm_forward, s));
    configure(benchmark::RegisterBenchmark(("group_norm_fwdbwd/" + name).c_str(), group_norm_forward_backward, s));
  }
  // m n k: a square one, then conv-like im2col products [Cout, Cin*9] x [Cin*9, H*W].
  const std::vector<std::vector<int64_t>> gemm_shapes = {
      {1024, 1024, 1024}, {32, 784, 288}, {64, 196, 576}, {64, 1568, 576}};
  for (const auto& s : gemm_shapes) {
    const std::string name =
        "gemm/m" + std::to_string(s[0]) + ",n" + std::to_string(s[1]) + ",k" + std::to_string(s[2]);
    configure(benchmark::RegisterBenchmark(name.c_str(), gemm, s[0], s[1], s[2]));
  }
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  // What Google Benchmark left: our own --threads N (or --threads=N).
  for (int i = 1; i < argc; ++i) {
    const char* value = nullptr;
    if (std::strcmp(argv[i], "--threads") == 0 && i + 1 < argc) value = argv[++i];
    else if (std::strncmp(argv[i], "--threads=", 10) == 0) value = argv[i] + 10;
    else {
      std::fprintf(stderr, "bench_ops: unknown argument '%s' (use --threads N or --benchmark_* flags)\n", argv[i]);
      return 2;
    }
    const int threads = std::atoi(value);
    if (threads < 1) {
      std::fprintf(stderr, "bench_ops: --threads needs a positive count, got '%s'\n", value);
      return 2;
    }
    tinydiff::set_num_threads(threads);
  }
  benchmark::AddCustomContext("threads", std::to_string(omp_get_max_threads()));
  const char* env = std::getenv("OMP_NUM_THREADS");
  benchmark::AddCustomContext("OMP_NUM_THREADS", env ? env : "(unset)");
  benchmark::AddCustomContext("tinydiff_cpu", tinydiff::cpu_info().summary());
  benchmark::AddCustomContext("tinydiff_isa", tinydiff::cpu_info().isa);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
