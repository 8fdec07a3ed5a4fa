#pragma once
/// @file
/// Reductions that pick an element: max / min along a dim (the values and where they are),
/// over everything, and argmax / argmin.
///
/// Indices come as an IndexTensor (core/index_tensor.hpp: a shape and int64 values), not a
/// Tensor: float32 counts exactly only up to 2^24.
///
/// Ties: along a dim the first index of the extreme is returned (what PyTorch's CPU kernels
/// do, though PyTorch does not promise which), and the gradient goes to that index only. Over
/// everything, max(x) and min(x) split the gradient evenly among the tied elements, as PyTorch
/// does. NaN counts as more extreme than any number, so it propagates as in PyTorch.
#include <cmath>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/core/index_tensor.hpp"
#include "tinydiff/ops/shape_ops.hpp"

namespace tinydiff {

/// What max(x, dim) and min(x, dim) return, as torch.return_types.max.
struct ValuesIndices {
  Tensor values;
  IndexTensor indices;
};

namespace detail {
/// Whether v replaces `best` as the running max (or min): NaN wins and then stays.
inline bool more_extreme(float v, float best, bool is_max) {
  if (std::isnan(best)) return false;
  return std::isnan(v) || (is_max ? v > best : v < best);
}

/// The position of the extreme along `dim` for each output element; the output shape
/// (keepdim or not) in `out_shape`. A 0-d x reduces as a one-element vector (dim 0 or -1).
inline std::vector<int64_t> arg_extreme(const Tensor& x, int64_t dim, bool keepdim, bool is_max, const char* op,
                                        Shape& out_shape) {
  check_defined(op, "input", x);
  const Shape shape = x.dim() == 0 ? Shape{1} : x.shape();
  const int64_t d = normalize_dim(dim, static_cast<int64_t>(shape.size()), op);
  TD_CHECK(shape[d] > 0, op, "dim ", dim, " of shape ", shape_str(x.shape()),
           " has size 0, and a ", op, " over no elements is undefined");
  const auto a = around_dim(shape, d);
  out_shape = x.shape();
  if (x.dim() > 0) {
    if (keepdim) out_shape[d] = 1;
    else out_shape.erase(out_shape.begin() + d);
  }
  std::vector<int64_t> idx(static_cast<size_t>(a.outer * a.inner));
  const float* px = x.data();
  for (int64_t o = 0; o < a.outer; ++o)
    for (int64_t i = 0; i < a.inner; ++i) {
      const float* line = px + o * a.size * a.inner + i;
      int64_t best = 0;
      for (int64_t k = 1; k < a.size; ++k)
        if (more_extreme(line[k * a.inner], line[best * a.inner], is_max)) best = k;
      idx[o * a.inner + i] = best;
    }
  return idx;
}

/// max or min along `dim`, values and indices.  dx = g at each returned index, 0 elsewhere.
inline ValuesIndices extreme_along(const Tensor& x, int64_t dim, bool keepdim, bool is_max, const char* op) {
  ValuesIndices r;
  r.indices.data = arg_extreme(x, dim, keepdim, is_max, op, r.indices.shape);
  const Shape shape = x.dim() == 0 ? Shape{1} : x.shape();
  const auto a = around_dim(shape, normalize_dim(dim, static_cast<int64_t>(shape.size()), op));
  r.values = Tensor::empty(r.indices.shape);
  // The flat position in x of output element j (= o * inner + i) and its index k.
  auto source = [a](int64_t j, int64_t k) { return ((j / a.inner) * a.size + k) * a.inner + j % a.inner; };
  for (int64_t j = 0; j < r.indices.numel(); ++j) r.values.data()[j] = x.data()[source(j, r.indices.data[j])];
  record_op(r.values, op, {x}, [x_shape = x.shape(), idx = r.indices.data, source](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = zeros(x_shape);
    for (size_t j = 0; j < idx.size(); ++j) dx.data()[source(static_cast<int64_t>(j), idx[j])] = g.data()[j];
    return std::vector<Tensor>{dx};
  });
  return r;
}

/// max or min of all elements, a 0-d tensor.  dx = g / (number of ties) at each element equal
/// to the result (NaN matching NaN), 0 elsewhere.
inline Tensor extreme_all(const Tensor& x, bool is_max, const char* op) {
  check_defined(op, "input", x);
  TD_CHECK(x.numel() > 0, op, "a ", op, " over no elements (shape ", shape_str(x.shape()), ") is undefined");
  const float* px = x.data();
  int64_t best = 0;
  for (int64_t k = 1; k < x.numel(); ++k)
    if (more_extreme(px[k], px[best], is_max)) best = k;
  Tensor y = full({}, px[best]);
  record_op(y, op, {x}, [x = x.detach(), v = px[best]](const Tensor& g, const std::vector<bool>&) {
    auto tied = [v](float e) { return e == v || (std::isnan(e) && std::isnan(v)); };
    int64_t ties = 0;
    for (int64_t k = 0; k < x.numel(); ++k) ties += tied(x.data()[k]) ? 1 : 0;
    const float share = g.item() / static_cast<float>(ties);
    Tensor dx = Tensor::empty(x.shape());
    for (int64_t k = 0; k < x.numel(); ++k) dx.data()[k] = tied(x.data()[k]) ? share : 0.0f;
    return std::vector<Tensor>{dx};
  });
  return y;
}
}  // namespace detail

/// The largest value along `dim` and its index (the first among ties); keepdim keeps the dim
/// as size 1 in both.
inline ValuesIndices max(const Tensor& x, int64_t dim, bool keepdim = false) {
  return detail::extreme_along(x, dim, keepdim, true, "max");
}
/// The smallest value along `dim` and its index (the first among ties).
inline ValuesIndices min(const Tensor& x, int64_t dim, bool keepdim = false) {
  return detail::extreme_along(x, dim, keepdim, false, "min");
}
/// The largest element, a 0-d tensor (the gradient shared evenly among ties).
inline Tensor max(const Tensor& x) { return detail::extreme_all(x, true, "max"); }
/// The smallest element, a 0-d tensor (the gradient shared evenly among ties).
inline Tensor min(const Tensor& x) { return detail::extreme_all(x, false, "min"); }

/// The index of the largest value along `dim` (the first among ties).
inline IndexTensor argmax(const Tensor& x, int64_t dim, bool keepdim = false) {
  IndexTensor r;
  r.data = detail::arg_extreme(x, dim, keepdim, true, "argmax", r.shape);
  return r;
}
/// The index of the smallest value along `dim` (the first among ties).
inline IndexTensor argmin(const Tensor& x, int64_t dim, bool keepdim = false) {
  IndexTensor r;
  r.data = detail::arg_extreme(x, dim, keepdim, false, "argmin", r.shape);
  return r;
}
/// The flat (row-major) index of the largest element, as a 0-d IndexTensor.
inline IndexTensor argmax(const Tensor& x) {
  detail::check_defined("argmax", "input", x);
  IndexTensor r;
  r.data = detail::arg_extreme(reshape(x.detach(), {x.numel()}), 0, false, true, "argmax", r.shape);
  return r;
}
/// The flat (row-major) index of the smallest element, as a 0-d IndexTensor.
inline IndexTensor argmin(const Tensor& x) {
  detail::check_defined("argmin", "input", x);
  IndexTensor r;
  r.data = detail::arg_extreme(reshape(x.detach(), {x.numel()}), 0, false, false, "argmin", r.shape);
  return r;
}

}  // namespace tinydiff
