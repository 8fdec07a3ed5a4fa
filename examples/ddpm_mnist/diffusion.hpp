#pragma once
// The forward (noising) process of DDPM and what training needs from it, ending in
// diffusion_loss: the loss of Algorithm 1 (Ho et al. 2020).
//
//   q(x_t | x_0) = N( sqrt(abar_t) x_0, (1 - abar_t) I ),  abar_t = prod_{s<=t} (1 - beta_s)
//
// Timesteps are 0-based: t = 0 is the first noising step, t = T-1 the last.
// Schedules are kept in double precision; tensors are float.
#include <cmath>
#include <string>
#include <vector>

#include <tinydiff/tinydiff.hpp>

#include "unet.hpp"

namespace ddpm {

using tinydiff::Tensor;

enum class Prediction { Epsilon, V };  // what the network predicts

struct NoiseSchedule {
  std::vector<double> betas;           // beta_t
  std::vector<double> alphas_cumprod;  // abar_t

  int T() const { return static_cast<int>(betas.size()); }
  double alpha(int t) const { return 1.0 - betas[t]; }
  double abar(int t) const { return alphas_cumprod[t]; }
  // abar of the step before t; abar_{-1} = 1 (no noise).
  double abar_prev(int t) const { return t > 0 ? alphas_cumprod[t - 1] : 1.0; }

  static NoiseSchedule from_betas(std::vector<double> betas) {
    NoiseSchedule s;
    double running = 1.0;
    for (double b : betas) {
      TD_CHECK(b > 0.0 && b < 1.0, "NoiseSchedule", "beta ", b, " is outside (0, 1)");
      running *= 1.0 - b;
      s.alphas_cumprod.push_back(running);
    }
    s.betas = std::move(betas);
    return s;
  }

  // Ho et al. (2020): betas evenly spaced from beta_start to beta_end.
  static NoiseSchedule linear(int T, double beta_start = 1e-4, double beta_end = 0.02) {
    TD_CHECK(T >= 2, "NoiseSchedule::linear", "needs T >= 2, got ", T);
    std::vector<double> betas(T);
    for (int t = 0; t < T; ++t) betas[t] = beta_start + (beta_end - beta_start) * t / (T - 1);
    return from_betas(betas);
  }

  // Nichol & Dhariwal (2021): abar(t) = f(t) / f(0), f(t) = cos^2(((t/T + s) / (1 + s)) pi/2),
  // beta_t = 1 - abar(t+1)/abar(t), clipped at max_beta to avoid the singularity at t = T.
  static NoiseSchedule cosine(int T, double s = 0.008, double max_beta = 0.999) {
    TD_CHECK(T >= 2, "NoiseSchedule::cosine", "needs T >= 2, got ", T);
    auto f = [&](double t) {
      const double c = std::cos((t / T + s) / (1.0 + s) * M_PI / 2.0);
      return c * c;
    };
    std::vector<double> betas(T);
    for (int t = 0; t < T; ++t) betas[t] = std::min(1.0 - f(t + 1) / f(t), max_beta);
    return from_betas(betas);
  }

  static NoiseSchedule by_name(const std::string& name, int T) {
    if (name == "linear") return linear(T);
    if (name == "cosine") return cosine(T);
    throw tinydiff::Error("NoiseSchedule: unknown schedule '" + name + "' (linear or cosine)");
  }

  // Signal-to-noise ratio abar / (1 - abar).
  double snr(int t) const { return abar(t) / (1.0 - abar(t)); }
};

// Per-sample coefficients c[t_i] as a [B, 1, 1, 1] tensor, to scale a batch of images.
inline Tensor per_sample(const std::vector<int>& t, const std::vector<double>& values_by_t) {
  Tensor c = Tensor::empty({static_cast<int64_t>(t.size()), 1, 1, 1});
  for (size_t i = 0; i < t.size(); ++i) c.data()[i] = static_cast<float>(values_by_t[t[i]]);
  return c;
}
template <typename F>
Tensor per_sample(const std::vector<int>& t, F value_of_t) {
  Tensor c = Tensor::empty({static_cast<int64_t>(t.size()), 1, 1, 1});
  for (size_t i = 0; i < t.size(); ++i) c.data()[i] = static_cast<float>(value_of_t(t[i]));
  return c;
}

// x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps: a draw from q(x_t | x_0) given the noise eps.
inline Tensor q_sample(const NoiseSchedule& s, const Tensor& x0, const std::vector<int>& t, const Tensor& eps) {
  const Tensor a = per_sample(t, [&](int k) { return std::sqrt(s.abar(k)); });
  const Tensor b = per_sample(t, [&](int k) { return std::sqrt(1.0 - s.abar(k)); });
  return a * x0 + b * eps;
}

// v = sqrt(abar) eps - sqrt(1 - abar) x_0 (Salimans & Ho, 2022), and the conversions back:
//   x_0 = sqrt(abar) x_t - sqrt(1 - abar) v,   eps = sqrt(1 - abar) x_t + sqrt(abar) v.
inline Tensor v_target(const NoiseSchedule& s, const Tensor& x0, const std::vector<int>& t, const Tensor& eps) {
  const Tensor a = per_sample(t, [&](int k) { return std::sqrt(s.abar(k)); });
  const Tensor b = per_sample(t, [&](int k) { return std::sqrt(1.0 - s.abar(k)); });
  return a * eps - b * x0;
}

// From the network's output at x_t, the implied noise eps and clean image x_0.
//   epsilon prediction: x_0 = (x_t - sqrt(1 - abar) eps) / sqrt(abar)
struct Denoised {
  Tensor eps, x0;
};
inline Denoised split_prediction(const NoiseSchedule& s, Prediction kind, const Tensor& x_t,
                                 const std::vector<int>& t, const Tensor& output) {
  const Tensor a = per_sample(t, [&](int k) { return std::sqrt(s.abar(k)); });
  const Tensor b = per_sample(t, [&](int k) { return std::sqrt(1.0 - s.abar(k)); });
  if (kind == Prediction::Epsilon) return {output, (x_t - b * output) / a};
  return {b * x_t + a * output, a * x_t - b * output};
}

// Min-SNR-gamma loss weights (Hang et al., 2023), per sample:
//   epsilon target: min(snr, gamma) / snr;   v target: min(snr, gamma) / (snr + 1).
inline std::vector<double> min_snr_weights(const NoiseSchedule& s, Prediction kind, const std::vector<int>& t,
                                           double gamma) {
  std::vector<double> w;
  for (int k : t) {
    const double snr = s.snr(k);
    w.push_back(std::min(snr, gamma) / (kind == Prediction::Epsilon ? snr : snr + 1.0));
  }
  return w;
}

// Per-sample values v_i as a [B, 1, 1, 1] tensor, to scale a batch of images or losses.
inline Tensor batch_column(const std::vector<double>& values) {
  Tensor c = Tensor::empty({static_cast<int64_t>(values.size()), 1, 1, 1});
  for (size_t i = 0; i < values.size(); ++i) c.data()[i] = static_cast<float>(values[i]);
  return c;
}

// What the network learns to predict, and how the timesteps are weighted.
struct LossOptions {
  Prediction prediction = Prediction::Epsilon;
  double min_snr_gamma = 0.0;  // 0: plain MSE
};

// The loss of Algorithm 1 (Ho et al. 2020) on a batch of clean images x_0, given the drawn
// timesteps t ~ Uniform{0, ..., T-1} and noise eps ~ N(0, I):
//   x_t  = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps
//   loss = mean_i  w_i || target_i - model(x_t, t, y)_i ||^2
// with target eps (or v), and w_i = 1 (or the min-SNR-gamma weight of t_i). `labels` are the
// class labels y (empty for an unconditional model).
inline Tensor diffusion_loss(UNet& model, const NoiseSchedule& s, const LossOptions& opt, const Tensor& x0,
                             const std::vector<int>& t, const Tensor& eps, const std::vector<int64_t>& labels) {
  const Tensor x_t = q_sample(s, x0, t, eps);
  const Tensor target = opt.prediction == Prediction::Epsilon ? eps : v_target(s, x0, t, eps);
  const Tensor prediction = model.forward(x_t, t, labels);
  if (opt.min_snr_gamma <= 0) return tinydiff::mse_loss(prediction, target);
  const Tensor w = batch_column(min_snr_weights(s, opt.prediction, t, opt.min_snr_gamma));
  return tinydiff::mean(w * tinydiff::mse_loss(prediction, target, tinydiff::Reduction::None));
}

}  // namespace ddpm
