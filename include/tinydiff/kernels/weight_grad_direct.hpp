#pragma once
// The weight gradient of a convolution without writing its patch matrix.
//
// On the im2col path (kernels/conv.hpp) the weight gradient of a chunk of images is
//   dW^T [K, Cout_g] += col [K, P] dY^T [P, Cout_g]          (P = the chunk's output positions)
// and writing col costs about a fifth of it: col is several times the size of the input and
// outgrows L1, so im2col runs at the speed of L2 writes. But each element of col is just an input
// pixel: for tap (c, i, j) and position p = (n, oh, ow), with the chunk's input copied once into
// zero-padded planes xpad [m, Cin_g, Hp, Wp] (Hp = H + 2 pad_h, Wp = W + 2 pad_w),
//   col[(c, i, j), p] = xpad[row(c, i) + pos(p) + j]
//   row(c, i) = (c Hp + i dilation_h) Wp,   pos(n, oh, ow) = n Cin_g Hp Wp + oh stride_h Wp + ow stride_w
// So this kernel broadcasts the pixels straight from xpad: for a block of Q kernel rows (c, i)
// (Q*KW taps, the rows of dW^T) and 32 output channels (two vectors of dY^T):
//   for each position p:  acc[(q, j)] += xpad[row_q + pos(p) + j] (x) dY^T[p, 32 channels]
// Q*KW*2 = 24 accumulators in registers; per position 2 vector loads, Q*KW broadcasts (each
// from a base pointer plus a constant displacement j) and 24 FMAs. Positions go in slices of
// kSlice, so that the dY^T slice (and the xpad rows it meets) stay in L1 across the tap blocks;
// the partial dW^T is accumulated slice by slice. Dilation along the width must be 1 (j is the
// displacement); kernels 2 to 4 wide (KW is a template argument so that the loop unrolls).
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "tinydiff/kernels/conv_params.hpp"
#include "tinydiff/kernels/scratch.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace tinydiff::kernels {

#if defined(__AVX512F__)
namespace weight_grad_detail {

constexpr int64_t kSlice = 128;  // positions per pass: a 128 x 64 dY^T slice is 32 KiB

// c[(q*KW + j) * ldc + o] += sum over positions k in [0, count) of
//   base[q][offsets[k] + j] * dyt[k * ldb + o],  o in [0, 32) (lanes beyond `lanes0`/`lanes1` left alone),
// for the first `rows` of the Q kernel rows.
template <int KW, int Q>
inline void block(const float* const* base, int rows, const int32_t* offsets, int64_t count, const float* dyt,
                  int64_t ldb, __mmask16 lanes0, __mmask16 lanes1, float* c, int64_t ldc) {
  __m512 acc[Q * KW][2];
#pragma GCC unroll 12
  for (int t = 0; t < Q * KW; ++t) acc[t][0] = acc[t][1] = _mm512_setzero_ps();
  const float* b[Q];
#pragma GCC unroll 6
  for (int q = 0; q < Q; ++q) b[q] = base[q];
  for (int64_t k = 0; k < count; ++k) {
    const int64_t at = offsets[k];
    const __m512 y0 = _mm512_maskz_loadu_ps(lanes0, dyt + k * ldb);
    const __m512 y1 = _mm512_maskz_loadu_ps(lanes1, dyt + k * ldb + 16);
#pragma GCC unroll 6
    for (int q = 0; q < Q; ++q)
#pragma GCC unroll 4
      for (int j = 0; j < KW; ++j) {
        const __m512 pixel = _mm512_set1_ps(b[q][at + j]);
        acc[q * KW + j][0] = _mm512_fmadd_ps(pixel, y0, acc[q * KW + j][0]);
        acc[q * KW + j][1] = _mm512_fmadd_ps(pixel, y1, acc[q * KW + j][1]);
      }
  }
#pragma GCC unroll 6
  for (int q = 0; q < Q; ++q) {
    if (q >= rows) break;
#pragma GCC unroll 4
    for (int j = 0; j < KW; ++j) {
      float* row = c + (q * KW + j) * ldc;
      _mm512_mask_storeu_ps(row, lanes0, _mm512_add_ps(acc[q * KW + j][0], _mm512_maskz_loadu_ps(lanes0, row)));
      _mm512_mask_storeu_ps(row + 16, lanes1,
                            _mm512_add_ps(acc[q * KW + j][1], _mm512_maskz_loadu_ps(lanes1, row + 16)));
    }
  }
}

// dst[0, padded_width) = `pad` zeros, src[0, width), zeros: 16 floats per masked load and store
// (the lanes outside src are neither read nor faulted on).
inline void pad_row(float* dst, const float* src, int64_t pad, int64_t width, int64_t padded_width) {
  for (int64_t e = 0; e < padded_width; e += 16) {
    const __mmask16 inside = static_cast<__mmask16>(detail::low_lanes(pad + width - e) & ~detail::low_lanes(pad - e));
    _mm512_mask_storeu_ps(dst + e, detail::low_lanes(padded_width - e), _mm512_maskz_loadu_ps(inside, src + (e - pad)));
  }
}

inline __mmask16 lanes_of(int64_t count) {
  return count <= 0 ? 0 : static_cast<__mmask16>(count >= 16 ? 0xFFFFu : (1u << count) - 1u);
}

// All kernel rows u = (c, i) and output channels for positions [0, P): Q kernel rows at a time.
// Meanwhile the lines [ahead, ahead_end) (the next chunk's input) are prefetched into L2, a few
// before each block, so that the next chunk's copy into xpad finds them there.
template <int KW, int Q>
inline void accumulate(const float* xpad, const ConvParams& p, int64_t padded_plane, int64_t padded_width,
                       const int32_t* offsets, int64_t P, const float* dyt, float* dwt, const char* ahead,
                       const char* ahead_end) {
  const int64_t kernel_rows = p.in_per_group() * p.kernel_h, cout_g = p.out_per_group();
  const int64_t blocks = (P + kSlice - 1) / kSlice * ((cout_g + 31) / 32) * ((kernel_rows + Q - 1) / Q);
  const int64_t lines_per_block = ((ahead_end - ahead) / 64 + blocks - 1) / blocks;
  for (int64_t k0 = 0; k0 < P; k0 += kSlice) {
    const int64_t count = std::min(kSlice, P - k0);
    for (int64_t o0 = 0; o0 < cout_g; o0 += 32)
      for (int64_t u0 = 0; u0 < kernel_rows; u0 += Q) {
        for (int64_t e = 0; e < lines_per_block && ahead < ahead_end; ++e, ahead += 64) _mm_prefetch(ahead, _MM_HINT_T1);
        const float* base[Q];  // row(c, i); a block past the last kernel row repeats it (and stores nothing)
        const int rows = static_cast<int>(std::min<int64_t>(Q, kernel_rows - u0));
        for (int q = 0; q < Q; ++q) {
          const int64_t u = u0 + std::min(q, rows - 1);
          base[q] = xpad + (u / p.kernel_h) * padded_plane + (u % p.kernel_h) * p.dilation_h * padded_width;
        }
        block<KW, Q>(base, rows, offsets + k0, count, dyt + k0 * cout_g + o0, cout_g, lanes_of(cout_g - o0),
                     lanes_of(cout_g - o0 - 16), dwt + u0 * KW * cout_g + o0, cout_g);
      }
  }
}

}  // namespace weight_grad_detail
#endif

// Whether conv2d_backward_weight_direct takes this convolution: AVX-512, a kernel 2 to 4 wide
// without dilation along the width, and at least 16 output channels per group (two vectors of
// which are the block's columns).
inline bool weight_grad_direct_applies(const ConvParams& p) {
#if defined(__AVX512F__)
  return p.kernel_w >= 2 && p.kernel_w <= 4 && p.dilation_w == 1 && p.out_per_group() >= 16;
#else
  (void)p;
  return false;
#endif
}

// Whether a chunk of m images fits the kernel's int32 position offsets.
inline bool weight_grad_direct_fits(const ConvParams& p, int64_t m) {
  const int64_t padded_plane = (p.in_h + 2 * p.pad_h) * (p.in_w + 2 * p.pad_w);
  return m * p.in_per_group() * padded_plane < (int64_t{1} << 31);
}

#if defined(__AVX512F__)
// dW_g^T [K, Cout_g] += (the patch matrix of images [n0, n0 + m), group g) dY^T, where dyt [m*L, Cout_g]
// is dY^T of those images and dwt is dW_g^T (see the top of the file), for weight_grad_direct_applies(p).
// Uses the calling thread's ScratchSlot::kPatches for xpad and ScratchSlot::kOffsets for pos.
inline void conv2d_backward_weight_direct(const float* x, const float* dyt, float* dwt, const ConvParams& p, int64_t n0,
                                          int64_t m, int64_t g) {
  namespace d = weight_grad_detail;
  const int64_t cin_g = p.in_per_group();
  const int64_t Hp = p.in_h + 2 * p.pad_h, Wp = p.in_w + 2 * p.pad_w, padded_plane = Hp * Wp;
  float* xpad = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(m * cin_g * padded_plane));
  int32_t* offsets = thread_scratch_of<int32_t>(ScratchSlot::kOffsets, static_cast<size_t>(m * p.out_h * p.out_w));
  // xpad: the chunk's input planes with a zero border, written row by row in one pass (a padded row
  // is the input row between pad_w and Wp - pad_w zeros, or all zeros above and below the image)
  for (int64_t j = 0; j < m; ++j)
    for (int64_t c = 0; c < cin_g; ++c) {
      const float* src = x + (((n0 + j) * p.in_channels + g * cin_g + c) * p.in_h) * p.in_w;
      float* plane = xpad + (j * cin_g + c) * padded_plane;
      for (int64_t r = 0; r < Hp; ++r) {
        const int64_t h = r - p.pad_h;
        const bool inside = h >= 0 && h < p.in_h;
        weight_grad_detail::pad_row(plane + r * Wp, inside ? src + h * p.in_w : src, p.pad_w, inside ? p.in_w : 0, Wp);
      }
    }
  // pos(p) for every position of the chunk, and row(c, i) for every kernel row
  int64_t P = 0;
  for (int64_t j = 0; j < m; ++j)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        offsets[P++] = static_cast<int32_t>(j * cin_g * padded_plane + oh * p.stride_h * Wp + ow * p.stride_w);
  // The next chunk's images, which this thread most likely takes next (static schedule).
  const int64_t image_size = p.in_channels * p.in_h * p.in_w;
  const char* ahead = reinterpret_cast<const char*>(x + std::min(p.batch, n0 + m) * image_size);
  const char* ahead_end = reinterpret_cast<const char*>(x + std::min(p.batch, n0 + 2 * m) * image_size);
  switch (p.kernel_w) {
    case 2: d::accumulate<2, 6>(xpad, p, padded_plane, Wp, offsets, P, dyt, dwt, ahead, ahead_end); break;
    case 3: d::accumulate<3, 4>(xpad, p, padded_plane, Wp, offsets, P, dyt, dwt, ahead, ahead_end); break;
    default: d::accumulate<4, 3>(xpad, p, padded_plane, Wp, offsets, P, dyt, dwt, ahead, ahead_end); break;
  }
}
#endif

}  // namespace tinydiff::kernels
