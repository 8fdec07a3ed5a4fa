#pragma once
// The avx2 tier's vector: 8 floats in a ymm register, AVX2 + FMA (simd/vec.hpp describes the
// interface every tier provides). Masks are vectors of 0 / -1 lanes, used by vmaskmovps, which
// neither reads nor faults on the lanes it leaves out.
#include "tinydiff/simd/isa.hpp"
#include "tinydiff/simd/target.hpp"

#if TINYDIFF_TIER_AVX2
#include <immintrin.h>

#include <cstdint>

TINYDIFF_TARGET_BEGIN_AVX2
namespace tinydiff::simd::avx2 {

constexpr Isa kIsa = Isa::kAvx2;
constexpr int kLanes = 8;
using Vec = __m256;
using Mask = __m256i;

// The GEMM register block: 6 rows x 2 vectors = 12 of the 16 registers accumulate, 2 hold a row
// of B, 1 a broadcast (the shape of BLIS's and OpenBLAS's Haswell sgemm kernels).
constexpr int kGemmRows = 6, kGemmVectors = 2;

inline Vec zero() { return _mm256_setzero_ps(); }
inline Vec set1(float x) { return _mm256_set1_ps(x); }
inline Vec load(const float* p) { return _mm256_loadu_ps(p); }
inline void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline Vec fmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
inline Vec min(Vec a, Vec b) { return _mm256_min_ps(a, b); }
inline Vec sqrt(Vec a) { return _mm256_sqrt_ps(a); }
// 2^n for whole numbers n in [-127, 128]: n + 127 in the exponent field (2^-127 gives 0, 2^128 infinity).
inline Vec pow2i(Vec n) {
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127)), 23));
}

inline Mask first_lanes(int64_t count) {
  const int n = count <= 0 ? 0 : (count >= kLanes ? kLanes : static_cast<int>(count));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
// lanes [lo, hi) (clamped to [0, kLanes)).
inline Mask lanes_between(int64_t lo, int64_t hi) { return _mm256_andnot_si256(first_lanes(lo), first_lanes(hi)); }
inline Vec load(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
inline void store(float* p, Vec v, Mask m) { _mm256_maskstore_ps(p, m, v); }

// lo = a0 b0 a1 b1 a2 b2 a3 b3, hi = a4 b4 ... a7 b7.
inline void zip(Vec a, Vec b, Vec& lo, Vec& hi) {
  const Vec low = _mm256_unpacklo_ps(a, b);    // a0 b0 a1 b1 | a4 b4 a5 b5
  const Vec high = _mm256_unpackhi_ps(a, b);   // a2 b2 a3 b3 | a6 b6 a7 b7
  lo = _mm256_permute2f128_ps(low, high, 0x20);
  hi = _mm256_permute2f128_ps(low, high, 0x31);
}

// even = a0 a2 a4 a6 b0 b2 b4 b6, odd = a1 a3 ... b7: a row of 2 kLanes pixels split by parity.
inline void deinterleave(Vec a, Vec b, Vec& even, Vec& odd) {
  // shuffle_ps works within 128-bit halves (a0 a2 b0 b2 | a4 a6 b4 b6); permute4x64 puts the
  // 64-bit pairs in order.
  even = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0x88)), 0xD8));
  odd = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(a, b, 0xDD)), 0xD8));
}

inline void prefetch_l2(const void* p) { _mm_prefetch(static_cast<const char*>(p), _MM_HINT_T1); }

// dst[c * dst_stride + r] = src[r * src_stride + c] for r, c in [0, 8): 8 row loads, three rounds
// of shuffles (32-bit pairs, 64-bit pairs, 128-bit halves), 8 column stores.
inline void transpose_block(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  Vec r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * src_stride);
  for (int i = 0; i < 4; ++i) {  // t[2i] = r(2i)0 r(2i+1)0 r(2i)1 r(2i+1)1 | the same for columns 4, 5
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 2; ++i) {  // each 128-bit half of r[4i + q] holds column q (or 4 + q) of rows 4i..4i+3
    r[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
    r[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xEE);
    r[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    r[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
  for (int q = 0; q < 4; ++q) {  // join rows 0-3 and 4-7: low halves give columns 0-3, high halves 4-7
    _mm256_storeu_ps(dst + q * dst_stride, _mm256_permute2f128_ps(r[q], r[4 + q], 0x20));
    _mm256_storeu_ps(dst + (4 + q) * dst_stride, _mm256_permute2f128_ps(r[q], r[4 + q], 0x31));
  }
}

}  // namespace tinydiff::simd::avx2
TINYDIFF_TARGET_END
#endif
