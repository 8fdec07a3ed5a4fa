// Elementwise kernels for one tier (included by kernels/tiers.hpp inside the tier's namespace):
// plain loops the compiler vectorises with the tier's instructions. fast_exp
// (kernels/fast_math.hpp) has no calls and no branches, so it vectorises too.

// y = x sigmoid(x) = x / (1 + e^-x).
inline void silu_forward(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * fast_sigmoid(x[i]);
}

// dx = g silu'(x), silu'(x) = s (1 + x (1 - s)) with s = sigmoid(x).
inline void silu_backward(const float* x, const float* g, float* dx, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float s = fast_sigmoid(x[i]);
    dx[i] = g[i] * (s * (1.0f + x[i] * (1.0f - s)));
  }
}
