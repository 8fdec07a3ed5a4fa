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
// Raw float pointers, no autograd, no allocation; one image per call (callers
// parallelise over the batch).
#include <cstdint>
#include <cstring>

namespace tinydiff::kernels {

// The geometry of one image's patches. out_h/out_w are given, not derived, so
// that a transposed convolution can ask for the output size it needs.
struct PatchGeometry {
  int64_t channels = 0, height = 0, width = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t out_h = 0, out_w = 0;

  int64_t col_rows() const { return channels * kernel_h * kernel_w; }
  int64_t col_cols() const { return out_h * out_w; }
};

namespace detail {
// Smallest o >= 0 with o * stride >= a (stride > 0).
inline int64_t first_at_least(int64_t a, int64_t stride) { return a <= 0 ? 0 : (a + stride - 1) / stride; }

// For kernel column offset `offset` (= j*d_w - p_w), the output columns [lo, hi)
// whose input column ow*stride + offset lies inside [0, width).
inline void valid_range(int64_t offset, int64_t stride, int64_t width, int64_t out, int64_t& lo, int64_t& hi) {
  lo = first_at_least(-offset, stride);
  hi = first_at_least(width - offset, stride);
  if (lo > out) lo = out;
  if (hi > out) hi = out;
  if (hi < lo) hi = lo;
}
}  // namespace detail

// col [C*kh*kw, out_h*out_w] = patches of x [C, H, W] (see the top of the file).
// Rows of col are row_stride floats apart (default out_h*out_w), so several
// images can fill side-by-side column blocks of one wider matrix.
inline void im2col(const float* x, const PatchGeometry& g, float* col, int64_t row_stride = -1) {
  const int64_t out_hw = row_stride < 0 ? g.out_h * g.out_w : row_stride;
  for (int64_t c = 0; c < g.channels; ++c) {
    const float* plane = x + c * g.height * g.width;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        float* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * out_hw;
        const int64_t offset_w = j * g.dilation_w - g.pad_w;
        int64_t lo, hi;
        detail::valid_range(offset_w, g.stride_w, g.width, g.out_w, lo, hi);
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          float* r = row + oh * g.out_w;
          const int64_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
          if (ih < 0 || ih >= g.height) {
            std::memset(r, 0, sizeof(float) * static_cast<size_t>(g.out_w));
            continue;
          }
          const float* src = plane + ih * g.width;  // reads src[ow * stride_w + offset_w], ow in [lo, hi)
          for (int64_t ow = 0; ow < lo; ++ow) r[ow] = 0.0f;
          if (g.stride_w == 1)  // contiguous: a copy the compiler vectorises
            for (int64_t ow = lo; ow < hi; ++ow) r[ow] = src[ow + offset_w];
          else
            for (int64_t ow = lo; ow < hi; ++ow) r[ow] = src[ow * g.stride_w + offset_w];
          for (int64_t ow = hi; ow < g.out_w; ++ow) r[ow] = 0.0f;
        }
      }
    }
  }
}

// x [C, H, W] = col2im(col): x is overwritten with the sum of the col entries
// that im2col would have read from each pixel (the adjoint of im2col).
inline void col2im(const float* col, const PatchGeometry& g, float* x, int64_t row_stride = -1) {
  const int64_t out_hw = row_stride < 0 ? g.out_h * g.out_w : row_stride;
  std::memset(x, 0, sizeof(float) * static_cast<size_t>(g.channels * g.height * g.width));
  for (int64_t c = 0; c < g.channels; ++c) {
    float* plane = x + c * g.height * g.width;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const float* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * out_hw;
        const int64_t offset_w = j * g.dilation_w - g.pad_w;
        int64_t lo, hi;
        detail::valid_range(offset_w, g.stride_w, g.width, g.out_w, lo, hi);
        for (int64_t oh = 0; oh < g.out_h; ++oh) {
          const int64_t ih = oh * g.stride_h - g.pad_h + i * g.dilation_h;
          if (ih < 0 || ih >= g.height) continue;
          const float* r = row + oh * g.out_w;
          float* dst = plane + ih * g.width;  // writes dst[ow * stride_w + offset_w], ow in [lo, hi)
          if (g.stride_w == 1)
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow + offset_w] += r[ow];
          else
            for (int64_t ow = lo; ow < hi; ++ow) dst[ow * g.stride_w + offset_w] += r[ow];
        }
      }
    }
  }
}

}  // namespace tinydiff::kernels
