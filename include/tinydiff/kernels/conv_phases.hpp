#pragma once
// The input gradient of a convolution (and so conv_transpose2d's forward), phase by phase.
//
// At stride s an input pixel iy receives gradient only through the kernel taps ky for which
// iy + p - ky is a multiple of s, and which taps those are depends only on the pixel's phase
// r = (iy + p) mod s. Split by phase (r_y, r_x), the input gradient becomes s_h * s_w small
// stride-1 convolutions of dy, each with its phase's taps (flipped), and each one GEMM:
//   dx[phase] [Cin_g, m*Lq] = W_phase [Cin_g, Cout_g*Ty*Tx] x patches_phase(dy) [Cout_g*Ty*Tx, m*Lq]
// The multiply count is that of im2col's W^T dy, but there is no [K, L] dcol to write and then
// scatter-add back with col2im: every pixel of dx is written once. (This is the "sub-pixel"
// form of a transposed convolution: 7x7 -> 14x14 with a 4x4 kernel is four 2x2 convolutions.)
// At stride 1 there is a single phase: dx is dy convolved with the flipped kernel, channels
// swapped, padding k-1-p.
//
// Along one axis (input size n, kernel k, stride s, padding p), phase r has
//   taps     ky = r + t*s, t in [0, T), T = ceil((k - r) / s)
//   pixels   iy = s*q + r - p for q in [first, first + count): those inside [0, n)
//   values   dx[iy] = sum_t w[ky] dy[q - t]          (dy outside [0, n_out) counts as 0)
// so the phase's patch matrix is im2col of dy at stride 1 with T taps (tap i = T-1-t, i.e.
// flipped), padding T-1-first and `count` outputs. A phase without taps (a kernel smaller
// than the stride) gets zeros.
//
// Two forms (kernels/conv_paths.hpp names them and picks one): on small planes the GEMMs are
// implicit (kernels/conv_implicit.hpp): at stride 1 the one phase is implicit_conv over dy, and
// at stride 2 the phases that share dy's shifts run together on one packed tile of them
// (conv2d_backward_input_phases_implicit); elsewhere each chunk of images gets its phases' patch
// matrices and one GEMM per phase (conv2d_backward_input_phases).
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "tinydiff/kernels/batch_chunks.hpp"
#include "tinydiff/kernels/conv_gemm.hpp"
#include "tinydiff/kernels/conv_implicit.hpp"
#include "tinydiff/kernels/conv_params.hpp"
#include "tinydiff/kernels/im2col.hpp"
#include "tinydiff/kernels/parallel_ranges.hpp"
#include "tinydiff/kernels/phases_geometry.hpp"
#include "tinydiff/kernels/scratch.hpp"
#include "tinydiff/kernels/tiers.hpp"

namespace tinydiff::kernels {

namespace phases_detail {

// What both forms need: the phases and their rearranged weights, whether the row phases' two
// column phases zip into whole rows of dx (stride 2 along the width, both with taps; pair[ry] =
// the indices of the phases holding row phase ry's even and odd pixels), and the shifts of dy
// the phases share.
struct PhasePlan {
  std::vector<Phase> phases;
  std::vector<std::pair<int64_t, int64_t>> pair;
  bool zip = false;
  SharedShifts shifts;

  explicit PhasePlan(const ConvParams& p) : phases(phases_of(p)) {
    pair.assign(static_cast<size_t>(p.stride_h), {-1, -1});
    zip = p.stride_w == 2;
    for (size_t i = 0; i < phases.size(); ++i) {
      const Phase& f = phases[i];
      const int64_t first_pixel = p.stride_w * f.x.first + f.rx - p.pad_w;  // 0 or 1 at stride 2
      auto& slots = pair[static_cast<size_t>(f.ry)];
      (first_pixel == 0 ? slots.first : slots.second) = static_cast<int64_t>(i);
      if (f.rows() == 0) zip = false;
    }
    for (const auto& slots : pair)
      if (slots.first < 0 || slots.second < 0) zip = false;
    shifts = shared_shifts(p, phases);
  }

  // The phases' weights, rearranged (phase_weights).
  std::vector<float> weights(const float* w, const ConvParams& p) const {
    int64_t count = 0;
    for (const Phase& f : phases) count += p.groups * p.in_per_group() * f.rows();
    std::vector<float> out(static_cast<size_t>(count));
    phase_weights(w, p, phases, out.data());
    return out;
  }

  // The implicit form's two cases: one phase (stride 1) as implicit_conv over dy, or stride-2
  // phases that share dy's shifts and zip into whole rows.
  bool single_implicit(const ConvParams& p) const {
    return p.stride_h == 1 && p.stride_w == 1 && p.groups == 1 && phases.size() == 1 &&
           implicit_conv_applies(phases[0].patches);
  }
  bool shared_implicit(const ConvParams& p) const {
    return zip && shifts.usable && p.groups == 1 && implicit_conv_applies(shifts.patches);
  }
};

}  // namespace phases_detail

// Whether the input gradient can go by phases: any convolution without dilation, except a
// pointwise one (whose im2col form needs no patches at all).
inline bool phases_apply(const ConvParams& p) {
  return p.dilation_h == 1 && p.dilation_w == 1 && !p.is_pointwise();
}

// Whether it can go by phases as implicit GEMMs (see the top of the file).
inline bool phases_implicit_apply(const ConvParams& p) {
  if (!phases_apply(p) || p.groups != 1) return false;
  const phases_detail::PhasePlan plan(p);
  return plan.single_implicit(p) || plan.shared_implicit(p);
}

// dx [N, Cin, in_h, in_w] = the input gradient of conv for dy [N, Cout, out_h, out_w], by phases as
// implicit GEMMs, for phases_implicit_apply(p). With `bias` [Cin] (conv_transpose2d's), bias[c] is
// added to every pixel of channel c as it is stored. Parallel over tiles.
//
// At stride 2 (3x3 and 4x4 kernels on even planes) the phases run as one implicit GEMM: per tile of
// 48 positions of the phases' common grid and slice of dy's channels, the tile's shifted rows of dy
// are packed once, into L1, and every phase's blocks read their rows from there through a row
// table; the tile's dx rows are then written two phases at a time, zipped
// (kernels/tier/implicit.inl). Against the chunked form (the shared patch matrix of a chunk of
// images written to L2, then each phase's GEMM): the U-Net's four (3x3 from 28x28 and 14x14, 4x4 to
// 14x14 and 28x28) 8-20% faster (batch 64, 2 threads, in-process A/B on the AVX-512 Xeon).
inline void conv2d_backward_input_phases_implicit(const float* dy, const float* w, float* dx, const ConvParams& p,
                                                  const float* bias = nullptr) {
  const phases_detail::PhasePlan plan(p);
  const std::vector<float> weights = plan.weights(w, p);
  if (plan.single_implicit(p)) {  // the one phase is all of dx: a forward convolution of dy
    implicit_conv(dy, plan.phases[0].patches, p.batch, weights.data(), p.in_channels, bias, dx,
                  p.parallel_over_batch());
    return;
  }
  const TierKernels& tier = tier_kernels();
  const int64_t cin = p.in_channels, rows = tier.gemm_rows, blocks = (cin + rows - 1) / rows;
  // Each phase's weights [Cin, Cout*Ty*Tx] as the GEMM's packed blocks.
  const size_t phase_count = plan.phases.size();
  std::vector<int64_t> packed_at(phase_count + 1, 0);
  for (size_t f = 0; f < phase_count; ++f) packed_at[f + 1] = packed_at[f] + blocks * plan.phases[f].rows() * rows;
  float* packed_w = thread_scratch(ScratchSlot::kWeights, static_cast<size_t>(packed_at[phase_count]));
  for (size_t f = 0; f < phase_count; ++f)
    tier.pack_weight_blocks(weights.data() + plan.phases[f].weights, cin, plan.phases[f].rows(),
                            packed_w + packed_at[f]);
  PhasesJob job;
  job.dy = dy, job.p = p, job.bias = bias, job.dx = dx;
  job.phases = &plan.phases, job.shifts = &plan.shifts, job.pairs = &plan.pair;
  job.packed_w = packed_w, job.packed_at = &packed_at;
  const PatchGeometry& g = plan.shifts.patches;
  const int64_t positions = p.batch * g.out_h * g.out_w, tiles = (positions + kTile - 1) / kTile;
  parallel_ranges(tiles, p.parallel_over_batch(),
                  [&](int64_t begin, int64_t end) { tier.phases_implicit_tiles(job, begin, end); });
}

// dx [N, Cin, in_h, in_w] = the input gradient of conv for dy [N, Cout, out_h, out_w], by phases
// (see the top of the file), for phases_apply(p). Per chunk of m images and group: each phase's
// patches of the m images side by side and one GEMM, then dx written row by row from the phases'
// rows: at stride 2 along the width a row zips its two column phases together; otherwise each
// phase's row is stored into every s-th pixel. With `bias` [Cin], bias[c] is added to every pixel
// of channel c as it is stored (conv_transpose2d's bias).
inline void conv2d_backward_input_phases(const float* dy, const float* w, float* dx, const ConvParams& p,
                                         const float* bias = nullptr) {
  using namespace phases_detail;
  const PhasePlan plan(p);
  const std::vector<Phase>& phases = plan.phases;
  const std::vector<float> weights = plan.weights(w, p);
  const SharedShifts& shifts = plan.shifts;
  const TierKernels& tier = tier_kernels();
  const int64_t cin_g = p.in_per_group(), cout_g = p.out_per_group(), in_plane = p.in_h * p.in_w;
  const int64_t out_plane = p.out_h * p.out_w;
  int64_t max_rows = 1, max_cols = 1, all_cols = 0;
  for (const Phase& f : phases) {
    max_rows = std::max(max_rows, f.rows());
    max_cols = std::max(max_cols, f.cols());
    all_cols += f.cols();
  }
  if (shifts.usable) max_rows = std::max(max_rows, 2 * shifts.patches.col_rows());  // half the budget
  const BatchChunks chunks(p.batch, detail::images_per_gemm(max_cols, max_rows));
  for_each_index(chunks.count, p.parallel_over_batch(), [&](int64_t c) {
    const int64_t n0 = chunks.begin(c), m = chunks.size(c);
    // values of phase i: [Cin_g, m*L_i] at products + m * cin_g * offsets[i] (none for a phase without taps)
    float* products = thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(m * cin_g * all_cols));
    for (int64_t g = 0; g < p.groups; ++g) {
      std::vector<const float*> values(phases.size(), nullptr);
      const float* dyg = dy + (n0 * p.out_channels + g * cout_g) * out_plane;
      float* shared = nullptr;  // the shifted copies of dy, all phases' patch rows
      if (shifts.usable) {
        const int64_t L = shifts.patches.col_cols(), cols = m * L;
        shared = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(shifts.patches.col_rows() * cols));
        for (int64_t j = 0; j < m; ++j) im2col(dyg + j * p.out_channels * out_plane, shifts.patches, shared + j * L, cols);
      }
      int64_t offset = 0;
      for (size_t i = 0; i < phases.size(); ++i) {
        const Phase& f = phases[i];
        const int64_t L = f.cols(), cols = m * L, rows = f.rows();
        float* product = products + m * cin_g * offset;
        offset += L;
        if (rows == 0) continue;
        const float* phase_weights_g = weights.data() + f.weights + g * cin_g * rows;
        if (shared) {
          const float** row_table = thread_scratch_of<const float*>(ScratchSlot::kRowTable, static_cast<size_t>(rows));
          phase_rows(f, shifts, shared, cols, row_table);
          conv_gemm_rows(false, cin_g, cols, rows, phase_weights_g, row_table, product, false);
        } else {
          float* col = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(rows * cols));
          for (int64_t j = 0; j < m; ++j) im2col(dyg + j * p.out_channels * out_plane, f.patches, col + j * L, cols);
          conv_gemm(false, cin_g, cols, rows, phase_weights_g, col, product, false);
        }
        values[i] = product;
      }
      for (int64_t j = 0; j < m; ++j)
        for (int64_t ci = 0; ci < cin_g; ++ci) {
          float* plane = dx + ((n0 + j) * p.in_channels + g * cin_g + ci) * in_plane;
          const float b = bias ? bias[g * cin_g + ci] : 0.0f;
          if (plan.zip) {
            for (const auto& slots : plan.pair) {
              const Phase& fe = phases[static_cast<size_t>(slots.first)];
              const Phase& fo = phases[static_cast<size_t>(slots.second)];
              const float* even = values[static_cast<size_t>(slots.first)] + (ci * m + j) * fe.cols();
              const float* odd = values[static_cast<size_t>(slots.second)] + (ci * m + j) * fo.cols();
              const int64_t iy = p.stride_h * fe.y.first + fe.ry - p.pad_h;  // the row phase's first row
              tier.interleave_rows(plane + iy * p.in_w, p.stride_h * p.in_w, even, odd, fe.x.count, fo.x.count,
                                   fe.y.count, b);
            }
            continue;
          }
          if (p.stride_h == 1 && p.stride_w == 1) {  // one phase, all of the plane
            tier.store_strided(plane, values[0] + (ci * m + j) * in_plane, 1, in_plane, b);
            continue;
          }
          for (size_t i = 0; i < phases.size(); ++i) {
            const Phase& f = phases[i];
            const int64_t ix = p.stride_w * f.x.first + f.rx - p.pad_w;
            for (int64_t a = 0; a < f.y.count; ++a) {
              const int64_t iy = p.stride_h * (f.y.first + a) + f.ry - p.pad_h;
              const float* src = values[i] ? values[i] + (ci * m + j) * f.cols() + a * f.x.count : nullptr;
              tier.store_strided(plane + iy * p.in_w + ix, src, p.stride_w, f.x.count, b);
            }
          }
        }
    }
  });
}

}  // namespace tinydiff::kernels
