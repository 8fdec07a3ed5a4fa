#pragma once
// The geometry of an input gradient taken phase by phase (kernels/conv_phases.hpp explains the
// method): each phase's taps, pixels and patch geometry over dy, its rearranged weights, and the
// shifted copies of dy that the phases of a stride-2 convolution share. Plain index arithmetic,
// shared by the drivers and the tier kernels.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tinydiff/kernels/conv_params.hpp"

namespace tinydiff::kernels::phases_detail {

struct PhaseAxis {
  int64_t taps = 0, first = 0, count = 0;
};

inline int64_t floor_div(int64_t a, int64_t b) { return a >= 0 ? a / b : -((-a + b - 1) / b); }

// Phase r along an axis of input size `in` (kernels/conv_phases.hpp gives the formulas).
inline PhaseAxis phase_axis(int64_t r, int64_t kernel, int64_t stride, int64_t pad, int64_t in) {
  PhaseAxis a;
  a.taps = r < kernel ? (kernel - r + stride - 1) / stride : 0;
  a.first = -floor_div(r - pad, stride);                  // ceil((pad - r) / stride): the first q with iy >= 0
  const int64_t end = floor_div(in - 1 + pad - r, stride) + 1;  // one past the last q with iy < in
  a.count = std::max<int64_t>(0, end - a.first);
  return a;
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

}  // namespace tinydiff::kernels::phases_detail
