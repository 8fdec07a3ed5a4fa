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
#include <algorithm>
#include <cstdint>
#include <cstring>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace tinydiff::kernels {

#if defined(__AVX512F__)
namespace detail {
// The mask of the first `count` of 16 lanes (none for count <= 0, all for count >= 16).
inline __mmask16 low_lanes(int64_t count) {
  if (count <= 0) return 0;
  return static_cast<__mmask16>(count >= 16 ? 0xFFFFu : (1u << count) - 1u);
}
}  // namespace detail
#endif

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
// dst[k * stride] += row[k] for k in [0, n): the strided write of col2im (the adjoint of
// the strided read of im2col). At stride 2 with AVX-512: 8 values per step, spread to the even lanes
// of 16 by one permute and added there; odd lanes are neither added to nor stored.
inline void scatter_add_strided(float* dst, const float* row, int64_t stride, int64_t n) {
#if defined(__AVX512F__)
  if (stride == 2) {
    const __m512i pairs = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    for (int64_t k = 0; k < n; k += 8) {
      const int64_t count = std::min<int64_t>(8, n - k);
      const __mmask16 even = static_cast<__mmask16>(0x5555 & low_lanes(2 * count - 1));
      const __m512 values = _mm512_permutexvar_ps(pairs, _mm512_maskz_loadu_ps(low_lanes(count), row + k));
      const __m512 sums = _mm512_add_ps(_mm512_maskz_loadu_ps(even, dst + 2 * k), values);
      _mm512_mask_storeu_ps(dst + 2 * k, even, sums);
    }
    return;
  }
#endif
  for (int64_t k = 0; k < n; ++k) dst[k * stride] += row[k];
}

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

#if defined(__AVX512F__)
// im2col for planes of at most 32 columns with output rows of at most 16 (the U-Net's
// stride-2 convs at 28x28 and 14x14, the 14- and 7-wide planes of conv_phases.hpp). Per
// kernel column j a lane table is set up once per call: pick[j] says which input column
// ow*stride_w + j*dilation_w - pad_w feeds output lane ow, valid[j] which lanes fall inside
// the row (the rest are zeros). Then each output row is two masked loads (the whole input row,
// at most 32 columns), one permute and one masked store, written tap by tap in order (writing
// the kw taps' rows interleaved was slower: the patch matrix outgrows L1 and the stores
// are what bounds this loop). When two output rows fit one vector (out_w <= 8, input rows of
// at most 16), the permute takes its two sources from two input rows stride_h apart and
// writes both output rows at once (7x7 outputs: 4 stores per tap instead of 7).
// Rows above or below the image go through the same stores, from a zero source row.
// Against the per-tap row ranges and memsets it replaces: 28x28 stride 2 ~10% faster, 14x14
// stride 2 and 7x7 ~25%.
constexpr int64_t kRowTablesMaxWidth = 32, kRowTablesMaxKernel = 8;
inline bool row_tables_apply(const PatchGeometry& g) {
  return g.width <= kRowTablesMaxWidth && g.out_w <= 16 && g.kernel_w <= kRowTablesMaxKernel;
}
inline void im2col_row_tables_avx512(const float* x, const PatchGeometry& g, float* col, int64_t out_hw) {
  const int64_t W = g.width, OW = g.out_w;
  const int64_t rows_per_step = OW <= 8 && W <= 16 ? 2 : 1;
  __m512i pick[kRowTablesMaxKernel];  // 16 + c: column c of the second source
  __mmask16 valid[kRowTablesMaxKernel];
  for (int64_t j = 0; j < g.kernel_w; ++j) {
    alignas(64) int32_t lanes[16] = {};
    unsigned bits = 0;
    for (int64_t l = 0; l < rows_per_step * OW; ++l) {
      const int64_t source = l / OW, column = (l % OW) * g.stride_w + j * g.dilation_w - g.pad_w;
      if (column < 0 || column >= W) continue;
      lanes[l] = static_cast<int32_t>(source * 16 + column);
      bits |= 1u << l;
    }
    pick[j] = _mm512_load_si512(lanes);
    valid[j] = static_cast<__mmask16>(bits);
  }
  const __mmask16 row_mask = low_lanes(W), second_half = low_lanes(W - 16);
  const __mmask16 pair_store = low_lanes(2 * OW), row_store = low_lanes(OW);
  const int64_t height = g.height, out_h = g.out_h, stride_h = g.stride_h;
  for (int64_t c = 0; c < g.channels; ++c) {
    const float* plane = x + c * height * W;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t offset_h = i * g.dilation_h - g.pad_h;  // output row oh reads input row oh*stride_h + offset_h
      auto input_row = [&](int64_t oh) -> const float* {
        const int64_t ih = oh * stride_h + offset_h;
        return oh < out_h && ih >= 0 && ih < height ? plane + ih * W : nullptr;  // null: a row of zeros
      };
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        float* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * out_hw;
        if (rows_per_step == 1) {
          for (int64_t oh = 0; oh < out_h; ++oh) {
            const float* in = input_row(oh);
            const __m512 a = in ? _mm512_maskz_loadu_ps(row_mask, in) : _mm512_setzero_ps();
            const __m512 b = in ? _mm512_maskz_loadu_ps(second_half, in + 16) : _mm512_setzero_ps();
            _mm512_mask_storeu_ps(row + oh * OW, row_store, _mm512_maskz_permutex2var_ps(valid[j], a, pick[j], b));
          }
          continue;
        }
        for (int64_t oh = 0; oh < out_h; oh += 2) {
          const float *in_a = input_row(oh), *in_b = input_row(oh + 1);
          const __m512 a = in_a ? _mm512_maskz_loadu_ps(row_mask, in_a) : _mm512_setzero_ps();
          const __m512 b = in_b ? _mm512_maskz_loadu_ps(row_mask, in_b) : _mm512_setzero_ps();
          _mm512_mask_storeu_ps(row + oh * OW, oh + 1 < out_h ? pair_store : row_store,
                                _mm512_maskz_permutex2var_ps(valid[j], a, pick[j], b));
        }
      }
    }
  }
}

// col2im for output rows of at most 16 columns at stride_w 1 or 2, added onto x (only dilated
// convs' input gradients still take col2im, see conv.hpp): per output row, its values r[lo, hi)
// spread by one permute each onto the lanes of the (at most 31) input pixels they came from,
// stride_w apart, and added there with masked loads and stores that touch only those pixels.
inline void col2im_short_rows_avx512(const float* col, const PatchGeometry& g, float* x, int64_t out_hw) {
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int shift = g.stride_w == 2 ? 1 : 0;
  // input lane t (of 32 from the first pixel touched) receives r[lo + t / stride_w] when t % stride_w == 0
  const __m512i from_lo = _mm512_srli_epi32(lanes, shift);
  const __m512i from_hi = _mm512_srli_epi32(_mm512_add_epi32(lanes, _mm512_set1_epi32(16)), shift);
  const __mmask16 aligned = g.stride_w == 2 ? 0x5555 : 0xFFFF;
  for (int64_t c = 0; c < g.channels; ++c) {
    float* plane = x + c * g.height * g.width;
    for (int64_t i = 0; i < g.kernel_h; ++i) {
      const int64_t offset_h = i * g.dilation_h - g.pad_h;
      int64_t oh_lo, oh_hi;
      valid_range(offset_h, g.stride_h, g.height, g.out_h, oh_lo, oh_hi);
      for (int64_t j = 0; j < g.kernel_w; ++j) {
        const float* row = col + ((c * g.kernel_h + i) * g.kernel_w + j) * out_hw;
        const int64_t offset_w = j * g.dilation_w - g.pad_w;
        int64_t lo, hi;
        valid_range(offset_w, g.stride_w, g.width, g.out_w, lo, hi);
        if (hi == lo) continue;
        const int64_t span = g.stride_w * (hi - lo - 1) + 1;  // pixels touched per row, from column lo*s + offset
        const __mmask16 values = low_lanes(hi - lo);
        const __mmask16 to_lo = static_cast<__mmask16>(aligned & low_lanes(span));
        const __mmask16 to_hi = static_cast<__mmask16>(aligned & low_lanes(span - 16));
        float* dst = plane + (oh_lo * g.stride_h + offset_h) * g.width + lo * g.stride_w + offset_w;
        for (int64_t oh = oh_lo; oh < oh_hi; ++oh, dst += g.stride_h * g.width) {
          const __m512 r = _mm512_maskz_loadu_ps(values, row + oh * g.out_w + lo);
          _mm512_mask_storeu_ps(dst, to_lo,
                                _mm512_add_ps(_mm512_maskz_loadu_ps(to_lo, dst), _mm512_permutexvar_ps(from_lo, r)));
          if (span > 16)
            _mm512_mask_storeu_ps(
                dst + 16, to_hi, _mm512_add_ps(_mm512_maskz_loadu_ps(to_hi, dst + 16), _mm512_permutexvar_ps(from_hi, r)));
        }
      }
    }
  }
}
#endif
}  // namespace detail

// col [C*kh*kw, out_h*out_w] = patches of x [C, H, W] (see the top of the file).
// Rows of col are row_stride floats apart (default out_h*out_w), so several
// images can fill side-by-side column blocks of one wider matrix.
inline void im2col(const float* x, const PatchGeometry& g, float* col, int64_t row_stride = -1) {
  const int64_t out_hw = row_stride < 0 ? g.out_h * g.out_w : row_stride;
#if defined(__AVX512F__)
  if (detail::row_tables_apply(g)) {
    detail::im2col_row_tables_avx512(x, g, col, out_hw);
    return;
  }
#endif
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
#if defined(__AVX512F__)
  if (g.out_w <= 16 && g.stride_w <= 2) {
    detail::col2im_short_rows_avx512(col, g, x, out_hw);
    return;
  }
#endif
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
          else if (hi > lo)
            detail::scatter_add_strided(dst + lo * g.stride_w + offset_w, r + lo, g.stride_w, hi - lo);
        }
      }
    }
  }
}

}  // namespace tinydiff::kernels
