#pragma once
/// @file
/// Elementwise losses, as torch.nn.functional: l1_loss, smooth_l1_loss, huber_loss,
/// binary_cross_entropy, binary_cross_entropy_with_logits and kl_div.
///
/// Each is l_i = f(x_i, t_i) over an input x and a target t of the same shape, then reduced:
///
///     none: L = l (x's shape);  sum: L = sum_i l_i;  mean: L = sum_i l_i / n  (n = numel;
///     kl_div's "batchmean": n = x.size(0)).
/// The forward pass also computes both partials dl_i/dx_i and dl_i/dt_i (one pass over the data),
/// so every backward is the same:  dx_i = g_i dl_i/dx_i  (none)  or  g / n dl_i/dx_i  (mean),
/// and likewise for t. The per-loss math sits in a comment above each function.
/// weight / pos_weight broadcast to x's shape and are constants (no gradient, as they would be a
/// fixed class or sample weighting; one that requires grad is refused).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/kernels/broadcast.hpp"
#include "tinydiff/ops/loss.hpp"
#include "tinydiff/ops/map.hpp"

namespace tinydiff {

namespace detail {

/// One element of an elementwise loss: its value and its partials in the input and the target.
struct LossTerm {
  float value, d_input, d_target;
};

/// `w` (undefined: none) broadcast to `shape` as a plain buffer, for per-element weights.
inline Tensor loss_weight(const char* op, const char* what, const Tensor& w, const Shape& shape) {
  if (!w.defined()) return Tensor();
  TD_CHECK(!w.requires_grad(), op, what, " requires grad, but loss weights are constants here (detach it)");
  bool fits = w.dim() <= static_cast<int64_t>(shape.size());
  for (int64_t k = 1; fits && k <= w.dim(); ++k) {
    const int64_t ws = w.shape()[w.dim() - k];
    fits = ws == 1 || ws == shape[shape.size() - k];
  }
  TD_CHECK(fits, op, what, " of shape ", shape_str(w.shape()), " does not broadcast to the input's shape ",
           shape_str(shape));
  Tensor full_w = Tensor::empty(shape);
  kernels::broadcast_copy(w.data(), w.shape(), full_w.data(), shape);
  return full_w;
}

/// The elementwise loss term(i, x_i, t_i) over input and target (same shape), reduced; for mean the
/// sum is divided by `divisor` (the element count when 0). See the top of the file.
template <typename Term>
Tensor pointwise_loss(const char* op, const Tensor& input, const Tensor& target, Reduction reduction, Term term,
                      int64_t divisor = 0) {
  check_defined(op, "input", input, "target", target);
  TD_CHECK(input.shape() == target.shape(), op, "input shape ", shape_str(input.shape()), " and target shape ",
           shape_str(target.shape()), " differ");
  const int64_t n = input.numel();
  if (divisor == 0) divisor = n;
  TD_CHECK(reduction != Reduction::Mean || divisor > 0, op, "mean over an empty input of shape ",
           shape_str(input.shape()));
  const bool grad = GradMode::is_enabled();
  const bool want_dx = grad && input.requires_grad(), want_dt = grad && target.requires_grad();
  Tensor values = Tensor::empty(input.shape());
  Tensor dx = want_dx ? Tensor::empty(input.shape()) : Tensor();
  Tensor dt = want_dt ? Tensor::empty(input.shape()) : Tensor();
  const float* px = input.data();
  const float* pt = target.data();
  float* pv = values.data();
  float* pdx = want_dx ? dx.data() : nullptr;
  float* pdt = want_dt ? dt.data() : nullptr;
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    const LossTerm l = term(i, px[i], pt[i]);
    pv[i] = l.value;
    if (pdx) pdx[i] = l.d_input;
    if (pdt) pdt[i] = l.d_target;
  }
  Tensor y;
  if (reduction == Reduction::None) {
    y = values;
  } else {
    double total = 0.0;
#pragma omp parallel for reduction(+ : total) schedule(static) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) total += pv[i];
    y = scalar_tensor(static_cast<float>(reduction == Reduction::Mean ? total / static_cast<double>(divisor) : total));
  }
  const float scale = reduction == Reduction::Mean ? 1.0f / static_cast<float>(divisor) : 1.0f;
  record_op(y, op, {input, target}, [dx, dt, reduction, scale](const Tensor& g, const std::vector<bool>& needs) {
    auto chain = [&](const Tensor& partial) {
      if (reduction == Reduction::None) return map(partial, g, [](float d, float gi) { return d * gi; });
      const float s = scale * g.item();
      return map(partial, [s](float d) { return d * s; });
    };
    return std::vector<Tensor>{needs[0] ? chain(dx) : Tensor(), needs[1] ? chain(dt) : Tensor()};
  });
  return y;
}

inline float loss_sign(float v) { return v > 0.0f ? 1.0f : (v < 0.0f ? -1.0f : 0.0f); }

}  // namespace detail

/// l_i = |x_i - t_i|  (torch.nn.functional.l1_loss).   dl/dx = sign(x - t) = -dl/dt.
inline Tensor l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean) {
  return detail::pointwise_loss("l1_loss", input, target, reduction, [](int64_t, float x, float t) {
    const float s = detail::loss_sign(x - t);
    return detail::LossTerm{std::fabs(x - t), s, -s};
  });
}

/// d = x - t;  l = d^2 / (2 beta) where |d| < beta, |d| - beta / 2 elsewhere (beta = 0: l1_loss).
///
///     dl/dx = d / beta  or  sign(d);  dl/dt = -dl/dx.
inline Tensor smooth_l1_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                             double beta = 1.0) {
  TD_CHECK(beta >= 0.0, "smooth_l1_loss", "beta must be non-negative, got ", beta);
  const float b = static_cast<float>(beta);
  return detail::pointwise_loss("smooth_l1_loss", input, target, reduction, [b](int64_t, float x, float t) {
    const float d = x - t, ad = std::fabs(d);
    if (ad < b) return detail::LossTerm{0.5f * d * d / b, d / b, -d / b};
    const float s = detail::loss_sign(d);
    return detail::LossTerm{ad - 0.5f * b, s, -s};
  });
}

/// d = x - t;  l = d^2 / 2 where |d| < delta, delta (|d| - delta / 2) elsewhere.
///
///     dl/dx = d  or  delta sign(d);  dl/dt = -dl/dx.   (= delta * smooth_l1_loss with beta = delta)
inline Tensor huber_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean,
                         double delta = 1.0) {
  TD_CHECK(delta > 0.0, "huber_loss", "delta must be positive, got ", delta);
  const float dl = static_cast<float>(delta);
  return detail::pointwise_loss("huber_loss", input, target, reduction, [dl](int64_t, float x, float t) {
    const float d = x - t, ad = std::fabs(d);
    if (ad < dl) return detail::LossTerm{0.5f * d * d, d, -d};
    const float s = dl * detail::loss_sign(d);
    return detail::LossTerm{dl * (ad - 0.5f * dl), s, -s};
  });
}

/// Binary cross entropy of probabilities p in [0, 1] (torch.nn.functional.binary_cross_entropy):
///
///     l = -w (t log p + (1 - t) log(1 - p)),  each log clamped at -100 as PyTorch does (so p = 0 or 1
///     gives a finite loss).
///     dl/dp = w (p - t) / max(p (1 - p), 1e-12);   dl/dt = -w (log p - log(1 - p))  (clamped logs).
inline Tensor binary_cross_entropy(const Tensor& input, const Tensor& target, const Tensor& weight = Tensor(),
                                   Reduction reduction = Reduction::Mean) {
  const char* op = "binary_cross_entropy";
  detail::check_defined(op, "input", input, "target", target);
  const float* px = input.data();
  for (int64_t i = 0, n = input.numel(); i < n; ++i)
    TD_CHECK(px[i] >= 0.0f && px[i] <= 1.0f, op, "input must hold probabilities in [0, 1], got ", px[i],
             " at flat position ", i);
  const Tensor w = detail::loss_weight(op, "weight", weight, input.shape());
  const float* pw = w.defined() ? w.data() : nullptr;
  return detail::pointwise_loss(op, input, target, reduction, [pw](int64_t i, float p, float t) {
    const float wi = pw ? pw[i] : 1.0f;
    const float log_p = std::max(std::log(p), -100.0f), log_q = std::max(std::log1p(-p), -100.0f);
    const float dp = wi * (p - t) / std::max(p * (1.0f - p), 1e-12f);
    return detail::LossTerm{-wi * (t * log_p + (1.0f - t) * log_q), dp, -wi * (log_p - log_q)};
  });
}

/// Binary cross entropy on logits x, i.e. on p = sigmoid(x), without forming p
/// (torch.nn.functional.binary_cross_entropy_with_logits). With pos_weight r (broadcast along the
/// last dim, one per class) and lw = 1 + (r - 1) t:
///
///     l = w ((1 - t) x + lw softplus(-x)),  softplus(-x) = max(-x, 0) + log1p(exp(-|x|))  (stable)
///     dl/dx = w ((1 - t) - lw sigmoid(-x));   dl/dt = w (-x + (r - 1) softplus(-x)).
inline Tensor binary_cross_entropy_with_logits(const Tensor& input, const Tensor& target,
                                               const Tensor& weight = Tensor(), const Tensor& pos_weight = Tensor(),
                                               Reduction reduction = Reduction::Mean) {
  const char* op = "binary_cross_entropy_with_logits";
  detail::check_defined(op, "input", input, "target", target);
  const Tensor w = detail::loss_weight(op, "weight", weight, input.shape());
  const Tensor r = detail::loss_weight(op, "pos_weight", pos_weight, input.shape());
  const float* pw = w.defined() ? w.data() : nullptr;
  const float* pr = r.defined() ? r.data() : nullptr;
  return detail::pointwise_loss(op, input, target, reduction, [pw, pr](int64_t i, float x, float t) {
    const float wi = pw ? pw[i] : 1.0f, ri = pr ? pr[i] : 1.0f;
    const float lw = 1.0f + (ri - 1.0f) * t;
    const float softplus_neg = std::max(-x, 0.0f) + std::log1p(std::exp(-std::fabs(x)));
    const float sigmoid_neg = x >= 0.0f ? std::exp(-x) / (1.0f + std::exp(-x)) : 1.0f / (1.0f + std::exp(x));
    return detail::LossTerm{wi * ((1.0f - t) * x + lw * softplus_neg), wi * ((1.0f - t) - lw * sigmoid_neg),
                            wi * (-x + (ri - 1.0f) * softplus_neg)};
  });
}

/// Kullback-Leibler divergence with `input` log-probabilities (torch.nn.functional.kl_div):
///
///     log_target = false:  l = t (log t - x)  (0 where t = 0);  dl/dx = -t,  dl/dt = log t - x + 1
///     log_target = true:   l = e^t (t - x);                     dl/dx = -e^t, dl/dt = e^t (t - x + 1)
/// reduction: "none", "sum", "mean" (over every element) or "batchmean" (sum / x.size(0), the true
/// KL divergence per sample; PyTorch's default is "mean").
inline Tensor kl_div(const Tensor& input, const Tensor& target, const std::string& reduction = "mean",
                     bool log_target = false) {
  const char* op = "kl_div";
  TD_CHECK(reduction == "none" || reduction == "sum" || reduction == "mean" || reduction == "batchmean", op,
           "reduction must be 'none', 'sum', 'mean' or 'batchmean', got '", reduction, "'");
  detail::check_defined(op, "input", input, "target", target);
  int64_t divisor = 0;
  Reduction r = reduction == "none" ? Reduction::None : reduction == "sum" ? Reduction::Sum : Reduction::Mean;
  if (reduction == "batchmean") {
    TD_CHECK(input.dim() >= 1 && input.size(0) > 0, op, "'batchmean' needs a non-empty batch dim, got shape ",
             shape_str(input.shape()));
    divisor = input.size(0);
  }
  if (log_target)
    return detail::pointwise_loss(op, input, target, r, [](int64_t, float x, float t) {
      const float et = std::exp(t);
      return detail::LossTerm{et * (t - x), -et, et * (t - x + 1.0f)};
    }, divisor);
  return detail::pointwise_loss(op, input, target, r, [](int64_t, float x, float t) {
    const float log_t = std::log(t);
    return detail::LossTerm{t > 0.0f ? t * (log_t - x) : (t == 0.0f ? 0.0f : NAN), -t, log_t - x + 1.0f};
  }, divisor);
}

/// kl_div with a Reduction (mean is over every element, as the string "mean").
inline Tensor kl_div(const Tensor& input, const Tensor& target, Reduction reduction, bool log_target = false) {
  return kl_div(input, target, reduction == Reduction::None ? "none" : reduction == Reduction::Sum ? "sum" : "mean",
                log_target);
}

}  // namespace tinydiff
