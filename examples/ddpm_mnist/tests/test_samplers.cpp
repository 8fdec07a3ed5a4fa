// The high-order ODE samplers (DPM-Solver++ 2M, UniPC-2 bh2) and the timestep spacings,
// against closed forms: on data distributed as N(mu, s^2) per pixel the exact denoiser is
// known, and so is the probability-flow ODE's solution (it keeps the z-score
//   z = (x_t - alpha_t mu) / sqrt(alpha_t^2 s^2 + sigma_t^2)
// of every pixel), so each solver's global error can be measured as the steps double.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "../app/cli.hpp"
#include "../diffusion.hpp"
#include "../samplers.hpp"

using namespace ddpm;
using namespace tinydiff;

namespace {

// Data N(mu_y, s^2) per pixel, mu_y = mu + shift * y for class y (the null label included).
struct GaussianData {
  double mu = 0.3, s = 0.5, shift = 0.0;
  double mean(int64_t y) const { return mu + shift * static_cast<double>(y); }
  // E[x_0 | x_t] = mu + alpha s^2 (x_t - alpha mu) / (alpha^2 s^2 + sigma^2)
  double x0_hat(double x, double alpha, double sigma, int64_t y) const {
    const double m = mean(y);
    return m + alpha * s * s * (x - alpha * m) / (alpha * alpha * s * s + sigma * sigma);
  }
  // The exact network: eps = (x_t - alpha x_0) / sigma, or v = alpha eps - sigma x_0.
  Denoiser network(const NoiseSchedule& sched, Prediction kind) const {
    const GaussianData data = *this;
    return [data, &sched, kind](const Tensor& x, const std::vector<int>& t, const std::vector<int64_t>& y) {
      Tensor out = Tensor::empty(x.shape());
      const int64_t per = x.numel() / x.size(0);
      for (int64_t i = 0; i < x.size(0); ++i) {
        const double alpha = std::sqrt(sched.abar(t[i])), sigma = std::sqrt(1.0 - sched.abar(t[i]));
        for (int64_t k = 0; k < per; ++k) {
          const double xt = x.data()[i * per + k];
          const double x0 = data.x0_hat(xt, alpha, sigma, y[i]);
          const double eps = (xt - alpha * x0) / sigma;
          out.data()[i * per + k] = static_cast<float>(kind == Prediction::Epsilon ? eps : alpha * eps - sigma * x0);
        }
      }
      return out;
    };
  }
  // Where the ODE takes x at timestep t_from once it reaches timestep t_to (z-score kept), and
  // the sampler's last step from there: x_0 = E[x_0 | x_{t_to}].
  double solution(const NoiseSchedule& sched, double x, int t_from, int t_to, int64_t y) const {
    auto spread = [&](int t) { return std::sqrt(sched.abar(t) * s * s + 1.0 - sched.abar(t)); };
    const double z = (x - std::sqrt(sched.abar(t_from)) * mean(y)) / spread(t_from);
    const double x_to = std::sqrt(sched.abar(t_to)) * mean(y) + spread(t_to) * z;
    return x0_hat(x_to, std::sqrt(sched.abar(t_to)), std::sqrt(1.0 - sched.abar(t_to)), y);
  }
};

SamplerOptions solver(const std::string& kind, int steps, Prediction prediction = Prediction::Epsilon) {
  SamplerOptions opt;
  opt.kind = kind;
  opt.steps = steps;
  opt.clip_x0 = false;
  opt.prediction = prediction;
  return opt;
}

// Largest error of a sampler's output against the exact ODE solution, over 64 pixels of x_T.
double global_error(const NoiseSchedule& sched, const GaussianData& data, const SamplerOptions& opt) {
  const Shape shape = {2, 1, 4, 8};
  const std::vector<int64_t> labels = {0, 0};
  Generator gen(11), same(11);
  const Tensor out = sample(data.network(sched, opt.prediction), sched, opt, shape, labels, 10, gen);
  const Tensor x_T = randn(shape, &same);
  const std::vector<int> steps = sampling_timesteps(sched, opt.steps, opt.spacing);
  double worst = 0.0;
  for (int64_t i = 0; i < out.numel(); ++i) {
    const double exact = data.solution(sched, x_T.data()[i], steps.back(), steps.front(), 0);
    worst = std::max(worst, std::abs(out.data()[i] - exact));
  }
  return worst;
}

}  // namespace

TEST_CASE("spacings: increasing, distinct timesteps in [0, T-1] from T-1 down to the lowest") {
  for (const std::string schedule : {"linear", "cosine"}) {
    const NoiseSchedule s = NoiseSchedule::by_name(schedule, 1000);
    for (const std::string& spacing : spacing_kinds()) {
      for (int n : {1, 2, 3, 5, 8, 10, 15, 20, 50, 999, 1000}) {
        CAPTURE(schedule);
        CAPTURE(spacing);
        CAPTURE(n);
        const std::vector<int> t = sampling_timesteps(s, n, spacing);
        REQUIRE(t.size() == static_cast<size_t>(n));
        CHECK(t.back() == 999);  // every spacing starts the chain at the noisiest step
        CHECK(t.front() >= 0);
        for (size_t i = 1; i < t.size(); ++i) CHECK(t[i] > t[i - 1]);
        if (spacing != "trailing" && n > 1) CHECK(t.front() == 0);  // uniform and logsnr end at t = 0
      }
      CHECK(sampling_timesteps(s, 1000, spacing) == spaced_timesteps(1000, 1000));  // every step: the full chain
      CHECK_THROWS_AS(sampling_timesteps(s, 1001, spacing), tinydiff::Error);
      CHECK_THROWS_AS(sampling_timesteps(s, 0, spacing), tinydiff::Error);
    }
    CHECK_THROWS_WITH_AS(sampling_timesteps(s, 10, "leading"),
                         "sampling_timesteps: unknown spacing 'leading' (uniform, trailing or logsnr)", tinydiff::Error);
  }
}

TEST_CASE("spacings: trailing is T/n apart from T-1, logsnr even in log-SNR, the three distinct") {
  const NoiseSchedule s = NoiseSchedule::linear(1000);
  // diffusers' trailing: round(arange(T, 0, -T/n)) - 1, here increasing
  CHECK(trailing_timesteps(1000, 10) == std::vector<int>{99, 199, 299, 399, 499, 599, 699, 799, 899, 999});
  CHECK(trailing_timesteps(1000, 4) == std::vector<int>{249, 499, 749, 999});
  CHECK(spaced_timesteps(1000, 4) == std::vector<int>{0, 333, 666, 999});
  // logsnr: consecutive log-SNR gaps equal, up to rounding to integer timesteps (away from t = 0,
  // where the linear schedule's log-SNR falls by more than a gap per timestep)
  const std::vector<int> t = logsnr_timesteps(s, 20);
  const double gap = (log_snr(s, 0) - log_snr(s, 999)) / 19.0;
  for (size_t i = 3; i < t.size(); ++i) {
    const double d = log_snr(s, t[i - 1]) - log_snr(s, t[i]);
    CHECK(d == doctest::Approx(gap).epsilon(0.1));
  }
  // log-SNR spacing puts more steps at low noise than uniform does
  const std::vector<int> u = spaced_timesteps(1000, 20);
  CHECK(t[5] < u[5]);
  CHECK(t != u);
  CHECK(t != trailing_timesteps(1000, 20));
  CHECK(u != trailing_timesteps(1000, 20));
}

TEST_CASE("DPM-Solver++ 2M and UniPC agree with DDIM at 1 and 2 steps (first-order first and last steps)") {
  const NoiseSchedule sched = NoiseSchedule::cosine(1000);
  const GaussianData data;
  for (int n : {1, 2}) {
    for (const std::string kind : {"dpmpp2m", "unipc"}) {
      CAPTURE(n);
      CAPTURE(kind);
      Generator g1(3), g2(3);
      SamplerOptions a = solver("ddim", n), b = solver(kind, n);
      const Tensor ddim = sample(data.network(sched, a.prediction), sched, a, {2, 1, 2, 2}, {0, 0}, 10, g1);
      const Tensor ode = sample(data.network(sched, b.prediction), sched, b, {2, 1, 2, 2}, {0, 0}, 10, g2);
      for (int64_t i = 0; i < ddim.numel(); ++i) CHECK(ode.data()[i] == doctest::Approx(ddim.data()[i]).epsilon(1e-5));
    }
  }
  // From 3 steps on they are different methods
  Generator g1(3), g2(3);
  SamplerOptions a = solver("ddim", 3), b = solver("dpmpp2m", 3);
  const Tensor ddim = sample(data.network(sched, a.prediction), sched, a, {1, 1, 2, 2}, {0}, 10, g1);
  const Tensor ode = sample(data.network(sched, b.prediction), sched, b, {1, 1, 2, 2}, {0}, 10, g2);
  CHECK(std::abs(ode.data()[0] - ddim.data()[0]) > 1e-4);
}

TEST_CASE("DPM-Solver++ 2M's step written out by hand on 3 steps") {
  const NoiseSchedule sched = NoiseSchedule::linear(1000);
  const GaussianData data;
  const Denoiser net = data.network(sched, Prediction::Epsilon);
  const SamplerOptions opt = solver("dpmpp2m", 3);
  Generator g1(8), g2(8);
  const Tensor out = sample(net, sched, opt, {1, 1, 1, 1}, {0}, 10, g1);
  double x = randn({1, 1, 1, 1}, &g2).item();
  const std::vector<int> t = spaced_timesteps(1000, 3);  // 0, 500, 999
  auto a = [&](int k) { return std::sqrt(sched.abar(k)); };
  auto sg = [&](int k) { return std::sqrt(1.0 - sched.abar(k)); };
  auto lam = [&](int k) { return std::log(a(k) / sg(k)); };
  auto x0 = [&](double xt, int k) { return data.x0_hat(xt, a(k), sg(k), 0); };
  // step 1, first order (DDIM): x = sigma_t/sigma_s x + alpha_t (1 - e^{-h}) x0
  const double d999 = x0(x, 999), h1 = lam(500) - lam(999);
  x = sg(500) / sg(999) * x + a(500) * (1 - std::exp(-h1)) * d999;
  // step 2, second order: r = h1/h2, D = (1 + 1/(2r)) x0(s) - 1/(2r) x0(prev)
  const double d500 = x0(x, 500), h2 = lam(0) - lam(500), r = h1 / h2;
  const double D = (1 + 0.5 / r) * d500 - 0.5 / r * d999;
  x = sg(0) / sg(500) * x + a(0) * (1 - std::exp(-h2)) * D;
  // last step to the clean image: x_0(x at t = 0)
  x = x0(x, 0);
  CHECK(out.item() == doctest::Approx(x).epsilon(1e-5));
}

TEST_CASE("ODE solvers on Gaussian data: DDIM's error falls as h, DPM-Solver++ 2M's as h^2, UniPC's faster") {
  // Doubling the steps halves h: the error should fall ~2x for a first-order method and ~4x for
  // a second-order one. Both schedules, both network parametrisations, every spacing (each step
  // count is measured against the exact solution to its own last timestep t_0).
  for (const std::string schedule : {"linear", "cosine"}) {
    const NoiseSchedule sched = NoiseSchedule::by_name(schedule, 1000);
    const GaussianData data;
    for (const Prediction pred : {Prediction::Epsilon, Prediction::V}) {
      for (const std::string& spacing : spacing_kinds()) {
        const std::string target = pred == Prediction::V ? "v" : "eps";
        CAPTURE(schedule);
        CAPTURE(spacing);
        CAPTURE(target);
        auto err = [&](const std::string& kind, int n) {
          SamplerOptions opt = solver(kind, n, pred);
          opt.spacing = spacing;
          return global_error(sched, data, opt);
        };
        const double ddim_20 = err("ddim", 20), ddim_40 = err("ddim", 40), ddim_80 = err("ddim", 80);
        const double dpm_20 = err("dpmpp2m", 20), dpm_40 = err("dpmpp2m", 40), dpm_80 = err("dpmpp2m", 80);
        const double uni_20 = err("unipc", 20), uni_40 = err("unipc", 40), uni_80 = err("unipc", 80);
        MESSAGE(schedule, " ", spacing, " ", target, ": ddim ", ddim_20, " ", ddim_40, " ", ddim_80, "; dpmpp2m ",
                dpm_20, " ", dpm_40, " ", dpm_80, "; unipc ", uni_20, " ", uni_40, " ", uni_80);
        REQUIRE(std::isfinite(ddim_20 + ddim_40 + ddim_80 + dpm_20 + dpm_40 + dpm_80 + uni_20 + uni_40 + uni_80));
        // First order: halved once the steps are small, whatever the spacing.
        CHECK(ddim_80 / ddim_40 > 0.4);
        CHECK(ddim_80 / ddim_40 < 0.6);
        CHECK(uni_80 < dpm_80);
        if (spacing == "logsnr") {
          // Even steps in lambda: the clean case. DDIM halves, 2M quarters, UniPC (order 3) more.
          CHECK(ddim_40 / ddim_20 > 0.4);
          CHECK(ddim_40 / ddim_20 < 0.6);
          for (double ratio : {dpm_40 / dpm_20, dpm_80 / dpm_40}) {
            CHECK(ratio > 0.18);
            CHECK(ratio < 0.32);
          }
          CHECK(uni_40 / uni_20 < 0.18);
          CHECK(uni_80 / uni_40 < 0.18);
          CHECK(dpm_20 < ddim_20 / 5);
          CHECK(uni_20 < dpm_20);
        } else if (spacing == "uniform") {
          // Uniform spacing keeps t = 0, where log-SNR jumps (on the linear schedule h is 3 for the
          // last solver step, 0.5 for the one before): extrapolating over r = 1/6 costs 2M its lead
          // at 20 steps, but the order shows from 40 on.
          CHECK(dpm_80 / dpm_40 > 0.18);
          CHECK(dpm_80 / dpm_40 < 0.32);
          CHECK(uni_80 / uni_40 < 0.25);
        } else {
          // Trailing: t_0 = T/n - 1 moves with n, so each count has its own target and the ratios
          // are not clean; the high-order solvers still beat DDIM at every count.
          CHECK(dpm_20 < ddim_20 / 2);
          CHECK(dpm_40 < ddim_40 / 2);
          CHECK(dpm_80 < ddim_80 / 2);
          CHECK(uni_40 < ddim_40 / 2);
        }
      }
    }
  }
}

TEST_CASE("ODE solvers: eps and v networks of the same denoiser give the same samples") {
  for (const std::string schedule : {"linear", "cosine"}) {
    const NoiseSchedule sched = NoiseSchedule::by_name(schedule, 1000);
    const GaussianData data;
    for (const std::string kind : {"dpmpp2m", "unipc"}) {
      CAPTURE(schedule);
      CAPTURE(kind);
      SamplerOptions e = solver(kind, 10, Prediction::Epsilon), v = solver(kind, 10, Prediction::V);
      e.clip_x0 = v.clip_x0 = true;
      e.spacing = v.spacing = "trailing";
      Generator g1(4), g2(4);
      const Tensor a = sample(data.network(sched, Prediction::Epsilon), sched, e, {2, 1, 3, 3}, {0, 0}, 10, g1);
      const Tensor b = sample(data.network(sched, Prediction::V), sched, v, {2, 1, 3, 3}, {0, 0}, 10, g2);
      for (int64_t i = 0; i < a.numel(); ++i) CHECK(b.data()[i] == doctest::Approx(a.data()[i]).epsilon(1e-4).scale(1));
    }
  }
}

TEST_CASE("ODE solvers with guidance: s = 1 is the conditional model, s = 0 the unconditional, one call a step") {
  const NoiseSchedule sched = NoiseSchedule::cosine(1000);
  GaussianData data;
  data.shift = 0.05;  // class y: mean 0.3 + 0.05 y; the null label 10: 0.8
  const Denoiser net = data.network(sched, Prediction::Epsilon);
  const std::vector<int64_t> y = {2, 7};
  for (const std::string kind : {"dpmpp2m", "unipc"}) {
    CAPTURE(kind);
    int calls = 0;
    const Denoiser counted = [&](const Tensor& x, const std::vector<int>& t, const std::vector<int64_t>& labels) {
      ++calls;
      return net(x, t, labels);
    };
    // the conditional model as a network that never sees the labels (always 2 and 7)
    const Denoiser conditional = [&](const Tensor& x, const std::vector<int>& t, const std::vector<int64_t>&) {
      return net(x, t, y);
    };
    const Denoiser unconditional = [&](const Tensor& x, const std::vector<int>& t, const std::vector<int64_t>& l) {
      return net(x, t, std::vector<int64_t>(l.size(), 10));
    };
    auto run = [&](const Denoiser& model, double s) {
      SamplerOptions opt = solver(kind, 8);
      opt.guidance = s;
      Generator gen(6);
      return sample(model, sched, opt, {2, 1, 2, 2}, y, 10, gen).to_vector();
    };
    calls = 0;
    const std::vector<float> guided1 = run(counted, 1.0);
    CHECK(calls == 8);
    CHECK(guided1 == run(conditional, 1.0));
    CHECK(run(counted, 0.0) == run(unconditional, 1.0));
    calls = 0;
    const std::vector<float> guided3 = run(counted, 3.0);
    CHECK(calls == 8);  // conditional and unconditional as one doubled batch
    // s = 3 extrapolates past the class mean, away from the null label's 0.8: for class 2
    // (mean 0.4) the mean of the samples moves below the conditional ones'
    double m1 = 0, m3 = 0;
    for (int k = 0; k < 4; ++k) {
      m1 += guided1[k];
      m3 += guided3[k];
    }
    CHECK(m3 < m1 - 0.5);
  }
}

TEST_CASE("sample refuses an unknown sampler or spacing, naming it") {
  const NoiseSchedule sched = NoiseSchedule::linear(100);
  const GaussianData data;
  Generator gen(1);
  SamplerOptions opt = solver("dpm", 5);
  CHECK_THROWS_WITH_AS(sample(data.network(sched, opt.prediction), sched, opt, {1, 1, 1, 1}, {0}, 10, gen),
                       "sample: unknown sampler 'dpm' (ddim, ddpm, dpmpp2m or unipc)", tinydiff::Error);
  opt = solver("unipc", 5);
  opt.spacing = "karras";
  CHECK_THROWS_WITH_AS(sample(data.network(sched, opt.prediction), sched, opt, {1, 1, 1, 1}, {0}, 10, gen),
                       "sampling_timesteps: unknown spacing 'karras' (uniform, trailing or logsnr)", tinydiff::Error);
}

TEST_CASE("command line: --sampler and --spacing reach sample and eval; defaults the fast default_sampling()") {
  auto parse = [](const std::string& line) {
    std::vector<std::string> args = {"ddpm_mnist"};
    std::istringstream words(line);
    for (std::string w; words >> w;) args.push_back(w);
    return parse_command_line(args);
  };
  // --ckpt must name an existing file (an absolute path: the test may run from any folder)
  const std::string file = std::string(DDPM_MNIST_DATA_DIR) + "/README.md";
  const CommandLine s = parse("sample --ckpt " + file + " --sampler dpmpp2m --steps 15 --spacing logsnr");
  CHECK(s.sample.sampler.kind == "dpmpp2m");
  CHECK(s.sample.sampler.steps == 15);
  CHECK(s.sample.sampler.spacing == "logsnr");
  const CommandLine e = parse("eval --ckpt " + file + " --sampler unipc --spacing trailing");
  CHECK(e.eval.sampler.kind == "unipc");
  CHECK(e.eval.sampler.spacing == "trailing");
  for (const CommandLine& d : {parse("eval --ckpt " + file), parse("sample")}) {
    const SamplerOptions& opt = d.command == CommandLine::Command::Eval ? d.eval.sampler : d.sample.sampler;
    CHECK(opt.kind == "unipc");
    CHECK(opt.spacing == "trailing");
    CHECK(opt.steps == 8);
    CHECK(opt.guidance == 1.5);
  }
  CHECK(parse("sample").sample.ckpt.empty());  // the shipped weights (checkpoint_or_shipped)
  CHECK_THROWS_AS(parse("eval --spacing leading"), CLI::ValidationError);
  CHECK_THROWS_AS(parse("sample --ckpt " + file + " --sampler heun"), CLI::ValidationError);
}
