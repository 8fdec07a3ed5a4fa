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

// Group normalisation of one (image, group) block (kernels/group_norm.hpp has the formulas): x and
// y hold `channels` rows of `size` values; weight and bias are the group's own [channels] (or null).
// Sums run in float lanes over chunks of 256 values and in double across chunks.
inline double group_norm_chunked_sum(const float* p, int64_t n) {
  double total = 0.0;
  for (int64_t start = 0; start < n; start += 256) {
    const int64_t end = std::min<int64_t>(n, start + 256);
    float part = 0.0f;
#pragma omp simd reduction(+ : part)
    for (int64_t i = start; i < end; ++i) part += p[i];
    total += part;
  }
  return total;
}

inline double group_norm_chunked_sq_dev(const float* p, int64_t n, float mu) {
  double total = 0.0;
  for (int64_t start = 0; start < n; start += 256) {
    const int64_t end = std::min<int64_t>(n, start + 256);
    float part = 0.0f;
#pragma omp simd reduction(+ : part)
    for (int64_t i = start; i < end; ++i) part += (p[i] - mu) * (p[i] - mu);
    total += part;
  }
  return total;
}

// y = (x - mean) rstd w + b for the block; returns its mean and rstd = 1 / sqrt(var + eps).
inline void group_norm_forward_block(const float* x, float* y, int64_t channels, int64_t size, const float* weight,
                                     const float* bias, double eps, float* mean, float* rstd) {
  const int64_t M = channels * size;
  const double mu = M ? group_norm_chunked_sum(x, M) / static_cast<double>(M) : 0.0;
  const double var = M ? group_norm_chunked_sq_dev(x, M, static_cast<float>(mu)) / static_cast<double>(M) : 0.0;
  const double r = 1.0 / std::sqrt(var + eps);
  *mean = static_cast<float>(mu);
  *rstd = static_cast<float>(r);
  const auto mu_f = static_cast<float>(mu);
  for (int64_t c = 0; c < channels; ++c) {
    // y = (x - mean) * scale + b,  scale = rstd * w  (centred first: exact when x == mean)
    const auto scale = static_cast<float>(r * (weight ? weight[c] : 1.0));
    const float shift = bias ? bias[c] : 0.0f;
    const float* xc = x + c * size;
    float* yc = y + c * size;
#pragma omp simd
    for (int64_t s = 0; s < size; ++s) yc[s] = (xc[s] - mu_f) * scale + shift;
  }
}

// The block's share of the backward: per channel, db[c] = sum g and ds[c] = sum g (x - mean); and,
// when dx is not null, dx = rstd w g + B (x - mean) + D (kernels/group_norm.hpp).
inline void group_norm_backward_block(const float* g, const float* x, float mu, float rstd, const float* weight,
                                      int64_t channels, int64_t size, float* dx, double* db, double* ds) {
  const double r = rstd;
  double sum_dxhat = 0.0, sum_dxhat_xhat = 0.0;  // over the block
  for (int64_t c = 0; c < channels; ++c) {
    const float* gc = g + c * size;
    const float* xc = x + c * size;
    float sg = 0.0f, sgx = 0.0f;
#pragma omp simd reduction(+ : sg, sgx)
    for (int64_t s = 0; s < size; ++s) {
      sg += gc[s];
      sgx += gc[s] * (xc[s] - mu);
    }
    db[c] = sg;
    ds[c] = sgx;
    const double w = weight ? weight[c] : 1.0;
    sum_dxhat += w * sg;
    sum_dxhat_xhat += w * sgx;
  }
  sum_dxhat_xhat *= r;
  if (!dx) return;
  const int64_t M = channels * size;
  const double m1 = M ? sum_dxhat / static_cast<double>(M) : 0.0;       // mean(dxhat)
  const double m2 = M ? sum_dxhat_xhat / static_cast<double>(M) : 0.0;  // mean(dxhat * xhat)
  // dx = r w g - r m1 - r^2 m2 (x - mu) = (r w) g + B (x - mu) + D
  const auto B = static_cast<float>(-r * r * m2);
  const auto D = static_cast<float>(-r * m1);
  for (int64_t c = 0; c < channels; ++c) {
    const auto A = static_cast<float>(r * (weight ? weight[c] : 1.0));
    const float* gc = g + c * size;
    const float* xc = x + c * size;
    float* dxc = dx + c * size;
#pragma omp simd
    for (int64_t s = 0; s < size; ++s) dxc[s] = A * gc[s] + B * (xc[s] - mu) + D;
  }
}

// One Adam/AdamW step over n values (optim/adam.hpp has the update and computes `a`).
inline void adam_update(float* w, const float* grad, float* m, float* v, float* vmax, int64_t n, const AdamStep& a) {
#pragma omp simd
  for (int64_t k = 0; k < n; ++k) {
    if (a.decoupled) w[k] *= a.decay;
    const float g = a.l2 ? grad[k] + a.weight_decay * w[k] : grad[k];
    m[k] = a.beta1 * m[k] + a.one_minus_beta1 * g;
    v[k] = a.beta2 * v[k] + a.one_minus_beta2 * g * g;
    float second = v[k];
    if (vmax) second = vmax[k] = std::max(vmax[k], v[k]);
    const float denom = std::sqrt(second) / a.bias_correction2_sqrt + a.eps;
    w[k] -= a.step_size * (m[k] / denom);
  }
}
