#pragma once
// What every tier of kernels provides (kernels/tiers.hpp compiles kernels/tier/ once per tier):
// the table of its functions, and the descriptions of the work they are handed.
//
// The tier functions are serial. The drivers (kernels/conv.hpp and the files it includes,
// ops/unary.hpp, ops/norm.hpp, optim/adam.hpp) split the work over the OpenMP threads and hand
// each thread its share: a range of GEMM panels, of implicit-GEMM tiles, a chunk of images.
#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "tinydiff/kernels/conv_params.hpp"
#include "tinydiff/kernels/phases_geometry.hpp"
#include "tinydiff/simd/isa.hpp"

namespace tinydiff::kernels {

// C [M, N] = op(A) B (+ C) (kernels/conv_gemm.hpp): row-major, op(A) = A [M, K] or A^T for
// A [K, M]; B [K, N] contiguous, or its K rows through a table of pointers.
struct GemmJob {
  bool trans_a = false;
  int64_t M = 0, N = 0, K = 0;
  const float* a = nullptr;
  const float* b = nullptr;
  const float* const* b_rows = nullptr;
  float* c = nullptr;
  bool accumulate = false;
  // Set by the tier's gemm_prepare: blocks [first_packed, ...) of op(A), copied into [K][rows].
  const float* packed = nullptr;
  int64_t first_packed = 0;
};

// The implicit GEMMs (kernels/conv_implicit.hpp) cut the batch's output positions into tiles of
// kTile; each tile's patch rows are packed kTileStride floats apart (the slack past kTile, and
// kTileFront floats before the first row, take the tails of whole-vector stores).
constexpr int64_t kTile = 48, kTileStride = 64, kTileFront = 16;

// The slices of whole channels (rows_per_channel patch rows each, kh*kw for a convolution) that a
// tile's patch rows are packed in, evened out, of at most max_depth rows where a channel fits: 32
// channels of 3x3 in 96 rows -> 4 slices of 8 (72 rows), 64 -> 7 of 10 or fewer (90 rows).
struct ChannelSlices {
  int64_t per_slice = 1, rows_per_channel = 1;
  ChannelSlices(int64_t channels, int64_t rows_per_channel_, int64_t max_depth)
      : rows_per_channel(rows_per_channel_) {
    const int64_t most = std::max<int64_t>(1, max_depth / rows_per_channel);
    const int64_t count = (channels + most - 1) / most;
    per_slice = std::max<int64_t>(1, (channels + count - 1) / std::max<int64_t>(1, count));
  }
  int64_t max_depth() const { return per_slice * rows_per_channel; }
};
// Packed rows per slice: the forward's B [96, 48] is 18 KiB of L1 (96-144 alike, 288 ~8% slower);
// the phases go deeper, as each phase reads only some of a slice's rows (3x3: 1, 2, 2 and 4 of
// every 4), and the same packed rows would give its blocks short runs of k.
constexpr int64_t kImplicitMaxDepth = 96, kPhasesMaxDepth = 144;

// y [batch, M, out_h, out_w] = W patches(x [batch, C, H, W]) (+ bias [M]), W [M, K] already in the
// tier's packed blocks (pack_weight_blocks).
struct ImplicitJob {
  const float* x = nullptr;
  PatchGeometry g;
  int64_t batch = 0;
  const float* packed_w = nullptr;
  int64_t M = 0;
  const float* bias = nullptr;
  float* y = nullptr;
};

// The input gradient of a stride-2 convolution whose phases share dy's shifts, as one implicit GEMM
// (kernels/conv_phases.hpp): dx [N, Cin, H, W] from dy, with bias [Cin] added (or null).
struct PhasesJob {
  const float* dy = nullptr;
  ConvParams p;
  const float* bias = nullptr;
  float* dx = nullptr;
  const std::vector<phases_detail::Phase>* phases = nullptr;
  const phases_detail::SharedShifts* shifts = nullptr;
  const std::vector<std::pair<int64_t, int64_t>>* pairs = nullptr;  // per row phase: its even and odd column phases
  const float* packed_w = nullptr;                                  // each phase's weights in packed blocks
  const std::vector<int64_t>* packed_at = nullptr;                  // where phase f's blocks start
};

// One Adam/AdamW step's constants (optim/adam.hpp computes them; all in float, as PyTorch's update).
struct AdamStep {
  float step_size = 0, bias_correction2_sqrt = 1, beta1 = 0, beta2 = 0, one_minus_beta1 = 1, one_minus_beta2 = 1;
  float eps = 0, weight_decay = 0, decay = 1;
  bool l2 = false, decoupled = false;  // Adam's coupled L2 term, AdamW's decoupled decay
};

// One tier's kernels. The pointers are filled by the tier (kernels/tier/table.inl).
struct TierKernels {
  simd::Isa isa;
  int lanes;      // floats per vector
  int gemm_rows;  // rows per GEMM block, the height of packed weight blocks
  int gemm_columns;  // columns per GEMM block
  // The GEMM (kernels/conv_gemm.hpp, kernels/tier/gemm.inl).
  void (*gemm_prepare)(GemmJob& job);
  int64_t (*gemm_panel_count)(int64_t N);
  void (*gemm_panels)(const GemmJob& job, int64_t begin, int64_t end);
  // W [M, K] as GEMM blocks: ceil(M / gemm_rows) blocks of [K][gemm_rows] at out, zeros past row M.
  void (*pack_weight_blocks)(const float* w, int64_t M, int64_t K, float* out);
  // Patches (kernels/im2col.hpp, kernels/tier/patches.inl).
  void (*im2col)(const float* x, const PatchGeometry& g, float* col, int64_t row_stride);
  void (*col2im)(const float* col, const PatchGeometry& g, float* x, int64_t row_stride);
  void (*transpose)(const float* src, int64_t rows, int64_t cols, int64_t src_stride, float* dst, int64_t dst_stride);
  // Implicit GEMMs (kernels/conv_implicit.hpp, kernels/conv_phases.hpp, kernels/tier/implicit.inl).
  void (*implicit_conv_tiles)(const ImplicitJob& job, int64_t tile_begin, int64_t tile_end);
  void (*phases_implicit_tiles)(const PhasesJob& job, int64_t tile_begin, int64_t tile_end);
  void (*store_strided)(float* dst, const float* src, int64_t stride, int64_t n, float bias);
  void (*interleave_rows)(float* dst, int64_t dst_step, const float* even, const float* odd, int64_t n_even,
                          int64_t n_odd, int64_t rows, float bias);
  // The weight gradient read straight from the input (kernels/weight_grad_direct.hpp).
  void (*weight_grad_direct)(const float* x, const float* dyt, float* dwt, const ConvParams& p, int64_t n0,
                             int64_t m, int64_t g);
  // Winograd's transforms (kernels/winograd.hpp, kernels/tier/winograd.inl).
  void (*winograd_input)(const float* x, const WinogradShape& s, int64_t m, float* padded, float* V);
  void (*winograd_output)(const float* M, const float* b, const WinogradShape& s, int64_t m, float* rows, float* y);
  void (*winograd_output_grad)(const float* dy, const WinogradShape& s, int64_t m, float* padded, float* dM);
  // Winograd F(4x4, 3x3)'s transforms on channels-last data (kernels/tier/winograd4.inl).
  void (*winograd4_input)(const float* xt, const WinogradShape& s, int64_t m, float* V);
  void (*winograd4_output)(const float* M, const float* b, const WinogradShape& s, int64_t m, float* yt);
  void (*winograd4_output_grad)(const float* dyt, const WinogradShape& s, int64_t m, float* dM);
  // Elementwise (kernels/tier/elementwise.inl): y = silu(x), dx = g silu'(x) over n values.
  void (*silu_forward)(const float* x, float* y, int64_t n);
  void (*silu_backward)(const float* x, const float* g, float* dx, int64_t n);
  // Group normalisation of one (image, group) block (kernels/group_norm.hpp).
  void (*group_norm_forward_block)(const float* x, float* y, int64_t channels, int64_t size, const float* weight,
                                   const float* bias, double eps, float* mean, float* rstd);
  void (*group_norm_backward_block)(const float* g, const float* x, float mean, float rstd, const float* weight,
                                    int64_t channels, int64_t size, float* dx, double* db, double* ds);
  // Adam / AdamW over n values (optim/adam.hpp).
  void (*adam_update)(float* w, const float* grad, float* m, float* v, float* vmax, int64_t n, const AdamStep& step);
};

}  // namespace tinydiff::kernels
