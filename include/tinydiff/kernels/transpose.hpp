#pragma once
// Matrix transpose on raw float pointers: dst[c][r] = src[r][c] for src [rows, cols].
//
// A plain double loop writes (or reads) one float per cache line touched; the tier kernel
// (kernels/tier/patches.inl) goes in square blocks of one vector's width instead (16 x 16 with
// AVX-512, 8 x 8 with AVX2): a load per row, a few rounds of shuffles in registers, a store per
// column. Edges that are not a whole block use the plain loop.
#include <cstdint>

#include "tinydiff/kernels/tiers.hpp"

namespace tinydiff::kernels {

// dst [cols, rows] (row stride dst_stride) = src [rows, cols] (row stride src_stride) transposed.
inline void transpose(const float* src, int64_t rows, int64_t cols, int64_t src_stride, float* dst,
                      int64_t dst_stride) {
  tier_kernels().transpose(src, rows, cols, src_stride, dst, dst_stride);
}

}  // namespace tinydiff::kernels
