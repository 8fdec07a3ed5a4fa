#pragma once
// Implicit-GEMM convolution for small planes (output rows of at most 16 pixels: the U-Net's
// stride-2 convs, its 7x7 convs, and the phases of its input gradients).
//
// im2col + GEMM (kernels/conv.hpp) writes the whole patch matrix of a chunk of images, hundreds of
// KiB, before the GEMM reads it back; those stores miss L1 and run at L2's write rate (~40 GB/s
// on the AVX-512 Xeon this was first measured on): 23% of a 32 -> 32 stride-2 forward at 28x28
// (perf, one thread), and another 10% went to filling the product with the bias and scattering it
// to the images. Here the patch matrix never exists as a whole. The batch's output positions, all
// images' planes one after the other, are cut into tiles of kTile = 48 (kernels/tier_api.hpp); for
// each tile and each slice of whole input channels (at most kImplicitMaxDepth patch rows):
//
//   pack   B [depth, 48] = the tile's columns of those patch rows      (into L1: at most 24 KiB)
//   for each block of output channels:
//     C [rows, 48] (+)= W [rows, slice] B                             (conv_gemm's register block)
//
// and C [Cout, 48] is copied out into y, per image, with the bias added. Packing is, per input
// channel, kernel row and output row the tile overlaps (4-5 of them for 14-wide outputs), one pick
// of the input row into zero-padded sub-rows, then per kernel column one load and store of the
// row's values at its place in the tile: stores that hit L1 (kernels/tier/implicit.inl). The
// weights are copied once per call into the GEMM's packed blocks (zero rows past Cout), so every
// block broadcasts from one line. Batch 64, 2 threads, in-process A/B against im2col + GEMM on the
// AVX-512 Xeon: 32 -> 32 stride 2 10-20% faster, 64 -> 64 stride 2 at 14x14 10-20%, 7x7 5-10%.
//
// Parallel over tiles (one contiguous range per thread); results are the same for every thread
// count (each output is one block's sum over k, in k order, in slices of the same depths).
#include <cstdint>

#include "tinydiff/kernels/conv_params.hpp"
#include "tinydiff/kernels/parallel_ranges.hpp"
#include "tinydiff/kernels/scratch.hpp"
#include "tinydiff/kernels/tiers.hpp"

namespace tinydiff::kernels {

// Whether implicit_conv can take patches of geometry g: output rows of at most 16 pixels (a row's
// whole-vector stores must fit the packed tile's slack, kernels/tier/implicit.inl).
inline bool implicit_conv_applies(const PatchGeometry& g) { return g.out_w >= 1 && g.out_w <= 16; }

// Whether conv2d_forward_implicit can take this convolution: one group, a kernel that is not
// pointwise (a 1x1 conv reads x in place already), and implicit_conv_applies.
inline bool implicit_forward_applies(const ConvParams& p) {
  return p.groups == 1 && !p.is_pointwise() && implicit_conv_applies(p.patches());
}

// y [N, M, out_h, out_w] = W [M, K] patches(x[n]) (+ b [M]) for each image x[n] [C, H, W] of the
// batch (patch geometry g, K = C*kh*kw), for implicit_conv_applies(g). Parallel over tiles when
// `parallel`.
inline void implicit_conv(const float* x, const PatchGeometry& g, int64_t batch, const float* w, int64_t M,
                          const float* b, float* y, bool parallel) {
  const TierKernels& tier = tier_kernels();
  const int64_t K = g.col_rows(), positions = batch * g.out_h * g.out_w;
  if (positions == 0 || M == 0) return;
  const int64_t blocks = (M + tier.gemm_rows - 1) / tier.gemm_rows;
  float* packed_w = thread_scratch(ScratchSlot::kWeights, static_cast<size_t>(blocks * tier.gemm_rows * K));
  tier.pack_weight_blocks(w, M, K, packed_w);  // every block broadcasts from one line
  ImplicitJob job;
  job.x = x, job.g = g, job.batch = batch, job.packed_w = packed_w, job.M = M, job.bias = b, job.y = y;
  const int64_t tiles = (positions + kTile - 1) / kTile;
  parallel_ranges(tiles, parallel, [&](int64_t begin, int64_t end) { tier.implicit_conv_tiles(job, begin, end); });
}

// y [N, Cout, out_h, out_w] = conv(x, w) (+ b), for implicit_forward_applies(p).
inline void conv2d_forward_implicit(const float* x, const float* w, const float* b, float* y, const ConvParams& p) {
  implicit_conv(x, p.patches(), p.batch, w, p.out_channels, b, y, p.parallel_over_batch());
}

}  // namespace tinydiff::kernels
