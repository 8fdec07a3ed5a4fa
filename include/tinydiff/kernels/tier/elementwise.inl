// Elementwise kernels for one tier (included by kernels/tiers.hpp inside the tier's namespace).
// SiLU and AdamW are written over the tier's vectors (compilers leave the scalar forms unvectorised:
// fast_exp's clamps are branches to them unless floating-point traps are off); group norm's loops
// are plain, and the compiler vectorises them with the tier's instructions.

// e^x, as kernels/fast_math.hpp's fast_exp: x = n ln2 + r, |r| <= ln2/2, e^r by a degree-5
// polynomial, times 2^n built in the exponent field. x is first clamped to [-88, ln(FLT_MAX)], so
// that n stays in [-127, 128], where the exponent field gives exactly the limits: 2^-127 as 0 (e^x
// below about -87.7 is 0, as fast_exp's), 2^128 as infinity (e^x above about 88.4 overflows).
inline Vec exp_approx(Vec x) {
  x = min(max(x, set1(-88.0f)), set1(88.7228391f));
  const Vec shifter = set1(12582912.0f);  // 1.5 * 2^23: adding and subtracting it rounds to a whole number
  const Vec n = (x * set1(1.44269504088896341f) + shifter) - shifter;
  Vec r = x - n * set1(0.693359375f);  // ln2 in two parts, so that n ln2 is exact
  r = r - n * set1(-2.12194440e-4f);
  Vec p = set1(1.9875691500e-4f);
  p = fmadd(p, r, set1(1.3981999507e-3f));
  p = fmadd(p, r, set1(8.3334519073e-3f));
  p = fmadd(p, r, set1(4.1665795894e-2f));
  p = fmadd(p, r, set1(1.6666665459e-1f));
  p = fmadd(p, r, set1(5.0000001201e-1f));
  p = fmadd(p * r, r, r) + set1(1.0f);
  return p * pow2i(n);
}

// 1 / (1 + e^-x).
inline Vec sigmoid(Vec x) { return set1(1.0f) / (set1(1.0f) + exp_approx(zero() - x)); }

// y = x sigmoid(x).
inline void silu_forward(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
    const Vec v = load(x + i);
    store(y + i, v * sigmoid(v));
  }
  if (i < n) {
    const Mask rest = first_lanes(n - i);
    const Vec v = load(x + i, rest);
    store(y + i, v * sigmoid(v), rest);
  }
}

// dx = g silu'(x), silu'(x) = s (1 + x (1 - s)) with s = sigmoid(x).
inline Vec silu_gradient(Vec x, Vec g) {
  const Vec s = sigmoid(x), one = set1(1.0f);
  return g * (s * fmadd(x, one - s, one));
}
inline void silu_backward(const float* x, const float* g, float* dx, int64_t n) {
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) store(dx + i, silu_gradient(load(x + i), load(g + i)));
  if (i < n) {
    const Mask rest = first_lanes(n - i);
    store(dx + i, silu_gradient(load(x + i, rest), load(g + i, rest)), rest);
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

// One Adam/AdamW step over n values (optim/adam.hpp has the update and computes `a`), a vector at a
// time; `masked` for the last, partial one (lanes `m`).
inline void adam_vector(float* w, const float* grad, float* m, float* v, float* vmax, const AdamStep& a, bool masked,
                        Mask lanes) {
  Vec wv = masked ? load(w, lanes) : load(w);
  Vec g = masked ? load(grad, lanes) : load(grad);
  if (a.decoupled) wv = wv * set1(a.decay);
  if (a.l2) g = fmadd(set1(a.weight_decay), wv, g);
  const Vec mv = set1(a.beta1) * (masked ? load(m, lanes) : load(m)) + set1(a.one_minus_beta1) * g;
  const Vec vv = set1(a.beta2) * (masked ? load(v, lanes) : load(v)) + set1(a.one_minus_beta2) * g * g;
  Vec second = vv;
  if (vmax) {
    second = max(masked ? load(vmax, lanes) : load(vmax), vv);
    masked ? store(vmax, second, lanes) : store(vmax, second);
  }
  const Vec denom = sqrt(second) / set1(a.bias_correction2_sqrt) + set1(a.eps);
  wv = wv - set1(a.step_size) * (mv / denom);
  if (masked) {
    store(m, mv, lanes), store(v, vv, lanes), store(w, wv, lanes);
  } else {
    store(m, mv), store(v, vv), store(w, wv);
  }
}

inline void adam_update(float* w, const float* grad, float* m, float* v, float* vmax, int64_t n, const AdamStep& a) {
  int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    adam_vector(w + k, grad + k, m + k, v + k, vmax ? vmax + k : nullptr, a, false, first_lanes(kLanes));
  if (k < n) adam_vector(w + k, grad + k, m + k, v + k, vmax ? vmax + k : nullptr, a, true, first_lanes(n - k));
}
