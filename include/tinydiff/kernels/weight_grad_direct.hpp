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

inline __mmask16 lanes_of(int64_t count) {
  return count <= 0 ? 0 : static_cast<__mmask16>(count >= 16 ? 0xFFFFu : (1u << count) - 1u);
}

// All kernel rows u = (c, i) and output channels for positions [0, P): Q kernel rows at a time.
template <int KW, int Q>
inline void accumulate(const float* xpad, const ConvParams& p, int64_t padded_plane, int64_t padded_width,
                       const int32_t* offsets, int64_t P, const float* dyt, float* dwt) {
  const int64_t kernel_rows = p.in_per_group() * p.kernel_h, cout_g = p.out_per_group();
  for (int64_t k0 = 0; k0 < P; k0 += kSlice) {
    const int64_t count = std::min(kSlice, P - k0);
    for (int64_t o0 = 0; o0 < cout_g; o0 += 32)
      for (int64_t u0 = 0; u0 < kernel_rows; u0 += Q) {
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
  // xpad: the chunk's input planes with a zero border (rows above and below, columns left and right)
  const size_t border_rows = static_cast<size_t>(p.pad_h * Wp), left = static_cast<size_t>(p.pad_w);
  const size_t right = static_cast<size_t>(Wp - p.pad_w - p.in_w);
  for (int64_t j = 0; j < m; ++j)
    for (int64_t c = 0; c < cin_g; ++c) {
      const float* src = x + (((n0 + j) * p.in_channels + g * cin_g + c) * p.in_h) * p.in_w;
      float* plane = xpad + (j * cin_g + c) * padded_plane;
      std::fill_n(plane, border_rows, 0.0f);
      std::fill_n(plane + (p.pad_h + p.in_h) * Wp, border_rows, 0.0f);
      for (int64_t h = 0; h < p.in_h; ++h) {
        float* row = plane + (p.pad_h + h) * Wp;
        std::fill_n(row, left, 0.0f);
        std::memcpy(row + p.pad_w, src + h * p.in_w, sizeof(float) * static_cast<size_t>(p.in_w));
        std::fill_n(row + p.pad_w + p.in_w, right, 0.0f);
      }
    }
  // pos(p) for every position of the chunk, and row(c, i) for every kernel row
  int64_t P = 0;
  for (int64_t j = 0; j < m; ++j)
    for (int64_t oh = 0; oh < p.out_h; ++oh)
      for (int64_t ow = 0; ow < p.out_w; ++ow)
        offsets[P++] = static_cast<int32_t>(j * cin_g * padded_plane + oh * p.stride_h * Wp + ow * p.stride_w);
  switch (p.kernel_w) {
    case 2: d::accumulate<2, 6>(xpad, p, padded_plane, Wp, offsets, P, dyt, dwt); break;
    case 3: d::accumulate<3, 4>(xpad, p, padded_plane, Wp, offsets, P, dyt, dwt); break;
    default: d::accumulate<4, 3>(xpad, p, padded_plane, Wp, offsets, P, dyt, dwt); break;
  }
}
#endif

}  // namespace tinydiff::kernels
