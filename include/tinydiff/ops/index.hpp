#pragma once
/// @file
/// Ops that read x at integer indices given as an IndexTensor (core/index_tensor.hpp):
/// gather (torch.gather) and index_select with an IndexTensor (the std::vector overload is in
/// ops/shape_ops.hpp). The indices get no gradient; x's gradient is g scattered back to where
/// each element was read, summed where an index repeats.
#include <cstdint>
#include <initializer_list>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/core/index_tensor.hpp"
#include "tinydiff/ops/shape_ops.hpp"

namespace tinydiff {

/// out[i][j][k] = x[index[i][j][k]][j][k] (dim 0), x[i][index[i][j][k]][k] (dim 1), ... as
/// torch.gather: index has x's rank, out has index's shape, and along every dim but `dim`
/// index may not be larger than x. Each index lies in [0, x.size(dim)).
///
///     dx = zeros(x.shape) with g[p] added at the element out[p] was read from (scatter-add).
inline Tensor gather(const Tensor& x, int64_t dim, const IndexTensor& index) {
  detail::check_defined("gather", "input", x);
  // A 0-d x or index acts as a one-element vector, as in PyTorch.
  const Shape xs = x.dim() == 0 ? Shape{1} : x.shape();
  const Shape is = index.dim() == 0 ? Shape{1} : index.shape;
  const auto rank = static_cast<int64_t>(xs.size());
  const int64_t d = normalize_dim(dim, rank, "gather");
  TD_CHECK(index.dim() == x.dim(), "gather", "index of shape ", shape_str(index.shape),
           " must have the rank of the input, of shape ", shape_str(x.shape()));
  for (int64_t k = 0; k < rank; ++k)
    TD_CHECK(k == d || is[k] <= xs[k], "gather", "index of shape ", shape_str(index.shape),
             " is larger than the input, of shape ", shape_str(x.shape()), ", at dim ", k,
             " (only the gathered dim ", dim, " may be larger)");
  // src[p]: the flat position in x that out[p] reads.
  const std::vector<int64_t> x_strides = contiguous_strides(xs);
  std::vector<int64_t> src(static_cast<size_t>(index.numel()));
  std::vector<int64_t> c(static_cast<size_t>(rank), 0);  // index coordinates of p
  for (int64_t p = 0; p < index.numel(); ++p) {
    const int64_t i = index.data[static_cast<size_t>(p)];
    TD_CHECK(i >= 0 && i < xs[d], "gather", "index ", i, " at position ", p, " is out of range [0, ", xs[d],
             ") for dim ", dim, " of shape ", shape_str(x.shape()));
    int64_t offset = 0;
    for (int64_t k = 0; k < rank; ++k) offset += (k == d ? i : c[k]) * x_strides[k];
    src[static_cast<size_t>(p)] = offset;
    for (int64_t k = rank - 1; k >= 0 && ++c[k] == is[k]; --k) c[k] = 0;
  }
  Tensor y = Tensor::empty(index.shape);
  for (size_t p = 0; p < src.size(); ++p) y.data()[p] = x.data()[src[p]];
  record_op(y, "gather", {x}, [x_shape = x.shape(), src](const Tensor& g, const std::vector<bool>&) {
    Tensor dx = zeros(x_shape);
    for (size_t p = 0; p < src.size(); ++p) dx.data()[src[p]] += g.data()[p];  // serial: indices repeat
    return std::vector<Tensor>{dx};
  });
  return y;
}

/// index_select with a 1-d (or 0-d, one index) IndexTensor, as torch.index_select: picks
/// entries `index` along `dim`.  dx = g scattered back, summed where an index repeats.
inline Tensor index_select(const Tensor& x, int64_t dim, const IndexTensor& index) {
  detail::check_defined("index_select", "input", x);
  TD_CHECK(index.dim() <= 1, "index_select", "index must be 1-d (or 0-d), got shape ", shape_str(index.shape),
           " for dim ", dim, " of shape ", shape_str(x.shape()));
  return index_select(x, dim, index.data);
}
/// A braced list, e.g. index_select(x, 0, {2, 0}) or {}: the std::vector overload (without this
/// one, {} would be ambiguous between std::vector and IndexTensor).
inline Tensor index_select(const Tensor& x, int64_t dim, std::initializer_list<int64_t> indices) {
  return index_select(x, dim, std::vector<int64_t>(indices));
}

}  // namespace tinydiff
