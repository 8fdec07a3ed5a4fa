#pragma once
// Reverse-process samplers: DDPM ancestral sampling and DDIM, both on any
// subsequence of the training timesteps, with x_0 clipping and classifier-free
// guidance.
//
// On a subsequence t_0 < t_1 < ... < t_{n-1} the chain is "respaced" (Nichol &
// Dhariwal 2021): step i goes from t = t_i to t' = t_{i-1} (t' = "-1", abar = 1,
// for i = 0) with beta = 1 - abar_t / abar_t'. With every step kept this is the
// original chain.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "diffusion.hpp"

namespace ddpm {

// n timesteps spread evenly over [0, T-1], both ends included, increasing.
inline std::vector<int> spaced_timesteps(int T, int n) {
  TD_CHECK(n >= 1 && n <= T, "spaced_timesteps", "cannot take ", n, " steps out of ", T);
  std::vector<int> steps(n);
  if (n == 1) {
    steps[0] = T - 1;
    return steps;
  }
  for (int i = 0; i < n; ++i) steps[i] = static_cast<int>(std::lround(double(i) * (T - 1) / (n - 1)));
  return steps;
}

// The network as the sampler sees it: output for a batch of x_t, timesteps and labels.
using Denoiser = std::function<Tensor(const Tensor& x, const std::vector<int>& t, const std::vector<int64_t>& y)>;

// The guidance combination itself: uncond + s (cond - uncond).
inline Tensor cfg_combine(const Tensor& cond, const Tensor& uncond, double s) {
  return uncond + (cond - uncond) * static_cast<float>(s);
}

// Classifier-free guidance: out = out_uncond + s (out_cond - out_uncond).
//   s = 0: unconditional, s = 1: conditional without guidance, s > 1: guided.
// For s outside {0, 1} the two passes run as one doubled batch [x; x] with
// labels [y; null]. The combination is linear, so it holds for eps and v alike.
inline Tensor guided_output(const Denoiser& model, const Tensor& x, const std::vector<int>& t,
                            const std::vector<int64_t>& labels, int64_t null_label, double s) {
  const std::vector<int64_t> nulls(labels.size(), null_label);
  if (s == 1.0) return model(x, t, labels);
  if (s == 0.0) return model(x, t, nulls);
  std::vector<int> tt = t;
  tt.insert(tt.end(), t.begin(), t.end());
  std::vector<int64_t> yy = labels;
  yy.insert(yy.end(), nulls.begin(), nulls.end());
  const Tensor both = model(tinydiff::concat({x, x}, 0), tt, yy);
  const int64_t b = x.shape()[0];
  const Tensor cond = tinydiff::narrow(both, 0, 0, b), uncond = tinydiff::narrow(both, 0, b, b);
  return cfg_combine(cond, uncond, s);
}

struct SamplerOptions {
  std::string kind = "ddim";              // "ddim" or "ddpm"
  int steps = 50;                         // timesteps used out of T
  double eta = 0.0;                       // DDIM: 0 deterministic, 1 = DDPM's posterior variance
  std::string variance = "beta_tilde";    // DDPM: "beta_tilde" (posterior) or "beta"
  bool clip_x0 = true;                    // clamp predicted x_0 to [-1, 1]
  double guidance = 1.0;                  // classifier-free guidance scale s
  Prediction prediction = Prediction::Epsilon;
};

// Called after each step with (step index, timestep t, x_t before the step, predicted x_0).
using StepCallback = std::function<void(int, int, const Tensor&, const Tensor&)>;

// One step of the reverse process from x_t at timestep t (abar_t) to t' (abar_prev).
// Coefficients of the respaced step: beta = 1 - abar_t / abar_prev.
struct StepCoefficients {
  double abar_t, abar_prev, beta;
  // Posterior q(x_t' | x_t, x_0) = N(c0 x_0 + ct x_t, beta_tilde)
  double c0() const { return beta * std::sqrt(abar_prev) / (1.0 - abar_t); }
  double ct() const { return (1.0 - abar_prev) * std::sqrt(1.0 - beta) / (1.0 - abar_t); }
  double beta_tilde() const { return beta * (1.0 - abar_prev) / (1.0 - abar_t); }
  // DDIM's sigma for a given eta; eta = 1 gives sigma^2 = beta_tilde.
  double ddim_sigma(double eta) const { return eta * std::sqrt(beta_tilde()); }
};

inline StepCoefficients step_coefficients(const NoiseSchedule& s, const std::vector<int>& steps, size_t i) {
  const double abar_t = s.abar(steps[i]);
  const double abar_prev = i > 0 ? s.abar(steps[i - 1]) : 1.0;
  return {abar_t, abar_prev, 1.0 - abar_t / abar_prev};
}

// Draws samples: starts from x_T ~ N(0, I) of `shape` and runs the chosen sampler.
// `labels` (one per sample) are the classes to draw, null_label for unconditional.
inline Tensor sample(const Denoiser& model, const NoiseSchedule& schedule, const SamplerOptions& opt,
                     const tinydiff::Shape& shape, const std::vector<int64_t>& labels, int64_t null_label,
                     tinydiff::Generator& gen, const StepCallback& on_step = nullptr) {
  using namespace tinydiff;
  TD_CHECK(opt.kind == "ddim" || opt.kind == "ddpm", "sample", "unknown sampler '", opt.kind, "' (ddim or ddpm)");
  TD_CHECK(opt.variance == "beta_tilde" || opt.variance == "beta", "sample", "unknown variance '", opt.variance,
           "' (beta_tilde or beta)");
  TD_CHECK(static_cast<int64_t>(labels.size()) == shape[0], "sample", labels.size(), " labels for ", shape[0],
           " samples");
  NoGradGuard no_grad;
  const std::vector<int> steps = spaced_timesteps(schedule.T(), opt.steps);
  Tensor x = randn(shape, &gen);
  for (int i = static_cast<int>(steps.size()) - 1; i >= 0; --i) {
    const std::vector<int> t(static_cast<size_t>(shape[0]), steps[i]);
    const Tensor out = guided_output(model, x, t, labels, null_label, opt.guidance);
    Denoised d = split_prediction(schedule, opt.prediction, x, t, out);
    const StepCoefficients c = step_coefficients(schedule, steps, static_cast<size_t>(i));
    if (opt.clip_x0) {
      d.x0 = clamp(d.x0, -1.0f, 1.0f);
      // keep eps consistent with the clipped x_0: eps = (x_t - sqrt(abar) x_0) / sqrt(1 - abar)
      d.eps = (x - d.x0 * static_cast<float>(std::sqrt(c.abar_t))) / static_cast<float>(std::sqrt(1.0 - c.abar_t));
    }
    if (on_step) on_step(i, steps[i], x, d.x0);
    Tensor next;
    double sigma = 0.0;
    if (opt.kind == "ddpm") {
      next = d.x0 * static_cast<float>(c.c0()) + x * static_cast<float>(c.ct());
      sigma = std::sqrt(opt.variance == "beta" ? c.beta : c.beta_tilde());
    } else {
      sigma = c.ddim_sigma(opt.eta);
      const double dir = std::sqrt(std::max(0.0, 1.0 - c.abar_prev - sigma * sigma));
      next = d.x0 * static_cast<float>(std::sqrt(c.abar_prev)) + d.eps * static_cast<float>(dir);
    }
    if (i > 0 && sigma > 0.0) next = next + randn(shape, &gen) * static_cast<float>(sigma);
    x = next;
  }
  return x;
}

}  // namespace ddpm
