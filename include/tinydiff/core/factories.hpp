#pragma once
/// @file
/// Tensor factories: zeros, ones, full, arange, linspace, eye, rand, randn, randint, randperm,
/// and tensors from data.
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "tinydiff/core/check_defined.hpp"
#include "tinydiff/core/checked.hpp"
#include "tinydiff/core/generator.hpp"
#include "tinydiff/core/index_tensor.hpp"
#include "tinydiff/core/tensor.hpp"

namespace tinydiff {

/// A tensor of `shape` whose values are not set (fill it before reading it).
inline Tensor empty(const Shape& shape) { return Tensor::empty(shape); }

/// A new tensor of `shape` with every element `value`, as torch.full; zeros and ones are full with 0 and 1.
/// @param shape  the sizes, e.g. {64, 2}; {} is a 0-d tensor (one element)
/// @param value  the value of every element
/// @return a leaf tensor that does not require grad (call requires_grad_() on it to learn it)
inline Tensor full(const Shape& shape, float value) {
  Tensor t = Tensor::empty(shape);
  float* p = t.data();
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) p[i] = value;
  return t;
}
/// A new tensor of `shape` filled with 0.
inline Tensor zeros(const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  if (t.numel()) std::memset(t.data(), 0, sizeof(float) * static_cast<size_t>(t.numel()));
  return t;
}
/// A new tensor of `shape` filled with 1.
inline Tensor ones(const Shape& shape) { return full(shape, 1.0f); }
/// zeros, ones, full with the shape of `t` (a new tensor: `t` is only read for its shape).
inline Tensor zeros_like(const Tensor& t) {
  detail::check_defined("zeros_like", "input", t);
  return zeros(t.shape());
}
inline Tensor ones_like(const Tensor& t) {
  detail::check_defined("ones_like", "input", t);
  return ones(t.shape());
}
inline Tensor full_like(const Tensor& t, float value) {
  detail::check_defined("full_like", "input", t);
  return full(t.shape(), value);
}

/// A 0-d tensor holding one value (shape []).
inline Tensor scalar_tensor(float value) { return full({}, value); }

/// [start, start + step, ...) up to but excluding `end`, as torch.arange.
inline Tensor arange(double start, double end, double step = 1.0) {
  TD_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(step), "arange",
           "start, end and step must be finite, got start ", start, ", end ", end, ", step ", step);
  TD_CHECK(step != 0.0, "arange", "step must be non-zero");
  TD_CHECK((end - start) * step >= 0.0, "arange", "range [", start, ", ", end, ") is empty for step ", step);
  // The count is computed in double; it must be a count that int64 holds before it is cast.
  const double count = std::ceil((end - start) / step);
  TD_CHECK(detail::is_int64_count(count), "arange", "range [", start, ", ", end, ") with step ", step, " has ",
           count, " elements, too many for a tensor");
  const auto n = static_cast<int64_t>(count);
  Tensor t = Tensor::empty({n});
  for (int64_t i = 0; i < n; ++i) t.data()[i] = static_cast<float>(start + static_cast<double>(i) * step);
  return t;
}
inline Tensor arange(double end) { return arange(0.0, end, 1.0); }

/// `steps` values from start to end inclusive, evenly spaced, as torch.linspace. Computed as
/// PyTorch's kernel does, in float: start + i * step for the first half, end - (steps - 1 - i) *
/// step for the second, so both ends are exact.
inline Tensor linspace(double start, double end, int64_t steps) {
  TD_CHECK(steps >= 0, "linspace", "steps must be non-negative, got ", steps);
  TD_CHECK(std::isfinite(start) && std::isfinite(end), "linspace", "start and end must be finite, got start ", start,
           ", end ", end);
  Tensor t = Tensor::empty({steps});
  float* p = t.data();
  const auto first = static_cast<float>(start), last = static_cast<float>(end);
  if (steps == 1) p[0] = first;
  if (steps <= 1) return t;
  const float step = (last - first) / static_cast<float>(steps - 1);
  const int64_t halfway = steps / 2;
  for (int64_t i = 0; i < steps; ++i)
    p[i] = i < halfway ? first + step * static_cast<float>(i) : last - step * static_cast<float>(steps - 1 - i);
  return t;
}

/// The n x m identity: ones on the main diagonal, zeros elsewhere (m = -1: square), as torch.eye.
inline Tensor eye(int64_t n, int64_t m = -1) {
  if (m == -1) m = n;
  TD_CHECK(n >= 0 && m >= 0, "eye", "sizes must be non-negative, got n = ", n, ", m = ", m);
  Tensor t = zeros({n, m});
  for (int64_t i = 0; i < n && i < m; ++i) t.data()[i * m + i] = 1.0f;
  return t;
}

/// Uniform [0, 1) samples from `gen` (the default generator when null).
inline Tensor rand(const Shape& shape, Generator* gen = nullptr) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape);
  float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = g.uniform();
  return t;
}

/// Standard normal samples, as torch.randn.
/// @param shape  the sizes of the result
/// @param gen    the generator to draw from; null: the default one, seeded by manual_seed()
/// @return a new tensor of `shape`, N(0, 1) in every element
inline Tensor randn(const Shape& shape, Generator* gen = nullptr) {
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape);
  float* p = t.data();
  for (int64_t i = 0, n = t.numel(); i < n; ++i) p[i] = static_cast<float>(g.normal());
  return t;
}

/// Uniform integers in [low, high) stored as floats. As in PyTorch for float32, low and high
/// must lie within [-2^24, 2^24], where float32 holds every integer exactly (this also keeps
/// high - low far from overflowing).
inline Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* gen = nullptr) {
  constexpr int64_t kExactLimit = int64_t{1} << 24;
  TD_CHECK(high > low, "randint", "empty range [", low, ", ", high, ")");
  TD_CHECK(low >= -kExactLimit && high <= kExactLimit, "randint", "range [", low, ", ", high,
           ") must lie within [", -kExactLimit, ", ", kExactLimit, "], where float32 holds every integer exactly");
  Generator& g = gen ? *gen : default_generator();
  Tensor t = Tensor::empty(shape);
  float* p = t.data();
  const auto range = static_cast<uint64_t>(high - low);
  for (int64_t i = 0, n = t.numel(); i < n; ++i)
    p[i] = static_cast<float>(low + static_cast<int64_t>(g.uniform_int(range)));
  return t;
}

/// A random permutation of 0 .. n-1 as an IndexTensor, as torch.randperm: Fisher-Yates with
/// `gen` (the default generator when null), so one seed gives one permutation on every platform
/// (not PyTorch's: the generators differ).
inline IndexTensor randperm(int64_t n, Generator* gen = nullptr) {
  TD_CHECK(n >= 0, "randperm", "n must be non-negative, got ", n);
  Generator& g = gen ? *gen : default_generator();
  std::vector<int64_t> values(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) values[static_cast<size_t>(i)] = i;
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(values[static_cast<size_t>(i)], values[g.uniform_int(static_cast<uint64_t>(i) + 1)]);
  return IndexTensor::of(std::move(values));
}

/// A tensor of `shape` holding a copy of `values` (row-major).
inline Tensor tensor(const std::vector<float>& values, const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  TD_CHECK(static_cast<int64_t>(values.size()) == t.numel(), "tensor", values.size(),
           " values cannot fill shape ", shape_str(shape), " (", t.numel(), " elements)");
  if (!values.empty()) std::memcpy(t.data(), values.data(), sizeof(float) * values.size());
  return t;
}
/// A 1-D tensor of `values`.
inline Tensor tensor(const std::vector<float>& values) {
  return tensor(values, {static_cast<int64_t>(values.size())});
}

}  // namespace tinydiff
