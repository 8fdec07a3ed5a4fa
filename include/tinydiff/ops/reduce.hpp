#pragma once
/// @file
/// Reductions: sum and mean over all elements or over given dims (keepdim as PyTorch);
/// var, std, logsumexp and norm over given dims or, when none are given, all of them;
/// cumsum, the running sum along a dim. (max, min, argmax and argmin are in ops/reduce_select.hpp.)
///
/// sum over dims D is sum_to the shape with D set to 1; its backward broadcasts
/// g back over those dims. mean is sum / count with the same backward scaled.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/ops/binary.hpp"
#include "tinydiff/ops/shape_ops.hpp"
#include "tinydiff/ops/unary.hpp"

namespace tinydiff {

namespace detail {
struct ReducedShapes {
  Shape keep;  ///< x's shape with the reduced dims set to 1
  Shape out;   ///< the result's shape (keep, or keep without those dims)
  int64_t count = 1;  ///< elements summed into each output
};

inline ReducedShapes reduced_shapes(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim,
                                    const char* op) {
  const auto rank = static_cast<int64_t>(shape.size());
  std::vector<bool> reduce(shape.size(), false);
  for (int64_t d : dims) {
    const int64_t nd = normalize_dim(d, rank, op);
    TD_CHECK(!reduce[nd], op, "dim ", d, " appears more than once in the reduced dims of shape ", shape_str(shape));
    reduce[nd] = true;
  }
  ReducedShapes r;
  for (int64_t i = 0; i < rank; ++i) {
    r.keep.push_back(reduce[i] ? 1 : shape[i]);
    if (reduce[i]) r.count *= shape[i];
    if (!reduce[i] || keepdim) r.out.push_back(reduce[i] ? 1 : shape[i]);
  }
  return r;
}
}  // namespace detail

/// Sum of all elements: a 0-d tensor.  dx = g broadcast to x's shape.
inline Tensor sum(const Tensor& x) {
  detail::check_defined("sum", "input", x);
  Tensor y = Tensor::empty({});
  kernels::sum_to(x.data(), x.shape(), y.data(), Shape(x.shape().size(), 1));
  record_op(y, "sum", {x}, [x_shape = x.shape()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{broadcast_to(reshape(g, Shape(x_shape.size(), 1)), x_shape)};
  });
  return y;
}

/// Sum over `dims`; keepdim keeps them as size 1.
inline Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false) {
  detail::check_defined("sum", "input", x);
  TD_CHECK(!dims.empty(), "sum", "no dims given for shape ", shape_str(x.shape()), "; use sum(x) to sum everything");
  const auto r = detail::reduced_shapes(x.shape(), dims, keepdim, "sum");
  Tensor y = Tensor::empty(r.out);
  kernels::sum_to(x.data(), x.shape(), y.data(), r.keep);
  record_op(y, "sum", {x}, [r, x_shape = x.shape()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{broadcast_to(reshape(g, r.keep), x_shape)};
  });
  return y;
}

/// Mean of all elements: a 0-d tensor.  dx = g / numel.
inline Tensor mean(const Tensor& x) {
  detail::check_defined("mean", "input", x);
  TD_CHECK(x.numel() > 0, "mean", "mean of an empty tensor of shape ", shape_str(x.shape()));
  return div(sum(x), static_cast<float>(x.numel()));
}

/// Mean over `dims`.  dx = g / count, broadcast.
inline Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false) {
  detail::check_defined("mean", "input", x);
  const auto r = detail::reduced_shapes(x.shape(), dims, keepdim, "mean");
  TD_CHECK(r.count > 0, "mean", "mean over empty dims of shape ", shape_str(x.shape()));
  return div(sum(x, dims, keepdim), static_cast<float>(r.count));
}

// ---- var, std, logsumexp, norm: `dims` empty means every dim (PyTorch's dim=None) ----
// A 0-d tensor reduces as the one-element vector it is (dim 0 or -1, as PyTorch allows).

namespace detail {
inline std::vector<int64_t> dims_or_all(const Tensor& x, const std::vector<int64_t>& dims) {
  if (!dims.empty()) return dims;
  std::vector<int64_t> all(static_cast<size_t>(x.dim()));
  std::iota(all.begin(), all.end(), int64_t{0});
  return all;
}

/// What var and std share: x minus its mean over the dims, and the sum of its squares / divisor.
struct Spread {
  ReducedShapes r;
  Tensor centered;  ///< x - mean, x's shape
  Tensor var;       ///< the result's shape
  float divisor = 0.0f;
};
inline Spread spread(const Tensor& x, const std::vector<int64_t>& dims, int64_t correction, bool keepdim,
                     const char* op) {
  Spread s;
  const std::vector<int64_t> d = dims_or_all(x, dims);
  s.r = reduced_shapes(x.shape(), d, keepdim, op);
  TD_CHECK(s.r.count > 0, op, "over no elements (dims of size 0 in shape ", shape_str(x.shape()), ")");
  // PyTorch divides by max(N - correction, 0): inf or NaN when correction >= N.
  s.divisor = static_cast<float>(std::max<int64_t>(s.r.count - correction, 0));
  NoGradGuard no_grad;  // the caller records one node
  s.centered = x - mean(x, d, true);
  s.var = sum(s.centered * s.centered, d, keepdim) / s.divisor;
  return s;
}
}  // namespace detail

/// Variance over `dims` with Bessel's correction by default: sum (x - mean)^2 / (N - correction).
///
///     dx = g * 2 (x - mean) / (N - correction)  (the mean's own dependence on x drops out: the
///     centered values sum to 0)
inline Tensor var(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
                  bool keepdim = false) {
  detail::check_defined("var", "input", x);
  if (x.dim() == 0) return var(reshape(x, {1}), dims, correction, false);
  detail::Spread s = detail::spread(x, dims, correction, keepdim, "var");
  // The closure takes the parts it needs, not s.var: the output in its own node would be a cycle.
  record_op(s.var, "var", {x}, [centered = s.centered, keep = s.r.keep, div = s.divisor](const Tensor& g,
                                                                                      const std::vector<bool>&) {
    return std::vector<Tensor>{mul(reshape(g, keep), centered) * (2.0f / div)};
  });
  return s.var;
}

/// Standard deviation, sqrt(var). PyTorch's name, so after `using namespace tinydiff` a call
/// must say tinydiff::std(x) (as LibTorch's torch::std): a bare std(x) is ambiguous with namespace std.  dx = g (x - mean) / ((N - correction) std), and 0 where
/// std = 0 (every value the same), as PyTorch, rather than 0 / 0.
inline Tensor std(const Tensor& x, const std::vector<int64_t>& dims = {}, int64_t correction = 1,
                  bool keepdim = false) {
  detail::check_defined("std", "input", x);
  if (x.dim() == 0) return std(reshape(x, {1}), dims, correction, false);
  detail::Spread s = detail::spread(x, dims, correction, keepdim, "std");
  Tensor y = detail::map(s.var, [](float v) { return std::sqrt(v); });
  record_op(y, "std", {x}, [centered = s.centered, y_keep = reshape(y.detach(), s.r.keep), div = s.divisor](
                              const Tensor& g, const std::vector<bool>&) {
    const Tensor scale = detail::map(reshape(g, y_keep.shape()), y_keep,
                                     [div](float gi, float yi) { return yi == 0.0f ? 0.0f : gi / (div * yi); });
    return std::vector<Tensor>{mul(scale, centered)};
  });
  return y;
}

/// log sum exp over `dims`, stable: with m the max over the dims (0 where it is infinite),
/// y = m + log sum e^(x - m), so nothing overflows.  dx = g e^(x - y) (the softmax over the dims).
inline Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false) {
  detail::check_defined("logsumexp", "input", x);
  if (x.dim() == 0) return logsumexp(reshape(x, {1}), dims, false);
  const std::vector<int64_t> d = detail::dims_or_all(x, dims);
  const auto r = detail::reduced_shapes(x.shape(), d, keepdim, "logsumexp");
  TD_CHECK(r.count > 0, "logsumexp", "over no elements (dims of size 0 in shape ", shape_str(x.shape()), ")");
  Tensor y_keep;
  {
    NoGradGuard no_grad;
    Tensor m = full(r.keep, -std::numeric_limits<float>::infinity());
    const float* px = x.data();
    float* pm = m.data();
    const auto sm = kernels::broadcast_strides(r.keep, x.shape());
    kernels::for_each_broadcast(x.shape(), sm, sm, [&](int64_t o, int64_t i, int64_t) {
      if (px[o] > pm[i] || std::isnan(px[o])) pm[i] = px[o];
    });
    m = detail::map(m, [](float v) { return std::isfinite(v) ? v : 0.0f; });
    y_keep = log(sum(exp(x - m), d, true)) + m;
  }
  Tensor y = detail::copy_of(y_keep);
  y.impl()->shape = r.out;  // the same values, without the kept dims unless keepdim
  record_op(y, "logsumexp", {x}, [x = x.detach(), y_keep, keep = r.keep](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{mul(exp(x - y_keep), reshape(g, keep))};
  });
  return y;
}

/// The 2-norm (Frobenius for a matrix) over `dims`: sqrt(sum x^2).  dx = g x / y, and 0 where
/// y = 0 (x all zeros there), as PyTorch, rather than 0 / 0 = NaN.
inline Tensor norm(const Tensor& x, const std::vector<int64_t>& dims = {}, bool keepdim = false) {
  detail::check_defined("norm", "input", x);
  if (x.dim() == 0) return norm(reshape(x, {1}), dims, false);
  const std::vector<int64_t> d = detail::dims_or_all(x, dims);
  const auto r = detail::reduced_shapes(x.shape(), d, keepdim, "norm");
  Tensor y;
  {
    NoGradGuard no_grad;
    y = sqrt(sum(x * x, d, keepdim));
  }
  record_op(y, "norm", {x}, [x = x.detach(), y_keep = reshape(y.detach(), r.keep)](const Tensor& g,
                                                                                   const std::vector<bool>&) {
    const Tensor scale = detail::map(reshape(g, y_keep.shape()), y_keep,
                                     [](float gi, float yi) { return yi == 0.0f ? 0.0f : gi / yi; });
    return std::vector<Tensor>{mul(x, scale)};
  });
  return y;
}

// ---- cumsum ----

namespace detail {
/// Running sums along the middle dim of [outer, size, inner], from the front or (reverse) the
/// back, accumulated in double as PyTorch's CPU kernel does.
inline void running_sum(const float* in, float* out, const AroundDim& a, bool reverse) {
  for (int64_t o = 0; o < a.outer; ++o)
    for (int64_t i = 0; i < a.inner; ++i) {
      double total = 0.0;
      for (int64_t s = 0; s < a.size; ++s) {
        const int64_t k = reverse ? a.size - 1 - s : s;
        const int64_t at = (o * a.size + k) * a.inner + i;
        total += in[at];
        out[at] = static_cast<float>(total);
      }
    }
}
}  // namespace detail

/// y_k = x_0 + ... + x_k along `dim`.  dx_k = g_k + ... + g_last (the running sum from the back).
inline Tensor cumsum(const Tensor& x, int64_t dim) {
  detail::check_defined("cumsum", "input", x);
  const Shape shape = x.dim() == 0 ? Shape{1} : x.shape();  // a 0-d tensor takes dim 0 or -1
  const auto a = detail::around_dim(shape, normalize_dim(dim, static_cast<int64_t>(shape.size()), "cumsum"));
  Tensor y = Tensor::empty(x.shape());
  detail::running_sum(x.data(), y.data(), a, false);
  record_op(y, "cumsum", {x}, [a](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = Tensor::empty(g.shape());
    detail::running_sum(g.data(), dx.data(), a, true);
    return std::vector<Tensor>{dx};
  });
  return y;
}

}  // namespace tinydiff
