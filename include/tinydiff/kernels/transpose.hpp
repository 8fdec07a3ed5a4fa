#pragma once
// Matrix transpose on raw float pointers: dst[c][r] = src[r][c] for src [rows, cols].
//
// A plain double loop writes (or reads) one float per cache line touched; with AVX-512
// the matrix goes in 16 x 16 blocks instead: 16 row loads, three rounds of shuffles
// (32-bit pairs within 128-bit lanes, then 64-bit pairs, then 128-bit lanes across the
// register, twice), 16 column stores. Edges that are not a whole block use the plain loop.
#include <cstdint>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace tinydiff::kernels {

#if defined(__AVX512F__)
namespace transpose_detail {

// The shuffles, unmasked. The plain intrinsics pass an undefined vector as the (unused) masked-off
// source, which GCC 12 reports as "used uninitialized" under -Wall; an all-ones mask with an
// explicit source compiles to the same instructions without the warning.
constexpr __mmask16 kAll = 0xFFFF;
inline __m512 unpack_low(__m512 a, __m512 b) { return _mm512_mask_unpacklo_ps(a, kAll, a, b); }
inline __m512 unpack_high(__m512 a, __m512 b) { return _mm512_mask_unpackhi_ps(a, kAll, a, b); }
inline __m512 unpack_low_pairs(__m512 a, __m512 b) {
  const __m512d ad = _mm512_castps_pd(a);
  return _mm512_castpd_ps(_mm512_mask_unpacklo_pd(ad, 0xFF, ad, _mm512_castps_pd(b)));
}
inline __m512 unpack_high_pairs(__m512 a, __m512 b) {
  const __m512d ad = _mm512_castps_pd(a);
  return _mm512_castpd_ps(_mm512_mask_unpackhi_pd(ad, 0xFF, ad, _mm512_castps_pd(b)));
}
// Lanes (0, 2) of a then of b (0x88), or lanes (1, 3) (0xDD); lanes are 128 bits.
template <int kImm>
inline __m512 shuffle_lanes(__m512 a, __m512 b) { return _mm512_mask_shuffle_f32x4(a, kAll, a, b, kImm); }

// dst[c * dst_stride + r] = src[r * src_stride + c] for r, c in [0, 16).
inline void block16(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
  __m512 r[16], t[16];
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

}  // namespace transpose_detail
#endif

// dst [cols, rows] (row stride dst_stride) = src [rows, cols] (row stride src_stride) transposed.
inline void transpose(const float* src, int64_t rows, int64_t cols, int64_t src_stride, float* dst,
                      int64_t dst_stride) {
  int64_t whole_rows = 0, whole_cols = 0;
#if defined(__AVX512F__)
  whole_rows = rows / 16 * 16;
  whole_cols = cols / 16 * 16;
  for (int64_t r = 0; r < whole_rows; r += 16)
    for (int64_t c = 0; c < whole_cols; c += 16)
      transpose_detail::block16(src + r * src_stride + c, src_stride, dst + c * dst_stride + r, dst_stride);
#endif
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = r < whole_rows ? whole_cols : 0; c < cols; ++c) dst[c * dst_stride + r] = src[r * src_stride + c];
}

}  // namespace tinydiff::kernels
