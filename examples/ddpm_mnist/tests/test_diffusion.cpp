// The diffusion math against closed forms: schedules, q_sample statistics, the
// posterior, DDIM (eta = 0 deterministic, eta = 1 = DDPM's variance), respacing,
// v-prediction conversions and the classifier-free guidance combination.
#include <doctest/doctest.h>

#include <cmath>

#include "../diffusion.hpp"
#include "../samplers.hpp"

using namespace ddpm;
using namespace tinydiff;

TEST_CASE("linear schedule: betas evenly spaced from 1e-4 to 0.02, abar their running product") {
  const NoiseSchedule s = NoiseSchedule::linear(1000);
  CHECK(s.T() == 1000);
  CHECK(s.betas[0] == doctest::Approx(1e-4).epsilon(1e-12));
  CHECK(s.betas[999] == doctest::Approx(0.02).epsilon(1e-12));
  CHECK(s.betas[500] == doctest::Approx(1e-4 + (0.02 - 1e-4) * 500.0 / 999.0).epsilon(1e-12));
  double prod = 1.0;
  for (int t = 0; t <= 250; ++t) prod *= 1.0 - s.betas[t];
  CHECK(s.abar(250) == doctest::Approx(prod).epsilon(1e-12));
  // Known values of this schedule (computed in closed form by numpy for DDPM): abar_999 ~ 4.04e-5.
  CHECK(s.abar(999) == doctest::Approx(4.0358e-5).epsilon(1e-3));
  CHECK(s.abar_prev(0) == 1.0);
}

TEST_CASE("cosine schedule: abar_t = f(t+1)/f(0) with f(t) = cos^2((t/T + s)/(1 + s) pi/2), beta <= 0.999") {
  const int T = 1000;
  const double s = 0.008;
  const NoiseSchedule sched = NoiseSchedule::cosine(T);
  auto f = [&](double t) { return std::pow(std::cos((t / T + s) / (1 + s) * M_PI / 2), 2); };
  for (int t : {0, 10, 250, 500, 900})
    CHECK(sched.abar(t) == doctest::Approx(f(t + 1) / f(0)).epsilon(1e-9));
  CHECK(sched.betas[T - 1] == doctest::Approx(0.999));  // clipped at the end
  for (double b : sched.betas) CHECK(b <= 0.999);
  CHECK_THROWS_AS(NoiseSchedule::by_name("quadratic", 10), tinydiff::Error);
}

TEST_CASE("q_sample has mean sqrt(abar) x0 and variance 1 - abar") {
  const NoiseSchedule s = NoiseSchedule::linear(1000);
  const int64_t n = 200000;
  Generator gen(3);
  const Tensor x0 = full({n, 1, 1, 1}, 0.7f);
  const Tensor eps = randn({n, 1, 1, 1}, &gen);
  for (int t : {0, 100, 600, 999}) {
    const std::vector<int> ts(static_cast<size_t>(n), t);
    const Tensor xt = q_sample(s, x0, ts, eps);
    double mean = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      mean += xt.data()[i];
      sq += double(xt.data()[i]) * xt.data()[i];
    }
    mean /= n;
    const double var = sq / n - mean * mean;
    CHECK(mean == doctest::Approx(std::sqrt(s.abar(t)) * 0.7).epsilon(0.01).scale(1));
    CHECK(var == doctest::Approx(1.0 - s.abar(t)).epsilon(0.02).scale(1e-3));
  }
}

TEST_CASE("the posterior q(x_{t-1} | x_t, x_0) matches its formula on the full chain") {
  const NoiseSchedule s = NoiseSchedule::linear(1000);
  const std::vector<int> all = spaced_timesteps(1000, 1000);
  for (int t : {1, 10, 500, 999}) {
    CHECK(all[t] == t);
    const StepCoefficients c = step_coefficients(s, all, static_cast<size_t>(t));
    const double beta = s.betas[t], abar = s.abar(t), abar_prev = s.abar(t - 1), alpha = 1 - beta;
    CHECK(c.beta == doctest::Approx(beta).epsilon(1e-9));  // respacing with every step keeps the betas
    // Ho et al. eq. 7: mu = sqrt(abar_prev) beta / (1 - abar) x0 + sqrt(alpha) (1 - abar_prev) / (1 - abar) x_t
    CHECK(c.c0() == doctest::Approx(std::sqrt(abar_prev) * beta / (1 - abar)).epsilon(1e-9));
    CHECK(c.ct() == doctest::Approx(std::sqrt(alpha) * (1 - abar_prev) / (1 - abar)).epsilon(1e-9));
    CHECK(c.beta_tilde() == doctest::Approx((1 - abar_prev) / (1 - abar) * beta).epsilon(1e-9));
  }
  // At t = 0 the step lands on x_0 itself: mean = x_0, no variance.
  const StepCoefficients c0 = step_coefficients(s, all, 0);
  CHECK(c0.c0() == doctest::Approx(1.0));
  CHECK(c0.ct() == doctest::Approx(0.0));
  CHECK(c0.beta_tilde() == doctest::Approx(0.0));
}

TEST_CASE("respacing: evenly spaced steps with both ends, and respaced betas that keep abar") {
  const NoiseSchedule s = NoiseSchedule::cosine(1000);
  const std::vector<int> steps = spaced_timesteps(1000, 50);
  REQUIRE(steps.size() == 50);
  CHECK(steps.front() == 0);
  CHECK(steps.back() == 999);
  for (size_t i = 1; i < steps.size(); ++i) CHECK(steps[i] > steps[i - 1]);
  CHECK(spaced_timesteps(1000, 1) == std::vector<int>{999});
  CHECK_THROWS_AS(spaced_timesteps(10, 11), tinydiff::Error);
  // The respaced chain's cumulative product of (1 - beta') reproduces abar at every kept step.
  double prod = 1.0;
  for (size_t i = 0; i < steps.size(); ++i) {
    prod *= 1.0 - step_coefficients(s, steps, i).beta;
    CHECK(prod == doctest::Approx(s.abar(steps[i])).epsilon(1e-9));
  }
}

TEST_CASE("DDIM with eta = 1 has DDPM's posterior variance; eta = 0 none") {
  const NoiseSchedule s = NoiseSchedule::linear(1000);
  const std::vector<int> steps = spaced_timesteps(1000, 25);
  for (size_t i = 1; i < steps.size(); ++i) {
    const StepCoefficients c = step_coefficients(s, steps, i);
    CHECK(c.ddim_sigma(1.0) * c.ddim_sigma(1.0) == doctest::Approx(c.beta_tilde()).epsilon(1e-12));
    CHECK(c.ddim_sigma(0.0) == 0.0);
  }
}

namespace {
// A stand-in network with a closed form: predicts eps = 0.5 x_t (+ a per-class offset).
Tensor fake_model(const Tensor& x, const std::vector<int>&, const std::vector<int64_t>& y) {
  Tensor out = x * 0.5f;
  const int64_t per = x.numel() / x.size(0);
  for (int64_t i = 0; i < x.size(0); ++i)
    for (int64_t k = 0; k < per; ++k) out.data()[i * per + k] += 0.01f * static_cast<float>(y[i]);
  return out;
}
}  // namespace

TEST_CASE("DDIM eta = 0 is deterministic given x_T and follows its update rule") {
  const NoiseSchedule s = NoiseSchedule::linear(1000);
  SamplerOptions opt;
  opt.kind = "ddim";
  opt.steps = 10;
  opt.eta = 0.0;
  opt.clip_x0 = false;
  Generator g1(5), g2(5);
  const std::vector<int64_t> y = {1, 2, 3};
  const Tensor a = sample(fake_model, s, opt, {3, 1, 2, 2}, y, 10, g1);
  const Tensor b = sample(fake_model, s, opt, {3, 1, 2, 2}, y, 10, g2);
  CHECK(a.to_vector() == b.to_vector());
  // The same chain by hand: x_prev = sqrt(abar_prev) x0 + sqrt(1 - abar_prev) eps.
  Generator g3(5);
  Tensor x = randn({3, 1, 2, 2}, &g3);
  const std::vector<int> steps = spaced_timesteps(1000, 10);
  for (int i = 9; i >= 0; --i) {
    const std::vector<int> t(3, steps[i]);
    const Tensor eps = fake_model(x, t, y);
    const double ab = s.abar(steps[i]), ab_prev = i > 0 ? s.abar(steps[i - 1]) : 1.0;
    const Tensor x0 = (x - eps * float(std::sqrt(1 - ab))) / float(std::sqrt(ab));
    x = x0 * float(std::sqrt(ab_prev)) + eps * float(std::sqrt(1 - ab_prev));
  }
  for (int64_t i = 0; i < a.numel(); ++i) CHECK(a.data()[i] == doctest::Approx(x.data()[i]).epsilon(1e-4));
}

TEST_CASE("DDPM sampling draws fresh noise each step; different seeds differ") {
  const NoiseSchedule s = NoiseSchedule::linear(100);
  SamplerOptions opt;
  opt.kind = "ddpm";
  opt.steps = 20;
  Generator g1(1), g2(2);
  const Tensor a = sample(fake_model, s, opt, {2, 1, 2, 2}, {0, 0}, 10, g1);
  const Tensor b = sample(fake_model, s, opt, {2, 1, 2, 2}, {0, 0}, 10, g2);
  CHECK(a.to_vector() != b.to_vector());
  for (float v : a.to_vector()) CHECK(std::isfinite(v));
}

TEST_CASE("v-prediction: v = sqrt(abar) eps - sqrt(1-abar) x0 converts back to eps and x0") {
  const NoiseSchedule s = NoiseSchedule::cosine(1000);
  Generator gen(9);
  const Tensor x0 = randn({4, 1, 3, 3}, &gen), eps = randn({4, 1, 3, 3}, &gen);
  const std::vector<int> t = {0, 10, 500, 990};
  const Tensor xt = q_sample(s, x0, t, eps);
  const Tensor v = v_target(s, x0, t, eps);
  const Denoised d = split_prediction(s, Prediction::V, xt, t, v);
  for (int64_t i = 0; i < x0.numel(); ++i) {
    CHECK(d.x0.data()[i] == doctest::Approx(x0.data()[i]).epsilon(1e-4).scale(1));
    CHECK(d.eps.data()[i] == doctest::Approx(eps.data()[i]).epsilon(1e-4).scale(1));
  }
  const Denoised e = split_prediction(s, Prediction::Epsilon, xt, std::vector<int>{10, 10, 10, 10}, eps);
  CHECK(e.eps.is_same(eps));
}

TEST_CASE("classifier-free guidance: eps = eps_u + s (eps_c - eps_u), two passes as one doubled batch") {
  int calls = 0;
  int64_t last_batch = 0;
  Denoiser counting = [&](const Tensor& x, const std::vector<int>& t, const std::vector<int64_t>& y) {
    ++calls;
    last_batch = x.size(0);
    return fake_model(x, t, y);
  };
  const Tensor x = full({2, 1, 1, 1}, 1.0f);
  const std::vector<int> t = {5, 5};
  const std::vector<int64_t> y = {3, 7};
  const int64_t null_label = 10;
  // fake_model: eps_c = 0.5 + 0.01 y, eps_u = 0.5 + 0.01 * 10
  auto expect = [&](double s, int64_t label) { return 0.6 + s * (0.01 * label - 0.1); };
  for (double s : {0.0, 1.0, 1.5, 3.0}) {
    calls = 0;
    const Tensor out = guided_output(counting, x, t, y, null_label, s);
    CHECK(calls == 1);
    CHECK(last_batch == (s == 0.0 || s == 1.0 ? 2 : 4));
    CHECK(out.at({0, 0, 0, 0}) == doctest::Approx(expect(s, 3)).epsilon(1e-5));
    CHECK(out.at({1, 0, 0, 0}) == doctest::Approx(expect(s, 7)).epsilon(1e-5));
  }
  const Tensor combined = cfg_combine(full({1}, 2.0f), full({1}, 1.0f), 3.0);
  CHECK(combined.item() == doctest::Approx(4.0));
}

TEST_CASE("min-SNR weights") {
  const NoiseSchedule s = NoiseSchedule::linear(1000);
  const std::vector<int> t = {0, 500, 999};
  const auto w = min_snr_weights(s, Prediction::Epsilon, t, 5.0);
  for (size_t i = 0; i < t.size(); ++i) {
    const double snr = s.snr(t[i]);
    CHECK(w[i] == doctest::Approx(std::min(snr, 5.0) / snr));
  }
  CHECK(w[0] < 1.0);                 // early steps (huge SNR) are down-weighted
  CHECK(w[2] == doctest::Approx(1.0));  // late steps (SNR < 5) keep weight 1
}
