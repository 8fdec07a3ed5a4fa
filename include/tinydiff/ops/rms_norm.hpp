#pragma once
/// @file
/// rms_norm, as torch.nn.functional.rms_norm (torch 2.4), over kernels/rms_norm.hpp.
#include <cfloat>
#include <optional>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/kernels/rms_norm.hpp"
#include "tinydiff/ops/norm.hpp"

namespace tinydiff {

/// RMS norm over the trailing dims `normalized_shape` of x (no mean subtraction, no bias):
///
///     y = x / sqrt(mean(x^2) + eps) * weight        (mean over the normalized dims)
///     dx = rrms (dxhat - xhat mean(dxhat xhat)),  dxhat = g weight,  xhat = x rrms
///     dweight = sum g xhat   (over the leading dims)
/// eps defaults to float32's machine epsilon (torch.finfo(torch.float32).eps), as PyTorch's eps=None.
inline Tensor rms_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                       std::optional<double> eps = std::nullopt) {
  detail::check_normalized_shape("rms_norm", x, normalized_shape);
  const auto k = static_cast<int64_t>(normalized_shape.size());
  const double e = eps ? *eps : static_cast<double>(FLT_EPSILON);
  TD_CHECK(e >= 0.0, "rms_norm", "eps must be non-negative, got ", e);
  detail::check_norm_param(weight, normalized_shape, "rms_norm", "weight", x.shape());
  const int64_t D = shape_numel(normalized_shape);
  int64_t rows = 1;
  for (int64_t d = 0; d < x.dim() - k; ++d) rows *= x.size(d);
  Tensor y = Tensor::empty(x.shape());
  Tensor rrms = Tensor::empty({rows});
  kernels::rms_norm_forward(x.data(), weight.defined() ? weight.data() : nullptr, rows, D, e, y.data(), rrms.data());
  record_op(y, "rms_norm", {x, weight},
            [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), rrms, rows, D, normalized_shape](
                const Tensor& g, const std::vector<bool>& needs) {
              Tensor dx = needs[0] ? Tensor::empty(x.shape()) : Tensor();
              Tensor dw = needs[1] ? Tensor::empty(normalized_shape) : Tensor();
              kernels::rms_norm_backward(g.data(), x.data(), rrms.data(), w.defined() ? w.data() : nullptr, rows, D,
                                         dx.defined() ? dx.data() : nullptr, dw.defined() ? dw.data() : nullptr);
              return std::vector<Tensor>{dx, dw};
            });
  return y;
}

}  // namespace tinydiff
