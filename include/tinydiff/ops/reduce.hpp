#pragma once
// Reductions: sum and mean over all elements or over given dims (keepdim as PyTorch).
//
// sum over dims D is sum_to the shape with D set to 1; its backward broadcasts
// g back over those dims. mean is sum / count with the same backward scaled.
#include <algorithm>
#include <vector>

#include "tinydiff/ops/binary.hpp"
#include "tinydiff/ops/shape_ops.hpp"

namespace tinydiff {

namespace detail {
struct ReducedShapes {
  Shape keep;  // x's shape with the reduced dims set to 1
  Shape out;   // the result's shape (keep, or keep without those dims)
  int64_t count = 1;  // elements summed into each output
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

// Sum of all elements: a 0-d tensor.  dx = g broadcast to x's shape.
inline Tensor sum(const Tensor& x) {
  Tensor y = Tensor::empty({});
  kernels::sum_to(x.data(), x.shape(), y.data(), Shape(x.shape().size(), 1));
  record_op(y, "sum", {x}, [x_shape = x.shape()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{broadcast_to(reshape(g, Shape(x_shape.size(), 1)), x_shape)};
  });
  return y;
}

// Sum over `dims`; keepdim keeps them as size 1.
inline Tensor sum(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false) {
  TD_CHECK(!dims.empty(), "sum", "no dims given for shape ", shape_str(x.shape()), "; use sum(x) to sum everything");
  const auto r = detail::reduced_shapes(x.shape(), dims, keepdim, "sum");
  Tensor y = Tensor::empty(r.out);
  kernels::sum_to(x.data(), x.shape(), y.data(), r.keep);
  record_op(y, "sum", {x}, [r, x_shape = x.shape()](const Tensor& g, const std::vector<bool>&) {
    return std::vector<Tensor>{broadcast_to(reshape(g, r.keep), x_shape)};
  });
  return y;
}

// Mean of all elements: a 0-d tensor.  dx = g / numel.
inline Tensor mean(const Tensor& x) {
  TD_CHECK(x.numel() > 0, "mean", "mean of an empty tensor of shape ", shape_str(x.shape()));
  return div(sum(x), static_cast<float>(x.numel()));
}

// Mean over `dims`.  dx = g / count, broadcast.
inline Tensor mean(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim = false) {
  const auto r = detail::reduced_shapes(x.shape(), dims, keepdim, "mean");
  TD_CHECK(r.count > 0, "mean", "mean over empty dims of shape ", shape_str(x.shape()));
  return div(sum(x, dims, keepdim), static_cast<float>(r.count));
}

}  // namespace tinydiff
