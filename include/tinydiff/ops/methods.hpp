#pragma once
/// @file
/// Tensor's method forms of the functional ops (t.sum(), t.reshape(...), ...).
#include "tinydiff/ops/binary.hpp"
#include "tinydiff/ops/matmul.hpp"
#include "tinydiff/ops/reduce.hpp"
#include "tinydiff/ops/shape_ops.hpp"
#include "tinydiff/ops/unary.hpp"

namespace tinydiff {

inline Tensor Tensor::reshape(const Shape& shape) const { return tinydiff::reshape(*this, shape); }
inline Tensor Tensor::clone() const { return tinydiff::clone(*this); }
inline Tensor Tensor::sum() const { return tinydiff::sum(*this); }
inline Tensor Tensor::sum(const std::vector<int64_t>& dims, bool keepdim) const {
  return tinydiff::sum(*this, dims, keepdim);
}
inline Tensor Tensor::mean() const { return tinydiff::mean(*this); }
inline Tensor Tensor::mean(const std::vector<int64_t>& dims, bool keepdim) const {
  return tinydiff::mean(*this, dims, keepdim);
}
inline Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const { return tinydiff::transpose(*this, dim0, dim1); }
inline Tensor Tensor::permute(const std::vector<int64_t>& dims) const { return tinydiff::permute(*this, dims); }
inline Tensor Tensor::matmul(const Tensor& other) const { return tinydiff::matmul(*this, other); }
inline Tensor Tensor::pow(float exponent) const { return tinydiff::pow(*this, exponent); }
inline Tensor Tensor::exp() const { return tinydiff::exp(*this); }
inline Tensor Tensor::log() const { return tinydiff::log(*this); }
inline Tensor Tensor::sqrt() const { return tinydiff::sqrt(*this); }
inline Tensor Tensor::abs() const { return tinydiff::abs(*this); }
inline Tensor Tensor::neg() const { return tinydiff::neg(*this); }
inline Tensor Tensor::relu() const { return tinydiff::relu(*this); }
inline Tensor Tensor::sigmoid() const { return tinydiff::sigmoid(*this); }
inline Tensor Tensor::tanh() const { return tinydiff::tanh(*this); }
inline Tensor Tensor::narrow(int64_t dim, int64_t start, int64_t length) const {
  return tinydiff::narrow(*this, dim, start, length);
}

}  // namespace tinydiff
