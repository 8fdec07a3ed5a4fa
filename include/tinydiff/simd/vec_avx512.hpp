#pragma once
// The avx512 tier's vector: 16 floats in a zmm register, masks in k registers (simd/vec.hpp
// describes the interface every tier provides).
#include "tinydiff/simd/isa.hpp"
#include "tinydiff/simd/target.hpp"

#if TINYDIFF_TIER_AVX512
#include <immintrin.h>

#include <cstdint>

TINYDIFF_TARGET_BEGIN_AVX512
namespace tinydiff::simd::avx512 {

constexpr Isa kIsa = Isa::kAvx512;
constexpr int kLanes = 16;
using Vec = __m512;     // GCC and Clang give it +, -, * and / lane by lane
using Mask = __mmask16;  // one bit per lane

// The GEMM register block (kernels/tier/gemm.hpp): 8 rows x 3 vectors = 24 of the 32 registers
// accumulate, 3 hold a row of B, 1 a broadcast.
constexpr int kGemmRows = 8, kGemmVectors = 3;

inline Vec zero() { return _mm512_setzero_ps(); }
inline Vec set1(float x) { return _mm512_set1_ps(x); }
inline Vec load(const float* p) { return _mm512_loadu_ps(p); }
inline void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec max(Vec a, Vec b) { return _mm512_max_ps(a, b); }
inline Vec min(Vec a, Vec b) { return _mm512_min_ps(a, b); }
inline Vec sqrt(Vec a) { return _mm512_sqrt_ps(a); }
// 2^n for whole numbers n in [-127, 128]: n + 127 in the exponent field (2^-127 gives 0, 2^128 infinity).
inline Vec pow2i(Vec n) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127)), 23));
}

inline Mask first_lanes(int64_t count) {
  if (count <= 0) return 0;
  return static_cast<Mask>(count >= kLanes ? 0xFFFFu : (1u << count) - 1u);
}
// lanes [lo, hi) (clamped to [0, kLanes)).
inline Mask lanes_between(int64_t lo, int64_t hi) { return static_cast<Mask>(first_lanes(hi) & ~first_lanes(lo)); }
inline Vec load(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
inline void store(float* p, Vec v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }

// lo = a0 b0 a1 b1 ... a7 b7, hi = a8 b8 ... a15 b15: two rows zipped into one of pairs.
inline void zip(Vec a, Vec b, Vec& lo, Vec& hi) {
  const __m512i low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i high = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  lo = _mm512_permutex2var_ps(a, low, b);
  hi = _mm512_permutex2var_ps(a, high, b);
}

// even = a0 a2 ... a14 b0 b2 ... b14, odd = a1 a3 ... b15: a row of 2 kLanes pixels split by parity.
inline void deinterleave(Vec a, Vec b, Vec& even, Vec& odd) {
  const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  even = _mm512_permutex2var_ps(a, evens, b);
  odd = _mm512_permutex2var_ps(a, odds, b);
}

inline void prefetch_l2(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }

namespace transpose_detail {
// The shuffles, unmasked. The plain intrinsics pass an undefined vector as the (unused) masked-off
// source, which GCC 12 reports as "used uninitialized" under -Wall; an all-ones mask with an
// explicit source compiles to the same instructions without the warning.
constexpr __mmask16 kAll = 0xFFFF;
inline Vec unpack_low(Vec a, Vec b) { return _mm512_mask_unpacklo_ps(a, kAll, a, b); }
inline Vec unpack_high(Vec a, Vec b) { return _mm512_mask_unpackhi_ps(a, kAll, a, b); }
inline Vec unpack_low_pairs(Vec a, Vec b) {
  const __m512d ad = _mm512_castps_pd(a);
  return _mm512_castpd_ps(_mm512_mask_unpacklo_pd(ad, 0xFF, ad, _mm512_castps_pd(b)));
}
inline Vec unpack_high_pairs(Vec a, Vec b) {
  const __m512d ad = _mm512_castps_pd(a);
  return _mm512_castpd_ps(_mm512_mask_unpackhi_pd(ad, 0xFF, ad, _mm512_castps_pd(b)));
}
// Lanes (0, 2) of a then of b (0x88), or lanes (1, 3) (0xDD); lanes are 128 bits.
template <int kImm>
inline Vec shuffle_lanes(Vec a, Vec b) { return _mm512_mask_shuffle_f32x4(a, kAll, a, b, kImm); }
}  // namespace transpose_detail

// dst[c * dst_stride + r] = src[r * src_stride + c] for r, c in [0, 16): 16 row loads, four
// rounds of shuffles, 16 column stores.
inline void transpose_block(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  using namespace transpose_detail;
  Vec r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * src_stride);
  // Round 1: within each 128-bit lane, interleave rows 2i and 2i+1 (pairs (r0c0, r1c0), ...).
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = unpack_low(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = unpack_high(r[2 * i], r[2 * i + 1]);
  }
  // Round 2: interleave 64-bit pairs of rows (4i, 4i+1) with (4i+2, 4i+3): each 128-bit lane
  // of r[4i + q] now holds column (4 lane + q) of rows 4i .. 4i+3.
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = unpack_low_pairs(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = unpack_high_pairs(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = unpack_low_pairs(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = unpack_high_pairs(t[4 * i + 1], t[4 * i + 3]);
  }
  // Round 3: gather 128-bit lanes: lanes (0, 2) and (1, 3) of row groups 0/1 and 2/3.
  for (int q = 0; q < 4; ++q) {
    t[q] = shuffle_lanes<0x88>(r[q], r[4 + q]);
    t[4 + q] = shuffle_lanes<0xDD>(r[q], r[4 + q]);
    t[8 + q] = shuffle_lanes<0x88>(r[8 + q], r[12 + q]);
    t[12 + q] = shuffle_lanes<0xDD>(r[8 + q], r[12 + q]);
  }
  // Round 4: join the halves; row c of the result is column c of the block.
  for (int q = 0; q < 8; ++q) {
    r[q] = shuffle_lanes<0x88>(t[q], t[8 + q]);
    r[8 + q] = shuffle_lanes<0xDD>(t[q], t[8 + q]);
  }
  for (int c = 0; c < 16; ++c) _mm512_storeu_ps(dst + c * dst_stride, r[c]);
}

}  // namespace tinydiff::simd::avx512
TINYDIFF_TARGET_END
#endif
