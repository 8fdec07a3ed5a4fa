#pragma once
// Batch normalisation on raw float pointers (no autograd): x viewed as [N, C, S]
// (S = the product of the trailing dims); channel c is normalised over its N * S values.
//   xhat = (x - mean[c]) * rstd[c],  y = xhat * w[c] + b[c]
// In training mean and rstd are the batch's (biased variance); in evaluation they come
// from the running statistics. The loops run per channel (OpenMP over channels).
//
// Backward (g = dL/dy, dxhat = g * w[c], M = N * S, sums over the channel's M values):
//   training    dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
//   evaluation  dx = rstd * dxhat                       (mean and rstd are constants)
//   dw[c] = sum g * xhat,  db[c] = sum g
#include <cmath>
#include <cstdint>

#include "tinydiff/kernels/group_norm.hpp"

namespace tinydiff::kernels {

// The batch's mean and biased variance of each channel of x [N, C, S] (accumulated in double).
inline void batch_norm_stats(const float* x, int64_t N, int64_t C, int64_t S, double* mean, double* var) {
#pragma omp parallel for schedule(static) if (N * C * S > detail::kNormParallelGrain)
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0.0;
    for (int64_t n = 0; n < N; ++n) sum += detail::chunked_sum(x + (n * C + c) * S, S);
    const double mu = sum / static_cast<double>(N * S);
    double sq = 0.0;
    for (int64_t n = 0; n < N; ++n) sq += detail::chunked_sq_dev(x + (n * C + c) * S, S, static_cast<float>(mu));
    mean[c] = mu;
    var[c] = sq / static_cast<double>(N * S);
  }
}

// y = (x - mean[c]) * rstd[c] * w[c] + b[c] over x, y [N, C, S];  weight, bias: [C] or null.
inline void batch_norm_apply(const float* x, const float* mean, const float* rstd, const float* weight,
                             const float* bias, int64_t N, int64_t C, int64_t S, float* y) {
#pragma omp parallel for collapse(2) schedule(static) if (N * C * S > detail::kNormParallelGrain)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const float scale = rstd[c] * (weight ? weight[c] : 1.0f);
      const float shift = (bias ? bias[c] : 0.0f) - mean[c] * scale;
      const float* xp = x + (n * C + c) * S;
      float* yp = y + (n * C + c) * S;
#pragma omp simd
      for (int64_t s = 0; s < S; ++s) yp[s] = xp[s] * scale + shift;
    }
}

// g, x: [N, C, S];  mean, rstd: [C] (the batch's in training, the running ones in evaluation);
// weight: [C] or null. Outputs dx [N, C, S], dweight [C], dbias [C]: each may be null.
inline void batch_norm_backward(const float* g, const float* x, const float* mean, const float* rstd,
                                const float* weight, int64_t N, int64_t C, int64_t S, bool training, float* dx,
                                float* dweight, float* dbias) {
  const double M = static_cast<double>(N * S);
#pragma omp parallel for schedule(static) if (N * C * S > detail::kNormParallelGrain)
  for (int64_t c = 0; c < C; ++c) {
    const float mu = mean[c], r = rstd[c];
    // sum_g = sum g,  sum_gx = sum g * xhat
    double sum_g = 0.0, sum_gx = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const float* gp = g + (n * C + c) * S;
      const float* xp = x + (n * C + c) * S;
      for (int64_t s = 0; s < S; ++s) {
        sum_g += gp[s];
        sum_gx += static_cast<double>(gp[s]) * ((xp[s] - mu) * r);
      }
    }
    if (dweight) dweight[c] = static_cast<float>(sum_gx);
    if (dbias) dbias[c] = static_cast<float>(sum_g);
    if (!dx) continue;
    const float w = weight ? weight[c] : 1.0f;
    // training: dx = r w (g - sum_g / M - xhat sum_gx / M) = A g + B (x - mean) + D
    const float A = r * w;
    const float B = training ? static_cast<float>(-r * w * r * sum_gx / M) : 0.0f;
    const float D = training ? static_cast<float>(-r * w * sum_g / M) : 0.0f;
    for (int64_t n = 0; n < N; ++n) {
      const float* gp = g + (n * C + c) * S;
      const float* xp = x + (n * C + c) * S;
      float* dp = dx + (n * C + c) * S;
#pragma omp simd
      for (int64_t s = 0; s < S; ++s) dp[s] = A * gp[s] + B * (xp[s] - mu) + D;
    }
  }
}

}  // namespace tinydiff::kernels
