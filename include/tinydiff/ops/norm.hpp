#pragma once
/// @file
/// Normalisation layers' functional forms: group_norm and layer_norm, as
/// torch.nn.functional, with hand-written backward kernels (kernels/group_norm.hpp,
/// kernels/layer_norm.hpp). The forward saves each group's (row's) mean and rstd.
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/kernels/group_norm.hpp"
#include "tinydiff/kernels/layer_norm.hpp"

namespace tinydiff {

namespace detail {
/// Checks an optional affine parameter (weight or bias) against the expected shape.
inline void check_norm_param(const Tensor& p, const Shape& expected, const char* op, const char* which,
                             const Shape& x_shape) {
  if (!p.defined()) return;
  TD_CHECK(p.shape() == expected, op, which, " of shape ", shape_str(p.shape()), " does not match expected ",
           shape_str(expected), " for input of shape ", shape_str(x_shape));
}

/// Checks that x is defined and that normalized_shape is non-empty and matches x's trailing dims
/// (layer_norm, rms_norm).
inline void check_normalized_shape(const char* op, const Tensor& x, const Shape& normalized_shape) {
  check_defined(op, "input", x);
  const auto k = static_cast<int64_t>(normalized_shape.size());
  bool matches = k >= 1 && x.dim() >= k;
  for (int64_t i = 0; matches && i < k; ++i) matches = x.size(x.dim() - k + i) == normalized_shape[i];
  TD_CHECK(matches, op, "normalized_shape ", shape_str(normalized_shape),
           " must be non-empty and match the trailing dims of input of shape ", shape_str(x.shape()));
}

/// Checks the optional per-channel tensors of x [N, C, *] (batch_norm, instance_norm): each
/// defined one has shape [C].
inline void check_channel_params(const char* op, const Tensor& x, const Tensor& running_mean,
                                 const Tensor& running_var, const Tensor& weight, const Tensor& bias) {
  const Shape channels{x.size(1)};
  check_norm_param(running_mean, channels, op, "running_mean", x.shape());
  check_norm_param(running_var, channels, op, "running_var", x.shape());
  check_norm_param(weight, channels, op, "weight", x.shape());
  check_norm_param(bias, channels, op, "bias", x.shape());
}
}  // namespace detail

/// Group norm over x [N, C, *]: the C channels split into num_groups groups; each
/// (sample, group) is normalised by its own mean and biased variance, then scaled
/// and shifted per channel.
///
///     y = (x - mean) / sqrt(var + eps) * weight[c] + bias[c]
///     dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),  dxhat = g weight[c]   (per group)
///     dweight[c] = sum g xhat,  dbias[c] = sum g   (over the batch and spatial positions)
inline Tensor group_norm(const Tensor& x, int64_t num_groups, const Tensor& weight = Tensor(),
                         const Tensor& bias = Tensor(), double eps = 1e-5) {
  detail::check_defined("group_norm", "input", x);
  TD_CHECK(x.dim() >= 2, "group_norm", "expected input of shape [N, C, *], got ", shape_str(x.shape()));
  const int64_t N = x.size(0), C = x.size(1);
  int64_t S = 1;
  for (int64_t d = 2; d < x.dim(); ++d) S *= x.size(d);
  TD_CHECK(num_groups > 0 && C % num_groups == 0, "group_norm", "num_groups ", num_groups,
           " must be positive and divide the ", C, " channels of input of shape ", shape_str(x.shape()));
  TD_CHECK(eps >= 0.0, "group_norm", "eps must be non-negative, got ", eps);
  detail::check_norm_param(weight, {C}, "group_norm", "weight", x.shape());
  detail::check_norm_param(bias, {C}, "group_norm", "bias", x.shape());
  const int64_t G = num_groups;
  Tensor y = Tensor::empty(x.shape());
  Tensor mean = Tensor::empty({N, G}), rstd = Tensor::empty({N, G});
  kernels::group_norm_forward(x.data(), weight.defined() ? weight.data() : nullptr,
                              bias.defined() ? bias.data() : nullptr, N, C, S, G, eps, y.data(), mean.data(),
                              rstd.data());
  record_op(y, "group_norm", {x, weight, bias},
            [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), mean, rstd, N, C, S, G](
                const Tensor& g, const std::vector<bool>& needs) {
              Tensor dx = needs[0] ? Tensor::empty(x.shape()) : Tensor();
              Tensor dw = needs[1] ? Tensor::empty({C}) : Tensor();
              Tensor db = needs[2] ? Tensor::empty({C}) : Tensor();
              kernels::group_norm_backward(g.data(), x.data(), mean.data(), rstd.data(),
                                           w.defined() ? w.data() : nullptr, N, C, S, G,
                                           dx.defined() ? dx.data() : nullptr, dw.defined() ? dw.data() : nullptr,
                                           db.defined() ? db.data() : nullptr);
              return std::vector<Tensor>{dx, dw, db};
            });
  return y;
}

/// Layer norm over the trailing dims `normalized_shape` of x: each slice over
/// those dims is normalised by its mean and biased variance, then scaled and
/// shifted elementwise by weight and bias (both of shape normalized_shape).
///
///     y = (x - mean) / sqrt(var + eps) * weight + bias
///     dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)),  dxhat = g weight   (per slice)
///     dweight = sum g xhat,  dbias = sum g   (over the leading dims)
inline Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight = Tensor(),
                         const Tensor& bias = Tensor(), double eps = 1e-5) {
  detail::check_normalized_shape("layer_norm", x, normalized_shape);
  const auto k = static_cast<int64_t>(normalized_shape.size());
  TD_CHECK(eps >= 0.0, "layer_norm", "eps must be non-negative, got ", eps);
  detail::check_norm_param(weight, normalized_shape, "layer_norm", "weight", x.shape());
  detail::check_norm_param(bias, normalized_shape, "layer_norm", "bias", x.shape());
  const int64_t D = shape_numel(normalized_shape);
  int64_t outer = 1;
  for (int64_t d = 0; d < x.dim() - k; ++d) outer *= x.size(d);
  Tensor y = Tensor::empty(x.shape());
  Tensor mean = Tensor::empty({outer}), rstd = Tensor::empty({outer});
  kernels::layer_norm_forward(x.data(), weight.defined() ? weight.data() : nullptr,
                              bias.defined() ? bias.data() : nullptr, outer, D, eps, y.data(), mean.data(),
                              rstd.data());
  record_op(y, "layer_norm", {x, weight, bias},
            [x = x.detach(), w = weight.defined() ? weight.detach() : Tensor(), mean, rstd, outer, D,
             normalized_shape](const Tensor& g, const std::vector<bool>& needs) {
              Tensor dx = needs[0] ? Tensor::empty(x.shape()) : Tensor();
              Tensor dw = needs[1] ? Tensor::empty(normalized_shape) : Tensor();
              Tensor db = needs[2] ? Tensor::empty(normalized_shape) : Tensor();
              kernels::layer_norm_backward(g.data(), x.data(), mean.data(), rstd.data(),
                                           w.defined() ? w.data() : nullptr, outer, D,
                                           dx.defined() ? dx.data() : nullptr, dw.defined() ? dw.data() : nullptr,
                                           db.defined() ? db.data() : nullptr);
              return std::vector<Tensor>{dx, dw, db};
            });
  return y;
}

}  // namespace tinydiff
