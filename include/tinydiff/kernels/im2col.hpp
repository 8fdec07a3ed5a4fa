#pragma once
// im2col / col2im: the patch matrix that turns a 2-D convolution into a GEMM.
//
// For one image x [C, H, W] and a kernel kh x kw with stride s, padding p and
// dilation d, the patch matrix col [C*kh*kw, out_h*out_w] holds, in row
// (c, i, j) and column (oh, ow), the input pixel under kernel tap (i, j) when
// the kernel sits at output position (oh, ow):
//   col[(c, i, j), (oh, ow)] = x[c, oh*s_h - p_h + i*d_h, ow*s_w - p_w + j*d_w]   (0 outside the image)
// col2im is its adjoint (transpose): every entry of col is added back onto the
// pixel it was read from, so x = col2im(col) satisfies <im2col(a), col> = <a, col2im(col)>.
// Raw float pointers, no autograd; one image per call (callers parallelise over the batch). The
// tier kernels (kernels/tier/patches.inl) pick each input row once for all kernel columns.
#include <cstdint>

#include "tinydiff/kernels/conv_params.hpp"
#include "tinydiff/kernels/tiers.hpp"

namespace tinydiff::kernels {

// col [C*kh*kw, out_h*out_w] = patches of x [C, H, W] (see the top of the file).
// Rows of col are row_stride floats apart (default out_h*out_w), so several
// images can fill side-by-side column blocks of one wider matrix.
inline void im2col(const float* x, const PatchGeometry& g, float* col, int64_t row_stride = -1) {
  tier_kernels().im2col(x, g, col, row_stride < 0 ? g.out_h * g.out_w : row_stride);
}

// x [C, H, W] = col2im(col): x is overwritten with the sum of the col entries
// that im2col would have read from each pixel (the adjoint of im2col).
inline void col2im(const float* col, const PatchGeometry& g, float* x, int64_t row_stride = -1) {
  tier_kernels().col2im(col, g, x, row_stride < 0 ? g.out_h * g.out_w : row_stride);
}

}  // namespace tinydiff::kernels
