#pragma once
// Reverse-process samplers, all on any subsequence of the training timesteps, with
// x_0 clipping and classifier-free guidance:
//   ddpm     ancestral sampling (Ho et al. 2020)
//   ddim     DDIM (Song et al. 2021), eta = 0: the first-order solver of the probability-flow ODE
//   dpmpp2m  DPM-Solver++(2M) (Lu et al. 2022): multistep, data prediction, second order
//   unipc    UniPC-2, "bh2" (B(h) = e^{-h} - 1 here, Zhao et al. 2023): the 2M predictor plus a
//            corrector that reuses the next step's model evaluation (no extra evaluations)
// Every sampler makes exactly one (guided) model evaluation per step.
//
// On a subsequence t_0 < t_1 < ... < t_{n-1} the chain is "respaced" (Nichol &
// Dhariwal 2021): step i goes from t = t_i to t' = t_{i-1} (t' = "-1", abar = 1,
// for i = 0) with beta = 1 - abar_t / abar_t'. With every step kept this is the
// original chain. The subsequence is chosen by the spacing: uniform, trailing or logsnr.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "diffusion.hpp"

namespace ddpm {

// --spacing uniform: n timesteps spread evenly over [0, T-1], both ends included, increasing
// (diffusers' "linspace"; today's default).
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

// --spacing trailing (diffusers' "trailing", Lin et al. 2024 table 2): t_i = round((i + 1) T / n) - 1,
// so the first step starts at T-1 and the steps are T/n apart; the lowest is round(T/n) - 1,
// from where the last step lands on the clean image. Distinct because T/n >= 1.
inline std::vector<int> trailing_timesteps(int T, int n) {
  TD_CHECK(n >= 1 && n <= T, "trailing_timesteps", "cannot take ", n, " steps out of ", T);
  std::vector<int> steps(n);
  for (int i = 0; i < n; ++i) steps[i] = static_cast<int>(std::lround(double(i + 1) * T / n)) - 1;
  return steps;
}

// log-SNR of timestep t: 2 lambda_t, lambda_t = log(alpha_t / sigma_t), alpha_t = sqrt(abar_t),
// sigma_t = sqrt(1 - abar_t). Strictly decreasing in t.
inline double log_snr(const NoiseSchedule& s, int t) { return std::log(s.abar(t)) - std::log1p(-s.abar(t)); }

// --spacing logsnr: n timesteps whose log-SNR is evenly spaced from log-SNR(0) to log-SNR(T-1)
// (both ends included), each target mapped to the nearest timestep by linear interpolation of
// log-SNR between integer timesteps. The cosine schedule's last beta is clipped at 0.999, which
// drops its log-SNR by 7 in that one step (-12.9 to -19.8 at T = 1000); a range ending there
// would spend a third of the steps within 5 timesteps of T-1, so a clipped last step is left
// out of the range (the chain still starts at T-1). Where the schedule's log-SNR falls by more
// than one spacing between neighbouring timesteps (near t = 0), two targets could round to the
// same timestep: those are pushed apart to the next free ones, keeping the ends.
inline std::vector<int> logsnr_timesteps(const NoiseSchedule& s, int n) {
  const int T = s.T();
  TD_CHECK(n >= 1 && n <= T, "logsnr_timesteps", "cannot take ", n, " steps out of ", T);
  if (n == 1) return {T - 1};
  std::vector<double> lam(T);
  for (int t = 0; t < T; ++t) lam[t] = log_snr(s, t);
  const bool clipped_end = T > 2 && s.betas[T - 1] >= 0.999 - 1e-12;
  const double lam_end = lam[clipped_end ? T - 2 : T - 1];
  std::vector<int> steps(n);
  int t = 0;
  for (int i = 0; i < n; ++i) {
    const double target = lam[0] + (lam_end - lam[0]) * double(i) / (n - 1);  // decreasing in i
    while (t + 1 < T - 1 && lam[t + 1] > target) ++t;                        // lam[t] >= target > lam[t+1]
    const double frac = (lam[t] - target) / (lam[t] - lam[t + 1]);
    steps[i] = std::min(T - 1, std::max(0, static_cast<int>(std::lround(t + std::min(1.0, std::max(0.0, frac))))));
  }
  steps[0] = 0;
  for (int i = 1; i < n; ++i) steps[i] = std::max(steps[i], steps[i - 1] + 1);           // distinct upwards
  steps[n - 1] = T - 1;
  for (int i = n - 1; i >= 1; --i) steps[i - 1] = std::min(steps[i - 1], steps[i] - 1);  // and under T-1
  return steps;
}

// The timesteps of a spacing: "uniform", "trailing" or "logsnr".
inline std::vector<int> sampling_timesteps(const NoiseSchedule& s, int n, const std::string& spacing) {
  if (spacing == "uniform") return spaced_timesteps(s.T(), n);
  if (spacing == "trailing") return trailing_timesteps(s.T(), n);
  if (spacing == "logsnr") return logsnr_timesteps(s, n);
  throw tinydiff::Error("sampling_timesteps: unknown spacing '" + spacing + "' (uniform, trailing or logsnr)");
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

// The samplers `sample` knows, and the timestep spacings.
inline const std::vector<std::string>& sampler_kinds() {
  static const std::vector<std::string> kinds = {"ddim", "ddpm", "dpmpp2m", "unipc"};
  return kinds;
}
inline const std::vector<std::string>& spacing_kinds() {
  static const std::vector<std::string> kinds = {"uniform", "trailing", "logsnr"};
  return kinds;
}

struct SamplerOptions {
  std::string kind = "ddim";              // "ddim", "ddpm", "dpmpp2m" or "unipc"
  int steps = 50;                         // timesteps used out of T = model evaluations
  std::string spacing = "uniform";        // which timesteps: "uniform", "trailing" or "logsnr"
  double eta = 0.0;                       // DDIM: 0 deterministic, 1 = DDPM's posterior variance
  std::string variance = "beta_tilde";    // DDPM: "beta_tilde" (posterior) or "beta"
  bool clip_x0 = true;                    // clamp predicted x_0 to [-1, 1]
  double guidance = 1.0;                  // classifier-free guidance scale s
  Prediction prediction = Prediction::Epsilon;
};

// What `sample` and `eval` draw with unless flags say otherwise: the fastest setting that is within
// 5% of DDIM-50's quality on the shipped model at the same guidance: FID, KID, precision and recall
// each no more than 5% worse, label accuracy within 0.01 (docs/quality.md, "Shipped model"). UniPC
// at 8 trailing steps is; at 5 steps every sampler loses a sixth of DDIM-50's recall. Guidance 1.5:
// label accuracy 0.997 where 1 gives 0.96 and 2 costs recall. Training's sample grids use it too,
// with the preset's step count and guidance. The struct's own defaults above stay DDIM-50 on
// uniform steps.
inline SamplerOptions default_sampling() {
  SamplerOptions opt;
  opt.kind = "unipc";
  opt.steps = 8;
  opt.spacing = "trailing";
  opt.guidance = 1.5;
  return opt;
}

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

// The noise level of a point on the sampling grid: x = alpha x_0 + sigma eps with
// alpha = sqrt(abar), sigma = sqrt(1 - abar), and lambda = log(alpha / sigma) (half the log-SNR).
// The clean end of the grid (after t_0) has alpha = 1, sigma = 0, lambda = +inf.
struct NoiseLevel {
  double alpha, sigma, lambda;
  bool clean() const { return sigma == 0.0; }
};
inline NoiseLevel noise_level(const NoiseSchedule& s, int t) {
  const double abar = s.abar(t);
  return {std::sqrt(abar), std::sqrt(1.0 - abar), 0.5 * log_snr(s, t)};
}
inline NoiseLevel clean_level() { return {1.0, 0.0, std::numeric_limits<double>::infinity()}; }

// The guided model output at x_t turned into eps and x_0, with x_0 clipped to [-1, 1] if asked
// (eps then recomputed from the clipped x_0: eps = (x_t - sqrt(abar) x_0) / sqrt(1 - abar)).
inline Denoised denoise(const Denoiser& model, const NoiseSchedule& schedule, const SamplerOptions& opt,
                        const Tensor& x, int t_step, const std::vector<int64_t>& labels, int64_t null_label) {
  const std::vector<int> t(static_cast<size_t>(x.shape()[0]), t_step);
  const Tensor out = guided_output(model, x, t, labels, null_label, opt.guidance);
  Denoised d = split_prediction(schedule, opt.prediction, x, t, out);
  if (opt.clip_x0) {
    const double abar = schedule.abar(t_step);
    d.x0 = tinydiff::clamp(d.x0, -1.0f, 1.0f);
    d.eps = (x - d.x0 * static_cast<float>(std::sqrt(abar))) / static_cast<float>(std::sqrt(1.0 - abar));
  }
  return d;
}

// DPM-Solver++(2M) (Lu et al. 2022, algorithm 2) on the grid steps[n-1] > ... > steps[0] > clean.
// The probability-flow ODE in data prediction, with lambda = log(alpha / sigma), is solved exactly
// for its linear part (variation of constants):
//   x_t = (sigma_t / sigma_s) x_s + sigma_t \int_{lambda_s}^{lambda_t} e^lambda x_0(lambda) dlambda.
// Taking x_0 constant over the step (= x_0(x_s)) is DDIM:
//   x_t = (sigma_t / sigma_s) x_s + alpha_t (1 - e^{-h}) x_0,       h = lambda_t - lambda_s;
// taking x_0 linear in lambda through the previous step's x_0 (at lambda_r, h_r = lambda_s - lambda_r)
// and folding the slope's extra integral into the midpoint-like factor 1/(2r) gives 2M:
//   r = h_r / h,   D = (1 + 1/(2r)) x_0(s) - 1/(2r) x_0(r),
//   x_t = (sigma_t / sigma_s) x_s + alpha_t (1 - e^{-h}) D.
// The first step (no previous x_0) is first order; so is the last, to the clean image, where
// sigma_t = 0 and h is infinite: x_t = x_0(s) (diffusers' lower_order_final with final sigma 0).
inline Tensor dpmpp_2m(const Denoiser& model, const NoiseSchedule& schedule, const SamplerOptions& opt,
                       const std::vector<int>& steps, Tensor x, const std::vector<int64_t>& labels,
                       int64_t null_label, const StepCallback& on_step) {
  Tensor x0_prev;      // x_0 predicted at the previous grid point r
  double h_prev = 0.0;  // lambda_s - lambda_r
  for (int i = static_cast<int>(steps.size()) - 1; i >= 0; --i) {
    const Denoised d = denoise(model, schedule, opt, x, steps[i], labels, null_label);
    if (on_step) on_step(i, steps[i], x, d.x0);
    const NoiseLevel s = noise_level(schedule, steps[i]);
    const NoiseLevel t = i > 0 ? noise_level(schedule, steps[i - 1]) : clean_level();
    if (t.clean()) {
      x = d.x0;  // sigma_t = 0, alpha_t = 1: the first-order step lands on x_0(s)
      break;
    }
    const double h = t.lambda - s.lambda;           // h = lambda_t - lambda_s > 0
    const double one_minus_e = -std::expm1(-h);     // 1 - e^{-h}
    Tensor D = d.x0;                                // first order: D = x_0(s)
    if (x0_prev.defined()) {
      const double r = h_prev / h;                  // r = h_r / h
      D = d.x0 * static_cast<float>(1.0 + 0.5 / r) - x0_prev * static_cast<float>(0.5 / r);
    }
    x = x * static_cast<float>(t.sigma / s.sigma) + D * static_cast<float>(t.alpha * one_minus_e);
    x0_prev = d.x0;
    h_prev = h;
  }
  return x;
}

// UniPC-2, "bh2" (B(h) = expm1 of -h), data prediction (Zhao et al. 2023; diffusers'
// UniPCMultistepScheduler with solver_order 2). Writing m = x_0 predictions, hh = -h and
//   phi_1 = e^{hh} - 1 = -(1 - e^{-h}),   B_h = phi_1,
// the predictor UniP-2 from s to t, with the previous point r at r_1 = (lambda_r - lambda_s) / h,
//   D_1 = (m_r - m_s) / r_1,
//   x_t = (sigma_t / sigma_s) x_s - alpha_t phi_1 m_s - alpha_t B_h (1/2) D_1
// is DPM-Solver++(2M) again (first order on the first step; the last, to sigma = 0, is x_0(s)).
// The corrector UniC runs once the model has been evaluated at the predicted x_t (that
// evaluation m_t is the next step's anyway, so it costs nothing) and replaces x_t by
//   x_t^c = (sigma_t / sigma_s) x_s - alpha_t phi_1 m_s - alpha_t B_h (rho_1 D_1 + rho_t (m_t - m_s)),
// with (rho_1, rho_t) solving [[1, 1], [r_1, 1]] rho = [g_1, g_2] / B_h,
//   g_1 = phi_1 / hh - 1,   g_2 = 2 (g_1 / hh - 1/2),
// or, after a first-order predictor, rho_t = 1/2 and no D_1 (the trapezoidal rule). It raises
// the order by one. The model output kept for the next step is m_t at the *uncorrected* x_t.
inline Tensor unipc_bh2(const Denoiser& model, const NoiseSchedule& schedule, const SamplerOptions& opt,
                        const std::vector<int>& steps, Tensor x, const std::vector<int64_t>& labels,
                        int64_t null_label, const StepCallback& on_step) {
  Tensor m_prev, m_prev2;     // x_0 at the previous grid point s' and the one before it, r'
  Tensor x_prev;              // the (corrected) sample at s'
  NoiseLevel lev_prev{}, lev_prev2{};
  int order_prev = 0;         // order of the predictor that made x
  for (int i = static_cast<int>(steps.size()) - 1; i >= 0; --i) {
    const Denoised d = denoise(model, schedule, opt, x, steps[i], labels, null_label);
    const Tensor& m = d.x0;
    const NoiseLevel s = noise_level(schedule, steps[i]);
    if (order_prev > 0) {
      // UniC: correct the step s' -> s that made x, with m = m_t of that step.
      const double h = s.lambda - lev_prev.lambda, hh = -h;
      const double phi_1 = std::expm1(hh), B_h = phi_1;
      Tensor corrected = x_prev * static_cast<float>(s.sigma / lev_prev.sigma) - m_prev * static_cast<float>(s.alpha * phi_1);
      Tensor res;
      if (order_prev == 1) {
        res = (m - m_prev) * 0.5f;                                        // rho_t = 1/2
      } else {
        const double r_1 = (lev_prev2.lambda - lev_prev.lambda) / h;
        const double g_1 = phi_1 / hh - 1.0, g_2 = 2.0 * (g_1 / hh - 0.5);
        const double b_1 = g_1 / B_h, b_2 = g_2 / B_h;
        const double rho_1 = (b_1 - b_2) / (1.0 - r_1), rho_t = b_1 - rho_1;  // [[1,1],[r_1,1]] rho = b
        const Tensor D_1 = (m_prev2 - m_prev) / static_cast<float>(r_1);
        res = D_1 * static_cast<float>(rho_1) + (m - m_prev) * static_cast<float>(rho_t);
      }
      x = corrected - res * static_cast<float>(s.alpha * B_h);
    }
    if (on_step) on_step(i, steps[i], x, m);
    const NoiseLevel t = i > 0 ? noise_level(schedule, steps[i - 1]) : clean_level();
    Tensor next;
    int order = 1;
    if (t.clean()) {
      next = m;  // lower order final: first order to sigma = 0 is x_0(s)
    } else {
      const double h = t.lambda - s.lambda, hh = -h;
      const double phi_1 = std::expm1(hh), B_h = phi_1;
      next = x * static_cast<float>(t.sigma / s.sigma) - m * static_cast<float>(t.alpha * phi_1);  // UniP-1 = DDIM
      if (order_prev > 0) {
        order = 2;
        const double r_1 = (lev_prev.lambda - s.lambda) / h;
        const Tensor D_1 = (m_prev - m) / static_cast<float>(r_1);
        next = next - D_1 * static_cast<float>(t.alpha * B_h * 0.5);                              // rho_1 = 1/2
      }
    }
    m_prev2 = m_prev;
    lev_prev2 = lev_prev;
    m_prev = m;
    lev_prev = s;
    x_prev = x;
    order_prev = order;
    x = next;
  }
  return x;
}

// Runs the chosen sampler from a given x_T (`gen` draws DDPM's and DDIM eta > 0's step noise).
// `labels` (one per sample) are the classes to draw, null_label for unconditional.
inline Tensor sample_from(const Denoiser& model, const NoiseSchedule& schedule, const SamplerOptions& opt, Tensor x,
                          const std::vector<int64_t>& labels, int64_t null_label, tinydiff::Generator& gen,
                          const StepCallback& on_step = nullptr) {
  using namespace tinydiff;
  const Shape shape = x.shape();
  const std::vector<std::string>& kinds = sampler_kinds();
  TD_CHECK(std::find(kinds.begin(), kinds.end(), opt.kind) != kinds.end(), "sample", "unknown sampler '", opt.kind,
           "' (ddim, ddpm, dpmpp2m or unipc)");
  TD_CHECK(opt.variance == "beta_tilde" || opt.variance == "beta", "sample", "unknown variance '", opt.variance,
           "' (beta_tilde or beta)");
  TD_CHECK(static_cast<int64_t>(labels.size()) == shape[0], "sample", labels.size(), " labels for ", shape[0],
           " samples");
  NoGradGuard no_grad;
  const std::vector<int> steps = sampling_timesteps(schedule, opt.steps, opt.spacing);
  if (opt.kind == "dpmpp2m") return dpmpp_2m(model, schedule, opt, steps, x, labels, null_label, on_step);
  if (opt.kind == "unipc") return unipc_bh2(model, schedule, opt, steps, x, labels, null_label, on_step);
  for (int i = static_cast<int>(steps.size()) - 1; i >= 0; --i) {
    const Denoised d = denoise(model, schedule, opt, x, steps[i], labels, null_label);
    const StepCoefficients c = step_coefficients(schedule, steps, static_cast<size_t>(i));
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

// Draws samples: starts from x_T ~ N(0, I) of `shape` and runs the chosen sampler.
inline Tensor sample(const Denoiser& model, const NoiseSchedule& schedule, const SamplerOptions& opt,
                     const tinydiff::Shape& shape, const std::vector<int64_t>& labels, int64_t null_label,
                     tinydiff::Generator& gen, const StepCallback& on_step = nullptr) {
  return sample_from(model, schedule, opt, tinydiff::randn(shape, &gen), labels, null_label, gen, on_step);
}

// One 28x28 image of `channels` per label, drawn `batch` at a time one batch after another from
// `gen`, so that memory is bounded by the batch, not by labels.size(): on_batch(start, images)
// receives each batch's images (samples start .. start + len - 1) and on_step(start, i, t, x_t, x0)
// each step of each batch. (sample, eval and train's sample grids draw their images this way.)
using BatchCallback = std::function<void(int64_t start, const Tensor& images)>;
using BatchStepCallback = std::function<void(int64_t start, int i, int t, const Tensor& x_t, const Tensor& x0)>;
inline void sample_in_batches(const Denoiser& model, const NoiseSchedule& schedule, const SamplerOptions& opt,
                              int64_t channels, const std::vector<int64_t>& labels, int64_t null_label,
                              tinydiff::Generator& gen, int64_t batch, const BatchCallback& on_batch,
                              const BatchStepCallback& on_step = nullptr) {
  TD_CHECK(batch > 0, "sample", "the batch must be positive, got ", batch);
  const int64_t n = static_cast<int64_t>(labels.size());
  for (int64_t start = 0; start < n; start += batch) {
    const int64_t len = std::min(batch, n - start);
    const std::vector<int64_t> batch_labels(labels.begin() + start, labels.begin() + start + len);
    StepCallback step_of_batch;
    if (on_step)
      step_of_batch = [&on_step, start](int i, int t, const Tensor& x_t, const Tensor& x0) { on_step(start, i, t, x_t, x0); };
    on_batch(start, sample(model, schedule, opt, {len, channels, 28, 28}, batch_labels, null_label, gen, step_of_batch));
  }
}

}  // namespace ddpm
