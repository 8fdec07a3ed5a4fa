#pragma once
// The generic tier's vector: 4 floats as a GCC/Clang vector extension, which the compiler maps
// to SSE2 on x86-64, NEON on ARM and plain scalar code where there is no vector unit (simd/vec.hpp
// describes the interface every tier provides). Masks are bit sets of lanes; masked loads and
// stores go lane by lane, so they never touch memory outside the mask.
#include <cstdint>
#include <cstring>

#include "tinydiff/simd/isa.hpp"

namespace tinydiff::simd::generic {

constexpr Isa kIsa = Isa::kGeneric;
constexpr int kLanes = 4;
typedef float Vec __attribute__((vector_size(16)));
using Mask = unsigned;  // bit l: lane l

// The GEMM register block: NEON has 32 registers (8 rows x 3 vectors accumulate in 24), SSE2 16
// (6 x 2 in 12).
#if defined(__aarch64__)
constexpr int kGemmRows = 8, kGemmVectors = 3;
#else
constexpr int kGemmRows = 6, kGemmVectors = 2;
#endif

inline Vec zero() { return Vec{0.0f, 0.0f, 0.0f, 0.0f}; }
inline Vec set1(float x) { return Vec{x, x, x, x}; }
inline Vec load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }
// a*b + c: one fused instruction where the compiler contracts it (ARM, or x86 built with FMA).
inline Vec fmadd(Vec a, Vec b, Vec c) { return a * b + c; }
inline Vec max(Vec a, Vec b) {
  Vec out;
  for (int i = 0; i < kLanes; ++i) out[i] = a[i] > b[i] ? a[i] : b[i];
  return out;
}

inline Vec min(Vec a, Vec b) {
  Vec out;
  for (int i = 0; i < kLanes; ++i) out[i] = a[i] < b[i] ? a[i] : b[i];
  return out;
}
inline Vec sqrt(Vec a) {
  Vec out;
  for (int i = 0; i < kLanes; ++i) out[i] = __builtin_sqrtf(a[i]);
  return out;
}
// 2^n for whole numbers n in [-127, 128]: n + 127 in the exponent field (2^-127 gives 0, 2^128 infinity).
inline Vec pow2i(Vec n) {
  Vec out;
  for (int i = 0; i < kLanes; ++i) {
    const int32_t bits = (static_cast<int32_t>(n[i]) + 127) * (1 << 23);
    float f;
    std::memcpy(&f, &bits, sizeof f);
    out[i] = f;
  }
  return out;
}

inline Mask first_lanes(int64_t count) {
  return count <= 0 ? 0u : (count >= kLanes ? (1u << kLanes) - 1u : (1u << count) - 1u);
}
inline Mask lanes_between(int64_t lo, int64_t hi) { return first_lanes(hi) & ~first_lanes(lo); }
inline Vec load(const float* p, Mask m) {
  Vec v = zero();
  for (int i = 0; i < kLanes; ++i)
    if (m >> i & 1u) v[i] = p[i];
  return v;
}
inline void store(float* p, Vec v, Mask m) {
  for (int i = 0; i < kLanes; ++i)
    if (m >> i & 1u) p[i] = v[i];
}

// lo = a0 b0 a1 b1, hi = a2 b2 a3 b3.
inline void zip(Vec a, Vec b, Vec& lo, Vec& hi) {
  lo = Vec{a[0], b[0], a[1], b[1]};
  hi = Vec{a[2], b[2], a[3], b[3]};
}

// even = a0 a2 b0 b2, odd = a1 a3 b1 b3.
inline void deinterleave(Vec a, Vec b, Vec& even, Vec& odd) {
  even = Vec{a[0], a[2], b[0], b[2]};
  odd = Vec{a[1], a[3], b[1], b[3]};
}

inline void prefetch_l2(const void* p) { __builtin_prefetch(p, 0, 2); }

// dst[c * dst_stride + r] = src[r * src_stride + c] for r, c in [0, 4).
inline void transpose_block(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  for (int r = 0; r < kLanes; ++r)
    for (int c = 0; c < kLanes; ++c) dst[c * dst_stride + r] = src[r * src_stride + c];
}

}  // namespace tinydiff::simd::generic
