#pragma once
// Copies that move each dim independently (pad, repeat): out has one source table per dim,
//   out[c_0, ..., c_{r-1}] = in[maps[0][c_0], ..., maps[r-1][c_{r-1}]],
// or `fill` where any table entry is -1 (a constant border). The backward is the same walk
// adding g into the source entries, so a source read by several outputs (a repeated tile, a
// reflected or replicated border) sums their gradients. Raw float pointers, no autograd.
#include <cstdint>
#include <vector>

#include "tinydiff/core/shape.hpp"

namespace tinydiff::kernels {

using DimMaps = std::vector<std::vector<int64_t>>;  // maps[d][j]: the source index along dim d, or -1

// Calls f(out_index, in_index) for every output element in row-major order; in_index is -1
// where a table says "no source". The output's sizes are the tables' lengths.
template <typename F>
inline void for_each_dim_mapped(const Shape& in_shape, const DimMaps& maps, F&& f) {
  const size_t rank = maps.size();
  if (rank == 0) {
    f(int64_t{0}, int64_t{0});
    return;
  }
  for (const auto& m : maps)
    if (m.empty()) return;  // an empty output
  const std::vector<int64_t> strides = contiguous_strides(in_shape);
  std::vector<size_t> c(rank - 1, 0);  // the coordinates of every dim but the last
  const std::vector<int64_t>& last = maps[rank - 1];
  int64_t o = 0;
  for (;;) {
    int64_t base = 0;
    bool valid = true;
    for (size_t d = 0; d + 1 < rank; ++d) {
      const int64_t m = maps[d][c[d]];
      if (m < 0) valid = false;
      else base += m * strides[d];
    }
    for (int64_t j : last) f(o++, valid && j >= 0 ? base + j * strides[rank - 1] : int64_t{-1});
    size_t d = rank - 1;  // the odometer over dims 0 .. rank-2
    while (d > 0 && ++c[d - 1] == maps[d - 1].size()) c[--d] = 0;
    if (d == 0) return;
  }
}

// out = in moved by `maps` (fill where there is no source).
inline void gather_dim_maps(const float* in, const Shape& in_shape, float* out, const DimMaps& maps, float fill) {
  for_each_dim_mapped(in_shape, maps, [&](int64_t o, int64_t i) { out[o] = i >= 0 ? in[i] : fill; });
}

// din += g moved back by `maps` (serial: several outputs may share one source).
inline void scatter_add_dim_maps(const float* g, float* din, const Shape& in_shape, const DimMaps& maps) {
  for_each_dim_mapped(in_shape, maps, [&](int64_t o, int64_t i) {
    if (i >= 0) din[i] += g[o];
  });
}

}  // namespace tinydiff::kernels
