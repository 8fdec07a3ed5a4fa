#pragma once
/// @file
/// data::TensorDataset: samples are the rows (dim 0) of one or more tensors or IndexTensors of
/// the same length, as torch.utils.data.TensorDataset; get(i) gives row i of each, and
/// gather(indices) those rows stacked along a new dim 0 (what DataLoader batches are).
///
///     data::TensorDataset ds({images, IndexTensor::of(labels)});   // images [N, 1, 28, 28]
///     data::Example e = ds.get(3);   e.tensor(0): [1, 28, 28],  e.index(1): shape [] (a scalar)
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/index_tensor.hpp"
#include "tinydiff/core/tensor.hpp"

namespace tinydiff::data {

/// One column of a dataset, sample or batch: float values or int64 indices.
using Column = std::variant<Tensor, IndexTensor>;

/// The columns of one sample or one batch, in the dataset's order.
struct Example {
  std::vector<Column> columns;

  size_t size() const { return columns.size(); }
  /// Column k as a float tensor / as indices; the wrong kind is an error naming both.
  const Tensor& tensor(size_t k) const { return get<Tensor>(k, "a Tensor"); }
  const IndexTensor& index(size_t k) const { return get<IndexTensor>(k, "an IndexTensor"); }

 private:
  template <typename T>
  const T& get(size_t k, const char* kind) const {
    TD_CHECK(k < columns.size(), "data::Example", "column ", k, " requested, but there are ", columns.size());
    const T* value = std::get_if<T>(&columns[k]);
    TD_CHECK(value != nullptr, "data::Example", "column ", k, " is not ", kind);
    return *value;
  }
};
using Batch = Example;  // a batch is an Example whose columns have the batch as dim 0

class TensorDataset {
 public:
  explicit TensorDataset(std::vector<Column> columns) : columns_(std::move(columns)) {
    TD_CHECK(!columns_.empty(), "data::TensorDataset", "needs at least one tensor");
    for (size_t k = 0; k < columns_.size(); ++k)
      if (const Tensor* t = std::get_if<Tensor>(&columns_[k]); t && !t->defined())
        tinydiff::detail::throw_undefined_tensor("data::TensorDataset", tinydiff::detail::concat("column ", k));
    for (size_t k = 0; k < columns_.size(); ++k) {
      const Shape& s = shape_of(columns_[k]);
      TD_CHECK(!s.empty(), "data::TensorDataset", "column ", k, " is a scalar (shape []); samples are rows of dim 0");
      TD_CHECK(s[0] == shape_of(columns_[0])[0], "data::TensorDataset", "size mismatch: column 0 has ",
               shape_of(columns_[0])[0], " rows (shape ", shape_str(shape_of(columns_[0])), ") but column ", k, " has ",
               s[0], " (shape ", shape_str(s), ")");
    }
  }

  int64_t size() const { return shape_of(columns_[0])[0]; }
  size_t num_columns() const { return columns_.size(); }

  /// Row i of every column (dim 0 removed).
  Example get(int64_t i) const {
    TD_CHECK(i >= 0 && i < size(), "data::TensorDataset::get", "index ", i, " is out of range [0, ", size(), ")");
    Example e = gather({i});
    for (Column& c : e.columns) {
      if (Tensor* t = std::get_if<Tensor>(&c)) {
        *t = t->reshape(Shape(t->shape().begin() + 1, t->shape().end()));
      } else {
        IndexTensor& ix = std::get<IndexTensor>(c);
        ix.shape.erase(ix.shape.begin());
      }
    }
    return e;
  }

  /// The rows `indices` of every column, stacked along dim 0 (fresh copies, no autograd: safe to
  /// call from a worker thread).
  Example gather(const std::vector<int64_t>& indices) const {
    const int64_t n = size(), b = static_cast<int64_t>(indices.size());
    for (int64_t i : indices)
      TD_CHECK(i >= 0 && i < n, "data::TensorDataset", "index ", i, " is out of range [0, ", n, ")");
    Example out;
    for (const Column& c : columns_) {
      Shape s = shape_of(c);
      const int64_t row = n > 0 ? shape_numel(s) / n : 0;
      s[0] = b;
      if (const Tensor* t = std::get_if<Tensor>(&c)) {
        Tensor batch = Tensor::empty(s);
        for (int64_t j = 0; j < b; ++j)
          std::memcpy(batch.data() + j * row, t->data() + indices[j] * row, sizeof(float) * static_cast<size_t>(row));
        out.columns.emplace_back(std::move(batch));
      } else {
        const IndexTensor& ix = std::get<IndexTensor>(c);
        std::vector<int64_t> values(static_cast<size_t>(b * row));
        for (int64_t j = 0; j < b; ++j)
          std::copy(ix.data.begin() + indices[j] * row, ix.data.begin() + (indices[j] + 1) * row,
                    values.begin() + j * row);
        out.columns.emplace_back(IndexTensor(s, std::move(values)));
      }
    }
    return out;
  }

 private:
  static const Shape& shape_of(const Column& c) {
    if (const Tensor* t = std::get_if<Tensor>(&c)) return t->shape();
    return std::get<IndexTensor>(c).shape;
  }
  std::vector<Column> columns_;
};

}  // namespace tinydiff::data
