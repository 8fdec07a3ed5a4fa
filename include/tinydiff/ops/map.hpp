#pragma once
/// @file
/// Elementwise helpers used by ops: build a new tensor by applying a function to
/// each element of one or two same-shape tensors. No autograd here; ops record
/// their own nodes. Large tensors are split over the OpenMP threads.
#include <cstdint>

#include "tinydiff/core/tensor.hpp"

namespace tinydiff::detail {

/// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;

template <typename F>
Tensor map(const Tensor& x, F f) {
  Tensor y = Tensor::empty(x.shape());
  const float* px = x.data();
  float* py = y.data();
  const int64_t n = x.numel();
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] = f(px[i]);
  return y;
}

template <typename F>
Tensor map(const Tensor& a, const Tensor& b, F f) {
  TD_CHECK(a.shape() == b.shape(), "map", "shapes differ: ", shape_str(a.shape()), " and ", shape_str(b.shape()));
  Tensor y = Tensor::empty(a.shape());
  const float* pa = a.data();
  const float* pb = b.data();
  float* py = y.data();
  const int64_t n = a.numel();
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] = f(pa[i], pb[i]);
  return y;
}

template <typename F>
Tensor map(const Tensor& a, const Tensor& b, const Tensor& c, F f) {
  TD_CHECK(a.shape() == b.shape() && a.shape() == c.shape(), "map", "shapes differ: ", shape_str(a.shape()), ", ",
           shape_str(b.shape()), " and ", shape_str(c.shape()));
  Tensor y = Tensor::empty(a.shape());
  const float* pa = a.data();
  const float* pb = b.data();
  const float* pc = c.data();
  float* py = y.data();
  const int64_t n = a.numel();
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) py[i] = f(pa[i], pb[i], pc[i]);
  return y;
}

}  // namespace tinydiff::detail
