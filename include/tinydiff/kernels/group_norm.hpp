#pragma once
// Group normalisation on raw float pointers (no autograd).
//
// x is viewed as [N, C, S] (S = product of the spatial dims), C split into G
// groups of Cg = C / G channels. Each (n, group) block of M = Cg * S values is
// contiguous and is normalised by its own mean and biased variance:
//   xhat = (x - mean) * rstd,  rstd = 1 / sqrt(var + eps),  y = xhat * w[c] + b[c]
//
// Backward (g = dL/dy, dxhat = g * w[c], means over the block's M values):
//   dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))
//   dw[c] = sum_{n,s} g * xhat,  db[c] = sum_{n,s} g
// Per (n, c) we form db_nc = sum_s g and ds_nc = sum_s g * (x - mean) (centred, so no
// cancellation when |mean| >> std); then
//   sum(dxhat) = sum_c w_c db_nc,  sum(dxhat * xhat) = rstd * sum_c w_c ds_nc
// and per block dx is affine in g and (x - mean): dx = (rstd w_c) g + B (x - mean) + D.
// The loops over a block run on the tier kernels (kernels/tier/elementwise.inl), vectorised for
// the CPU the program runs on; this file splits the blocks over the threads.
#include <cmath>
#include <cstdint>
#include <vector>

#include "tinydiff/kernels/tiers.hpp"

namespace tinydiff::kernels {

namespace detail {
// Below this many elements the OpenMP region costs more than it saves.
constexpr int64_t kNormParallelGrain = 1 << 14;

// Sum of n floats: float lanes over chunks (vectorisable), the chunks added in double. (Layer norm's;
// group norm's own run on the tier kernels, kernels/tier/elementwise.inl.)
inline double chunked_sum(const float* p, int64_t n) {
  double total = 0.0;
  for (int64_t start = 0; start < n; start += 256) {
    const int64_t end = start + 256 < n ? start + 256 : n;
    float part = 0.0f;
#pragma omp simd reduction(+ : part)
    for (int64_t i = start; i < end; ++i) part += p[i];
    total += part;
  }
  return total;
}

// Sum of (p[i] - mu)^2.
inline double chunked_sq_dev(const float* p, int64_t n, float mu) {
  double total = 0.0;
  for (int64_t start = 0; start < n; start += 256) {
    const int64_t end = start + 256 < n ? start + 256 : n;
    float part = 0.0f;
#pragma omp simd reduction(+ : part)
    for (int64_t i = start; i < end; ++i) part += (p[i] - mu) * (p[i] - mu);
    total += part;
  }
  return total;
}
}  // namespace detail

// x, y: [N, C, S];  weight, bias: [C] or null;  mean, rstd: [N, G] (saved for backward).
inline void group_norm_forward(const float* x, const float* weight, const float* bias, int64_t N, int64_t C,
                               int64_t S, int64_t G, double eps, float* y, float* mean, float* rstd) {
  const int64_t Cg = C / G, M = Cg * S;
  const TierKernels& tier = tier_kernels();
#pragma omp parallel for schedule(static) if (N * C * S > detail::kNormParallelGrain)
  for (int64_t ng = 0; ng < N * G; ++ng) {
    const int64_t c0 = (ng % G) * Cg;
    tier.group_norm_forward_block(x + ng * M, y + ng * M, Cg, S, weight ? weight + c0 : nullptr,
                                  bias ? bias + c0 : nullptr, eps, mean + ng, rstd + ng);
  }
}

// g, x: [N, C, S];  mean, rstd: [N, G] from the forward;  weight: [C] or null.
// Outputs dx [N, C, S], dweight [C], dbias [C]: each may be null when not needed.
inline void group_norm_backward(const float* g, const float* x, const float* mean, const float* rstd,
                                const float* weight, int64_t N, int64_t C, int64_t S, int64_t G, float* dx,
                                float* dweight, float* dbias) {
  const int64_t Cg = C / G, M = Cg * S;
  const TierKernels& tier = tier_kernels();
  std::vector<double> db(static_cast<size_t>(N * C)), ds(static_cast<size_t>(N * C));  // per (n, c)
#pragma omp parallel for schedule(static) if (N * C * S > detail::kNormParallelGrain)
  for (int64_t ng = 0; ng < N * G; ++ng) {
    const int64_t n = ng / G, c0 = (ng % G) * Cg;
    tier.group_norm_backward_block(g + ng * M, x + ng * M, mean[ng], rstd[ng], weight ? weight + c0 : nullptr, Cg, S,
                                   dx ? dx + ng * M : nullptr, db.data() + n * C + c0, ds.data() + n * C + c0);
  }
  if (!dweight && !dbias) return;
  // dw[c] = sum_n rstd ds,  db[c] = sum_n db
#pragma omp parallel for schedule(static) if (N * C > detail::kNormParallelGrain)
  for (int64_t c = 0; c < C; ++c) {
    double acc_w = 0.0, acc_b = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t ng = n * G + c / Cg;
      acc_w += static_cast<double>(rstd[ng]) * ds[n * C + c];
      acc_b += db[n * C + c];
    }
    if (dweight) dweight[c] = static_cast<float>(acc_w);
    if (dbias) dbias[c] = static_cast<float>(acc_b);
  }
}

}  // namespace tinydiff::kernels
