#pragma once
// Broadcasting kernels on raw float arrays (no autograd).
//
// An input of shape `in` broadcast to `out` (NumPy rules) is read with
// "broadcast strides": its own row-major strides, aligned on the right, with 0
// wherever it has size 1 (or no dim) and `out` does not. Walking `out` in
// row-major order with these strides visits the input element each output
// element sees.
#include <cstdint>
#include <vector>

#include "tinydiff/core/shape.hpp"

namespace tinydiff::kernels {

inline std::vector<int64_t> broadcast_strides(const Shape& in, const Shape& out) {
  std::vector<int64_t> strides(out.size(), 0);
  const std::vector<int64_t> own = contiguous_strides(in);
  const size_t lead = out.size() - in.size();
  for (size_t i = 0; i < in.size(); ++i) strides[lead + i] = in[i] == 1 ? 0 : own[i];
  return strides;
}

// Calls visit(out_index, a_index, b_index) for every element of `out`, in order,
// with the innermost dim as a tight loop. Serial: callers that can, split the work.
template <typename Visit>
void for_each_broadcast(const Shape& out, const std::vector<int64_t>& stride_a,
                        const std::vector<int64_t>& stride_b, Visit visit) {
  const int64_t total = shape_numel(out);
  if (total == 0) return;
  if (out.empty()) {
    visit(0, 0, 0);
    return;
  }
  const size_t rank = out.size();
  const int64_t inner = out[rank - 1], sa = stride_a[rank - 1], sb = stride_b[rank - 1];
  std::vector<int64_t> counter(rank, 0);
  int64_t ia = 0, ib = 0;
  for (int64_t base = 0; base < total; base += inner) {
    for (int64_t j = 0; j < inner; ++j) visit(base + j, ia + j * sa, ib + j * sb);
    // Advance the outer dims like an odometer.
    for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
      ia += stride_a[d];
      ib += stride_b[d];
      if (++counter[d] < out[d]) break;
      ia -= stride_a[d] * out[d];
      ib -= stride_b[d] * out[d];
      counter[d] = 0;
    }
  }
}

// out[i] = x broadcast to out_shape.
inline void broadcast_copy(const float* x, const Shape& x_shape, float* out, const Shape& out_shape) {
  const auto sx = broadcast_strides(x_shape, out_shape);
  for_each_broadcast(out_shape, sx, sx, [&](int64_t o, int64_t i, int64_t) { out[o] = x[i]; });
}

// Whether `small` broadcast to `big` is "one value per row": after padding `small` with
// leading 1s, it equals `big` on the first k dims and is 1 on the rest (a per-channel
// [N, C, 1, 1] against [N, C, H, W]). Then big is [rows, inner] and small is [rows].
struct RowBroadcast {
  int64_t rows = 0, inner = 0;
};
inline bool row_broadcast(const Shape& small, const Shape& big, RowBroadcast& rb) {
  if (small.size() > big.size()) return false;
  const size_t lead = big.size() - small.size();
  auto dim = [&](size_t d) { return d < lead ? int64_t{1} : small[d - lead]; };
  size_t k = big.size();
  while (k > 0 && dim(k - 1) == 1) --k;
  rb.rows = 1;
  rb.inner = 1;
  for (size_t d = 0; d < big.size(); ++d) {
    if (d < k) {
      if (dim(d) != big[d]) return false;
      rb.rows *= big[d];
    } else {
      rb.inner *= big[d];
    }
  }
  return true;
}

// The reverse of broadcast_copy: sums g (of shape g_shape) into out (of
// out_shape, which broadcasts to g_shape), accumulating in double.
inline void sum_to(const float* g, const Shape& g_shape, float* out, const Shape& out_shape) {
  RowBroadcast rb;
  if (row_broadcast(out_shape, g_shape, rb) && rb.inner > 1) {
    // Fast path: each output is the sum of one contiguous row of g (float lanes over
    // chunks, the chunks added in double), rows split over the threads.
#pragma omp parallel for schedule(static) if (rb.rows * rb.inner > (1 << 15))
    for (int64_t r = 0; r < rb.rows; ++r) {
      const float* row = g + r * rb.inner;
      double total = 0.0;
      for (int64_t start = 0; start < rb.inner; start += 256) {
        const int64_t end = start + 256 < rb.inner ? start + 256 : rb.inner;
        float part = 0.0f;
#pragma omp simd reduction(+ : part)
        for (int64_t i = start; i < end; ++i) part += row[i];
        total += part;
      }
      out[r] = static_cast<float>(total);
    }
    return;
  }
  const int64_t n_out = shape_numel(out_shape);
  std::vector<double> acc(static_cast<size_t>(n_out), 0.0);
  const auto so = broadcast_strides(out_shape, g_shape);
  for_each_broadcast(g_shape, so, so, [&](int64_t gi, int64_t oi, int64_t) { acc[oi] += g[gi]; });
  for (int64_t i = 0; i < n_out; ++i) out[i] = static_cast<float>(acc[i]);
}

}  // namespace tinydiff::kernels
