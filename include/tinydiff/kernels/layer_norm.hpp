#pragma once
// Layer normalisation on raw float pointers (no autograd): x viewed as R rows of
// D values (D = the product of the normalised trailing dims), each row normalised
// by its own mean and biased variance, then an elementwise affine:
//   xhat = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps),  y = xhat * w + b
// The same math as group norm (kernels/group_norm.hpp) with one group per row and
// the weight indexed along the row, so here the loops run along the rows.
//
// Backward (g = dL/dy, dxhat = g * w, means over the row's D values):
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
//   dw = sum_rows g * xhat,  db = sum_rows g
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "tinydiff/kernels/group_norm.hpp"

namespace tinydiff::kernels {

// x, y: [R, D];  weight, bias: [D] or null;  mean, rstd: [R] (saved for backward).
inline void layer_norm_forward(const float* x, const float* weight, const float* bias, int64_t R, int64_t D,
                               double eps, float* y, float* mean, float* rstd) {
#pragma omp parallel for schedule(static) if (R * D > detail::kNormParallelGrain)
  for (int64_t row = 0; row < R; ++row) {
    const float* xr = x + row * D;
    float* yr = y + row * D;
    const double mu = D ? detail::chunked_sum(xr, D) / static_cast<double>(D) : 0.0;
    const double var = D ? detail::chunked_sq_dev(xr, D, static_cast<float>(mu)) / static_cast<double>(D) : 0.0;
    const auto mu_f = static_cast<float>(mu);
    const auto r = static_cast<float>(1.0 / std::sqrt(var + eps));
    mean[row] = mu_f;
    rstd[row] = r;
#pragma omp simd
    for (int64_t i = 0; i < D; ++i) yr[i] = (xr[i] - mu_f) * r;
    if (weight) {
#pragma omp simd
      for (int64_t i = 0; i < D; ++i) yr[i] *= weight[i];
    }
    if (bias) {
#pragma omp simd
      for (int64_t i = 0; i < D; ++i) yr[i] += bias[i];
    }
  }
}

// g, x: [R, D];  mean, rstd: [R] from the forward;  weight: [D] or null.
// Outputs dx [R, D], dweight [D], dbias [D]: each may be null when not needed.
// dweight and dbias are summed over rows in per-thread buffers, then added in
// thread order (reproducible for a fixed thread count).
inline void layer_norm_backward(const float* g, const float* x, const float* mean, const float* rstd,
                                const float* weight, int64_t R, int64_t D, float* dx, float* dweight,
                                float* dbias) {
  const bool parallel = R * D > detail::kNormParallelGrain;
  const int threads = parallel ? omp_get_max_threads() : 1;
  const bool params = dweight || dbias;
  std::vector<double> acc(params ? static_cast<size_t>(2 * threads * D) : 0, 0.0);  // [threads][dw, db][D]
#pragma omp parallel num_threads(threads) if (parallel)
  {
    double* acc_w = params ? acc.data() + 2 * omp_get_thread_num() * D : nullptr;
    double* acc_b = params ? acc_w + D : nullptr;
#pragma omp for schedule(static)
    for (int64_t row = 0; row < R; ++row) {
      const float* gr = g + row * D;
      const float* xr = x + row * D;
      const float mu = mean[row], r = rstd[row];
      if (params)
        for (int64_t i = 0; i < D; ++i) {
          acc_w[i] += static_cast<double>(gr[i] * (xr[i] - mu) * r);
          acc_b[i] += gr[i];
        }
      if (!dx) continue;
      // s1 = sum dxhat,  s2 = sum dxhat (x - mean)   (float lanes per chunk, chunks in double)
      double s1 = 0.0, s2 = 0.0;
      for (int64_t start = 0; start < D; start += 256) {
        const int64_t end = start + 256 < D ? start + 256 : D;
        float p1 = 0.0f, p2 = 0.0f;
#pragma omp simd reduction(+ : p1, p2)
        for (int64_t i = start; i < end; ++i) {
          const float dxhat = weight ? gr[i] * weight[i] : gr[i];
          p1 += dxhat;
          p2 += dxhat * (xr[i] - mu);
        }
        s1 += p1;
        s2 += p2;
      }
      const double m1 = s1 / static_cast<double>(D), m2 = s2 * r / static_cast<double>(D);
      // dx = r w g - r m1 - r^2 m2 (x - mean) = A w g + B (x - mean) + Dc
      const float A = r;
      const auto B = static_cast<float>(-static_cast<double>(r) * r * m2);
      const auto Dc = static_cast<float>(-r * m1);
      float* dxr = dx + row * D;
#pragma omp simd
      for (int64_t i = 0; i < D; ++i) {
        const float wg = weight ? gr[i] * weight[i] : gr[i];
        dxr[i] = A * wg + B * (xr[i] - mu) + Dc;
      }
    }
  }
  if (!params) return;
  for (int64_t i = 0; i < D; ++i) {
    double w_sum = 0.0, b_sum = 0.0;
    for (int t = 0; t < threads; ++t) {
      w_sum += acc[2 * t * D + i];
      b_sum += acc[(2 * t + 1) * D + i];
    }
    if (dweight) dweight[i] = static_cast<float>(w_sum);
    if (dbias) dbias[i] = static_cast<float>(b_sum);
  }
}

}  // namespace tinydiff::kernels
