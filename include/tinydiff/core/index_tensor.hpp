#pragma once
// IndexTensor: int64 indices with a shape (row-major), what argmax / max(x, dim) return and what
// index-taking ops (gather, index_select, embedding, nll / cross_entropy labels) accept.
//
// tinydiff tensors hold float32, which counts exactly only up to 2^24, so indices are kept apart
// as int64: `.data` is a plain std::vector<int64_t>. to_tensor() gives them as floats, e.g. to
// compare with labels: mean(eq(argmax(logits, 1).to_tensor(), labels)) is the accuracy.
#include <cstdint>
#include <vector>

#include "tinydiff/core/tensor.hpp"

namespace tinydiff {

struct IndexTensor {
  Shape shape;
  std::vector<int64_t> data;

  IndexTensor() = default;
  IndexTensor(Shape shape_, std::vector<int64_t> data_) : shape(std::move(shape_)), data(std::move(data_)) {
    TD_CHECK(shape_numel(shape) == static_cast<int64_t>(data.size()), "IndexTensor", "shape ", shape_str(shape),
             " holds ", shape_numel(shape), " indices, but ", data.size(), " were given");
  }
  // A 1-d IndexTensor of the given indices, e.g. IndexTensor::of({3, 1, 4}).
  static IndexTensor of(std::vector<int64_t> values) {
    Shape s{static_cast<int64_t>(values.size())};
    return IndexTensor(std::move(s), std::move(values));
  }

  int64_t numel() const { return static_cast<int64_t>(data.size()); }
  int64_t dim() const { return static_cast<int64_t>(shape.size()); }
  // The indices as a float tensor of the same shape (exact below 2^24).
  Tensor to_tensor() const {
    Tensor t = Tensor::empty(shape);
    for (size_t i = 0; i < data.size(); ++i) t.data()[i] = static_cast<float>(data[i]);
    return t;
  }
};

}  // namespace tinydiff
