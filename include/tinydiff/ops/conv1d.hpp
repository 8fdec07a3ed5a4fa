#pragma once
/// @file
/// conv1d, as torch.nn.functional.conv1d: conv2d (ops/conv.hpp) on a plane of height 1.
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/ops/conv.hpp"
#include "tinydiff/ops/shape_ops.hpp"

namespace tinydiff {

/// y = conv1d(x, w, b): x [N, Cin, L], w [Cout, Cin/groups, k], b [Cout] (optional),
/// y [N, Cout, Lout] with Lout = (L + 2 padding - dilation (k - 1) - 1) / stride + 1 and
///
///     y[n, o, i] = b[o] + sum_{c in o's group, a} w[o, c, a] x[n, c, i stride - padding + a dilation]
/// Computed as conv2d of x [N, Cin, 1, L] with w [Cout, Cin/groups, 1, k]; the gradients are conv2d's,
/// reshaped back by unsqueeze's and squeeze's backward.
inline Tensor conv1d(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor(), int64_t stride = 1,
                     int64_t padding = 0, int64_t dilation = 1, int64_t groups = 1) {
  detail::check_defined("conv1d", "input", x, "weight", weight);
  TD_CHECK(x.dim() == 3, "conv1d", "expected input of shape [N, C, L], got ", shape_str(x.shape()));
  TD_CHECK(weight.dim() == 3, "conv1d", "expected weight of shape [out, in/groups, k], got ",
           shape_str(weight.shape()));
  TD_CHECK(groups > 0 && x.size(1) == weight.size(1) * groups, "conv1d", "input shape ", shape_str(x.shape()),
           " has ", x.size(1), " channels but weight shape ", shape_str(weight.shape()), " with groups=", groups,
           " expects ", weight.size(1) * groups);
  TD_CHECK(stride > 0 && padding >= 0 && dilation > 0, "conv1d", "stride ", stride, " and dilation ", dilation,
           " must be positive and padding ", padding, " non-negative");
  TD_CHECK(x.size(2) + 2 * padding >= dilation * (weight.size(2) - 1) + 1, "conv1d", "kernel of size ",
           weight.size(2), " with dilation ", dilation, " is larger than the padded input length ",
           x.size(2) + 2 * padding, " of input of shape ", shape_str(x.shape()));
  Tensor y = conv2d(unsqueeze(x, 2), unsqueeze(weight, 2), bias, Int2(1, stride), Int2(0, padding),
                    Int2(1, dilation), groups);
  return squeeze(y, 2);
}

}  // namespace tinydiff
