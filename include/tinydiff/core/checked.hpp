#pragma once
// Checked arithmetic for sizes, and safe conversions of numbers to counts.
//
// Element counts, output sizes and byte counts are products and sums of numbers
// that come from users and from files. Signed overflow is undefined behaviour,
// and a count that wraps allocates too little and is then written past, so
// every size computed from outside input goes through these helpers: they throw
// tinydiff::Error naming the op and the operands instead of overflowing.
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tinydiff/core/error.hpp"

namespace tinydiff::detail {

// Whether a * b fits in int64; if so, stores it in `product`.
inline bool multiply_fits(int64_t a, int64_t b, int64_t& product) { return !__builtin_mul_overflow(a, b, &product); }

// Whether a + b fits in int64; if so, stores it in `sum`.
inline bool add_fits(int64_t a, int64_t b, int64_t& sum) { return !__builtin_add_overflow(a, b, &sum); }

// a * b, or tinydiff::Error "op: <what> overflows int64 (a * b)".
inline int64_t checked_mul(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t product = 0;
  TD_CHECK(multiply_fits(a, b, product), op, what, " overflows int64 (", a, " * ", b, ")");
  return product;
}

// a + b, or tinydiff::Error "op: <what> overflows int64 (a + b)".
inline int64_t checked_add(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t sum = 0;
  TD_CHECK(add_fits(a, b, sum), op, what, " overflows int64 (", a, " + ", b, ")");
  return sum;
}

// a - b, or tinydiff::Error "op: <what> overflows int64 (a - b)".
inline int64_t checked_sub(int64_t a, int64_t b, const char* op, const char* what) {
  int64_t difference = 0;
  TD_CHECK(!__builtin_sub_overflow(a, b, &difference), op, what, " overflows int64 (", a, " - ", b, ")");
  return difference;
}

// Whether the product of the non-zero `factors` fits in int64; if so, stores the product of all
// of them (0 when one is 0) in `product`. Zeros are skipped in the check because an empty
// tensor's strides and index arithmetic are still products of its other sizes.
inline bool product_fits(const std::vector<int64_t>& factors, int64_t& product) {
  int64_t nonzero = 1;
  bool has_zero = false;
  for (int64_t f : factors) {
    if (f == 0)
      has_zero = true;
    else if (!multiply_fits(nonzero, f, nonzero))
      return false;
  }
  product = has_zero ? 0 : nonzero;
  return true;
}

// The product of `factors` (see product_fits), or tinydiff::Error "op: <what> overflows int64 (a * b * c)".
inline int64_t checked_product(const std::vector<int64_t>& factors, const char* op, const char* what) {
  int64_t product = 0;
  if (!product_fits(factors, product)) {
    std::string expression;
    for (size_t i = 0; i < factors.size(); ++i) expression += (i ? " * " : "") + std::to_string(factors[i]);
    throw Error(concat(op, ": ", what, " overflows int64 (", expression, ")"));
  }
  return product;
}

// Whether `value` is a whole number in [0, 2^63), i.e. converts to int64 exactly.
// False for NaN and infinities. (Casting a double outside int64's range is undefined
// behaviour, so counts read from files or computed in floating point are checked
// with this before static_cast<int64_t>.)
inline bool is_int64_count(double value) {
  constexpr double kTwoTo63 = 9223372036854775808.0;  // exact in double; int64's max + 1
  return value >= 0.0 && value < kTwoTo63 && std::floor(value) == value;
}

}  // namespace tinydiff::detail
