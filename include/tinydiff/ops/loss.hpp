#pragma once
/// @file
/// Losses.
#include <string>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/ops/map.hpp"

namespace tinydiff {

/// How a loss reduces its per-element terms: None keeps them, Mean averages them, Sum adds them.
enum class Reduction { None, Mean, Sum };

/// Mean squared error, as torch.nn.functional.mse_loss (input and target of the same shape).
///
///     l_i = (x_i - t_i)^2;  mean: L = sum_i l_i / N.
///     dL/dx_i = 2 (x_i - t_i) / N * g,  dL/dt_i = -dL/dx_i   (without /N for sum; times g_i for none)
inline Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean) {
  detail::check_defined("mse_loss", "input", input, "target", target);
  TD_CHECK(input.shape() == target.shape(), "mse_loss", "input shape ", shape_str(input.shape()),
           " and target shape ", shape_str(target.shape()), " differ");
  const int64_t n = input.numel();
  Tensor diff = detail::map(input, target, [](float x, float t) { return x - t; });
  Tensor y;
  if (reduction == Reduction::None) {
    y = detail::map(diff, [](float v) { return v * v; });
  } else {
    TD_CHECK(n > 0 || reduction == Reduction::Sum, "mse_loss", "mean over an empty input");
    double total = 0.0;
    const float* pd = diff.data();
#pragma omp parallel for reduction(+ : total) schedule(static) if (n > detail::kParallelGrain)
    for (int64_t i = 0; i < n; ++i) total += static_cast<double>(pd[i]) * pd[i];
    y = scalar_tensor(static_cast<float>(reduction == Reduction::Mean ? total / static_cast<double>(n) : total));
  }
  record_op(y, "mse_loss", {input, target}, [diff, reduction, n](const Tensor& g, const std::vector<bool>& needs) {
    Tensor dx;
    if (reduction == Reduction::None) {
      dx = detail::map(diff, g, [](float d, float gi) { return 2.0f * d * gi; });
    } else {
      const float scale = 2.0f * g.item() / (reduction == Reduction::Mean ? static_cast<float>(n) : 1.0f);
      dx = detail::map(diff, [scale](float d) { return scale * d; });
    }
    Tensor dt;
    if (needs[1]) dt = detail::map(dx, [](float v) { return -v; });
    return std::vector<Tensor>{needs[0] ? dx : Tensor(), dt};
  });
  return y;
}

}  // namespace tinydiff
