#pragma once
/// @file
/// Embedding lookup, as torch.nn.functional.embedding: rows of a table picked by index.
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <vector>

#include "tinydiff/core/autograd.hpp"
#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/factories.hpp"
#include "tinydiff/core/index_tensor.hpp"
#include "tinydiff/ops/shape_ops.hpp"

namespace tinydiff {

/// weight [num, dim], indices (len of them, each in [0, num)) -> [len, dim].
///
///     y[j] = weight[indices[j]],  dweight[i] = sum of g[j] over the j with indices[j] = i
/// (a repeated index accumulates; the indices themselves get no gradient).
inline Tensor embedding(const std::vector<int64_t>& indices, const Tensor& weight) {
  detail::check_defined("embedding", "weight", weight);
  TD_CHECK(weight.dim() == 2, "embedding", "expected weight of shape [num_embeddings, dim], got ",
           shape_str(weight.shape()));
  const int64_t num = weight.size(0), dim = weight.size(1), len = static_cast<int64_t>(indices.size());
  for (int64_t j = 0; j < len; ++j)
    TD_CHECK(indices[j] >= 0 && indices[j] < num, "embedding", "index ", indices[j], " at position ", j,
             " is out of range [0, ", num, ") for weight of shape ", shape_str(weight.shape()));
  Tensor y = Tensor::empty({len, dim});
  for (int64_t j = 0; j < len; ++j)
    std::memcpy(y.data() + j * dim, weight.data() + indices[j] * dim, sizeof(float) * static_cast<size_t>(dim));
  record_op(y, "embedding", {weight}, [indices, num, dim](const Tensor& g, const std::vector<bool>&) {
    Tensor dw = zeros({num, dim});
    const int64_t len = static_cast<int64_t>(indices.size());
    for (int64_t j = 0; j < len; ++j) {  // serial: repeated indices add into the same row
      float* row = dw.data() + indices[j] * dim;
      const float* gj = g.data() + j * dim;
      for (int64_t k = 0; k < dim; ++k) row[k] += gj[k];
    }
    return std::vector<Tensor>{dw};
  });
  return y;
}

/// weight [num, dim], indices of any shape S (each in [0, num)) -> [S..., dim], as
/// torch.nn.functional.embedding with an int64 tensor; the lookup and gradient are the ones above.
inline Tensor embedding(const IndexTensor& indices, const Tensor& weight) {
  Tensor rows = embedding(indices.data, weight);  // checks weight's rank and every index
  Shape shape = indices.shape;
  shape.push_back(weight.size(1));
  return reshape(rows, shape);
}
/// A braced list, e.g. embedding({2, 0}, weight) or {}: the std::vector overload (without this
/// one, {} would be ambiguous between std::vector and IndexTensor).
inline Tensor embedding(std::initializer_list<int64_t> indices, const Tensor& weight) {
  return embedding(std::vector<int64_t>(indices), weight);
}

}  // namespace tinydiff
