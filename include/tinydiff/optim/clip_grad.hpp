#pragma once
/// @file
/// Gradient clipping, as torch.nn.utils.clip_grad_norm_ / clip_grad_value_.
///
///     total = (sum over all gradient elements |g|^q)^(1/q)   (max |g| for q = inf)
///     coef  = max_norm / (total + 1e-6);  if coef < 1: every gradient *= coef
/// Returns total, the norm before clipping. Parameters without a gradient are skipped.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/ops/map.hpp"

namespace tinydiff::optim {

/// Scales every gradient down so that their total norm is at most `max_norm`.
/// @param parameters  the tensors whose .grad() is clipped (e.g. module.parameters())
/// @param max_norm    the largest total norm left
/// @param norm_type   q of the q-norm; INFINITY for the largest |g|
/// @return the total norm before clipping (log it: a spike shows a diverging run)
inline float clip_grad_norm_(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0) {
  tinydiff::detail::check_defined_list("clip_grad_norm_", "parameters", parameters);
  TD_CHECK(norm_type > 0.0, "clip_grad_norm_", "norm_type must be positive, got ", norm_type);
  const bool inf = std::isinf(norm_type);
  std::vector<Tensor> grads;
  for (const Tensor& p : parameters)
    if (p.grad().defined()) grads.push_back(p.grad());
  double total = 0.0;
  for (const Tensor& g : grads) {
    const float* d = g.data();
    const int64_t n = g.numel();
    double acc = 0.0;
    if (inf) {
      for (int64_t i = 0; i < n; ++i) acc = std::max(acc, static_cast<double>(std::fabs(d[i])));
      total = std::max(total, acc);
    } else if (norm_type == 2.0) {
#pragma omp parallel for reduction(+ : acc) schedule(static) if (n > tinydiff::detail::kParallelGrain)
      for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(d[i]) * d[i];
      total += acc;
    } else {
#pragma omp parallel for reduction(+ : acc) schedule(static) if (n > tinydiff::detail::kParallelGrain)
      for (int64_t i = 0; i < n; ++i) acc += std::pow(std::fabs(static_cast<double>(d[i])), norm_type);
      total += acc;
    }
  }
  if (!inf) total = std::pow(total, 1.0 / norm_type);
  const double coef = max_norm / (total + 1e-6);
  if (coef < 1.0) {
    const auto scale = static_cast<float>(coef);
    for (const Tensor& g : grads) {
      float* d = g.data();
      const int64_t n = g.numel();
#pragma omp parallel for schedule(static) if (n > tinydiff::detail::kParallelGrain)
      for (int64_t i = 0; i < n; ++i) d[i] *= scale;
    }
  }
  return static_cast<float>(total);
}
/// The same without the trailing underscore (it still clips in place).
inline float clip_grad_norm(const std::vector<Tensor>& parameters, double max_norm, double norm_type = 2.0) {
  return clip_grad_norm_(parameters, max_norm, norm_type);
}

/// Clamps every gradient element to [-clip_value, clip_value].
inline void clip_grad_value_(const std::vector<Tensor>& parameters, double clip_value) {
  tinydiff::detail::check_defined_list("clip_grad_value_", "parameters", parameters);
  TD_CHECK(clip_value >= 0.0, "clip_grad_value_", "clip_value must be >= 0, got ", clip_value);
  const auto c = static_cast<float>(clip_value);
  for (const Tensor& p : parameters) {
    if (!p.grad().defined()) continue;
    float* d = p.grad().data();
    for (int64_t i = 0, n = p.grad().numel(); i < n; ++i) d[i] = std::min(std::max(d[i], -c), c);
  }
}

}  // namespace tinydiff::optim
