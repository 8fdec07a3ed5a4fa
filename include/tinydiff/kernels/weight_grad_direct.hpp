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
// So this kernel (kernels/tier/weight_grad.inl) broadcasts the pixels straight from xpad: for a
// block of Q kernel rows (c, i) (Q*KW taps, the rows of dW^T) and two vectors of output channels
// (32 with AVX-512, 16 with AVX2):
//   for each position p:  acc[(q, j)] += xpad[row_q + pos(p) + j] (x) dY^T[p, 2 vectors of channels]
// Q*KW*2 accumulators in registers (AVX-512: 24, e.g. 4 rows x 3 taps; AVX2: 12, 2 rows x 3 taps);
// per position 2 vector loads, Q*KW broadcasts (each from a base pointer plus a constant
// displacement j) and Q*KW*2 FMAs. Positions go in slices of
// kSlice, so that the dY^T slice (and the xpad rows it meets) stay in L1 across the tap blocks;
// the partial dW^T is accumulated slice by slice. Dilation along the width must be 1 (j is the
// displacement); kernels 2 to 4 wide (KW is a template argument so that the loop unrolls).
#include <cstdint>

#include "tinydiff/kernels/conv_params.hpp"
#include "tinydiff/kernels/tiers.hpp"

namespace tinydiff::kernels {

// Whether conv2d_backward_weight_direct can take this convolution: a kernel 2 to 4 wide without
// dilation along the width, and at least 16 output channels per group (the block's columns are
// two vectors of them).
inline bool weight_grad_direct_applies(const ConvParams& p) {
  return p.kernel_w >= 2 && p.kernel_w <= 4 && p.dilation_w == 1 && p.out_per_group() >= 16 && !p.is_pointwise();
}

// Whether a chunk of m images fits the kernel's int32 position offsets.
inline bool weight_grad_direct_fits(const ConvParams& p, int64_t m) {
  const int64_t padded_plane = (p.in_h + 2 * p.pad_h) * (p.in_w + 2 * p.pad_w);
  return m * p.in_per_group() * padded_plane < (int64_t{1} << 31);
}

// dW_g^T [K, Cout_g] += (the patch matrix of images [n0, n0 + m), group g) dY^T, where dyt [m*L, Cout_g]
// is dY^T of those images and dwt is dW_g^T (see the top of the file), for weight_grad_direct_applies(p)
// and weight_grad_direct_fits(p, m). Uses the calling thread's ScratchSlot::kPatches for xpad and
// ScratchSlot::kOffsets for pos.
inline void conv2d_backward_weight_direct(const float* x, const float* dyt, float* dwt, const ConvParams& p, int64_t n0,
                                          int64_t m, int64_t g) {
  tier_kernels().weight_grad_direct(x, dyt, dwt, p, n0, m, g);
}

}  // namespace tinydiff::kernels
