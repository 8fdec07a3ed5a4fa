#pragma once
// Implicit-GEMM convolution for small planes (rows of at most 32 pixels, output rows of at most
// 16: the U-Net's stride-2 convs, its 7x7 convs, and the phases of its input gradients).
//
// im2col + GEMM (kernels/conv.hpp) writes the whole patch matrix of a chunk of images, hundreds of
// KiB, before the GEMM reads it back; those stores miss L1 and run at L2's write rate (~40 GB/s
// here): 23% of a 32 -> 32 stride-2 forward at 28x28 (perf, one thread), and another 10% went to
// filling the product with the bias and scattering it to the images. Here the patch matrix never
// exists as a whole. The batch's output positions, all images' planes one after the other, are cut
// into tiles of 48 (one 3-vector panel of conv_gemm's 8 x 48 block); for each tile and each slice
// of whole input channels (at most kMaxDepth patch rows):
//
//   pack   B [depth, 48] = the tile's columns of those patch rows      (into L1: at most 18 KiB)
//   for each block of 8 output channels:
//     C [8, 48] (+)= W [8, slice] B                                   (conv_gemm's block kernel)
//
// and C [Cout, 48] is copied out into y, per image, with the bias added. Packing is, per input
// channel, kernel row and output row the tile overlaps (4-5 of them for 14-wide outputs), two
// masked loads of the input row, then per kernel column one permute by its lane table (as in
// im2col_row_tables_avx512) and one masked store at the row's place in the tile: stores that hit
// L1. The weights are copied once per call into conv_gemm's packed [K][8] blocks (zero rows past
// Cout), so every block broadcasts from one line. Batch 64, 2 threads, in-process A/B against
// im2col + GEMM: 32 -> 32 stride 2 10-20% faster, 64 -> 64 stride 2 at 14x14 10-20%, 7x7 5-10%.
//
// Parallel over tiles (static schedule); results are the same for every thread count (each
// output is one block's sum over k, in k order, in slices of the same depths).
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "tinydiff/kernels/conv_gemm.hpp"
#include "tinydiff/kernels/conv_params.hpp"
#include "tinydiff/kernels/im2col.hpp"
#include "tinydiff/kernels/scratch.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace tinydiff::kernels {

// Whether implicit_conv takes patches of geometry g into `outputs` channels: AVX-512, planes that
// im2col_row_tables_avx512 handles, and at least 8 output channels (one full block).
inline bool implicit_conv_applies(const PatchGeometry& g, int64_t outputs) {
#if defined(__AVX512F__)
  return outputs >= 8 && detail::row_tables_apply(g);
#else
  (void)g, (void)outputs;
  return false;
#endif
}

// Whether conv2d_forward_implicit takes this convolution: one group, a kernel that is not
// pointwise (a 1x1 conv reads x in place already), and implicit_conv_applies.
inline bool implicit_forward_applies(const ConvParams& p) {
  return p.groups == 1 && !p.is_pointwise() && implicit_conv_applies(p.patches(), p.out_channels);
}

#if defined(__AVX512F__)
namespace implicit_detail {

constexpr int64_t kTile = 48;      // output positions per tile (3 vectors)
constexpr int64_t kMaxDepth = 96;  // patch rows per slice: B [96, 48] is 18 KiB of L1's 48 (96-144 alike, 288 ~8% slower)

// Slices of whole channels (rows_per_channel patch rows each, kh*kw for a convolution), evened
// out, of at most max_depth rows where a channel fits: 32 channels of 3x3 -> 4 slices of 8 (72
// rows), 64 -> 7 of 10 or fewer (90 rows).
struct ChannelSlices {
  int64_t per_slice = 1, rows_per_channel = 1;
  ChannelSlices(int64_t channels, int64_t rows_per_channel_, int64_t max_depth = kMaxDepth)
      : rows_per_channel(rows_per_channel_) {
    const int64_t most = std::max<int64_t>(1, max_depth / rows_per_channel);
    const int64_t count = (channels + most - 1) / most;
    per_slice = (channels + count - 1) / count;
  }
  int64_t max_depth() const { return per_slice * rows_per_channel; }
};

// A tile's columns as conv_gemm's block sees them: 16-float vectors, the last one masked.
struct TileColumns {
  int vectors;
  __mmask16 last;
  explicit TileColumns(int64_t width)
      : vectors(static_cast<int>((width + 15) / 16)), last(conv_gemm_detail::first_lanes(width - 16 * (vectors - 1))) {}
};

// Packs tiles of the patch matrix of a batch of images x [N, C, H, W] (geometry g): the columns
// [q0, q0 + width) of the batch's output positions (image by image, row by row) and the patch rows
// of a range of channels, into B [rows, 48] (kTile floats apart). One per thread: it holds the
// current tile's output rows.
class TilePacker {
 public:
  TilePacker(const float* x, const PatchGeometry& g, int64_t batch)
      : x_(x), g_(g), in_plane_(g.height * g.width), in_image_(g.channels * g.height * g.width),
        out_plane_(g.out_h * g.out_w), positions_(batch * g.out_h * g.out_w) {
    // Lane tables per kernel column j (as im2col_row_tables_avx512): output lane ow reads input
    // column ow * stride_w + j * dilation_w - pad_w, from the first (lanes 0-15) or second (16-31)
    // half of the input row; lanes outside the row are zeros.
    for (int64_t j = 0; j < g.kernel_w; ++j) {
      alignas(64) int32_t lanes[16] = {};
      unsigned bits = 0;
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const int64_t column = ow * g.stride_w + j * g.dilation_w - g.pad_w;
        if (column < 0 || column >= g.width) continue;
        lanes[ow] = static_cast<int32_t>(column);
        bits |= 1u << ow;
      }
      pick_[j] = _mm512_load_si512(lanes);
      valid_[j] = static_cast<__mmask16>(bits);
    }
    first_half_ = detail::low_lanes(g.width);
    second_half_ = detail::low_lanes(g.width - 16);
  }

  int64_t positions() const { return positions_; }

  // Makes [q0, q0 + width) the current tile: the output rows it overlaps, and the share of x to
  // prefetch while packing it (see pack).
  void start_tile(int64_t q0, int64_t width) {
    const int64_t OW = g_.out_w;
    row_count_ = 0;
    for (int64_t r = q0 / OW; r * OW < q0 + width; ++r) {
      const int64_t n = r / g_.out_h, oh = r % g_.out_h, base = r * OW - q0;
      const __mmask16 inside = detail::low_lanes(std::min(OW, width - base));
      const __mmask16 before = detail::low_lanes(-base);
      rows_[row_count_++] = Row{x_ + n * in_image_, oh * g_.stride_h - g_.pad_h, base,
                                static_cast<__mmask16>(inside & ~before)};
    }
    // The tiles walk the images in order, and reading x's lines only when a tile needs them, a
    // few per channel plane, leaves the hardware prefetchers nothing to follow: so each tile
    // prefetches (into L2) the share of x that the tiles one image ahead will read.
    ahead_ = x_ + (q0 + out_plane_) * in_image_ / out_plane_;
    ahead_end_ = x_ + std::min(positions_, q0 + width + out_plane_) * in_image_ / out_plane_;
    const int64_t input_rows = g_.channels * g_.kernel_h;
    ahead_per_row_ = ((ahead_end_ - ahead_) / 16 + input_rows - 1) / input_rows + 1;
  }

  // For each slice of the channels: packs it into `out` (see pack), then calls multiply(c0, c1).
  template <class Multiply>
  void for_each_slice(const ChannelSlices& slices, float* out, Multiply&& multiply) {
    for (int64_t c0 = 0; c0 < g_.channels; c0 += slices.per_slice) {
      const int64_t c1 = std::min(g_.channels, c0 + slices.per_slice);
      pack(c0, c1, out);
      multiply(c0, c1);
    }
  }

  // B rows (c, i, j) for channels [c0, c1), row (c - c0)*kh*kw + i*kw + j at out + that * kTile.
  // The patch rows (c, i, 0..kw-1) all read input row oh * stride_h - pad_h + i * dilation_h: one
  // load of it per output row the tile overlaps, then one permute and store per kernel column. A
  // row that began in the previous tile is stored from before `out`, masked to the lanes inside
  // it: `out` needs 16 writable floats in front.
  void pack(int64_t c0, int64_t c1, float* out) {
    alignas(64) static const float kZeroRow[32] = {};
    const int64_t H = g_.height, W = g_.width, kw = g_.kernel_w;
    for (int64_t channel = c0; channel < c1; ++channel)
      for (int64_t i = 0; i < g_.kernel_h; ++i) {
        for (int64_t e = 0; e < ahead_per_row_ && ahead_ < ahead_end_; ++e, ahead_ += 16)
          _mm_prefetch(reinterpret_cast<const char*>(ahead_), _MM_HINT_T1);
        const int64_t plane_offset = channel * in_plane_, row_offset = i * g_.dilation_h;
        float* rows_out = out + ((channel - c0) * g_.kernel_h + i) * kw * kTile;
        for (int64_t s = 0; s < row_count_; ++s) {
          const Row& row = rows_[s];
          const int64_t ih = row.first_ih + row_offset;
          const float* in = ih >= 0 && ih < H ? row.image + plane_offset + ih * W : kZeroRow;
          const __m512 lo = _mm512_maskz_loadu_ps(first_half_, in);
          const __m512 hi = _mm512_maskz_loadu_ps(second_half_, in + 16);
          float* to = rows_out + row.base;
          for (int64_t j = 0; j < kw; ++j, to += kTile)
            _mm512_mask_storeu_ps(to, row.lanes, _mm512_maskz_permutex2var_ps(valid_[j], lo, pick_[j], hi));
        }
      }
  }

 private:
  // An output row the tile overlaps: it covers tile columns [base, base + out_w) (base may be
  // negative: the row began in the previous tile), of which `lanes` fall inside the tile.
  struct Row {
    const float* image;  // x of the row's image
    int64_t first_ih;    // input row under kernel row 0: oh * stride_h - pad_h
    int64_t base;
    __mmask16 lanes;
  };
  const float* x_;
  PatchGeometry g_;
  int64_t in_plane_, in_image_, out_plane_, positions_;
  __m512i pick_[detail::kRowTablesMaxKernel];
  __mmask16 valid_[detail::kRowTablesMaxKernel];
  __mmask16 first_half_, second_half_;
  Row rows_[kTile + 1];  // a tile overlaps at most 48 rows (out_w = 1), +1 for safety at the edges
  int64_t row_count_ = 0;
  const float* ahead_ = nullptr;
  const float* ahead_end_ = nullptr;
  int64_t ahead_per_row_ = 0;
};

}  // namespace implicit_detail

// y [N, M, out_h, out_w] = W [M, K] patches(x[n]) (+ b [M]) for each image x[n] [C, H, W] of the
// batch (patch geometry g, K = C*kh*kw), for implicit_conv_applies(g, M). Parallel over tiles when
// `parallel`.
inline void implicit_conv(const float* x, const PatchGeometry& g, int64_t batch, const float* w, int64_t M,
                          const float* b, float* y, bool parallel) {
  using namespace implicit_detail;
  constexpr int kRows = conv_gemm_detail::kRows;
  const int64_t K = g.col_rows(), L = g.out_h * g.out_w, positions = batch * L;
  const int64_t blocks = (M + kRows - 1) / kRows;
  float* packed_w = thread_scratch(ScratchSlot::kWeights, static_cast<size_t>(blocks * K * kRows));
  conv_gemm_detail::pack_blocks(w, M, K, K, 1, 0, blocks, packed_w);  // every block broadcasts from one line
  const ChannelSlices slices(g.channels, g.kernel_h * g.kernel_w);
  const int64_t tiles = (positions + kTile - 1) / kTile;
#pragma omp parallel if (parallel && tiles > 1)
  {
    TilePacker packer(x, g, batch);
    float* packed_b = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(16 + slices.max_depth() * kTile)) + 16;
    float* c = thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(blocks * kRows * kTile));
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t q0 = t * kTile, width = std::min(kTile, positions - q0);
      packer.start_tile(q0, width);
      const TileColumns columns(width);
      packer.for_each_slice(slices, packed_b, [&](int64_t c0, int64_t c1) {
        const int64_t k0 = c0 * slices.rows_per_channel, depth = (c1 - c0) * slices.rows_per_channel;
        for (int64_t i = 0; i < blocks; ++i)
          conv_gemm_detail::run_block<false>(true, columns.vectors, packed_w + (i * K + k0) * kRows, 0, packed_b, kTile,
                                             nullptr, 0, depth, c + i * kRows * kTile, kTile, kRows, columns.last,
                                             k0 > 0);
      });
      // C [M, 48] into y, image by image, with the bias.
      for (int64_t q = q0; q < q0 + width;) {
        const int64_t n = q / L, l = q % L, run = std::min(q0 + width, (n + 1) * L) - q;
        for (int64_t o = 0; o < M; ++o) {
          const float* from = c + o * kTile + (q - q0);
          float* to = y + (n * M + o) * L + l;
          const float bias = b ? b[o] : 0.0f;
          for (int64_t e = 0; e < run; ++e) to[e] = from[e] + bias;
        }
        q += run;
      }
    }
  }
}

// y [N, Cout, out_h, out_w] = conv(x, w) (+ b), for implicit_forward_applies(p).
inline void conv2d_forward_implicit(const float* x, const float* w, const float* b, float* y, const ConvParams& p) {
  implicit_conv(x, p.patches(), p.batch, w, p.out_channels, b, y, p.parallel_over_batch());
}
#endif

}  // namespace tinydiff::kernels
