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
// swapped, padding k-1-p. On small planes (kernels/conv_implicit.hpp) the GEMMs are implicit:
// that one phase is implicit_conv over dy, and at stride 2 the phases that share dy's shifts run
// together on one packed tile of them (backward_input_implicit).
//
// Along one axis (input size n, kernel k, stride s, padding p), phase r has
//   taps     ky = r + t*s, t in [0, T), T = ceil((k - r) / s)
//   pixels   iy = s*q + r - p for q in [first, first + count): those inside [0, n)
//   values   dx[iy] = sum_t w[ky] dy[q - t]          (dy outside [0, n_out) counts as 0)
// so the phase's patch matrix is im2col of dy at stride 1 with T taps (tap i = T-1-t, i.e.
// flipped), padding T-1-first and `count` outputs. A phase without taps (a kernel smaller
// than the stride) gets zeros.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "tinydiff/kernels/batch_chunks.hpp"
#include "tinydiff/kernels/conv_gemm.hpp"
#include "tinydiff/kernels/conv_implicit.hpp"
#include "tinydiff/kernels/conv_params.hpp"
#include "tinydiff/kernels/im2col.hpp"
#include "tinydiff/kernels/scratch.hpp"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace tinydiff::kernels {

namespace phases_detail {

struct PhaseAxis {
  int64_t taps = 0, first = 0, count = 0;
};

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Phase r along an axis of input size `in` (see the top of the file).
inline PhaseAxis phase_axis(int64_t r, int64_t kernel, int64_t stride, int64_t pad, int64_t in) {
  PhaseAxis a;
  a.taps = r < kernel ? (kernel - r + stride - 1) / stride : 0;
  a.first = -floor_div(r - pad, stride);                  // ceil((pad - r) / stride): the first q with iy >= 0
  const int64_t end = floor_div(in - 1 + pad - r, stride) + 1;  // one past the last q with iy < in
  a.count = std::max<int64_t>(0, end - a.first);
  return a;
}

// The stores of dx below add `bias` (conv_transpose2d's, 0 for an input gradient) on the way, so
// that a transposed convolution needs no second pass over its output.

// dst[k * stride] = src[k] + bias (bias alone when src is null) for k in [0, n). At stride 2 with
// AVX-512: 8 values per step spread to the even lanes of 16 by one permute and stored there with
// a mask, so the odd pixels (another phase's) are left alone.
inline void store_strided(float* dst, const float* src, int64_t stride, int64_t n, float bias) {
#if defined(__AVX512F__)
  if (stride <= 2) {
    const __m512 b = _mm512_set1_ps(bias);
    const __m512i pairs = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    const int64_t step = stride == 1 ? 16 : 8;
    for (int64_t k = 0; k < n; k += step) {
      const int64_t count = std::min<int64_t>(step, n - k);
      const __mmask16 lanes = static_cast<__mmask16>((1u << count) - 1u);
      const __m512 values = _mm512_add_ps(src ? _mm512_maskz_loadu_ps(lanes, src + k) : _mm512_setzero_ps(), b);
      if (stride == 1) {
        _mm512_mask_storeu_ps(dst + k, lanes, values);
        continue;
      }
      const __mmask16 even = static_cast<__mmask16>(0x5555u & ((1u << (2 * count - 1)) - 1u));
      _mm512_mask_storeu_ps(dst + 2 * k, even, _mm512_permutexvar_ps(pairs, values));
    }
    return;
  }
#endif
  for (int64_t k = 0; k < n; ++k) dst[k * stride] = (src ? src[k] : 0.0f) + bias;
}

// dst[2k] = even[k] + bias, dst[2k + 1] = odd[k] + bias: one row of dx from its two column phases
// at stride 2 (n_even values of one, n_odd = n_even or n_even - 1 of the other). With AVX-512:
// 8 pairs per step, one two-source permute, one store.
inline void interleave_pairs(float* dst, const float* even, const float* odd, int64_t n_even, int64_t n_odd,
                             float bias) {
#if defined(__AVX512F__)
  const int64_t total = n_even + n_odd;
  const __m512 b = _mm512_set1_ps(bias);
  const __m512i zip = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  for (int64_t k = 0; 2 * k < total; k += 8) {
    const int64_t e = std::min<int64_t>(8, n_even - k), o = std::max<int64_t>(0, std::min<int64_t>(8, n_odd - k));
    const __m512 ev = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << e) - 1u), even + k);
    const __m512 ov = _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << o) - 1u), odd + k);
    const int64_t out = std::min<int64_t>(16, total - 2 * k);
    _mm512_mask_storeu_ps(dst + 2 * k, static_cast<__mmask16>((1u << out) - 1u),
                          _mm512_add_ps(_mm512_permutex2var_ps(ev, zip, ov), b));
  }
#else
  int64_t k = 0;
  for (; k < n_odd; ++k) {
    dst[2 * k] = even[k] + bias;
    dst[2 * k + 1] = odd[k] + bias;
  }
  if (k < n_even) dst[2 * k] = even[k] + bias;
#endif
}

// interleave_pairs for `rows` rows: dst row r at dst + r * dst_step from rows r of even and odd
// (n_even and n_odd values each). Rows of at most 16 pixels (dx of 14 from two phases of 7) take one
// vector each, with the masks set up once.
inline void interleave_rows(float* dst, int64_t dst_step, const float* even, const float* odd, int64_t n_even,
                            int64_t n_odd, int64_t rows, float bias) {
#if defined(__AVX512F__)
  if (n_even + n_odd <= 16) {
    const __m512 b = _mm512_set1_ps(bias);
    const __m512i zip = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __mmask16 even_lanes = static_cast<__mmask16>((1u << n_even) - 1u);
    const __mmask16 odd_lanes = static_cast<__mmask16>((1u << n_odd) - 1u);
    const __mmask16 out_lanes = static_cast<__mmask16>((1u << (n_even + n_odd)) - 1u);
    for (int64_t r = 0; r < rows; ++r) {
      const __m512 ev = _mm512_maskz_loadu_ps(even_lanes, even + r * n_even);
      const __m512 ov = _mm512_maskz_loadu_ps(odd_lanes, odd + r * n_odd);
      _mm512_mask_storeu_ps(dst + r * dst_step, out_lanes, _mm512_add_ps(_mm512_permutex2var_ps(ev, zip, ov), b));
    }
    return;
  }
#endif
  for (int64_t r = 0; r < rows; ++r)
    interleave_pairs(dst + r * dst_step, even + r * n_even, odd + r * n_odd, n_even, n_odd, bias);
}

// One phase of one group: its axes, its patch geometry over dy, and its weights' offset.
struct Phase {
  int64_t ry = 0, rx = 0;
  PhaseAxis y, x;
  PatchGeometry patches;   // over one image's dy [Cout_g, out_h, out_w]
  int64_t weights = 0;     // offset of W_phase [Cin_g, Cout_g*Ty*Tx] (group 0) in the phase weights
  int64_t rows() const { return patches.col_rows(); }
  int64_t cols() const { return y.count * x.count; }
};

inline std::vector<Phase> phases_of(const ConvParams& p) {
  std::vector<Phase> phases;
  int64_t offset = 0;
  for (int64_t ry = 0; ry < p.stride_h; ++ry)
    for (int64_t rx = 0; rx < p.stride_w; ++rx) {
      Phase f;
      f.ry = ry;
      f.rx = rx;
      f.y = phase_axis(ry, p.kernel_h, p.stride_h, p.pad_h, p.in_h);
      f.x = phase_axis(rx, p.kernel_w, p.stride_w, p.pad_w, p.in_w);
      if (f.y.count == 0 || f.x.count == 0) continue;
      PatchGeometry& g = f.patches;
      g.channels = p.out_per_group();
      g.height = p.out_h;
      g.width = p.out_w;
      g.kernel_h = f.y.taps;
      g.kernel_w = f.x.taps;
      g.pad_h = f.y.taps - 1 - f.y.first;
      g.pad_w = f.x.taps - 1 - f.x.first;
      g.out_h = f.y.count;
      g.out_w = f.x.count;
      f.weights = offset;
      offset += p.groups * p.in_per_group() * f.rows();
      phases.push_back(f);
    }
  return phases;
}

// W_phase[g][ci][(co*Ty + i)*Tx + j] = w[g*Cout_g + co][ci][ry + (Ty-1-i)*s_h][rx + (Tx-1-j)*s_w].
inline void phase_weights(const float* w, const ConvParams& p, const std::vector<Phase>& phases, float* out) {
  const int64_t cin_g = p.in_per_group(), cout_g = p.out_per_group(), kh = p.kernel_h, kw = p.kernel_w;
  for (const Phase& f : phases) {
    const int64_t ty = f.y.taps, tx = f.x.taps, rows = f.rows();
    for (int64_t g = 0; g < p.groups; ++g)
      for (int64_t ci = 0; ci < cin_g; ++ci) {
        float* dst = out + f.weights + (g * cin_g + ci) * rows;
        for (int64_t co = 0; co < cout_g; ++co)
          for (int64_t i = 0; i < ty; ++i)
            for (int64_t j = 0; j < tx; ++j) {
              const int64_t ky = f.ry + (ty - 1 - i) * p.stride_h, kx = f.rx + (tx - 1 - j) * p.stride_w;
              dst[(co * ty + i) * tx + j] = w[(((g * cout_g + co) * cin_g + ci) * kh + ky) * kw + kx];
            }
      }
  }
}

// The shifted copies of dy that the phases share. Tap i of a phase reads dy at output index
// a + i + first + 1 - T (a: the phase's own output index), so across phases with equal output
// counts the taps read only the shifts lo..hi of one common grid: 3x3 at stride 2 needs two per
// axis (4 planes per channel instead of the phases' 1 + 2 + 2 + 4 = 9), 4x4 needs three (9 instead
// of 16). Their patch matrix is im2col of dy with a (hi - lo + 1)-tap kernel and padding -lo,
// and each phase's GEMM reads its rows from it through a row table (conv_gemm_rows). Every phase
// reads the shared matrix, so it is held to half the usual patch budget (fewer images per chunk),
// which keeps it in L2 next to the phases' products. Batch 64, 2 threads, in-process A/B: input
// gradients of the 3x3 stride-2 convs 5-10% faster, conv_transpose2d 7 -> 14 (4x4) ~5%; 4x4 at
// the usual chunk size had gained nothing (shared matrix and products together outgrew L2).
struct SharedShifts {
  bool usable = false;
  int64_t lo_y = 0, lo_x = 0;
  PatchGeometry patches;  // over one image's dy [Cout_g, out_h, out_w]
};

inline SharedShifts shared_shifts(const ConvParams& p, const std::vector<Phase>& phases) {
  SharedShifts s;
  int64_t lo_y = 0, hi_y = 0, lo_x = 0, hi_x = 0, with_taps = 0;
  const Phase* any = nullptr;
  for (const Phase& f : phases) {
    if (f.rows() == 0) continue;
    if (any && (f.y.count != any->y.count || f.x.count != any->x.count)) return s;  // no common grid
    const int64_t fy = f.y.first + 1 - f.y.taps, fx = f.x.first + 1 - f.x.taps;  // shift of tap 0
    lo_y = any ? std::min(lo_y, fy) : fy, hi_y = any ? std::max(hi_y, f.y.first) : f.y.first;
    lo_x = any ? std::min(lo_x, fx) : fx, hi_x = any ? std::max(hi_x, f.x.first) : f.x.first;
    any = &f;
    ++with_taps;
  }
  if (with_taps < 2 || lo_y > 0 || lo_x > 0) return s;  // one phase: nothing to share
  s.usable = true;
  s.lo_y = lo_y, s.lo_x = lo_x;
  PatchGeometry& g = s.patches;
  g.channels = p.out_per_group();
  g.height = p.out_h, g.width = p.out_w;
  g.kernel_h = hi_y - lo_y + 1, g.kernel_w = hi_x - lo_x + 1;
  g.pad_h = -lo_y, g.pad_w = -lo_x;
  g.out_h = any->y.count, g.out_w = any->x.count;
  return s;
}

// Row (co, i, j) of phase f's patch matrix within the shared one (rows `cols` floats apart).
inline void phase_rows(const Phase& f, const SharedShifts& s, const float* shared, int64_t cols, const float** rows) {
  const int64_t ky = s.patches.kernel_h, kx = s.patches.kernel_w;
  const int64_t oy = f.y.first + 1 - f.y.taps - s.lo_y, ox = f.x.first + 1 - f.x.taps - s.lo_x;
  for (int64_t co = 0; co < s.patches.channels; ++co)
    for (int64_t i = 0; i < f.y.taps; ++i)
      for (int64_t j = 0; j < f.x.taps; ++j)
        *rows++ = shared + ((co * ky + oy + i) * kx + ox + j) * cols;
}

#if defined(__AVX512F__)
// The phases as one implicit GEMM (kernels/conv_implicit.hpp), where they share dy's shifts and
// zip into whole rows of dx (3x3 and 4x4 kernels at stride 2 on even planes): per tile of 48
// positions of the phases' common grid and slice of dy's channels, the tile's shifted rows of dy
// are packed once, into L1, and every phase's blocks read their rows from there through a row
// table; the tile's dx rows are then written two phases at a time, zipped. Against the chunked
// form (the shared patch matrix of a chunk of images written to L2, then each phase's GEMM):
// the U-Net's four (3x3 from 28x28 and 14x14, 4x4 to 14x14 and 28x28) 8-20% faster (batch 64, 2
// threads, in-process A/B).
constexpr int64_t kPhasesMaxDepth = 144;  // packed rows per slice (27 KiB); 96 to 256 within noise
inline void backward_input_implicit(const float* dy, const float* phase_weights, float* dx, const ConvParams& p,
                                    const float* bias, const std::vector<Phase>& phases, const SharedShifts& shifts,
                                    const std::vector<std::pair<int64_t, int64_t>>& pairs) {
  using namespace implicit_detail;
  constexpr int kRows = conv_gemm_detail::kRows;
  const int64_t cin = p.in_channels, blocks = (cin + kRows - 1) / kRows;
  const PatchGeometry& g = shifts.patches;  // over dy: the shifts as a (ky x kx)-tap kernel
  const int64_t shifts_per_channel = g.kernel_h * g.kernel_w, grid_w = g.out_w, grid_h = g.out_h;
  const size_t phase_count = phases.size();
  // Each phase's weights [Cin, Cout*Ty*Tx] as conv_gemm's packed blocks.
  std::vector<int64_t> packed_at(phase_count + 1, 0);
  for (size_t f = 0; f < phase_count; ++f) packed_at[f + 1] = packed_at[f] + blocks * phases[f].rows() * kRows;
  float* packed_w = thread_scratch(ScratchSlot::kWeights, static_cast<size_t>(packed_at[phase_count]));
  for (size_t f = 0; f < phase_count; ++f)
    conv_gemm_detail::pack_blocks(phase_weights + phases[f].weights, cin, phases[f].rows(), phases[f].rows(), 1, 0,
                                  blocks, packed_w + packed_at[f]);
  // Deeper slices than the forward's: each phase reads only some of a slice's rows (3x3: 1, 2, 2
  // and 4 of every 4), so the same packed rows would give its blocks short runs of k.
  const ChannelSlices slices(g.channels, shifts_per_channel, kPhasesMaxDepth);
  const int64_t positions = p.batch * grid_h * grid_w, tiles = (positions + kTile - 1) / kTile;
#pragma omp parallel if (p.parallel_over_batch() && tiles > 1)
  {
    TilePacker packer(dy, g, p.batch);
    float* packed_b = thread_scratch(ScratchSlot::kPatches, static_cast<size_t>(16 + slices.max_depth() * kTile)) + 16;
    float* products = thread_scratch(ScratchSlot::kProduct, static_cast<size_t>(phase_count * blocks * kRows * kTile));
    // Row tables: row (co, i, j) of phase f, for co in a slice, is shift (oy + i, ox + j) of the
    // slice's channel co - c0 in packed_b (the same for every slice); table_of[f] is phase f's.
    std::vector<const float**> table_of(phase_count);
    const float** tables = thread_scratch_of<const float*>(
        ScratchSlot::kRowTable, static_cast<size_t>(slices.per_slice * shifts_per_channel * phase_count));
    const float** next = tables;
    for (size_t f = 0; f < phase_count; ++f) {
      const Phase& phase = phases[f];
      const int64_t oy = phase.y.first + 1 - phase.y.taps - shifts.lo_y, ox = phase.x.first + 1 - phase.x.taps - shifts.lo_x;
      table_of[f] = next;
      for (int64_t co = 0; co < slices.per_slice; ++co)
        for (int64_t i = 0; i < phase.y.taps; ++i)
          for (int64_t j = 0; j < phase.x.taps; ++j)
            *next++ = packed_b + (co * shifts_per_channel + (oy + i) * g.kernel_w + ox + j) * kTile;
    }
    const __m512i zip = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tiles; ++t) {
      const int64_t q0 = t * kTile, width = std::min(kTile, positions - q0);
      packer.start_tile(q0, width);
      const TileColumns columns(width);
      packer.for_each_slice(slices, packed_b, [&](int64_t c0, int64_t c1) {
        for (size_t f = 0; f < phase_count; ++f) {
          const int64_t taps = phases[f].y.taps * phases[f].x.taps, K = phases[f].rows();
          for (int64_t i = 0; i < blocks; ++i)
            conv_gemm_detail::run_block<true>(true, columns.vectors, packed_w + packed_at[f] + (i * K + c0 * taps) * kRows,
                                              0, nullptr, 0, table_of[f], 0, (c1 - c0) * taps,
                                              products + (f * blocks + i) * kRows * kTile, kTile, kRows, columns.last,
                                              c0 > 0);
        }
      });
      // dx: grid row r (image n, phase row a) holds tile columns [b0, b1); per row phase, its two
      // column phases' values zip into dx pixels [2*b0, 2*b1) of row iy, 8 pairs per vector (inline
      // rather than interleave_pairs, whose per-call setup cost the stride-2 input gradients 4-7%).
      for (int64_t r = q0 / grid_w; r * grid_w < q0 + width; ++r) {
        const int64_t n = r / grid_h, a = r % grid_h;
        const int64_t b0 = std::max<int64_t>(0, q0 - r * grid_w), b1 = std::min(grid_w, q0 + width - r * grid_w);
        const int64_t column = r * grid_w + b0 - q0;
        for (const auto& pair : pairs) {
          const Phase& even = phases[static_cast<size_t>(pair.first)];
          const int64_t iy = p.stride_h * (even.y.first + a) + even.ry - p.pad_h;
          const float* even_values = products + pair.first * blocks * kRows * kTile + column;
          const float* odd_values = products + pair.second * blocks * kRows * kTile + column;
          for (int64_t ci = 0; ci < cin; ++ci) {
            float* row = dx + ((n * cin + ci) * p.in_h + iy) * p.in_w;
            const __m512 b = _mm512_set1_ps(bias ? bias[ci] : 0.0f);
            for (int64_t k = b0; k < b1; k += 8) {
              const int64_t count = std::min<int64_t>(8, b1 - k);
              const __mmask16 values = detail::low_lanes(count);
              const __m512 ev = _mm512_maskz_loadu_ps(values, even_values + ci * kTile + (k - b0));
              const __m512 ov = _mm512_maskz_loadu_ps(values, odd_values + ci * kTile + (k - b0));
              _mm512_mask_storeu_ps(row + 2 * k, detail::low_lanes(2 * count),
                                    _mm512_add_ps(_mm512_permutex2var_ps(ev, zip, ov), b));
            }
          }
        }
      }
    }
  }
}
#endif

}  // namespace phases_detail

// Whether the input gradient goes by phases: any convolution without dilation, except a pointwise
// one (whose im2col form needs no patches at all).
inline bool phases_apply(const ConvParams& p) {
  return p.dilation_h == 1 && p.dilation_w == 1 && !p.is_pointwise();
}

// dx [N, Cin, in_h, in_w] = the input gradient of conv for dy [N, Cout, out_h, out_w], by phases
// (see the top of the file). Per chunk of m images and group: each phase's patches of the m images
// side by side and one GEMM, then dx written row by row from the phases' rows: at stride 2 along
// the width a row zips its two column phases together; otherwise each phase's row is stored into
// every s-th pixel. With `bias` [Cin], bias[c] is added to every pixel of channel c as it is
// stored (conv_transpose2d's bias).
inline void conv2d_backward_input_phases(const float* dy, const float* w, float* dx, const ConvParams& p,
                                         const float* bias = nullptr) {
  using namespace phases_detail;
  const std::vector<Phase> phases = phases_of(p);
  const int64_t cin_g = p.in_per_group(), cout_g = p.out_per_group(), in_plane = p.in_h * p.in_w;
  const int64_t out_plane = p.out_h * p.out_w;
  int64_t weight_count = 0, max_rows = 1, max_cols = 1, all_cols = 0;
  for (const Phase& f : phases) {
    weight_count += p.groups * cin_g * f.rows();
    max_rows = std::max(max_rows, f.rows());
    max_cols = std::max(max_cols, f.cols());
    all_cols += f.cols();
  }
  std::vector<float> weights(static_cast<size_t>(weight_count));
  phase_weights(w, p, phases, weights.data());
#if defined(__AVX512F__)
  // At stride 1 the one phase is all of dx: a forward convolution of dy, which the implicit GEMM
  // takes on small planes (kernels/conv_implicit.hpp; 7x7, 64 -> 64: ~10% faster than im2col).
  if (p.stride_h == 1 && p.stride_w == 1 && p.groups == 1 && phases.size() == 1 &&
      implicit_conv_applies(phases[0].patches, cin_g)) {
    implicit_conv(dy, phases[0].patches, p.batch, weights.data(), cin_g, bias, dx, p.parallel_over_batch());
    return;
  }
#endif
  // At stride 2 along the width, the two column phases of each row phase zip into whole rows of dx
  // (when both have taps); pair[ry] = the indices of the phases holding its even and odd pixels.
  std::vector<std::pair<int64_t, int64_t>> pair(static_cast<size_t>(p.stride_h), {-1, -1});
  bool zip = p.stride_w == 2;
  for (size_t i = 0; i < phases.size(); ++i) {
    const Phase& f = phases[i];
    const int64_t first_pixel = p.stride_w * f.x.first + f.rx - p.pad_w;  // 0 or 1 at stride 2
    auto& slots = pair[static_cast<size_t>(f.ry)];
    (first_pixel == 0 ? slots.first : slots.second) = static_cast<int64_t>(i);
    if (f.rows() == 0) zip = false;
  }
  for (const auto& slots : pair)
    if (slots.first < 0 || slots.second < 0) zip = false;
  const SharedShifts shifts = shared_shifts(p, phases);
#if defined(__AVX512F__)
  if (zip && shifts.usable && p.groups == 1 && implicit_conv_applies(shifts.patches, cin_g)) {
    backward_input_implicit(dy, weights.data(), dx, p, bias, phases, shifts, pair);
    return;
  }
#endif
  if (shifts.usable) max_rows = std::max(max_rows, 2 * shifts.patches.col_rows());  // half the budget
  const BatchChunks chunks(p.batch, detail::images_per_gemm(max_cols, max_rows));
#pragma omp parallel for schedule(static) if (p.parallel_over_batch() && chunks.count > 1)
  for (int64_t c = 0; c < chunks.count; ++c) {
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
          if (zip) {
            for (const auto& slots : pair) {
              const Phase& fe = phases[static_cast<size_t>(slots.first)];
              const Phase& fo = phases[static_cast<size_t>(slots.second)];
              const float* even = values[static_cast<size_t>(slots.first)] + (ci * m + j) * fe.cols();
              const float* odd = values[static_cast<size_t>(slots.second)] + (ci * m + j) * fo.cols();
              const int64_t iy = p.stride_h * fe.y.first + fe.ry - p.pad_h;  // the row phase's first row
              interleave_rows(plane + iy * p.in_w, p.stride_h * p.in_w, even, odd, fe.x.count, fo.x.count, fe.y.count,
                              b);
            }
            continue;
          }
          if (p.stride_h == 1 && p.stride_w == 1) {  // one phase, all of the plane
            store_strided(plane, values[0] + (ci * m + j) * in_plane, 1, in_plane, b);
            continue;
          }
          for (size_t i = 0; i < phases.size(); ++i) {
            const Phase& f = phases[i];
            const int64_t ix = p.stride_w * f.x.first + f.rx - p.pad_w;
            for (int64_t a = 0; a < f.y.count; ++a) {
              const int64_t iy = p.stride_h * (f.y.first + a) + f.ry - p.pad_h;
              const float* src = values[i] ? values[i] + (ci * m + j) * f.cols() + a * f.x.count : nullptr;
              store_strided(plane + iy * p.in_w + ix, src, p.stride_w, f.x.count, b);
            }
          }
        }
    }
  }
}

}  // namespace tinydiff::kernels
