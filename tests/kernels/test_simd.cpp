// The kernel tiers (simd/isa.hpp, kernels/tiers.hpp): which ones a build holds and a CPU runs,
// choosing one (TINYDIFF_ISA, set_isa), cpu_info, and the elementwise tier kernels (SiLU, group
// norm, AdamW) on every tier against scalar references. The convolution kernels are tested on
// every tier in test_conv_kernels.cpp and test_conv_paths.cpp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "test_helpers.hpp"

using namespace tinydiff;
using namespace test_helpers;

TEST_CASE("the tiers a build holds and a CPU runs") {
  const std::vector<simd::Isa> available = simd::available_isas();
  REQUIRE(!available.empty());
  CHECK(available.front() == simd::Isa::kGeneric);  // every build, every CPU
  CHECK(simd::best_isa() == available.back());
  for (simd::Isa isa : available) CHECK((simd::isa_compiled(isa) && simd::cpu_supports(isa)));
#if defined(__x86_64__)
  CHECK(simd::isa_compiled(simd::Isa::kAvx512));  // x86 builds hold the AVX-512 tier whatever their flags
#if defined(__AVX2__) && defined(__FMA__)
  CHECK(simd::cpu_supports(simd::Isa::kAvx2));  // a program built for AVX2 runs on an AVX2 CPU
#endif
#else
  CHECK(available.size() == 1);  // elsewhere the generic tier is all there is
#endif
  MESSAGE("this build and CPU run the tiers:", [&] {
    std::string names;
    for (simd::Isa isa : available) names += std::string(" ") + simd::isa_name(isa);
    return names;
  }());
}

TEST_CASE("set_isa switches the kernels' tier, and refuses one this build or CPU cannot run") {
  const simd::Isa before = simd::active_isa();
  for_each_tier([&] {
    const simd::Isa now = simd::active_isa();
    CHECK(kernels::tier_kernels().isa == now);
    const CpuInfo info = cpu_info();
    CHECK(info.isa == simd::isa_name(now));
    CHECK(info.forced);
    CHECK(info.summary().find(std::string("kernels: ") + simd::isa_name(now)) != std::string::npos);
    CHECK(info.vector_floats == (now == simd::Isa::kAvx512 ? 16 : now == simd::Isa::kAvx2 ? 8 : 4));
  });
  CHECK(simd::active_isa() == before);  // IsaScope restored it
  for (simd::Isa isa : {simd::Isa::kAvx2, simd::Isa::kAvx512}) {
    if (simd::isa_compiled(isa) && simd::cpu_supports(isa)) continue;
    const std::string message = test_helpers::error_message([&] { simd::set_isa(isa); });
    INFO(message);
    CHECK(message.rfind("set_isa: ", 0) == 0);
    CHECK(message.find(simd::isa_name(isa)) != std::string::npos);
    CHECK(simd::active_isa() == before);
  }
  test_helpers::check_error([] { simd::parse_isa("avx3", "TINYDIFF_ISA"); }, "TINYDIFF_ISA",
                            {"'avx3'", "generic, avx2, avx512 or auto"});
}

TEST_CASE("TINYDIFF_ISA chooses the tier (CTest runs this with several values)") {
  // Run as is, the default is the widest tier; under `TINYDIFF_ISA=name` the tier named, or an
  // error that names the value when it is unknown or cannot run here.
  const char* value = std::getenv("TINYDIFF_ISA");
  const std::string name = value ? value : "";
  if (name.empty() || name == "auto") {
    CHECK(simd::active_isa() == simd::best_isa());
    CHECK_FALSE(cpu_info().forced);
    return;
  }
  bool known = false, runnable = false;
  for (simd::Isa isa : {simd::Isa::kGeneric, simd::Isa::kAvx2, simd::Isa::kAvx512})
    if (name == simd::isa_name(isa)) known = true, runnable = simd::isa_compiled(isa) && simd::cpu_supports(isa);
  if (runnable) {
    CHECK(simd::isa_name(simd::active_isa()) == name);
    CHECK(cpu_info().forced);
    return;
  }
  const std::string message = test_helpers::error_message([] { simd::active_isa(); });
  INFO(message);
  CHECK(message.rfind("TINYDIFF_ISA: ", 0) == 0);
  CHECK(message.find(known ? name : "'" + name + "'") != std::string::npos);
}

TEST_CASE("silu's tier kernels match the formula on every tier, tails included") {
  Generator gen(41);
  for (int64_t n : {1, 3, 4, 7, 8, 15, 16, 17, 100, 1000}) {
    std::vector<float> x = random_vector(n, gen), g = random_vector(n, gen);
    x[0] = 30.0f;  // saturated
    if (n > 1) x[1] = -100.0f;
    std::vector<float> y_ref(static_cast<size_t>(n)), dx_ref(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(x[i])));
      y_ref[i] = static_cast<float>(x[i] * s);
      dx_ref[i] = static_cast<float>(g[i] * s * (1.0 + x[i] * (1.0 - s)));
    }
    for_each_tier([&] {
      INFO("n ", n);
      std::vector<float> y(static_cast<size_t>(n), NAN), dx(static_cast<size_t>(n), NAN);
      kernels::tier_kernels().silu_forward(x.data(), y.data(), n);
      kernels::tier_kernels().silu_backward(x.data(), g.data(), dx.data(), n);
      CHECK(relative_error(y, y_ref) < 1e-6);
      CHECK(relative_error(dx, dx_ref) < 1e-6);
    });
  }
}

TEST_CASE("group norm's tier kernels give the same values on every tier") {
  // The op's values and gradients are checked against PyTorch (test_parity) and by gradcheck on the
  // active tier; here every tier against the generic one, over plane sizes with vector tails. (Not
  // planes of one pixel: two values per group make dx a cancellation that no tier gets to 1e-5.)
  for (int64_t size : {3, 7, 49, 196, 785}) {
    manual_seed(7);
    const Tensor x = randn({3, 6, size}) * 2.0f + 0.5f, w = randn({6}), b = randn({6}), g = randn({3, 6, size});
    auto run = [&] {
      Tensor xr = x.detach().requires_grad_(), wr = w.detach().requires_grad_(), br = b.detach().requires_grad_();
      Tensor y = group_norm(xr, 3, wr, br, 1e-5);
      (y * g).sum().backward();
      return std::vector<Tensor>{y, xr.grad(), wr.grad(), br.grad()};
    };
    std::vector<Tensor> expected;
    {
      simd::IsaScope generic(simd::Isa::kGeneric);
      expected = run();
    }
    for_each_tier([&] {
      INFO("size ", size);
      const std::vector<Tensor> got = run();
      for (size_t i = 0; i < got.size(); ++i) {
        const std::vector<float> a(got[i].data(), got[i].data() + got[i].numel());
        const std::vector<float> e(expected[i].data(), expected[i].data() + expected[i].numel());
        CHECK(relative_error(a, e) < 1e-5);
      }
    });
  }
}

TEST_CASE("the AdamW update's tier kernel matches PyTorch's formula on every tier") {
  Generator gen(43);
  for (bool amsgrad : {false, true})
    for (bool decoupled : {false, true})
      for (int64_t n : {1, 5, 8, 33, 500}) {
        const std::vector<float> w0 = random_vector(n, gen), grad = random_vector(n, gen);
        const std::vector<float> m0 = random_vector(n, gen);
        std::vector<float> v0 = random_vector(n, gen), vmax0 = random_vector(n, gen);
        for (int64_t i = 0; i < n; ++i) v0[i] = std::fabs(v0[i]), vmax0[i] = std::fabs(vmax0[i]);
        const optim::detail::AdamHyper h{1e-2, 0.9, 0.99, 1e-8, 0.1, amsgrad, decoupled};
        const int64_t t = 3;
        // The update in double, step by step as torch.optim.Adam(W) writes it.
        std::vector<double> w_ref(static_cast<size_t>(n));
        for (int64_t i = 0; i < n; ++i) {
          double w = w0[i], g = grad[i];
          if (decoupled) w *= 1.0 - h.lr * h.weight_decay;
          else g += h.weight_decay * w;
          const double m = h.beta1 * m0[i] + (1.0 - h.beta1) * g, v = h.beta2 * v0[i] + (1.0 - h.beta2) * g * g;
          const double second = amsgrad ? std::max<double>(vmax0[i], v) : v;
          const double denom = std::sqrt(second) / std::sqrt(1.0 - std::pow(h.beta2, t)) + h.eps;
          w_ref[static_cast<size_t>(i)] = w - h.lr / (1.0 - std::pow(h.beta1, t)) * m / denom;
        }
        for_each_tier([&] {
          INFO("n ", n, " amsgrad ", amsgrad, " decoupled ", decoupled);
          std::vector<float> w = w0, m = m0, v = v0, vmax = vmax0;
          optim::detail::adam_update(w.data(), grad.data(), m.data(), v.data(), amsgrad ? vmax.data() : nullptr, n, t, h);
          double worst = 0.0;
          for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(w[i] - w_ref[static_cast<size_t>(i)]));
          CHECK(worst < 1e-5);
        });
      }
}
