#pragma once
// Softmax and log-softmax along one dim, on raw float pointers (no autograd).
//
// x is viewed as [outer, size, inner] around the softmax dim; each of the
// outer * inner lanes (size values, `inner` apart) is done on its own. Stable:
// the lane's max m is subtracted before exponentiating.
//   softmax:      y_i = e^(x_i - m) / sum_j e^(x_j - m)
//   log_softmax:  y_i = x_i - m - log sum_j e^(x_j - m)
// Backward (g = dL/dy), per lane:
//   softmax:      dx_i = y_i (g_i - sum_j g_j y_j)
//   log_softmax:  dx_i = g_i - e^(y_i) sum_j g_j
#include <cmath>
#include <cstdint>
#include <limits>

namespace tinydiff::kernels {

namespace detail {
constexpr int64_t kSoftmaxParallelGrain = 1 << 14;
}

inline void softmax_forward(const float* x, float* y, int64_t outer, int64_t size, int64_t inner, bool log) {
#pragma omp parallel for schedule(static) if (outer * size * inner > detail::kSoftmaxParallelGrain)
  for (int64_t lane = 0; lane < outer * inner; ++lane) {
    const int64_t base = (lane / inner) * size * inner + lane % inner;
    const float* xl = x + base;
    float* yl = y + base;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t i = 0; i < size; ++i) m = xl[i * inner] > m ? xl[i * inner] : m;
    double total = 0.0;
    for (int64_t i = 0; i < size; ++i) {
      const float e = std::exp(xl[i * inner] - m);
      if (!log) yl[i * inner] = e;
      total += e;
    }
    if (log) {
      const auto shift = static_cast<float>(m + std::log(total));
      for (int64_t i = 0; i < size; ++i) yl[i * inner] = xl[i * inner] - shift;
    } else {
      const auto inv = static_cast<float>(1.0 / total);
      for (int64_t i = 0; i < size; ++i) yl[i * inner] *= inv;
    }
  }
}

// y: the forward's output;  g: dL/dy;  dx: dL/dx.
inline void softmax_backward(const float* g, const float* y, float* dx, int64_t outer, int64_t size, int64_t inner,
                             bool log) {
#pragma omp parallel for schedule(static) if (outer * size * inner > detail::kSoftmaxParallelGrain)
  for (int64_t lane = 0; lane < outer * inner; ++lane) {
    const int64_t base = (lane / inner) * size * inner + lane % inner;
    const float* gl = g + base;
    const float* yl = y + base;
    float* dxl = dx + base;
    double total = 0.0;  // sum_j g_j y_j (softmax) or sum_j g_j (log_softmax)
    for (int64_t i = 0; i < size; ++i) total += log ? gl[i * inner] : gl[i * inner] * yl[i * inner];
    const auto t = static_cast<float>(total);
    for (int64_t i = 0; i < size; ++i) {
      const int64_t k = i * inner;
      dxl[k] = log ? gl[k] - std::exp(yl[k]) * t : yl[k] * (gl[k] - t);
    }
  }
}

}  // namespace tinydiff::kernels
