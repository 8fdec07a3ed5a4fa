#pragma once
/// @file
/// Comparisons: eq ne lt le gt ge, tensor with tensor (NumPy broadcasting) or with a scalar.
///
/// tinydiff tensors are float32 only, so a comparison returns a float tensor of 0s and 1s
/// (PyTorch returns bool): a mask that where, masked_fill, mul (x * mask) and mean (the
/// fraction that holds) take as it is. A comparison is a step function, so it has no
/// gradient: its result never requires grad, whatever its inputs do. NaN compares as IEEE
/// says: unequal to everything, itself included (ne gives 1, every other comparison 0).
#include <functional>

#include "tinydiff/ops/binary.hpp"
#include "tinydiff/ops/map.hpp"

namespace tinydiff {

namespace detail {
template <typename Cmp>
Tensor compare(const Tensor& a, const Tensor& b, const char* op, Cmp cmp) {
  check_defined(op, "input", a, "other", b);
  return broadcast_map(a, b, op, [cmp](float u, float v) { return cmp(u, v) ? 1.0f : 0.0f; });
}
template <typename Cmp>
Tensor compare(const Tensor& x, float s, const char* op, Cmp cmp) {
  check_defined(op, "input", x);
  return map(x, [cmp, s](float v) { return cmp(v, s) ? 1.0f : 0.0f; });
}
}  // namespace detail

/// 1 where a == b, else 0.
inline Tensor eq(const Tensor& a, const Tensor& b) { return detail::compare(a, b, "eq", std::equal_to<float>()); }
inline Tensor eq(const Tensor& x, float s) { return detail::compare(x, s, "eq", std::equal_to<float>()); }
/// 1 where a != b, else 0.
inline Tensor ne(const Tensor& a, const Tensor& b) { return detail::compare(a, b, "ne", std::not_equal_to<float>()); }
inline Tensor ne(const Tensor& x, float s) { return detail::compare(x, s, "ne", std::not_equal_to<float>()); }
/// 1 where a < b, else 0.
inline Tensor lt(const Tensor& a, const Tensor& b) { return detail::compare(a, b, "lt", std::less<float>()); }
inline Tensor lt(const Tensor& x, float s) { return detail::compare(x, s, "lt", std::less<float>()); }
/// 1 where a <= b, else 0.
inline Tensor le(const Tensor& a, const Tensor& b) { return detail::compare(a, b, "le", std::less_equal<float>()); }
inline Tensor le(const Tensor& x, float s) { return detail::compare(x, s, "le", std::less_equal<float>()); }
/// 1 where a > b, else 0.
inline Tensor gt(const Tensor& a, const Tensor& b) { return detail::compare(a, b, "gt", std::greater<float>()); }
inline Tensor gt(const Tensor& x, float s) { return detail::compare(x, s, "gt", std::greater<float>()); }
/// 1 where a >= b, else 0.
inline Tensor ge(const Tensor& a, const Tensor& b) { return detail::compare(a, b, "ge", std::greater_equal<float>()); }
inline Tensor ge(const Tensor& x, float s) { return detail::compare(x, s, "ge", std::greater_equal<float>()); }

}  // namespace tinydiff
