#pragma once
// RMS normalisation on raw float pointers (no autograd): x viewed as R rows of D values,
// each row divided by its root mean square, then scaled elementwise:
//   rrms = 1 / sqrt(mean(x^2) + eps),  xhat = x * rrms,  y = xhat * w
// Backward (g = dL/dy, dxhat = g * w, the mean over the row's D values):
//   dx = rrms * (dxhat - xhat * mean(dxhat * xhat))     (d rrms / dx_j = -rrms^3 x_j / D)
//   dw = sum_rows g * xhat
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "tinydiff/kernels/group_norm.hpp"

namespace tinydiff::kernels {

// x, y: [R, D];  weight: [D] or null;  rrms: [R] (saved for backward).
inline void rms_norm_forward(const float* x, const float* weight, int64_t R, int64_t D, double eps, float* y,
                             float* rrms) {
#pragma omp parallel for schedule(static) if (R * D > detail::kNormParallelGrain)
  for (int64_t row = 0; row < R; ++row) {
    const float* xr = x + row * D;
    float* yr = y + row * D;
    double sq = 0.0;
    for (int64_t i = 0; i < D; ++i) sq += static_cast<double>(xr[i]) * xr[i];
    const auto r = static_cast<float>(1.0 / std::sqrt(sq / static_cast<double>(D) + eps));
    rrms[row] = r;
    for (int64_t i = 0; i < D; ++i) yr[i] = xr[i] * r * (weight ? weight[i] : 1.0f);
  }
}

// g, x: [R, D];  rrms: [R] from the forward;  weight: [D] or null. Outputs dx [R, D] and
// dweight [D], each may be null; dweight is summed in double over per-thread buffers.
inline void rms_norm_backward(const float* g, const float* x, const float* rrms, const float* weight, int64_t R,
                              int64_t D, float* dx, float* dweight) {
  const bool parallel = R * D > detail::kNormParallelGrain;
  const int threads = parallel ? omp_get_max_threads() : 1;
  std::vector<double> acc(dweight ? static_cast<size_t>(threads * D) : 0, 0.0);  // [threads][D]
#pragma omp parallel num_threads(threads) if (parallel)
  {
    double* acc_w = dweight ? acc.data() + omp_get_thread_num() * D : nullptr;
#pragma omp for schedule(static)
    for (int64_t row = 0; row < R; ++row) {
      const float* gr = g + row * D;
      const float* xr = x + row * D;
      const float r = rrms[row];
      if (acc_w)
        for (int64_t i = 0; i < D; ++i) acc_w[i] += static_cast<double>(gr[i]) * (xr[i] * r);
      if (!dx) continue;
      double dot = 0.0;  // sum dxhat * xhat
      for (int64_t i = 0; i < D; ++i) dot += static_cast<double>(gr[i] * (weight ? weight[i] : 1.0f)) * (xr[i] * r);
      const auto m = static_cast<float>(dot / static_cast<double>(D));
      float* dr = dx + row * D;
      for (int64_t i = 0; i < D; ++i) dr[i] = r * (gr[i] * (weight ? weight[i] : 1.0f) - xr[i] * r * m);
    }
  }
  if (!dweight) return;
  for (int64_t i = 0; i < D; ++i) {
    double total = 0.0;
    for (int t = 0; t < threads; ++t) total += acc[static_cast<size_t>(t * D + i)];
    dweight[i] = static_cast<float>(total);
  }
}

}  // namespace tinydiff::kernels
