#pragma once
// The descriptions of a convolution that its kernels share (kernels/conv.hpp and the files it
// includes, and the tier kernels of kernels/tier/), and how many images their GEMMs take at once.
#include <algorithm>
#include <cstdint>

#include "tinydiff/core/checked.hpp"

namespace tinydiff::kernels {

// The geometry of one image's patches (kernels/im2col.hpp). out_h/out_w are given, not derived,
// so that a transposed convolution can ask for the output size it needs.
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

// Everything a convolution's kernels need to know; filled in by ops/conv.hpp.
struct ConvParams {
  int64_t batch = 0, in_channels = 0, out_channels = 0, groups = 1;
  int64_t in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int64_t kernel_h = 1, kernel_w = 1;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_h = 0, pad_w = 0;
  int64_t dilation_h = 1, dilation_w = 1;

  int64_t in_per_group() const { return in_channels / groups; }
  int64_t out_per_group() const { return out_channels / groups; }
  // The patch geometry of one group of one image.
  PatchGeometry patches() const {
    PatchGeometry g;
    g.channels = in_per_group();
    g.height = in_h;
    g.width = in_w;
    g.kernel_h = kernel_h;
    g.kernel_w = kernel_w;
    g.stride_h = stride_h;
    g.stride_w = stride_w;
    g.pad_h = pad_h;
    g.pad_w = pad_w;
    g.dilation_h = dilation_h;
    g.dilation_w = dilation_w;
    g.out_h = out_h;
    g.out_w = out_w;
    return g;
  }
  // Whether to split the batch over threads: only when there are several images and
  // enough multiply-adds (N Cout K L) to pay for waking the OpenMP team.
  bool parallel_over_batch() const {
    const int64_t macs = batch * out_channels * in_per_group() * kernel_h * kernel_w * out_h * out_w;
    return batch > 1 && macs >= (int64_t{1} << 17);
  }
  // A 1x1 kernel at stride 1 without padding reads each pixel once in place:
  // the image itself is the patch matrix, so im2col/col2im are skipped.
  bool is_pointwise() const {
    return kernel_h == 1 && kernel_w == 1 && stride_h == 1 && stride_w == 1 && pad_h == 0 && pad_w == 0 &&
           out_h == in_h && out_w == in_w;
  }
};

// Input validation, for ops/conv.hpp before it allocates: throws tinydiff::Error unless every size
// the kernels compute from `p` fits in int64. The tensors themselves have checked shapes, but the
// kernels also form the padded input [N, Cin, H + 2 pad_h, W + 2 pad_w], the patch matrix
// [Cin / groups, kh, kw, Hout, Wout] and the multiply-add count, which huge padding (or a huge
// kernel against a huge output) can push past int64 while every tensor stays small.
inline void check_conv_sizes(const ConvParams& p, const char* op) {
  using tinydiff::detail::checked_add;
  using tinydiff::detail::checked_mul;
  using tinydiff::detail::checked_product;
  const int64_t padded_h = checked_add(p.in_h, checked_mul(2, p.pad_h, op, "2 * padding"), op, "padded input height");
  const int64_t padded_w = checked_add(p.in_w, checked_mul(2, p.pad_w, op, "2 * padding"), op, "padded input width");
  checked_product({p.batch, p.in_channels, padded_h, padded_w}, op, "the padded input's element count");
  checked_product({p.in_per_group(), p.kernel_h, p.kernel_w, p.out_h, p.out_w}, op, "the patch matrix's size");
  checked_product({p.batch, p.out_channels, p.in_per_group(), p.kernel_h, p.kernel_w, p.out_h, p.out_w}, op,
                  "the multiply-add count");
}

// The shape of a 3x3 stride-1 pad-1 convolution for Winograd (kernels/winograd.hpp):
// x [batch, in, h, w] -> y [batch, out, h, w], in output tiles of tile x tile: F(2x2, 3x3)
// (tile 2) or F(4x4, 3x3) (tile 4), each computed from an alpha x alpha input tile, alpha = tile + 2.
struct WinogradShape {
  int64_t batch = 0, in_channels = 0, out_channels = 0, height = 0, width = 0;
  int64_t tile = 2;
  int64_t alpha() const { return tile + 2; }
  int64_t points() const { return alpha() * alpha(); }  // the GEMMs per chunk
  int64_t tiles_h() const { return (height + tile - 1) / tile; }
  int64_t tiles_w() const { return (width + tile - 1) / tile; }
  int64_t tiles() const { return tiles_h() * tiles_w(); }
};

// The distance between Winograd's 16 matrices V[k] (or M[k]) of `size` floats each: padded so that
// it is not a multiple of 4 KiB, else the 16 streams of a transform all map to the same L1 cache
// sets. An odd number of 64-byte lines: then k * stride (k < 16) falls on 16 different sets.
inline int64_t winograd_matrix_stride(int64_t size) {
  const int64_t lines = (size + 15) / 16;
  return (lines | 1) * 16;
}

namespace detail {
// The most images per GEMM: small planes (14x14, 7x7) are batched side by side into one
// wider GEMM, so that its N dimension is large enough to run at full speed; but no more images
// than keep the patch matrix [K, m*L] within about half of a core's L2 cache, where
// the GEMM reads it right after im2col wrote it.
inline int64_t images_per_gemm(int64_t plane, int64_t rows) {
  constexpr int64_t kTargetColumns = 512;
  constexpr int64_t kMaxPatchFloats = int64_t{1} << 18;  // 1 MiB
  int64_t m = (kTargetColumns + plane - 1) / plane;
  if (rows * plane > 0) m = std::min(m, kMaxPatchFloats / (rows * plane));
  return m < 1 ? 1 : m;
}
}  // namespace detail

}  // namespace tinydiff::kernels
