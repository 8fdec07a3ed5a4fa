#pragma once
// exp for float that compilers vectorise: no calls, no branches.
//
// Cephes' expf: write x = n ln2 + r with |r| <= ln2/2 (n = round(x / ln2)),
// approximate e^r by a degree-5 polynomial (relative error ~1e-7, about one
// float ulp), and scale by 2^n by building the float's exponent bits.
// std::exp is a library call per element; in a loop over a tensor this one
// becomes a handful of AVX-512 instructions per 16 elements, which is what
// makes silu and sigmoid cheap.
#include <cstdint>
#include <cstring>

namespace tinydiff::kernels {

inline float fast_exp(float x_in) {
  // Beyond these limits e^x over- or underflows float: the result is +inf above
  // and 0 below (where std::exp would still give denormals). Clamping keeps the
  // bit trick valid; the selects at the end restore the limits.
  constexpr float kHigh = 88.3762626647949f, kLow = -87.3365447504019f;
  float x = x_in > kHigh ? kHigh : x_in;
  x = x < kLow ? kLow : x;
  // n = round(x / ln2): adding and subtracting 1.5 * 2^23 rounds to an integer in
  // float arithmetic (std::floor/round would be library calls, not vector code).
  const float shifter = 12582912.0f;
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  // r = x - n ln2, with ln2 split in two so the product stays exact
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // 2^n: n + 127 in the exponent field
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float result = p * scale;
  return x_in > kHigh ? __builtin_inff() : (x_in < kLow ? 0.0f : result);
}

// 1 / (1 + e^-x), branch-free.
inline float fast_sigmoid(float x) { return 1.0f / (1.0f + fast_exp(-x)); }

}  // namespace tinydiff::kernels
